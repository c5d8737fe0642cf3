//! The pure core driven like the shell drives it, on a simulated clock: many
//! whole calls (register, trunk INVITE, seat answer, BYE), then time passes,
//! and every per-call table must be empty again (no state leaks per call).

mod sim;

use sim::*;
use std::time::Duration;

#[test]
fn a_thousand_calls_leave_no_state_behind() {
    let mut sim = Sim::new();
    register(&mut sim);
    for n in 0..1000 {
        one_call(&mut sim, n);
    }
    assert_eq!(sim.core.sizes().calls[0], 0, "no call left");
    // Every record of every case: opened, queued, offered, answered, ended.
    assert_eq!(
        sim.records,
        1 + 5 * 1000,
        "the seat registering, then per call opened, queued, offered, answered, ended"
    );
    // Transactions, zombies and timers drain once their timers have run
    // (the longest: 120 s of max_wait, 32 s of timer L/M).
    sim.advance(Duration::from_secs(200));
    let sizes = sim.core.sizes();
    assert_eq!(
        sizes.calls, [0; 9],
        "calls, by_trunk, by_leg, by_invite_tx, by_case, purposes, zombies, feature_calls, timers"
    );
    assert_eq!(sizes.transactions, (0, 0));
}

#[test]
fn crossing_reinvites_get_491_and_the_first_goes_through() {
    let mut sim = Sim::new();
    register(&mut sim);
    let (to, seat_invite) = talking(&mut sim, 7);
    // The trunk puts the call on hold: relayed to the seat.
    let reinvite = format!(
        "INVITE sip:siaga112@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKre7\r\n\
         From: <sip:+62817@{TRUNK}>;tag=t7\r\nTo: {to}\r\nCall-ID: call7\r\nCSeq: 2 INVITE\r\n\
         Contact: <sip:trunk@{TRUNK}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    );
    sim.send(TRUNK, &reinvite);
    let relayed = sim
        .take(SEAT)
        .into_iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("relayed to the seat");
    assert_eq!(header(&relayed, "Call-ID"), header(&seat_invite, "Call-ID"));
    // Meanwhile the seat sends its own re-INVITE on the same dialog: glare.
    let seat_reinvite = format!(
        "INVITE sip:siaga112@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {SEAT};branch=z9hG4bKsre7\r\n\
         From: {};tag=s7\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 INVITE\r\nContact: <sip:op1@{SEAT}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        header(&seat_invite, "To"),
        header(&seat_invite, "From"),
        header(&seat_invite, "Call-ID"),
        SDP.len()
    );
    sim.send(SEAT, &seat_reinvite);
    let to_seat = sim.take(SEAT);
    assert!(
        to_seat.iter().any(|m| m.starts_with("SIP/2.0 491")),
        "{to_seat:?}"
    );
    assert!(
        sim.take(TRUNK).iter().all(|m| !m.starts_with("INVITE ")),
        "not relayed to the trunk"
    );
    // The seat answers the relayed hold: the trunk gets the 200 and the seat an ACK.
    sim.send(SEAT, &answer(&relayed, "200 OK", "s7", SDP));
    assert!(sim
        .take(TRUNK)
        .iter()
        .any(|m| m.starts_with("SIP/2.0 200") && m.contains("CSeq: 2 INVITE")));
    assert!(sim
        .take(SEAT)
        .iter()
        .any(|m| m.starts_with("ACK ") && m.contains("CSeq: 2 ACK")));
}
