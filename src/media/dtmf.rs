//! RFC 4733 telephone events: the payload, and one report per digit.
//!
//! A sender sends an event as a run of packets that share one RTP
//! timestamp (the event's start): a start packet, continuation packets with
//! a growing duration, and the end packet (E bit) usually three times. So
//! the identity of an event is (SSRC, timestamp); the detector reports a
//! digit at its first end packet and ignores the rest of the run. If the
//! start and continuations are lost, the first end packet is the whole
//! event; if the end packets are lost, the event is reported when the next
//! one starts (or when [`Detector::idle`] sees the leg move on). Two presses
//! of the same key are two timestamps, so two digits. A few recently
//! reported events are remembered so that a late end packet of an event
//! that is already over is not taken for a new one.

use std::time::{Duration, Instant};

/// One event block (the first of the payload; RFC 4733 2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub code: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

pub(crate) fn parse(payload: &[u8]) -> Option<Event> {
    let b = payload.get(..4)?;
    Some(Event {
        code: b[0],
        end: b[1] & 0x80 != 0,
        volume: b[1] & 0x3F,
        duration: u16::from_be_bytes([b[2], b[3]]),
    })
}

/// The DTMF character of an event code (RFC 4733 3.2), or `None` for the
/// other events (flash, tones).
pub(crate) fn digit(code: u8) -> Option<char> {
    Some(match code {
        0..=9 => char::from(b'0' + code),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + code - 12),
        _ => return None,
    })
}

/// A digit and its duration in milliseconds.
pub(crate) type Digit = (char, u32);

/// After this long without a packet of an unfinished event, other traffic
/// from the leg ends it.
const IDLE_END: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug)]
struct Current {
    ssrc: u32,
    ts: u32,
    code: u8,
    duration: u16,
    clock: u32,
    reported: bool,
    last_at: Instant,
}

impl Current {
    fn digit(&self) -> Option<Digit> {
        let ms = u64::from(self.duration) * 1000 / u64::from(self.clock.max(1));
        Some((digit(self.code)?, ms as u32))
    }
}

/// Per-leg event state. Fixed size: no allocation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Detector {
    cur: Option<Current>,
    /// (SSRC, timestamp) of events already over, most recent first.
    recent: [Option<(u32, u32)>; 4],
}

impl Detector {
    /// One telephone-event packet. Returns the digit of a previous event
    /// that never saw its end, then the digit this packet completes.
    pub fn on_packet(
        &mut self,
        now: Instant,
        ssrc: u32,
        ts: u32,
        ev: Event,
        clock: u32,
    ) -> [Option<Digit>; 2] {
        let mut out = [None, None];
        if let Some(c) = &mut self.cur {
            if c.ssrc == ssrc && c.ts == ts {
                c.last_at = now;
                if !c.reported {
                    c.duration = c.duration.max(ev.duration);
                    if ev.end {
                        c.reported = true;
                        out[1] = c.digit();
                    }
                }
                return out;
            }
            if c.ssrc == ssrc && (ts.wrapping_sub(c.ts) as i32) < 0 {
                // A late packet of an older event.
                return out;
            }
        }
        if self.recent.contains(&Some((ssrc, ts))) {
            return out;
        }
        out[0] = self.finish();
        let c = Current {
            ssrc,
            ts,
            code: ev.code,
            duration: ev.duration,
            clock,
            reported: ev.end,
            last_at: now,
        };
        if ev.end {
            out[1] = c.digit();
        }
        self.cur = Some(c);
        out
    }

    /// Another packet from the leg (audio): ends an unfinished event that
    /// has been quiet for a while.
    #[inline]
    pub fn idle(&mut self, now: Instant) -> Option<Digit> {
        match &self.cur {
            Some(c) if !c.reported && now.saturating_duration_since(c.last_at) >= IDLE_END => {
                self.finish()
            }
            _ => None,
        }
    }

    /// Ends the current event: its digit if it was never reported.
    pub fn finish(&mut self) -> Option<Digit> {
        let c = self.cur.take()?;
        self.recent.rotate_right(1);
        self.recent[0] = Some((c.ssrc, c.ts));
        if c.reported {
            None
        } else {
            c.digit()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: u8, end: bool, duration: u16) -> Event {
        Event {
            code,
            end,
            volume: 10,
            duration,
        }
    }

    #[test]
    fn payload() {
        assert_eq!(parse(&[5, 0x8A, 0x03, 0x20]), Some(ev(5, true, 800)));
        assert_eq!(parse(&[11, 0x0A, 0, 160, 99]), Some(ev(11, false, 160)));
        assert_eq!(parse(&[1, 2, 3]), None);
        let all: String = (0..=16).filter_map(digit).collect();
        assert_eq!(all, "0123456789*#ABCD");
    }

    #[test]
    fn one_report_per_event() {
        let t = Instant::now();
        let mut d = Detector::default();
        let mut got = vec![];
        let mut feed = |e| got.extend(d.on_packet(t, 1, 1000, e, 8000).into_iter().flatten());
        feed(ev(7, false, 160));
        feed(ev(7, false, 320));
        feed(ev(7, true, 800));
        feed(ev(7, true, 800));
        feed(ev(7, true, 800));
        assert_eq!(got, vec![('7', 100)]);
    }

    #[test]
    fn lost_end_reported_by_next_event_or_idle() {
        let t = Instant::now();
        let mut d = Detector::default();
        assert_eq!(
            d.on_packet(t, 1, 1000, ev(1, false, 400), 8000),
            [None, None]
        );
        let r = d.on_packet(t, 1, 5000, ev(2, true, 400), 8000);
        assert_eq!(r, [Some(('1', 50)), Some(('2', 50))]);
        assert_eq!(
            d.on_packet(t, 1, 9000, ev(3, false, 80), 8000),
            [None, None]
        );
        assert_eq!(d.idle(t + Duration::from_millis(100)), None);
        assert_eq!(d.idle(t + Duration::from_millis(600)), Some(('3', 10)));
        assert_eq!(d.idle(t + Duration::from_millis(900)), None);
        // A late end packet of an event already over is not a new one.
        assert_eq!(
            d.on_packet(t, 1, 5000, ev(2, true, 400), 8000),
            [None, None]
        );
        assert_eq!(
            d.on_packet(t, 1, 1000, ev(1, true, 400), 8000),
            [None, None]
        );
        assert_eq!(d.finish(), None);
    }
}
