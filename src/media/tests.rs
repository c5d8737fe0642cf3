//! The machine on simulated time: latching, validation, relay, counters.
//! The harness here is shared with `tests_play.rs` and `tests_record.rs`.

use super::*;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) const PCMU: Codec = Codec {
    pt: 0,
    kind: CodecKind::Pcmu,
    clock: 8000,
    channels: 1,
};
pub(super) const PCMA: Codec = Codec {
    pt: 8,
    kind: CodecKind::Pcma,
    clock: 8000,
    channels: 1,
};

pub(super) fn te(pt: u8, clock: u32) -> Codec {
    Codec {
        pt,
        kind: CodecKind::TelephoneEvent,
        clock,
        channels: 1,
    }
}

/// Loopback addresses only, even in simulation.
pub(super) fn addr(host: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)), port)
}

/// The caller's address in its SDP, and where its packets really come from.
pub(super) fn caller_sdp() -> SocketAddr {
    addr(10, 40000)
}
pub(super) fn caller_nat() -> SocketAddr {
    addr(11, 51000)
}
pub(super) fn seat_sdp() -> SocketAddr {
    addr(20, 42000)
}
pub(super) fn attacker() -> SocketAddr {
    addr(66, 6666)
}

pub(super) const SID: SessionId = 7;
pub(super) const CALLER_SSRC: u32 = 0x1111_1111;
pub(super) const SEAT_SSRC: u32 = 0x2222_2222;

pub(super) fn setup(port: u16, remote: Option<SocketAddr>, codecs: &[Codec]) -> LegSetup {
    LegSetup {
        local_port: port,
        remote,
        codecs: codecs.to_vec(),
        direction: Direction::SendRecv,
    }
}

pub(super) fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, pt];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A receiver report (no report blocks) from `ssrc`.
pub(super) fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut v = vec![0x80, 201, 0, 1];
    v.extend_from_slice(&ssrc.to_be_bytes());
    v
}

/// An RFC 4733 payload.
pub(super) fn ev(code: u8, end: bool, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    [code, if end { 0x80 | 10 } else { 10 }, d[0], d[1]]
}

pub(super) struct H {
    pub m: Media,
    pub t0: Instant,
    pub caller_rtp: SockId,
    pub caller_rtcp: SockId,
    pub seat_rtp: SockId,
    pub seat_rtcp: SockId,
    pub binds: Vec<(SockId, u16)>,
}

impl H {
    /// Caller (A-law, events at 101) and seat (A-law, events at 96), open.
    pub fn new() -> H {
        H::with(
            MediaConfig::default(),
            Prompts::new(),
            &[PCMA, te(101, 8000)],
            &[PCMA, te(96, 8000)],
        )
    }

    pub fn bridged() -> H {
        let mut h = H::new();
        h.cmd(0, MediaCommand::Bridge { session: SID });
        h
    }

    pub fn with(cfg: MediaConfig, prompts: Prompts, caller: &[Codec], seat: &[Codec]) -> H {
        let t0 = Instant::now();
        let mut m = Media::new(cfg, Arc::new(prompts));
        for (side, port, remote, codecs) in [
            (Side::Caller, 20000, caller_sdp(), caller),
            (Side::Seat, 20002, seat_sdp(), seat),
        ] {
            m.handle_command(
                t0,
                MediaCommand::OpenLeg {
                    session: SID,
                    side,
                    leg: setup(port, Some(remote), codecs),
                },
            );
        }
        let mut binds = vec![];
        while let Some(o) = m.poll_output() {
            if let MediaOutput::Bind { sock, port } = o {
                binds.push((sock, port));
            }
        }
        let by_port = |p| binds.iter().find(|b| b.1 == p).map(|b| b.0).unwrap();
        H {
            caller_rtp: by_port(20000),
            caller_rtcp: by_port(20001),
            seat_rtp: by_port(20002),
            seat_rtcp: by_port(20003),
            m,
            t0,
            binds,
        }
    }

    pub fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    pub fn cmd(&mut self, ms: u64, c: MediaCommand) {
        let now = self.at(ms);
        self.m.handle_command(now, c);
    }

    pub fn pkt(&mut self, ms: u64, sock: SockId, from: SocketAddr, data: &[u8]) -> Forward {
        let now = self.at(ms);
        let mut buf = data.to_vec();
        self.m.handle_packet(now, sock, from, &mut buf)
    }

    /// Like `pkt`, returning the bytes as they are to be sent.
    pub fn pkt_bytes(
        &mut self,
        ms: u64,
        sock: SockId,
        from: SocketAddr,
        data: &[u8],
    ) -> (Forward, Vec<u8>) {
        let now = self.at(ms);
        let mut buf = data.to_vec();
        let f = self.m.handle_packet(now, sock, from, &mut buf);
        (f, buf)
    }

    pub fn drain(&mut self) -> Vec<MediaOutput> {
        std::iter::from_fn(|| self.m.poll_output()).collect()
    }

    pub fn events(&mut self) -> Vec<MediaEvent> {
        self.drain()
            .into_iter()
            .filter_map(|o| match o {
                MediaOutput::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    /// Fires every timer due up to `t`, each exactly at its deadline.
    pub fn run_until(&mut self, t: Instant) {
        while let Some(d) = self.m.poll_timeout() {
            if d > t {
                break;
            }
            self.m.handle_timeout(d);
        }
    }

    pub fn run_ms(&mut self, ms: u64) {
        let t = self.at(ms);
        self.run_until(t);
    }

    pub fn caller_stats(&mut self, ms: u64) -> LegStats {
        self.cmd(ms, MediaCommand::Close { session: SID });
        let stats = self.events().into_iter().find_map(|e| match e {
            MediaEvent::Stats { caller, .. } => Some(caller),
            _ => None,
        });
        stats.unwrap()
    }
}

pub(super) fn to(sock: SockId, to: SocketAddr) -> Forward {
    Forward::To { sock, to }
}

pub(super) fn audio(seq: u16, ssrc: u32) -> Vec<u8> {
    rtp(8, seq, u32::from(seq) * 160, ssrc, &[0xD5; 160])
}

#[test]
fn open_binds_rtp_and_rtcp_on_separate_sockets() {
    let h = H::new();
    let ports: Vec<u16> = h.binds.iter().map(|b| b.1).collect();
    assert_eq!(ports, vec![20000, 20001, 20002, 20003]);
    let mut ids: Vec<u32> = h.binds.iter().map(|b| b.0 .0).collect();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    let s = h.m.stats();
    assert_eq!((s.sessions_open, s.legs_open), (1, 2));
}

#[test]
fn before_latching_packets_go_to_the_sdp_address() {
    let mut h = H::bridged();
    let f = h.pkt(10, h.seat_rtp, seat_sdp(), &audio(1, SEAT_SSRC));
    assert_eq!(f, to(h.caller_rtp, caller_sdp()));
    let f = h.pkt(10, h.seat_rtcp, addr(20, 42001), &rtcp_rr(SEAT_SSRC));
    assert_eq!(f, to(h.caller_rtcp, addr(10, 40001)));
}

#[test]
fn first_packet_latches_then_other_sources_are_dropped() {
    let mut h = H::bridged();
    // The caller's packets come through a NAT, not from its SDP address.
    assert_eq!(
        h.pkt(0, h.caller_rtp, caller_nat(), &audio(100, CALLER_SSRC)),
        to(h.seat_rtp, seat_sdp())
    );
    let ev = h.events();
    assert_eq!(
        ev,
        vec![MediaEvent::Latched {
            session: SID,
            side: Side::Caller,
            from: caller_nat()
        }]
    );
    assert_eq!(
        h.pkt(20, h.seat_rtp, seat_sdp(), &audio(1, SEAT_SSRC)),
        to(h.caller_rtp, caller_nat())
    );
    // The SDP address itself is now a wrong source too.
    assert_eq!(
        h.pkt(40, h.caller_rtp, caller_sdp(), &audio(1, 9)),
        Forward::Drop
    );
    assert_eq!(
        h.pkt(40, h.caller_rtp, attacker(), &audio(101, 9)),
        Forward::Drop
    );
    let s = h.caller_stats(60);
    assert_eq!(
        (s.received, s.relayed, s.dropped_wrong_source, s.latches),
        (1, 1, 2, 1)
    );
}

#[test]
fn nat_rebinding_relatches_on_the_same_ssrc_ahead() {
    let mut h = H::bridged();
    h.pkt(0, h.caller_rtp, caller_nat(), &audio(100, CALLER_SSRC));
    h.pkt(20, h.caller_rtp, caller_nat(), &audio(101, CALLER_SSRC));
    h.drain();
    let moved = addr(11, 51999);
    assert_eq!(
        h.pkt(40, h.caller_rtp, moved, &audio(103, CALLER_SSRC)),
        to(h.seat_rtp, seat_sdp())
    );
    assert_eq!(
        h.events(),
        vec![MediaEvent::Latched {
            session: SID,
            side: Side::Caller,
            from: moved
        }]
    );
    assert_eq!(
        h.pkt(60, h.seat_rtp, seat_sdp(), &audio(1, SEAT_SSRC)),
        to(h.caller_rtp, moved)
    );
    h.drain();
    // A late packet from the old binding is behind: dropped, no re-latch back.
    assert_eq!(
        h.pkt(60, h.caller_rtp, caller_nat(), &audio(102, CALLER_SSRC)),
        Forward::Drop
    );
    assert!(h.events().is_empty());
}

#[test]
fn a_hijack_flood_never_relatches() {
    let mut h = H::bridged();
    h.pkt(0, h.caller_rtp, caller_nat(), &audio(1000, CALLER_SSRC));
    h.drain();
    let mut x: u32 = 12345;
    let mut next = || {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        x
    };
    for i in 0..10_000u64 {
        let r = next();
        let ssrc = if r == CALLER_SSRC { 1 } else { r };
        // Every sequence number, including just ahead of the real stream.
        let seq = 1001 + (i as u16 % 400);
        let from = addr(66, 1024 + (i % 5000) as u16);
        assert_eq!(
            h.pkt(20 + i, h.caller_rtp, from, &audio(seq, ssrc)),
            Forward::Drop
        );
    }
    // The right SSRC but behind, equal, or too far ahead: also dropped.
    for seq in [999u16, 1000, 1000 + 501, 1000u16.wrapping_add(40000)] {
        assert_eq!(
            h.pkt(20_000, h.caller_rtp, attacker(), &audio(seq, CALLER_SSRC)),
            Forward::Drop
        );
    }
    assert!(h.events().is_empty());
    // The caller still owns its leg, and the seat's audio still reaches it.
    assert_eq!(
        h.pkt(
            20_020,
            h.caller_rtp,
            caller_nat(),
            &audio(1001, CALLER_SSRC)
        ),
        to(h.seat_rtp, seat_sdp())
    );
    assert_eq!(
        h.pkt(20_020, h.seat_rtp, seat_sdp(), &audio(1, SEAT_SSRC)),
        to(h.caller_rtp, caller_nat())
    );
    let s = h.caller_stats(20_040);
    assert_eq!(s.dropped_wrong_source, 10_004);
    assert_eq!((s.received, s.latches), (2, 1));
}

#[test]
fn a_new_ssrc_from_the_latched_source_is_accepted() {
    let mut h = H::bridged();
    h.pkt(0, h.caller_rtp, caller_nat(), &audio(100, CALLER_SSRC));
    assert_eq!(
        h.pkt(20, h.caller_rtp, caller_nat(), &audio(7, 0xABCD)),
        to(h.seat_rtp, seat_sdp())
    );
    // And the new SSRC is now the one a rebinding must carry.
    assert_eq!(
        h.pkt(40, h.caller_rtp, attacker(), &audio(101, CALLER_SSRC)),
        Forward::Drop
    );
    assert_eq!(
        h.pkt(40, h.caller_rtp, addr(11, 52000), &audio(8, 0xABCD)),
        to(h.seat_rtp, seat_sdp())
    );
}

#[test]
fn rtcp_latches_on_its_own_and_goes_to_rtcp() {
    let mut h = H::bridged();
    let caller_rtcp_src = addr(11, 51001);
    // RTCP first: it latches the RTCP socket only.
    assert_eq!(
        h.pkt(0, h.caller_rtcp, caller_rtcp_src, &rtcp_rr(CALLER_SSRC)),
        to(h.seat_rtcp, addr(20, 42001))
    );
    assert!(h.events().is_empty(), "RTCP latches silently");
    assert_eq!(
        h.pkt(5, h.seat_rtp, seat_sdp(), &audio(1, SEAT_SSRC)),
        to(h.caller_rtp, caller_sdp())
    );
    assert_eq!(
        h.pkt(5, h.seat_rtcp, addr(20, 42001), &rtcp_rr(SEAT_SSRC)),
        to(h.caller_rtcp, caller_rtcp_src)
    );
    // From elsewhere: dropped, even with the caller's SSRC (no RTP proved it).
    assert_eq!(
        h.pkt(10, h.caller_rtcp, attacker(), &rtcp_rr(CALLER_SSRC)),
        Forward::Drop
    );
    // After the RTP latched on a new port of the same host, RTCP may follow it.
    h.pkt(20, h.caller_rtp, caller_nat(), &audio(100, CALLER_SSRC));
    let moved = addr(11, 53001);
    assert_eq!(
        h.pkt(30, h.caller_rtcp, moved, &rtcp_rr(CALLER_SSRC)),
        to(h.seat_rtcp, addr(20, 42001))
    );
    assert_eq!(
        h.pkt(40, h.caller_rtcp, moved, &rtcp_rr(0x999)),
        to(h.seat_rtcp, addr(20, 42001))
    );
    assert_eq!(
        h.pkt(50, h.caller_rtcp, caller_rtcp_src, &rtcp_rr(0x999)),
        Forward::Drop
    );
    let s = h.caller_stats(60);
    assert_eq!(
        (s.received, s.rtcp_received, s.dropped_wrong_source),
        (4, 3, 2)
    );
    // An RTCP packet sent to the RTP socket is not RTP of a negotiated type.
    let mut h = H::bridged();
    let sr = [0x80, 200, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0];
    assert_eq!(h.pkt(0, h.caller_rtp, caller_nat(), &sr), Forward::Drop);
    assert_eq!(h.caller_stats(1).dropped_unknown_pt, 1);
}

#[test]
fn invalid_packets_are_dropped_and_counted() {
    let mut h = H::bridged();
    let (c, n) = (h.caller_rtp, caller_nat());
    let mut v1 = audio(1, 1);
    v1[0] = 0x40;
    assert_eq!(h.pkt(0, c, n, &v1), Forward::Drop);
    assert_eq!(h.pkt(0, c, n, &audio(1, 1)[..11]), Forward::Drop);
    let mut csrc = audio(1, 1)[..16].to_vec();
    csrc[0] = 0x8F; // 15 CSRCs announced
    assert_eq!(h.pkt(0, c, n, &csrc), Forward::Drop);
    assert_eq!(h.pkt(0, c, n, &[0xFF; 1501]), Forward::Drop);
    assert_eq!(
        h.pkt(0, c, n, &rtp(8, 1, 0, 1, &[0xD5; 1489])),
        Forward::Drop
    );
    assert_eq!(h.pkt(0, c, n, &rtp(18, 1, 0, 1, &[0; 20])), Forward::Drop);
    assert_eq!(h.pkt(0, c, n, &[]), Forward::Drop);
    let r = h.caller_rtcp;
    assert_eq!(h.pkt(0, r, n, b"garbage!garbage!"), Forward::Drop);
    assert_eq!(
        h.pkt(0, r, n, &[0x80, 199, 0, 1, 0, 0, 0, 1]),
        Forward::Drop
    );
    assert_eq!(h.pkt(0, SockId(999), n, &audio(1, 1)), Forward::Drop);
    // Exactly max_packet is fine.
    assert_eq!(
        h.pkt(0, c, n, &rtp(8, 1, 0, 1, &[0xD5; 1488])),
        to(h.seat_rtp, seat_sdp())
    );
    let all = h.m.stats();
    assert_eq!(all.dropped_unknown_socket, 1);
    let s = h.caller_stats(1);
    assert_eq!(s.dropped_bad_header, 6);
    assert_eq!(s.dropped_oversized, 2);
    assert_eq!(s.dropped_unknown_pt, 1);
    assert_eq!((s.received, s.relayed, s.latches), (1, 1, 1));
    assert_eq!(all.dropped_bad_header, 6);
}

#[test]
fn nothing_is_relayed_before_the_bridge() {
    let mut h = H::new();
    assert_eq!(
        h.pkt(0, h.caller_rtp, caller_nat(), &audio(1, CALLER_SSRC)),
        Forward::Drop
    );
    assert_eq!(
        h.pkt(0, h.seat_rtp, seat_sdp(), &audio(1, SEAT_SSRC)),
        Forward::Drop
    );
    assert_eq!(
        h.pkt(0, h.caller_rtcp, addr(11, 51001), &rtcp_rr(CALLER_SSRC)),
        Forward::Drop
    );
    // The packets were read (the caller latched), not dropped.
    assert_eq!(h.events().len(), 2);
    h.cmd(10, MediaCommand::Bridge { session: SID });
    assert_eq!(
        h.pkt(20, h.seat_rtp, seat_sdp(), &audio(2, SEAT_SSRC)),
        to(h.caller_rtp, caller_nat())
    );
    let s = h.caller_stats(30);
    assert_eq!(
        (s.received, s.consumed, s.relayed, s.dropped_wrong_source),
        (2, 2, 0, 0)
    );
}

#[test]
fn payload_types_are_renumbered_between_legs() {
    let mut h = H::bridged();
    let mut pkt = rtp(0x80 | 101, 5, 800, CALLER_SSRC, &ev(1, false, 160));
    let (f, out) = h.pkt_bytes(0, h.caller_rtp, caller_nat(), &pkt);
    assert_eq!(f, to(h.seat_rtp, seat_sdp()));
    assert_eq!(out[1], 0x80 | 96, "marker kept, 101 -> 96");
    pkt[1] = 96;
    assert_eq!(out[2..], pkt[2..], "everything else untouched");
    let (_, out) = h.pkt_bytes(
        0,
        h.seat_rtp,
        seat_sdp(),
        &rtp(96, 1, 0, SEAT_SSRC, &ev(2, false, 160)),
    );
    assert_eq!(out[1], 101);
    let (_, out) = h.pkt_bytes(20, h.seat_rtp, seat_sdp(), &audio(2, SEAT_SSRC));
    assert_eq!(out, audio(2, SEAT_SSRC));
}

#[test]
fn renumbering_matches_kind_clock_and_channels() {
    let opus = |pt| Codec {
        pt,
        kind: CodecKind::Other,
        clock: 48000,
        channels: 2,
    };
    let mut h = H::with(
        MediaConfig::default(),
        Prompts::new(),
        &[PCMU, PCMA, te(101, 8000), te(100, 48000), opus(111)],
        &[PCMA, PCMU, te(97, 48000), te(96, 8000), opus(112)],
    );
    h.cmd(0, MediaCommand::Bridge { session: SID });
    let mut send = |pt: u8, seq: u16| {
        let (_, out) = h.pkt_bytes(
            u64::from(seq),
            h.caller_rtp,
            caller_nat(),
            &rtp(pt, seq, 0, 1, &[0; 4]),
        );
        out[1]
    };
    assert_eq!(send(0, 1), 0);
    assert_eq!(send(8, 2), 8);
    assert_eq!(send(101, 3), 96);
    assert_eq!(send(100, 4), 97);
    // `Other` codecs have no name to compare: kept as they are.
    assert_eq!(send(111, 5), 111);
}

#[test]
fn no_destination_is_a_counted_drop() {
    let mut h = H::bridged();
    // The seat's SDP had no address (port 0) and it never sent anything.
    h.cmd(
        0,
        MediaCommand::UpdateLeg {
            session: SID,
            side: Side::Seat,
            leg: setup(20002, None, &[PCMA]),
        },
    );
    h.cmd(
        0,
        MediaCommand::OpenLeg {
            session: SID,
            side: Side::Seat,
            leg: setup(20002, Some(addr(20, 0)), &[PCMA]),
        },
    );
    assert_eq!(
        h.pkt(0, h.caller_rtp, caller_nat(), &audio(1, 1)),
        Forward::Drop
    );
    assert_eq!(
        h.pkt(1, h.caller_rtcp, addr(11, 51001), &rtcp_rr(1)),
        Forward::Drop
    );
    let s = h.caller_stats(2);
    assert_eq!((s.received, s.dropped_no_destination), (2, 2));
}

#[test]
fn update_leg_keeps_the_latch_unless_the_remote_changes() {
    let mut h = H::bridged();
    h.pkt(0, h.caller_rtp, caller_nat(), &audio(1, CALLER_SSRC));
    let update = |remote| MediaCommand::UpdateLeg {
        session: SID,
        side: Side::Caller,
        leg: setup(20000, remote, &[PCMA, te(101, 8000)]),
    };
    h.cmd(10, update(Some(caller_sdp())));
    h.cmd(10, update(None));
    assert_eq!(
        h.pkt(20, h.seat_rtp, seat_sdp(), &audio(1, SEAT_SSRC)),
        to(h.caller_rtp, caller_nat())
    );
    let new_remote = addr(12, 44000);
    h.cmd(30, update(Some(new_remote)));
    assert_eq!(
        h.pkt(40, h.seat_rtp, seat_sdp(), &audio(2, SEAT_SSRC)),
        to(h.caller_rtp, new_remote)
    );
    // Unlatched again: the next source latches.
    h.drain();
    h.pkt(50, h.caller_rtp, addr(12, 44000), &audio(2, CALLER_SSRC));
    assert_eq!(h.events().len(), 1);
    // No Bind/Unbind for updates on the same port.
    assert!(h.drain().is_empty());
}

#[test]
fn replacing_a_leg_keeps_or_rebinds_its_sockets() {
    let mut h = H::bridged();
    h.pkt(0, h.caller_rtp, caller_nat(), &audio(1, CALLER_SSRC));
    h.drain();
    let open = |port| MediaCommand::OpenLeg {
        session: SID,
        side: Side::Caller,
        leg: setup(port, Some(caller_sdp()), &[PCMA]),
    };
    h.cmd(10, open(20000));
    assert!(h.drain().is_empty(), "same port: same sockets");
    // The latch starts afresh.
    assert_eq!(
        h.pkt(20, h.seat_rtp, seat_sdp(), &audio(1, SEAT_SSRC)),
        to(h.caller_rtp, caller_sdp())
    );
    h.cmd(30, open(20010));
    let out = h.drain();
    let binds: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            MediaOutput::Bind { sock, port } => Some((*sock, *port)),
            _ => None,
        })
        .collect();
    let unbinds = out
        .iter()
        .filter(|o| matches!(o, MediaOutput::Unbind { .. }))
        .count();
    assert_eq!(unbinds, 2);
    assert_eq!(
        binds.iter().map(|b| b.1).collect::<Vec<_>>(),
        vec![20010, 20011]
    );
    // The old socket is gone; the new one works; the counters carried on.
    assert_eq!(
        h.pkt(40, h.caller_rtp, caller_nat(), &audio(2, CALLER_SSRC)),
        Forward::Drop
    );
    let new = binds[0].0;
    assert_eq!(
        h.pkt(40, new, caller_nat(), &audio(3, CALLER_SSRC)),
        to(h.seat_rtp, seat_sdp())
    );
    let s = h.caller_stats(50);
    assert_eq!((s.received, s.latches), (2, 2));
}

#[test]
fn close_reports_counters_and_unbinds() {
    let mut h = H::bridged();
    for seq in [1u16, 2, 3, 6, 7, 5] {
        h.pkt(
            u64::from(seq) * 20,
            h.caller_rtp,
            caller_nat(),
            &audio(seq, CALLER_SSRC),
        );
    }
    h.pkt(200, h.caller_rtp, attacker(), &audio(8, 5));
    h.pkt(200, h.seat_rtp, seat_sdp(), &audio(1, SEAT_SSRC));
    h.drain();
    h.cmd(300, MediaCommand::Close { session: SID });
    let out = h.drain();
    let unbinds = out
        .iter()
        .filter(|o| matches!(o, MediaOutput::Unbind { .. }))
        .count();
    assert_eq!(unbinds, 4);
    let Some(MediaOutput::Event(MediaEvent::Stats {
        session,
        caller,
        seat,
    })) = out.last()
    else {
        panic!("{out:?}");
    };
    assert_eq!(*session, SID);
    let want = LegStats {
        received: 6,
        relayed: 6,
        dropped_wrong_source: 1,
        lost: 1,
        latches: 1,
        ..LegStats::default()
    };
    assert_eq!(*caller, want);
    assert_eq!((seat.received, seat.relayed, seat.lost), (1, 1, 0));
    let all = h.m.stats();
    assert_eq!((all.sessions_open, all.legs_open), (0, 0));
    assert_eq!(
        (all.received, all.relayed, all.dropped_wrong_source),
        (7, 7, 1)
    );
    // The sockets are no longer the session's.
    assert_eq!(
        h.pkt(400, h.caller_rtp, caller_nat(), &audio(9, CALLER_SSRC)),
        Forward::Drop
    );
    assert_eq!(h.m.stats().dropped_unknown_socket, 1);
    // Commands for a closed session are ignored.
    h.cmd(500, MediaCommand::Bridge { session: SID });
    h.cmd(500, MediaCommand::Close { session: SID });
    assert!(h.drain().is_empty());
}
