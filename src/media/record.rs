//! Recording policy: both directions of a call on one 8 kHz stereo timeline
//! (caller left, seat right), handed to the recorder thread in chunks.
//!
//! The timeline starts at the Record command: sample *n* is `n / 8000` s
//! after it. Each side keeps an anchor (SSRC, RTP timestamp, timeline
//! position). The first packet of a stream is placed where it arrived; later
//! packets are placed by their RTP timestamp relative to the anchor, so
//! network jitter and reordering do not move audio and nothing drifts. A
//! stream is re-anchored at its arrival position when its SSRC changes or
//! when the timestamp position strays more than 200 ms from the arrival
//! position (a sender's timestamp jump, a restart after hold).
//!
//! Samples are decoded straight into a per-side ring buffer (2 s) and read
//! out 200 ms behind real time, which is the jitter a packet may have and
//! still land in place (a later one is counted as late and left out). Slots
//! nobody wrote are silence: gaps, hold, a side that sent nothing. One chunk
//! (one `Vec`) is allocated per flush, about every 200 ms; nothing per
//! packet.
//!
//! The recorder thread (not here) writes the WAV with `hound`, syncs and
//! hashes it; this module only decides what goes into it.

use super::g711::Law;
use super::SessionId;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// To the recorder thread, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecorderMsg {
    /// Open the file: 16-bit stereo at `sample_rate` (always 8000), caller
    /// left, seat right. `codec_note` says when a side's negotiated audio is
    /// not G.711: that side is silent in the file, and when neither side is
    /// decodable no `Audio` follows at all.
    Start {
        session: SessionId,
        path: PathBuf,
        sample_rate: u32,
        codec_note: Option<String>,
    },
    /// The next frames of the file (contiguous with the previous chunk).
    Audio {
        session: SessionId,
        frames: Vec<[i16; 2]>,
    },
    /// Close, sync and hash the file.
    Finish { session: SessionId },
}

/// The timeline's rate.
pub(crate) const RATE: u32 = 8000;
/// How often chunks are flushed.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// How far behind real time the flush reads (the jitter allowance).
const DELAY: i64 = 1600;
/// A timestamp position further than this from arrival re-anchors.
const RESYNC: i64 = 1600;
/// Ring buffer length per side, in samples (2 s).
const RING: usize = 16384;

#[derive(Clone, Copy, Debug)]
struct Anchor {
    ssrc: u32,
    ts: u32,
    pos: i64,
}

#[derive(Debug)]
pub(crate) struct Recorder {
    pub gen: u64,
    session: SessionId,
    start: Instant,
    /// Timeline position of the next frame to hand out.
    flushed: i64,
    /// One past the furthest written position.
    written_end: i64,
    ring: [Vec<i16>; 2],
    anchors: [Option<Anchor>; 2],
    /// False when neither side can be decoded: no Audio at all.
    audio: bool,
    /// Samples that arrived after their place was flushed, or too far ahead.
    pub late: u64,
}

impl Recorder {
    pub fn new(gen: u64, session: SessionId, now: Instant, audio: bool) -> Recorder {
        Recorder {
            gen,
            session,
            start: now,
            flushed: 0,
            written_end: 0,
            ring: [vec![0; RING], vec![0; RING]],
            anchors: [None, None],
            audio,
            late: 0,
        }
    }

    fn pos_at(&self, now: Instant) -> i64 {
        let d = now.saturating_duration_since(self.start);
        (d.as_nanos() * u128::from(RATE) / 1_000_000_000) as i64
    }

    /// One G.711 packet of side `side` (0 caller, 1 seat). No allocation.
    #[allow(clippy::too_many_arguments)]
    pub fn on_audio(
        &mut self,
        now: Instant,
        side: usize,
        ssrc: u32,
        ts: u32,
        clock: u32,
        law: Law,
        payload: &[u8],
    ) {
        if !self.audio || side > 1 {
            return;
        }
        let arrival = self.pos_at(now);
        let placed = match self.anchors[side] {
            Some(a) if a.ssrc == ssrc => {
                let d = i64::from(ts.wrapping_sub(a.ts) as i32);
                let p = a.pos + d * i64::from(RATE) / i64::from(clock.max(1));
                ((p - arrival).abs() <= RESYNC).then_some(p)
            }
            _ => None,
        };
        let pos = placed.unwrap_or_else(|| {
            self.anchors[side] = Some(Anchor {
                ssrc,
                ts,
                pos: arrival,
            });
            arrival
        });
        let ring = &mut self.ring[side];
        let mut late = 0;
        for (i, &b) in payload.iter().enumerate() {
            let q = pos + i as i64;
            if q < self.flushed || q >= self.flushed + RING as i64 {
                late += 1;
                continue;
            }
            ring[q as usize % RING] = law.decode(b);
        }
        self.late += late;
        self.written_end = self.written_end.max(pos + payload.len() as i64);
    }

    /// The frames due at `now` (200 ms behind), as a message.
    pub fn tick(&mut self, now: Instant) -> Option<RecorderMsg> {
        let upto = self.pos_at(now) - DELAY;
        self.flush(upto)
    }

    /// At the end: everything written, up to now.
    pub fn finish(&mut self, now: Instant) -> Option<RecorderMsg> {
        let upto = self.pos_at(now).max(self.written_end);
        self.flush(upto)
    }

    fn flush(&mut self, upto: i64) -> Option<RecorderMsg> {
        if !self.audio || upto <= self.flushed {
            return None;
        }
        // Writes land only within RING of `flushed`: beyond that (a shell
        // that did not call for a long while) the timeline is silence.
        let in_ring = upto.min(self.flushed + RING as i64);
        let mut frames = Vec::with_capacity((upto - self.flushed) as usize);
        for q in self.flushed..in_ring {
            let i = q as usize % RING;
            frames.push([self.ring[0][i], self.ring[1][i]]);
            self.ring[0][i] = 0;
            self.ring[1][i] = 0;
        }
        frames.resize((upto - self.flushed) as usize, [0, 0]);
        self.flushed = upto;
        Some(RecorderMsg::Audio {
            session: self.session,
            frames,
        })
    }
}
