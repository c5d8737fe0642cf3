//! Robustness: arbitrary bytes, absurd settings, a million packets.

use super::tests::*;
use super::*;
use proptest::prelude::*;
use std::time::Duration;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..1600),
        sock in 0u32..6,
        first in prop_oneof![Just(None), (0x80u8..=0xBF).prop_map(Some)],
        pt in prop_oneof![Just(None), Just(Some(8u8)), Just(Some(101u8)), any::<u8>().prop_map(Some)],
        port in any::<u16>(),
    ) {
        let mut h = H::bridged();
        let mut buf = data;
        if let (Some(f), Some(b)) = (first, buf.get_mut(0)) {
            *b = f;
        }
        if let (Some(p), Some(b)) = (pt, buf.get_mut(1)) {
            *b = p;
        }
        let n = buf.len();
        for round in 0..2u64 {
            let f = h.m.handle_packet(h.at(round), SockId(sock), addr(11, port), &mut buf);
            if let Forward::To { .. } = f {
                prop_assert!(n <= 1500);
                prop_assert_eq!(buf.len(), n);
            }
        }
        h.m.handle_timeout(h.at(60_000));
        h.cmd(60_000, MediaCommand::Close { session: SID });
        h.drain();
    }
}

#[test]
fn relays_a_million_packets() {
    let n: u32 = if cfg!(debug_assertions) {
        200_000
    } else {
        1_000_000
    };
    let mut h = H::bridged();
    let (c, s) = (h.caller_rtp, h.seat_rtp);
    let mut a = audio(0, CALLER_SSRC);
    let mut b = audio(0, SEAT_SSRC);
    let t0 = h.t0;
    let mut relayed = 0u32;
    for i in 0..n {
        let now = t0 + Duration::from_micros(u64::from(i) * 10);
        let (buf, sock, from) = if i % 2 == 0 {
            (&mut a, c, caller_nat())
        } else {
            (&mut b, s, seat_sdp())
        };
        let seq = (i / 2) as u16;
        buf[2..4].copy_from_slice(&seq.to_be_bytes());
        if let Forward::To { .. } = h.m.handle_packet(now, sock, from, buf) {
            relayed += 1;
        }
    }
    assert_eq!(relayed, n);
    let all = h.m.stats();
    assert_eq!((all.received, all.relayed), (u64::from(n), u64::from(n)));
    assert_eq!(all.dropped_wrong_source + all.dropped_bad_header, 0);
    let st = h.caller_stats(60_000);
    assert_eq!(
        (st.received, st.relayed, st.lost),
        (u64::from(n / 2), u64::from(n / 2), 0)
    );
}

#[test]
fn absurd_durations_do_not_panic() {
    let cfg = MediaConfig {
        timeout: Duration::MAX,
        hold_timeout: Duration::MAX,
        silent_after: Duration::MAX,
        max_packet: 0,
        ..MediaConfig::default()
    };
    let mut h = H::with(cfg, Prompts::new(), &[PCMA], &[PCMA]);
    h.cmd(0, MediaCommand::Bridge { session: SID });
    h.cmd(
        0,
        MediaCommand::Record {
            session: SID,
            path: "/tmp/x.wav".into(),
        },
    );
    assert_eq!(
        h.pkt(0, h.caller_rtp, caller_nat(), &audio(1, 1)),
        Forward::Drop
    );
    h.run_ms(10_000_000);
    assert_eq!(h.caller_stats(10_000_000).dropped_oversized, 1);
}
