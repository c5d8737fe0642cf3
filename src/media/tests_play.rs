//! Prompts, digits, silence and timeouts on simulated time.

use super::tests::*;
use super::*;
use std::time::Duration;

fn transmits(out: Vec<MediaOutput>) -> Vec<(SockId, SocketAddr, Vec<u8>)> {
    out.into_iter()
        .filter_map(|o| match o {
            MediaOutput::Transmit { sock, to, data } => Some((sock, to, data.to_vec())),
            _ => None,
        })
        .collect()
}

fn seq_of(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[2], p[3]])
}
fn ts_of(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[4], p[5], p[6], p[7]])
}
fn ssrc_of(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[8], p[9], p[10], p[11]])
}

/// Prompt "a" (3 frames of 1000), "b" (2 frames of 2000), "c" (1 of 3000).
fn prompts() -> (Prompts, [PromptId; 3]) {
    let mut p = Prompts::new();
    let a = p.add_pcm("a", &[1000; 480]);
    let b = p.add_pcm("b", &[2000; 300]);
    let c = p.add_pcm("c", &[3000; 160]);
    (p, [a, b, c])
}

fn with_prompts(caller: &[Codec]) -> (H, [PromptId; 3]) {
    let (p, ids) = prompts();
    let h = H::with(MediaConfig::default(), p, caller, &[PCMA]);
    (h, ids)
}

#[test]
fn prompts_are_paced_from_the_start_time_without_drift() {
    let (mut h, [a, b, c]) = with_prompts(&[PCMA, te(101, 8000)]);
    h.cmd(
        0,
        MediaCommand::Play {
            session: SID,
            prompts: vec![a, b],
            then: Some(c),
        },
    );
    // The shell wakes up late by 0..15 ms, differently every time.
    let end = h.at(10_000);
    let mut sent = vec![];
    let mut k = 0u64;
    while let Some(d) = h.m.poll_timeout() {
        if d > end {
            break;
        }
        let now = (d + Duration::from_millis(k * 7 % 16)).min(end);
        k += 1;
        h.m.handle_timeout(now);
        for t in transmits(h.drain()) {
            sent.push((now, t));
        }
    }
    // Slots 0..=500 are due by 10 s: no packet lost or added to lateness.
    assert_eq!(sent.len(), 501);
    let (_, (_, _, first)) = &sent[0];
    let (seq0, ts0, ssrc) = (seq_of(first), ts_of(first), ssrc_of(first));
    let e = |s| Law::A.encode(s);
    for (i, (at, (sock, to, p))) in sent.iter().enumerate() {
        let slot = h.at(20 * i as u64);
        assert!(
            *at >= slot && *at < slot + Duration::from_millis(20),
            "packet {i}"
        );
        assert_eq!((*sock, *to), (h.caller_rtp, caller_sdp()));
        assert_eq!(p.len(), 12 + 160);
        assert_eq!(p[0], 0x80);
        assert_eq!(
            p[1],
            if i == 0 { 0x80 | 8 } else { 8 },
            "marker on the first only"
        );
        assert_eq!(seq_of(p), seq0.wrapping_add(i as u16));
        assert_eq!(ts_of(p), ts0.wrapping_add(160 * i as u32));
        assert_eq!(ssrc_of(p), ssrc);
        // The list once (a a a b b), then c in a loop.
        let want = match i {
            0..=2 => e(1000),
            3..=4 => e(2000),
            _ => e(3000),
        };
        assert_eq!(p[12], want, "packet {i}");
    }
    // b's second frame is padded with silence after its 140 samples.
    let (_, (_, _, b2)) = &sent[4];
    assert_eq!((b2[12 + 139], b2[12 + 140]), (e(2000), Law::A.silence()));
    assert_eq!(h.m.stats().prompt_packets, 501);
    assert_eq!(h.m.poll_timeout(), Some(h.at(10_020)));
}

#[test]
fn a_late_wake_up_bursts_a_little_and_skips_the_rest() {
    let (mut h, [a, _, _]) = with_prompts(&[PCMA]);
    h.cmd(
        0,
        MediaCommand::Play {
            session: SID,
            prompts: vec![a],
            then: None,
        },
    );
    h.m.handle_timeout(h.at(0));
    let first = transmits(h.drain());
    assert_eq!(first.len(), 1);
    let (seq0, ts0) = (seq_of(&first[0].2), ts_of(&first[0].2));
    h.m.handle_timeout(h.at(1000));
    let burst = transmits(h.drain());
    assert_eq!(burst.len(), 3);
    for (j, (_, _, p)) in burst.iter().enumerate() {
        // Slots 48, 49, 50: the timestamp stays on the clock, the
        // sequence number has no gap (nothing was sent for the rest).
        assert_eq!(ts_of(p), ts0.wrapping_add(160 * (48 + j as u32)));
        assert_eq!(seq_of(p), seq0.wrapping_add(1 + j as u16));
        assert_eq!(p[1], 8);
        assert!(
            p[12..].iter().all(|&x| x == Law::A.silence()),
            "a is over: silence"
        );
    }
    assert_eq!(h.m.poll_timeout(), Some(h.at(1020)));
}

#[test]
fn prompts_follow_the_callers_codec_and_latch() {
    let (mut h, [_, _, c]) = with_prompts(&[PCMU]);
    h.pkt(
        0,
        h.caller_rtp,
        caller_nat(),
        &rtp(0, 1, 0, CALLER_SSRC, &[0xFF; 160]),
    );
    h.cmd(
        0,
        MediaCommand::Play {
            session: SID,
            prompts: vec![],
            then: Some(c),
        },
    );
    h.run_ms(40);
    let sent = transmits(h.drain());
    assert_eq!(sent.len(), 3);
    for (sock, to, p) in &sent {
        assert_eq!((*sock, *to), (h.caller_rtp, caller_nat()));
        assert_eq!(p[1] & 0x7F, 0);
        assert!(p[12..].iter().all(|&x| x == Law::Mu.encode(3000)));
    }
}

#[test]
fn nothing_is_played_to_a_caller_who_holds_us() {
    let (mut h, [a, _, _]) = with_prompts(&[PCMA]);
    let held = |direction| MediaCommand::UpdateLeg {
        session: SID,
        side: Side::Caller,
        leg: LegSetup {
            direction,
            ..setup(20000, Some(caller_sdp()), &[PCMA])
        },
    };
    h.cmd(0, held(Direction::RecvOnly));
    let play = MediaCommand::Play {
        session: SID,
        prompts: vec![a],
        then: None,
    };
    h.cmd(0, play);
    h.run_ms(100);
    assert!(transmits(h.drain()).is_empty());
    h.cmd(100, held(Direction::SendRecv));
    h.run_ms(140);
    let sent = transmits(h.drain());
    assert_eq!(sent.len(), 2, "slots 6 and 7");
    assert_eq!(
        sent[0].2[1],
        0x80 | 8,
        "the first packet sent has the marker"
    );
    assert!(
        sent[0].2[12..].iter().all(|&x| x == Law::A.silence()),
        "a was played to no one"
    );
}

#[test]
fn stop_play_and_bridge_end_the_prompt() {
    let (mut h, [a, _, c]) = with_prompts(&[PCMA]);
    let play = MediaCommand::Play {
        session: SID,
        prompts: vec![a],
        then: Some(c),
    };
    h.cmd(0, play.clone());
    h.run_ms(100);
    assert_eq!(transmits(h.drain()).len(), 6);
    h.cmd(110, MediaCommand::StopPlay { session: SID });
    h.run_ms(1000);
    assert!(transmits(h.drain()).is_empty());
    // Played again: the same stream continues (same SSRC, next number).
    h.cmd(1000, play);
    h.run_ms(1000);
    let again = transmits(h.drain());
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].2[1], 0x80 | 8, "a new talkspurt: marker");
    // While it plays, the seat is not heard by the caller.
    h.cmd(1010, MediaCommand::Bridge { session: SID });
    h.cmd(
        1010,
        MediaCommand::Play {
            session: SID,
            prompts: vec![a],
            then: None,
        },
    );
    let seat_pkt = rtp(8, 1, 0, SEAT_SSRC, &[0xD5; 160]);
    assert_eq!(
        h.pkt(1015, h.seat_rtp, seat_sdp(), &seat_pkt),
        Forward::Drop
    );
    let caller_pkt = rtp(8, 1, 0, CALLER_SSRC, &[0xD5; 160]);
    assert!(matches!(
        h.pkt(1015, h.caller_rtp, caller_nat(), &caller_pkt),
        Forward::To { .. }
    ));
    h.cmd(1020, MediaCommand::Bridge { session: SID });
    h.run_ms(5000);
    assert!(transmits(h.drain()).is_empty());
    let seat_pkt = rtp(8, 2, 160, SEAT_SSRC, &[0xD5; 160]);
    assert!(matches!(
        h.pkt(5000, h.seat_rtp, seat_sdp(), &seat_pkt),
        Forward::To { .. }
    ));
}

fn digits(events: &[MediaEvent]) -> Vec<(Side, char, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Digit {
                side,
                digit,
                duration_ms,
                ..
            } => Some((*side, *digit, *duration_ms)),
            _ => None,
        })
        .collect()
}

/// Sends one event as a sender does: start, continuations, three ends.
#[allow(clippy::too_many_arguments)]
fn press(h: &mut H, ms: u64, seq: &mut u16, ts: u32, code: u8, dur: u16, pt: u8, lose_start: bool) {
    let mut d = 0;
    let mut t = ms;
    let mut first = true;
    while d < dur {
        d = (d + 160).min(dur);
        if !lose_start {
            let marker = if first { 0x80 } else { 0 };
            let p = rtp(marker | pt, *seq, ts, CALLER_SSRC, &ev(code, false, d));
            let f = h.pkt(t, h.caller_rtp, caller_nat(), &p);
            assert!(matches!(f, Forward::To { .. }), "continuations are relayed");
        }
        first = false;
        *seq = seq.wrapping_add(1);
        t += 20;
    }
    for _ in 0..3 {
        let p = rtp(pt, *seq, ts, CALLER_SSRC, &ev(code, true, dur));
        h.pkt(t, h.caller_rtp, caller_nat(), &p);
        *seq = seq.wrapping_add(1);
    }
}

#[test]
fn a_digit_is_reported_once_and_relayed() {
    let mut h = H::bridged();
    let mut seq = 1;
    press(&mut h, 0, &mut seq, 8000, 5, 800, 101, false);
    assert_eq!(digits(&h.events()), vec![(Side::Caller, '5', 100)]);
    let (f, out) = h.pkt_bytes(
        500,
        h.caller_rtp,
        caller_nat(),
        &rtp(101, seq, 8000, CALLER_SSRC, &ev(5, true, 800)),
    );
    assert!(matches!(f, Forward::To { .. }));
    assert_eq!(
        out[1], 96,
        "a late end copy is relayed, renumbered, not reported"
    );
    assert!(digits(&h.events()).is_empty());
}

#[test]
fn a_digit_whose_start_was_lost_is_still_one_digit() {
    let mut h = H::bridged();
    let mut seq = 1;
    press(&mut h, 0, &mut seq, 8000, 11, 1200, 101, true);
    assert_eq!(digits(&h.events()), vec![(Side::Caller, '#', 150)]);
}

#[test]
fn two_quick_presses_of_one_key_are_two_digits() {
    let mut h = H::bridged();
    let mut seq = 1;
    press(&mut h, 0, &mut seq, 8000, 1, 640, 101, false);
    press(&mut h, 140, &mut seq, 8000 + 1280, 1, 640, 101, false);
    assert_eq!(
        digits(&h.events()),
        vec![(Side::Caller, '1', 80), (Side::Caller, '1', 80)]
    );
}

#[test]
fn a_digit_whose_end_was_lost_is_reported_later() {
    let mut h = H::new();
    let p = rtp(101, 1, 8000, CALLER_SSRC, &ev(9, false, 480));
    h.pkt(0, h.caller_rtp, caller_nat(), &p);
    // Audio resumes: not yet (the event may be sent alongside audio)...
    h.pkt(
        100,
        h.caller_rtp,
        caller_nat(),
        &rtp(8, 2, 8800, CALLER_SSRC, &[0xD5; 160]),
    );
    assert!(digits(&h.events()).is_empty());
    // ...but half a second after the event's last packet it is over.
    h.pkt(
        600,
        h.caller_rtp,
        caller_nat(),
        &rtp(8, 3, 12800, CALLER_SSRC, &[0xD5; 160]),
    );
    assert_eq!(digits(&h.events()), vec![(Side::Caller, '9', 60)]);
    // And one still open at Close is reported there.
    h.pkt(
        700,
        h.caller_rtp,
        caller_nat(),
        &rtp(101, 4, 16000, CALLER_SSRC, &ev(0, false, 160)),
    );
    h.cmd(710, MediaCommand::Close { session: SID });
    assert_eq!(digits(&h.events()), vec![(Side::Caller, '0', 20)]);
}

#[test]
fn event_duration_uses_the_events_own_clock() {
    let opus = Codec {
        pt: 111,
        kind: CodecKind::Other,
        clock: 48000,
        channels: 2,
    };
    let legs = [opus, te(101, 8000), te(102, 48000)];
    let mut h = H::with(MediaConfig::default(), Prompts::new(), &legs, &legs);
    h.cmd(0, MediaCommand::Bridge { session: SID });
    h.pkt(
        0,
        h.caller_rtp,
        caller_nat(),
        &rtp(111, 1, 0, CALLER_SSRC, &[1; 60]),
    );
    let mut seq = 2;
    press(&mut h, 20, &mut seq, 48000, 4, 800, 101, false);
    press(&mut h, 400, &mut seq, 96000, 6, 4800, 102, false);
    assert_eq!(
        digits(&h.events()),
        vec![(Side::Caller, '4', 100), (Side::Caller, '6', 100)]
    );
}

#[test]
fn the_seat_digits_too_and_before_the_bridge() {
    let mut h = H::new();
    let p = rtp(96, 1, 0, SEAT_SSRC, &ev(12, true, 400));
    assert_eq!(h.pkt(0, h.seat_rtp, seat_sdp(), &p), Forward::Drop);
    assert_eq!(digits(&h.events()), vec![(Side::Seat, 'A', 50)]);
    assert_eq!(h.m.stats().digits, 1);
}

fn silent_events(h: &mut H) -> usize {
    h.events()
        .iter()
        .filter(|e| matches!(e, MediaEvent::Silent { .. }))
        .count()
}

/// Caller packets of one constant sample value every 20 ms in [from, to).
fn caller_audio(h: &mut H, from: u64, to: u64, sample: i16) {
    let code = Law::A.encode(sample);
    for t in (from..to).step_by(20) {
        h.run_ms(t);
        let seq = (t / 20) as u16;
        h.pkt(
            t,
            h.caller_rtp,
            caller_nat(),
            &rtp(8, seq, (t * 8) as u32, CALLER_SSRC, &[code; 160]),
        );
    }
}

#[test]
fn a_silent_caller_is_reported_once_after_silent_after() {
    let mut h = H::bridged();
    // About -56 dBov: background noise, not speech.
    caller_audio(&mut h, 0, 19_990, 50);
    h.run_ms(19_999);
    assert_eq!(silent_events(&mut h), 0);
    h.run_ms(20_000);
    assert_eq!(silent_events(&mut h), 1);
    caller_audio(&mut h, 20_000, 60_000, 0);
    assert_eq!(silent_events(&mut h), 0);
}

#[test]
fn a_caller_who_speaks_is_not_silent() {
    let mut h = H::bridged();
    caller_audio(&mut h, 0, 5_000, 0);
    // About -41 dBov, one packet.
    caller_audio(&mut h, 5_000, 5_020, 300);
    caller_audio(&mut h, 5_020, 40_000, 0);
    assert_eq!(silent_events(&mut h), 0);
}

#[test]
fn silence_is_counted_from_the_bridge() {
    let mut h = H::new();
    caller_audio(&mut h, 0, 30_000, 0);
    assert_eq!(silent_events(&mut h), 0);
    h.cmd(30_000, MediaCommand::Bridge { session: SID });
    caller_audio(&mut h, 30_000, 49_980, 0);
    h.run_ms(49_999);
    assert_eq!(silent_events(&mut h), 0);
    h.run_ms(50_000);
    assert_eq!(silent_events(&mut h), 1);
    // A second Bridge does not start it again.
    h.cmd(50_000, MediaCommand::Bridge { session: SID });
    h.run_ms(100_000);
    assert_eq!(silent_events(&mut h), 0);
}

fn timeouts(h: &mut H) -> Vec<Side> {
    h.events()
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Timeout { side, .. } => Some(*side),
            _ => None,
        })
        .collect()
}

#[test]
fn a_leg_without_rtp_times_out_once_after_the_bridge_never_while_queued() {
    // Not bridged (the caller waits in the queue, maybe sending nothing
    // before a seat answers): no timeout, however long.
    let mut h = H::new();
    h.run_ms(600_000);
    assert!(timeouts(&mut h).is_empty());
    // Bridged at 600 s: 30 s from then.
    h.cmd(600_000, MediaCommand::Bridge { session: SID });
    h.run_ms(629_999);
    assert!(timeouts(&mut h).is_empty());
    h.run_ms(630_000);
    assert_eq!(timeouts(&mut h), vec![Side::Caller, Side::Seat]);
    h.run_ms(1_200_000);
    assert!(timeouts(&mut h).is_empty());
    assert_eq!(h.m.stats().timeouts, 2);
}

#[test]
fn rtp_keeps_a_leg_alive_and_rtcp_alone_does_not() {
    let mut h = H::bridged();
    caller_audio(&mut h, 0, 10_000, 0);
    for t in (10_000..60_000).step_by(5000) {
        h.run_ms(t);
        h.pkt(t, h.caller_rtcp, addr(11, 51001), &rtcp_rr(CALLER_SSRC));
    }
    h.run_ms(60_000);
    let mut all = vec![];
    let mut h2 = H::bridged();
    caller_audio(&mut h2, 0, 10_000, 0);
    h2.run_ms(39_979);
    all.extend(timeouts(&mut h2));
    assert_eq!(all, vec![Side::Seat], "the seat sent nothing: 30 s");
    h2.run_ms(39_980);
    assert_eq!(timeouts(&mut h2), vec![Side::Caller], "last RTP at 9.98 s");
    assert_eq!(timeouts(&mut h), vec![Side::Seat, Side::Caller]);
}

#[test]
fn a_held_leg_has_the_hold_timeout() {
    let mut h = H::bridged();
    let update = |direction| MediaCommand::UpdateLeg {
        session: SID,
        side: Side::Caller,
        leg: LegSetup {
            direction,
            ..setup(20000, Some(caller_sdp()), &[PCMA, te(101, 8000)])
        },
    };
    h.cmd(1_000, update(Direction::SendOnly));
    h.run_ms(3_600_000);
    assert_eq!(timeouts(&mut h), vec![Side::Seat]);
    // Still held (another re-INVITE: inactive) restarts the clock.
    h.cmd(3_600_000, update(Direction::Inactive));
    h.run_ms(3_600_000 + 7_199_999);
    assert!(timeouts(&mut h).is_empty());
    h.run_ms(3_600_000 + 7_200_000);
    assert_eq!(timeouts(&mut h), vec![Side::Caller]);
    // Taken off hold: 30 s again, from the update.
    h.cmd(11_000_000, update(Direction::SendRecv));
    h.run_ms(11_029_999);
    assert!(timeouts(&mut h).is_empty());
    h.run_ms(11_030_000);
    assert_eq!(timeouts(&mut h), vec![Side::Caller]);
}
