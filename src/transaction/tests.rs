//! Every state transition of RFC 3261 §17 on a simulated clock.

use super::*;
use crate::sip::rsip::{Request, Response, SipMessage};
use std::net::SocketAddr;

const T1: Duration = Duration::from_millis(500);

fn udp() -> Peer {
    Peer::udp("127.0.0.1:5070".parse::<SocketAddr>().unwrap())
}
fn tcp() -> Peer {
    Peer::tcp(
        "127.0.0.1:5070".parse::<SocketAddr>().unwrap(),
        Some(crate::sip::ConnId(1)),
    )
}

fn request(method: &str, branch: &str) -> Request {
    let raw = format!(
        "{method} sip:op1@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n\
         From: <sip:a@x>;tag=f1\r\nTo: <sip:op1@x>\r\nCall-ID: c1\r\n\
         CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    );
    match SipMessage::try_from(raw.as_str()).unwrap() {
        SipMessage::Request(r) => r,
        _ => unreachable!(),
    }
}

fn response(status: u16, method: &str, branch: &str) -> Response {
    let raw = format!(
        "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n\
         From: <sip:a@x>;tag=f1\r\nTo: <sip:op1@x>;tag=t9\r\nCall-ID: c1\r\n\
         CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    );
    match SipMessage::try_from(raw.as_str()).unwrap() {
        SipMessage::Response(r) => r,
        _ => unreachable!(),
    }
}

fn drain(t: &mut Transactions) -> Vec<TxEvent> {
    std::iter::from_fn(|| t.poll_event()).collect()
}

fn transmits(ev: &[TxEvent]) -> usize {
    ev.iter()
        .filter(|e| matches!(e, TxEvent::Transmit { .. }))
        .count()
}

/// Advances the clock to `until`, firing timers at their exact instants,
/// and returns the events with the instant they came at.
fn run_until(t: &mut Transactions, until: Instant) -> Vec<(Instant, TxEvent)> {
    let mut out = Vec::new();
    while let Some(at) = t.poll_timeout() {
        if at > until {
            break;
        }
        t.handle_timeout(at);
        out.extend(drain(t).into_iter().map(|e| (at, e)));
    }
    out
}

fn new_layer() -> Transactions {
    Transactions::new(TimerConfig::default())
}

// ------------------------------------------------------------------ server

#[test]
fn server_non_invite_trying_completed_terminated_udp() {
    let now = Instant::now();
    let mut t = new_layer();
    let req = request("OPTIONS", "z9hG4bKa");
    let ServerMatch::New(key) = t.on_request(now, &req, udp()) else {
        panic!()
    };
    assert_eq!(t.server_state(&key), Some(ServerState::Trying));
    // A retransmission before any response is absorbed silently.
    assert_eq!(t.on_request(now, &req, udp()), ServerMatch::Retransmission);
    assert!(drain(&mut t).is_empty());
    assert!(t.respond(now, &key, 200, Bytes::from_static(b"200")));
    assert_eq!(t.server_state(&key), Some(ServerState::Completed));
    assert_eq!(transmits(&drain(&mut t)), 1);
    // A retransmission now gets the same response again, not the TU.
    assert_eq!(t.on_request(now, &req, udp()), ServerMatch::Retransmission);
    let ev = drain(&mut t);
    assert_eq!(
        ev,
        vec![TxEvent::Transmit {
            peer: udp(),
            data: Bytes::from_static(b"200")
        }]
    );
    // A second final response is refused.
    assert!(!t.respond(now, &key, 500, Bytes::from_static(b"500")));
    // Timer J: 64*T1 later the transaction is gone.
    run_until(&mut t, now + 64 * T1 - Duration::from_millis(1));
    assert!(t.server_state(&key).is_some());
    run_until(&mut t, now + 64 * T1);
    assert!(t.server_state(&key).is_none());
    // Now the same request would be new again.
    assert!(matches!(
        t.on_request(now + 64 * T1, &req, udp()),
        ServerMatch::New(_)
    ));
}

#[test]
fn server_non_invite_over_tcp_ends_at_once() {
    let now = Instant::now();
    let mut t = new_layer();
    let req = request("REGISTER", "z9hG4bKb");
    let ServerMatch::New(key) = t.on_request(now, &req, tcp()) else {
        panic!()
    };
    t.respond(now, &key, 100, Bytes::from_static(b"100"));
    assert_eq!(t.server_state(&key), Some(ServerState::Proceeding));
    // A retransmission in Proceeding gets the provisional again.
    t.on_request(now, &req, tcp());
    assert_eq!(transmits(&drain(&mut t)), 2);
    t.respond(now, &key, 200, Bytes::from_static(b"200"));
    assert!(t.server_state(&key).is_none(), "timer J is zero on TCP");
}

#[test]
fn server_invite_failure_retransmits_with_g_until_ack_then_i() {
    let now = Instant::now();
    let mut t = new_layer();
    let inv = request("INVITE", "z9hG4bKc");
    let ServerMatch::New(key) = t.on_request(now, &inv, udp()) else {
        panic!()
    };
    assert_eq!(t.server_state(&key), Some(ServerState::Proceeding));
    t.respond(now, &key, 100, Bytes::from_static(b"100"));
    t.respond(now, &key, 486, Bytes::from_static(b"486"));
    assert_eq!(t.server_state(&key), Some(ServerState::Completed));
    drain(&mut t);
    // Timer G: T1, 2T1, 4T1, then capped at T2 (4 s).
    let ev = run_until(
        &mut t,
        now + Duration::from_millis(7500) + Duration::from_millis(1),
    );
    let times: Vec<u128> = ev.iter().map(|(at, _)| (*at - now).as_millis()).collect();
    assert_eq!(times, vec![500, 1500, 3500, 7500]);
    // The ACK (same branch) confirms; it does not reach the TU.
    let ack = request("ACK", "z9hG4bKc");
    let at = now + Duration::from_secs(8);
    assert_eq!(t.on_request(at, &ack, udp()), ServerMatch::AckAbsorbed);
    assert_eq!(t.server_state(&key), Some(ServerState::Confirmed));
    // No more retransmissions; an ACK retransmission is absorbed too.
    assert_eq!(t.on_request(at, &ack, udp()), ServerMatch::AckAbsorbed);
    assert!(run_until(&mut t, at + Duration::from_millis(4999)).is_empty());
    assert!(t.server_state(&key).is_some());
    // Timer I (T4) ends it.
    run_until(&mut t, at + Duration::from_secs(5));
    assert!(t.server_state(&key).is_none());
}

#[test]
fn server_invite_failure_without_ack_times_out_with_h() {
    let now = Instant::now();
    let mut t = new_layer();
    let inv = request("INVITE", "z9hG4bKd");
    let ServerMatch::New(key) = t.on_request(now, &inv, udp()) else {
        panic!()
    };
    t.respond(now, &key, 404, Bytes::from_static(b"404"));
    let ev = run_until(&mut t, now + 64 * T1);
    assert_eq!(
        ev.last().map(|e| e.1.clone()),
        Some(TxEvent::AckTimeout(key.clone()))
    );
    assert_eq!(ev.last().map(|e| e.0), Some(now + 64 * T1));
    assert!(t.server_state(&key).is_none());
}

#[test]
fn server_invite_2xx_is_retransmitted_until_the_dialog_ack() {
    let now = Instant::now();
    let mut t = new_layer();
    let inv = request("INVITE", "z9hG4bKe");
    let ServerMatch::New(key) = t.on_request(now, &inv, udp()) else {
        panic!()
    };
    t.respond(now, &key, 200, Bytes::from_static(b"200"));
    assert_eq!(t.server_state(&key), Some(ServerState::Accepted));
    drain(&mut t);
    // A retransmitted INVITE is absorbed without a second copy.
    assert_eq!(t.on_request(now, &inv, udp()), ServerMatch::Retransmission);
    assert!(drain(&mut t).is_empty());
    let ev = run_until(&mut t, now + Duration::from_millis(1600));
    assert_eq!(
        transmits(&ev.into_iter().map(|e| e.1).collect::<Vec<_>>()),
        2
    );
    // The ACK for a 2xx has its own branch: it goes to the dialog.
    let ack = request("ACK", "z9hG4bKother");
    assert_eq!(t.on_request(now, &ack, udp()), ServerMatch::AckForDialog);
    assert!(t.server_state(&key).is_none());
    assert!(run_until(&mut t, now + Duration::from_secs(60)).is_empty());
}

#[test]
fn server_invite_2xx_without_ack_times_out_with_l() {
    let now = Instant::now();
    let mut t = new_layer();
    let inv = request("INVITE", "z9hG4bKf");
    let ServerMatch::New(key) = t.on_request(now, &inv, tcp()) else {
        panic!()
    };
    t.respond(now, &key, 200, Bytes::from_static(b"200"));
    drain(&mut t);
    let ev = run_until(&mut t, now + 64 * T1);
    // Over TCP there are no retransmissions, only the give-up.
    assert_eq!(ev, vec![(now + 64 * T1, TxEvent::AckTimeout(key))]);
}

#[test]
fn cancel_finds_its_invite() {
    let now = Instant::now();
    let mut t = new_layer();
    let inv = request("INVITE", "z9hG4bKg");
    let ServerMatch::New(ikey) = t.on_request(now, &inv, udp()) else {
        panic!()
    };
    let cancel = request("CANCEL", "z9hG4bKg");
    let ServerMatch::New(ckey) = t.on_request(now, &cancel, udp()) else {
        panic!()
    };
    assert_ne!(ikey, ckey);
    assert_eq!(t.invite_key_for(&ckey), Some(ikey));
    let stray = request("CANCEL", "z9hG4bKnone");
    let ServerMatch::New(skey) = t.on_request(now, &stray, udp()) else {
        panic!()
    };
    assert_eq!(t.invite_key_for(&skey), None);
}

#[test]
fn rfc2543_requests_match_without_a_cookie() {
    let now = Instant::now();
    let mut t = new_layer();
    let inv = request("INVITE", "old1");
    let ServerMatch::New(key) = t.on_request(now, &inv, udp()) else {
        panic!()
    };
    assert!(key.as_str().starts_with("2543|"));
    assert_eq!(t.on_request(now, &inv, udp()), ServerMatch::Retransmission);
    t.respond(now, &key, 486, Bytes::from_static(b"486"));
    let ack = request("ACK", "old1");
    assert_eq!(t.on_request(now, &ack, udp()), ServerMatch::AckAbsorbed);
    // A different CSeq is another transaction.
    let raw = request("INVITE", "old1")
        .to_string()
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    let SipMessage::Request(inv2) = SipMessage::try_from(raw.as_str()).unwrap() else {
        panic!()
    };
    assert!(matches!(
        t.on_request(now, &inv2, udp()),
        ServerMatch::New(_)
    ));
}

// ------------------------------------------------------------------ client

#[test]
fn client_invite_timer_a_doubles_and_b_gives_up() {
    let now = Instant::now();
    let mut t = new_layer();
    let key = t
        .send_request(now, request("INVITE", "z9hG4bKh"), udp())
        .unwrap();
    assert_eq!(t.client_state(&key), Some(ClientState::Calling));
    assert_eq!(transmits(&drain(&mut t)), 1);
    let ev = run_until(&mut t, now + 64 * T1);
    let sends: Vec<u128> = ev
        .iter()
        .filter(|e| matches!(e.1, TxEvent::Transmit { .. }))
        .map(|e| (e.0 - now).as_millis())
        .collect();
    // A: T1, 2T1, 4T1, ... without a cap, until B at 64*T1.
    assert_eq!(sends, vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(ev.last().unwrap().1, TxEvent::ClientTimeout(key.clone()));
    assert!(t.client_state(&key).is_none());
}

#[test]
fn client_invite_provisional_stops_a_and_b() {
    let now = Instant::now();
    let mut t = new_layer();
    let key = t
        .send_request(now, request("INVITE", "z9hG4bKi"), udp())
        .unwrap();
    drain(&mut t);
    let r = response(180, "INVITE", "z9hG4bKi");
    assert_eq!(t.on_response(now, &r), ClientMatch::Deliver(key.clone()));
    assert_eq!(t.client_state(&key), Some(ClientState::Proceeding));
    assert!(run_until(&mut t, now + Duration::from_secs(120)).is_empty());
    // 2xx: Accepted, passed up; a retransmitted 2xx is passed up again (the
    // TU re-sends its ACK); timer M ends it.
    let ok = response(200, "INVITE", "z9hG4bKi");
    assert_eq!(t.on_response(now, &ok), ClientMatch::Deliver(key.clone()));
    assert_eq!(t.client_state(&key), Some(ClientState::Accepted));
    assert_eq!(t.on_response(now, &ok), ClientMatch::Deliver(key.clone()));
    run_until(&mut t, now + Duration::from_secs(120) + 64 * T1);
    assert!(t.client_state(&key).is_none());
    assert_eq!(t.on_response(now, &ok), ClientMatch::Stray);
}

#[test]
fn client_invite_failure_is_acked_and_absorbed_during_d() {
    let now = Instant::now();
    let mut t = new_layer();
    let key = t
        .send_request(now, request("INVITE", "z9hG4bKj"), udp())
        .unwrap();
    drain(&mut t);
    let busy = response(486, "INVITE", "z9hG4bKj");
    assert_eq!(t.on_response(now, &busy), ClientMatch::Deliver(key.clone()));
    assert_eq!(t.client_state(&key), Some(ClientState::Completed));
    let ev = drain(&mut t);
    let TxEvent::Transmit { data, .. } = &ev[0] else {
        panic!()
    };
    let ack = String::from_utf8_lossy(data);
    assert!(
        ack.starts_with("ACK sip:op1@127.0.0.1 SIP/2.0\r\n"),
        "{ack}"
    );
    assert!(
        ack.contains("branch=z9hG4bKj"),
        "same branch as the INVITE: {ack}"
    );
    assert!(
        ack.contains("To: <sip:op1@x>;tag=t9"),
        "the response's To: {ack}"
    );
    assert!(ack.contains("CSeq: 1 ACK"));
    assert!(ack.contains("From: <sip:a@x>;tag=f1\r\n") && ack.contains("Call-ID: c1\r\n"));
    assert!(
        t.request_data(&key).is_none(),
        "no CANCEL after a final response"
    );
    // A retransmitted failure is absorbed and re-ACKed.
    assert_eq!(t.on_response(now, &busy), ClientMatch::Absorbed);
    assert_eq!(transmits(&drain(&mut t)), 1);
    run_until(&mut t, now + 64 * T1);
    assert!(t.client_state(&key).is_none());
}

#[test]
fn client_non_invite_timer_e_caps_at_t2_and_f_gives_up() {
    let now = Instant::now();
    let mut t = new_layer();
    let key = t
        .send_request(now, request("OPTIONS", "z9hG4bKk"), udp())
        .unwrap();
    drain(&mut t);
    let ev = run_until(&mut t, now + 64 * T1);
    let sends: Vec<u128> = ev
        .iter()
        .filter(|e| matches!(e.1, TxEvent::Transmit { .. }))
        .map(|e| (e.0 - now).as_millis())
        .collect();
    assert_eq!(sends[..5], [500, 1500, 3500, 7500, 11500]);
    assert!(sends.windows(2).skip(3).all(|w| w[1] - w[0] == 4000));
    assert_eq!(ev.last().unwrap().1, TxEvent::ClientTimeout(key));
}

#[test]
fn client_non_invite_completed_absorbs_then_k_ends() {
    let now = Instant::now();
    let mut t = new_layer();
    let key = t
        .send_request(now, request("BYE", "z9hG4bKl"), udp())
        .unwrap();
    let trying = response(100, "BYE", "z9hG4bKl");
    assert_eq!(
        t.on_response(now, &trying),
        ClientMatch::Deliver(key.clone())
    );
    assert_eq!(t.client_state(&key), Some(ClientState::Proceeding));
    let ok = response(200, "BYE", "z9hG4bKl");
    assert_eq!(t.on_response(now, &ok), ClientMatch::Deliver(key.clone()));
    assert_eq!(t.on_response(now, &ok), ClientMatch::Absorbed);
    run_until(&mut t, now + Duration::from_millis(4999));
    assert!(t.client_state(&key).is_some());
    run_until(&mut t, now + Duration::from_secs(5));
    assert!(t.client_state(&key).is_none());
}

#[test]
fn client_over_tcp_never_retransmits() {
    let now = Instant::now();
    let mut t = new_layer();
    let key = t
        .send_request(now, request("OPTIONS", "z9hG4bKm"), tcp())
        .unwrap();
    drain(&mut t);
    let ev = run_until(&mut t, now + 64 * T1);
    assert_eq!(ev, vec![(now + 64 * T1, TxEvent::ClientTimeout(key))]);
}

#[test]
fn transport_failure_fails_waiting_clients_at_once() {
    let now = Instant::now();
    let mut t = new_layer();
    let key = t
        .send_request(now, request("INVITE", "z9hG4bKn"), udp())
        .unwrap();
    drain(&mut t);
    t.transport_failed(udp().addr);
    assert_eq!(drain(&mut t), vec![TxEvent::ClientTimeout(key.clone())]);
    assert!(t.client_state(&key).is_none());
    assert!(run_until(&mut t, now + Duration::from_secs(60)).is_empty());
}

#[test]
fn stray_responses_are_reported() {
    let now = Instant::now();
    let mut t = new_layer();
    assert_eq!(
        t.on_response(now, &response(200, "INVITE", "z9hG4bKzz")),
        ClientMatch::Stray
    );
}

#[test]
fn ten_thousand_live_transactions_match_independently() {
    let now = Instant::now();
    let mut t = new_layer();
    for i in 0..10_000 {
        let r = request("OPTIONS", &format!("z9hG4bK{i}"));
        assert!(matches!(t.on_request(now, &r, udp()), ServerMatch::New(_)));
    }
    assert_eq!(t.len(), (10_000, 0));
    let r = request("OPTIONS", "z9hG4bK4242");
    assert_eq!(t.on_request(now, &r, udp()), ServerMatch::Retransmission);
}

#[test]
fn a_request_sent_raw_is_matched_by_its_branch_and_sent_as_written() {
    let now = Instant::now();
    let mut t = new_layer();
    let text = Bytes::from_static(b"BYE sip:op1@127.0.0.1:5071 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKraw\r\n\r\n");
    let key = t.send_written(now, "BYE", "z9hG4bKraw", text.clone(), udp());
    match drain(&mut t).as_slice() {
        [TxEvent::Transmit { data, .. }] => assert_eq!(data, &text),
        other => panic!("one transmit expected, got {other:?}"),
    }
    assert_eq!(t.request_data(&key), Some(&text), "kept as sent");
    assert_eq!(
        t.on_response(now, &response(200, "BYE", "z9hG4bKraw")),
        ClientMatch::Deliver(key)
    );
    // Another method with the same branch is another transaction.
    assert_eq!(
        t.on_response(now, &response(200, "INFO", "z9hG4bKraw")),
        ClientMatch::Stray
    );
}
