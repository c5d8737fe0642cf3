//! Recording: two tones on one stereo timeline, on simulated time.

use super::tests::*;
use super::*;
use std::f64::consts::PI;
use std::path::PathBuf;
use std::time::Duration;

/// Signal power at `f` Hz (Goertzel).
fn goertzel(x: &[i16], f: f64) -> f64 {
    let c = 2.0 * (2.0 * PI * f / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = f64::from(v) + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

fn tone(f: f64, n: u64) -> i16 {
    (8000.0 * (2.0 * PI * f * n as f64 / 8000.0).sin()).round() as i16
}

/// A deterministic generator for jitter and loss.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// One packet to send: when, from which side, the bytes.
struct Send {
    at_us: u64,
    side: Side,
    data: Vec<u8>,
}

/// What the recorder thread would have received.
struct Got {
    start: Vec<Option<String>>,
    chunks: Vec<Vec<[i16; 2]>>,
    finished: usize,
}

impl Got {
    fn frames(&self) -> Vec<[i16; 2]> {
        self.chunks.concat()
    }
}

fn collect(out: Vec<MediaOutput>, got: &mut Got) {
    for o in out {
        match o {
            MediaOutput::Recorder(RecorderMsg::Start {
                session,
                sample_rate,
                codec_note,
                path,
            }) => {
                assert_eq!((session, sample_rate), (SID, 8000));
                assert_eq!(path, PathBuf::from("/tmp/rec.wav"));
                got.start.push(codec_note);
            }
            MediaOutput::Recorder(RecorderMsg::Audio { session, frames }) => {
                assert_eq!(session, SID);
                got.chunks.push(frames);
            }
            MediaOutput::Recorder(RecorderMsg::Finish { session }) => {
                assert_eq!(session, SID);
                got.finished += 1;
            }
            _ => {}
        }
    }
}

/// Runs a call: Bridge and Record at 0, the packets in arrival order (timers
/// fired in between), Close at `close_ms`.
fn run(mut h: H, mut sends: Vec<Send>, close_ms: u64) -> Got {
    let mut got = Got {
        start: vec![],
        chunks: vec![],
        finished: 0,
    };
    h.cmd(0, MediaCommand::Bridge { session: SID });
    h.cmd(
        0,
        MediaCommand::Record {
            session: SID,
            path: "/tmp/rec.wav".into(),
        },
    );
    sends.sort_by_key(|s| s.at_us);
    for s in sends {
        let now = h.t0 + Duration::from_micros(s.at_us);
        h.run_until(now);
        let (sock, from) = match s.side {
            Side::Caller => (h.caller_rtp, caller_nat()),
            Side::Seat => (h.seat_rtp, seat_sdp()),
        };
        let mut buf = s.data;
        h.m.handle_packet(now, sock, from, &mut buf);
        let out = h.drain();
        collect(out, &mut got);
    }
    h.run_ms(close_ms);
    h.cmd(close_ms, MediaCommand::Close { session: SID });
    let out = h.drain();
    collect(out, &mut got);
    got
}

/// Packet `k` of a 20 ms G.711 stream of a tone.
fn tone_packet(law: Law, pt: u8, f: f64, k: u64, ts0: u32, ssrc: u32) -> Vec<u8> {
    let payload: Vec<u8> = (0..160).map(|i| law.encode(tone(f, k * 160 + i))).collect();
    rtp(
        pt,
        k as u16,
        ts0.wrapping_add((k * 160) as u32),
        ssrc,
        &payload,
    )
}

/// The timeline position of an arrival time.
fn pos_of(at_us: u64) -> usize {
    (at_us * 8 / 1000) as usize
}

#[test]
fn two_tones_land_left_and_right_without_drift() {
    let h = H::with(MediaConfig::default(), Prompts::new(), &[PCMA], &[PCMU]);
    let mut rng = Lcg(42);
    let mut sends = vec![];
    // The caller pauses 10-12 s; the seat holds 30-33 s; both lose a few.
    let caller_gap = 500..600u64;
    let seat_gap = 1500..1650u64;
    let mut lost = [vec![], vec![]];
    for k in 0..3000u64 {
        for (side, gap, f, ts0, base_us) in [
            (Side::Caller, &caller_gap, 440.0, 0xFFFF_F000u32, 3_000u64),
            (Side::Seat, &seat_gap, 1000.0, 123_456, 7_000),
        ] {
            if gap.contains(&k) {
                continue;
            }
            if k > 0 && rng.next().is_multiple_of(100) {
                lost[side.index()].push(k);
                continue;
            }
            // Up to 60 ms of jitter: packets arrive out of order.
            let jitter = if k == 0 { 0 } else { rng.next() % 60_000 };
            let (law, pt, ssrc) = match side {
                Side::Caller => (Law::A, 8, CALLER_SSRC),
                Side::Seat => (Law::Mu, 0, SEAT_SSRC),
            };
            sends.push(Send {
                at_us: base_us + k * 20_000 + jitter,
                side,
                data: tone_packet(law, pt, f, k, ts0, ssrc),
            });
        }
    }
    let got = run(h, sends, 61_000);
    assert_eq!(got.start, vec![None]);
    assert_eq!(got.finished, 1);
    // Chunks about every 200 ms (the last one, at Close, is the rest).
    for c in &got.chunks[..got.chunks.len() - 1] {
        assert!(c.len() <= 1600 + 8, "{}", c.len());
    }
    let frames = got.frames();
    assert_eq!(frames.len(), 61 * 8000);
    // Every sample of every packet sent is exactly where its RTP timestamp
    // puts it, relative to the first packet's arrival: no drift in 60 s.
    for (ch, law, f, first_us, gap) in [
        (0usize, Law::A, 440.0, 3_000u64, &caller_gap),
        (1, Law::Mu, 1000.0, 7_000, &seat_gap),
    ] {
        let anchor = pos_of(first_us);
        assert!(frames[..anchor].iter().all(|fr| fr[ch] == 0));
        for k in 0..3000u64 {
            let at = anchor + (k * 160) as usize;
            let window = &frames[at..at + 160];
            let missing = gap.contains(&k) || lost[ch].contains(&k);
            for (i, fr) in window.iter().enumerate() {
                let want = if missing {
                    0
                } else {
                    law.decode(law.encode(tone(f, k * 160 + i as u64)))
                };
                assert_eq!(fr[ch], want, "channel {ch} packet {k} sample {i}");
            }
        }
        assert!(frames[anchor + 3000 * 160..].iter().all(|fr| fr[ch] == 0));
    }
    // And by ear, as a Goertzel filter hears it: half-second windows.
    let spans = [
        (pos_of(3_000) + 500 * 160, pos_of(3_000) + 600 * 160),
        (pos_of(7_000) + 1500 * 160, pos_of(7_000) + 1650 * 160),
    ];
    for w in (0..119).map(|i| i * 4000 + 400) {
        for (ch, (f, other)) in [(440.0, 1000.0), (1000.0, 440.0)].into_iter().enumerate() {
            let x: Vec<i16> = frames[w..w + 4000].iter().map(|fr| fr[ch]).collect();
            let (g0, g1) = spans[ch];
            if w >= g0 && w + 4000 <= g1 {
                assert!(x.iter().all(|&s| s == 0), "channel {ch} silent at {w}");
            } else if w + 4000 <= g0 || w >= g1 {
                assert!(
                    goertzel(&x, f) > 100.0 * goertzel(&x, other),
                    "channel {ch} at {w}"
                );
            }
        }
    }
}

fn stream(side: Side, ssrc: u32, ts0: u32, ks: std::ops::Range<u64>, start_us: u64) -> Vec<Send> {
    ks.map(|k| Send {
        at_us: start_us + k * 20_000,
        side,
        data: tone_packet(Law::A, 8, 440.0, k, ts0, ssrc),
    })
    .collect()
}

#[test]
fn a_new_ssrc_or_a_timestamp_jump_is_placed_by_arrival() {
    let h = H::with(MediaConfig::default(), Prompts::new(), &[PCMA], &[PCMA]);
    let mut sends = stream(Side::Caller, 1, 0, 0..50, 0);
    // At 2 s a new SSRC with an unrelated timestamp base.
    sends.extend(stream(Side::Caller, 2, 0x8000_0000, 0..50, 2_000_000));
    // At 4 s the same SSRC, the timestamp 10 s ahead of the clock.
    sends.extend(stream(
        Side::Caller,
        2,
        0x8000_0000 + 50 * 160 + 80_000,
        0..50,
        4_000_000,
    ));
    let got = run(h, sends, 6_000);
    let frames = got.frames();
    assert_eq!(frames.len(), 6 * 8000);
    let filled = |from: usize, to: usize| frames[from..to].iter().all(|f| f[0] != 0);
    let empty = |from: usize, to: usize| frames[from..to].iter().all(|f| f[0] == 0);
    assert!(filled(0, 8000));
    assert!(empty(8000, 16000));
    assert!(filled(16000, 24000));
    assert!(empty(24000, 32000));
    assert!(filled(32000, 40000));
    assert!(empty(40000, 48000));
    assert!(frames.iter().all(|f| f[1] == 0), "the seat sent nothing");
}

#[test]
fn an_undecodable_codec_is_noted() {
    let g722 = Codec {
        pt: 9,
        kind: CodecKind::Other,
        clock: 8000,
        channels: 1,
    };
    // One side undecodable: noted, that channel silent, the other recorded.
    let h = H::with(MediaConfig::default(), Prompts::new(), &[g722], &[PCMA]);
    let mut sends = stream(Side::Seat, 5, 0, 0..10, 0);
    sends.extend((0..10).map(|k| Send {
        at_us: k * 20_000,
        side: Side::Caller,
        data: rtp(9, k as u16, (k * 160) as u32, 1, &[0x55; 160]),
    }));
    let got = run(h, sends, 1_000);
    let note = got.start[0].clone().unwrap();
    assert!(note.starts_with("caller: no G.711"), "{note}");
    assert!(note.contains("pt 9 Other/8000"), "{note}");
    let frames = got.frames();
    assert!(frames.iter().all(|f| f[0] == 0));
    assert!(frames[..1600].iter().all(|f| f[1] != 0));
    // Neither decodable: Start says so, no Audio, then Finish.
    let h = H::with(MediaConfig::default(), Prompts::new(), &[g722], &[g722]);
    let got = run(h, vec![], 1_000);
    assert!(got.start[0].as_ref().unwrap().contains("seat: no G.711"));
    assert!(got.chunks.is_empty());
    assert_eq!(got.finished, 1);
}

#[test]
fn a_second_record_finishes_the_first() {
    let mut h = H::bridged();
    h.cmd(
        0,
        MediaCommand::Record {
            session: SID,
            path: "/tmp/a.wav".into(),
        },
    );
    h.run_ms(1_000);
    h.cmd(
        1_000,
        MediaCommand::Record {
            session: SID,
            path: "/tmp/b.wav".into(),
        },
    );
    let kinds: Vec<&str> = h
        .drain()
        .iter()
        .filter_map(|o| match o {
            MediaOutput::Recorder(RecorderMsg::Start { .. }) => Some("start"),
            MediaOutput::Recorder(RecorderMsg::Audio { .. }) => Some("audio"),
            MediaOutput::Recorder(RecorderMsg::Finish { .. }) => Some("finish"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds.first(), Some(&"start"));
    assert_eq!(&kinds[kinds.len() - 3..], &["audio", "finish", "start"]);
}
