//! The per-packet path: validate, latch, read (digits, level, recording),
//! relay. Index lookups only; no allocation (an event may be queued into
//! the pre-reserved output queue); every byte access checked.

use super::dtmf;
use super::g711::{self, Law};
use super::machine::{Leg, Media, Silence, NO_PT};
use super::rtp;
use super::{CodecKind, Forward, LegStats, MediaCounters, MediaEvent, Side, SockId};
use std::net::SocketAddr;
use std::time::Instant;

/// How far ahead of the last sequence number a packet from a new source
/// with the latched SSRC may be and still re-latch (10 s of 20 ms packets).
const RELATCH_WINDOW: u16 = 500;

/// Why a packet was dropped: counted on the leg and machine-wide.
#[derive(Clone, Copy)]
enum Why {
    WrongSource,
    BadHeader,
    Oversized,
    UnknownPt,
    NoDestination,
}

#[inline]
fn drop_it(leg: &mut LegStats, all: &mut MediaCounters, why: Why) -> Forward {
    let (l, a) = match why {
        Why::WrongSource => (&mut leg.dropped_wrong_source, &mut all.dropped_wrong_source),
        Why::BadHeader => (&mut leg.dropped_bad_header, &mut all.dropped_bad_header),
        Why::Oversized => (&mut leg.dropped_oversized, &mut all.dropped_oversized),
        Why::UnknownPt => (&mut leg.dropped_unknown_pt, &mut all.dropped_unknown_pt),
        Why::NoDestination => (
            &mut leg.dropped_no_destination,
            &mut all.dropped_no_destination,
        ),
    };
    *l += 1;
    *a += 1;
    Forward::Drop
}

impl Media {
    /// THE HOT PATH. A datagram arrived on `sock` from `from`. `buf` may be
    /// rewritten in place (the payload type, when the legs number the codec
    /// differently; SSRC, sequence and timestamp are kept). Returns where
    /// the shell sends the same bytes. No allocation; never panics.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        sock: SockId,
        from: SocketAddr,
        buf: &mut [u8],
    ) -> Forward {
        let Some(&Some(owner)) = self.socks.get(sock.0 as usize) else {
            self.counters.dropped_unknown_socket += 1;
            return Forward::Drop;
        };
        let Some(Some(sess)) = self.sessions.get_mut(owner.slot as usize) else {
            self.counters.dropped_unknown_socket += 1;
            return Forward::Drop;
        };
        let side = owner.side;
        let (mine, other) = match &mut sess.legs {
            [c, s] if side == Side::Caller => (c, &*s),
            [c, s] => (s, &*c),
        };
        let Some(me) = mine.as_mut() else {
            self.counters.dropped_unknown_socket += 1;
            return Forward::Drop;
        };
        let all = &mut self.counters;
        if buf.len() > self.cfg.max_packet {
            return drop_it(&mut me.stats, all, Why::Oversized);
        }
        let session = sess.id;
        // Seat packets do not reach the caller while a prompt plays there.
        let relaying = sess.bridged && !(side == Side::Seat && sess.player.is_some());

        if owner.rtcp {
            let Some(sender) = rtp::parse_rtcp(buf) else {
                return drop_it(&mut me.stats, all, Why::BadHeader);
            };
            match me.rtcp_addr {
                None => me.rtcp_addr = Some(from),
                Some(a) if a == from => {}
                Some(_) => {
                    // Follow a NAT rebinding only with the RTP that proved it.
                    let proven =
                        me.rtp.addr.is_some_and(|r| r.ip() == from.ip()) && sender == me.rtp.ssrc;
                    if !proven {
                        return drop_it(&mut me.stats, all, Why::WrongSource);
                    }
                    me.rtcp_addr = Some(from);
                }
            }
            me.stats.received += 1;
            me.stats.rtcp_received += 1;
            all.received += 1;
            all.rtcp_received += 1;
            if !relaying {
                me.stats.consumed += 1;
                all.consumed += 1;
                return Forward::Drop;
            }
            let Some((sock, to)) = other
                .as_ref()
                .and_then(|o| Some((o.rtcp_sock?, o.rtcp_dest()?)))
            else {
                return drop_it(&mut me.stats, all, Why::NoDestination);
            };
            me.stats.relayed += 1;
            all.relayed += 1;
            return Forward::To { sock, to };
        }

        let Some(h) = rtp::parse_rtp(buf) else {
            return drop_it(&mut me.stats, all, Why::BadHeader);
        };
        let Some(&ix) = me.pt_index.get(usize::from(h.pt)) else {
            return drop_it(&mut me.stats, all, Why::UnknownPt);
        };
        let Some(&codec) = me.codecs.get(usize::from(ix)).filter(|_| ix != NO_PT) else {
            return drop_it(&mut me.stats, all, Why::UnknownPt);
        };

        let mut latched = false;
        match me.rtp.addr {
            Some(a) if a == from => {
                if h.ssrc != me.rtp.ssrc {
                    // A new stream from the latched source.
                    me.rtp.ssrc = h.ssrc;
                    me.rtp.seq = h.seq;
                    me.seq.restart();
                }
            }
            Some(_) => {
                if h.ssrc != me.rtp.ssrc || !rtp::seq_ahead(h.seq, me.rtp.seq, RELATCH_WINDOW) {
                    return drop_it(&mut me.stats, all, Why::WrongSource);
                }
                latched = true;
            }
            None => {
                me.rtp.ssrc = h.ssrc;
                me.rtp.seq = h.seq;
                me.seq.restart();
                latched = true;
            }
        }
        if latched {
            me.rtp.addr = Some(from);
            me.stats.latches += 1;
            all.latches += 1;
        }
        if rtp::seq_ahead(h.seq, me.rtp.seq, u16::MAX / 2) {
            me.rtp.seq = h.seq;
        }
        me.seq.update(h.seq);
        me.last_rtp = now;
        me.stats.received += 1;
        all.received += 1;

        let payload = buf.get(h.start..h.end).unwrap_or(&[]);
        let mut digits = [None, None, None];
        match codec.kind {
            CodecKind::TelephoneEvent => {
                if let Some(ev) = dtmf::parse(payload) {
                    let [a, b] = me.dtmf.on_packet(now, h.ssrc, h.ts, ev, codec.clock);
                    digits = [a, b, None];
                }
            }
            CodecKind::Pcmu | CodecKind::Pcma => {
                digits[0] = me.dtmf.idle(now);
                let law = if codec.kind == CodecKind::Pcmu {
                    Law::Mu
                } else {
                    Law::A
                };
                if side == Side::Caller {
                    if let Silence::Watching { .. } = sess.silence {
                        if g711::mean_square(law, payload) > self.loud {
                            sess.silence = Silence::Done;
                        }
                    }
                }
                if let Some(r) = sess.recorder.as_mut() {
                    r.on_audio(now, side.index(), h.ssrc, h.ts, codec.clock, law, payload);
                }
            }
            CodecKind::Other => digits[0] = me.dtmf.idle(now),
        }

        let fwd = if !relaying {
            me.stats.consumed += 1;
            all.consumed += 1;
            Forward::Drop
        } else if let Some((sock, to)) = other
            .as_ref()
            .and_then(|o| Some((o.rtp_sock, o.rtp_dest()?)))
        {
            let out = relay_pt(me, h.pt);
            if out != h.pt {
                if let Some(b) = buf.get_mut(1) {
                    *b = (*b & 0x80) | (out & 0x7F);
                }
            }
            me.stats.relayed += 1;
            all.relayed += 1;
            Forward::To { sock, to }
        } else {
            drop_it(&mut me.stats, all, Why::NoDestination)
        };

        if latched {
            self.event(MediaEvent::Latched {
                session,
                side,
                from,
            });
        }
        for d in digits.into_iter().flatten() {
            self.digit(session, side, d);
        }
        fwd
    }
}

#[inline]
fn relay_pt(leg: &Leg, pt: u8) -> u8 {
    leg.relay_pt.get(usize::from(pt)).copied().unwrap_or(pt)
}
