//! Who is calling (issue 10), on the pure core with a simulated clock: a
//! request is classified by what it is, never by its source address alone.

mod sim;

use siaga112::caselog::Kind;
use sim::*;
use std::time::Duration;

const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:5060"]
realm = "siaga112"
keepalive_s = 0

[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[proxy]]
name = "edge"
peers = ["127.0.0.2/32"]

[[route]]
match = ["112"]
queue = "emergency"

[[queue]]
name = "emergency"

[[seat]]
user = "op1"
password = "secret1"
queues = ["emergency"]

[[seat]]
user = "op2"
password = "secret2"
queues = ["emergency"]
"#;

/// An INVITE from `from` to `target`, with extra header lines.
fn invite(from: &str, target: &str, call: &str, cseq: u32, extra: &str) -> String {
    format!(
        "INVITE sip:{target}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK{call}{cseq}\r\n\
         From: <sip:op1@{from}>;tag=f{call}\r\nTo: <sip:{target}@127.0.0.1>\r\nCall-ID: {call}\r\nCSeq: {cseq} INVITE\r\n\
         Contact: <sip:x@{from}>\r\n{extra}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
}

fn status(msg: &str) -> &str {
    msg.split(' ').nth(1).unwrap_or("")
}

/// The final answers (status >= 200) sent to `to`.
fn finals(sim: &mut Sim, to: &str) -> Vec<String> {
    sim.take(to)
        .into_iter()
        .filter(|m| m.starts_with("SIP/2.0 ") && !m.starts_with("SIP/2.0 1"))
        .collect()
}

fn seat_records(sim: &Sim) -> Vec<(String, String)> {
    sim.log
        .iter()
        .filter_map(|r| match &r.kind {
            Kind::Seat { seat, state, .. } => Some((seat.clone(), state.clone())),
            _ => None,
        })
        .collect()
}

/// Dials a feature code with a challenge round: returns the final answer
/// to the second INVITE (with `password`'s credentials).
fn dial_code(sim: &mut Sim, from: &str, code: &str, password: &str, call: &str) -> String {
    sim.send(from, &invite(from, code, call, 1, ""));
    let challenge = finals(sim, from).pop().expect("an answer");
    assert_eq!(status(&challenge), "407", "{challenge}");
    let nonce = nonce_in(header(&challenge, "Proxy-Authenticate"));
    let uri = format!("sip:{code}@127.0.0.1");
    let auth = credentials(
        "Proxy-Authorization",
        "op1",
        password,
        &nonce,
        "INVITE",
        &uri,
    );
    sim.send(from, &invite(from, code, call, 2, &auth));
    finals(sim, from).pop().expect("an answer")
}

#[test]
fn a_trunk_and_a_seat_on_one_address_and_port_are_told_apart() {
    const BOTH: &str = "127.0.0.1:5080";
    let mut sim = Sim::with_config(CONFIG);
    let ok = register_as(
        &mut sim,
        "op1",
        "secret1",
        BOTH,
        &format!("sip:op1@{BOTH}"),
        "",
    );
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    // The trunk's 112 call from the seat's own address and port: a call,
    // queued and offered (never taken for the seat's feature code).
    sim.send(BOTH, &invite(BOTH, "112", "c1", 1, ""));
    let out = sim.take(BOTH);
    assert!(out.iter().any(|m| m.starts_with("SIP/2.0 180")), "{out:?}");
    let seat_invite = out
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("the seat is offered the call")
        .clone();
    assert!(sim.log.iter().any(
        |r| matches!(&r.kind, Kind::Opened { trunk, from_seat: None, .. } if trunk == "telco-a")
    ));
    // Answered; the caller hangs up.
    sim.send(BOTH, &answer(&seat_invite, "200 OK", "s1", SDP));
    let ok = sim
        .take(BOTH)
        .into_iter()
        .find(|m| m.starts_with("SIP/2.0 200"))
        .expect("the trunk gets the answer");
    let to = header(&ok, "To").to_string();
    let bye = format!(
        "BYE sip:siaga112@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {BOTH};branch=z9hG4bKbye1\r\n\
         From: <sip:op1@{BOTH}>;tag=fc1\r\nTo: {to}\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    sim.send(BOTH, &bye);
    let seat_bye = sim
        .take(BOTH)
        .into_iter()
        .find(|m| m.starts_with("BYE "))
        .expect("the seat leg is hung up");
    sim.send(BOTH, &answer(&seat_bye, "200 OK", "s1", ""));
    sim.take(BOTH);

    // The seat's feature code from that address: challenged, then done.
    let before = seat_records(&sim).len();
    let done = dial_code(&mut sim, BOTH, "*41", "secret1", "f1");
    assert_eq!(status(&done), "200", "{done}");
    let seats = seat_records(&sim);
    assert_eq!(seats.len(), before + 1);
    assert_eq!(seats.last().unwrap(), &("op1".into(), "paused".into()));
    // With a wrong password: refused, and nothing changes.
    let refused = dial_code(&mut sim, BOTH, "*42", "wrong", "f2");
    assert_eq!(status(&refused), "403", "{refused}");
    assert_eq!(seat_records(&sim).len(), before + 1, "no seat change");
    // And a call still is not offered to the paused seat.
    sim.send(BOTH, &invite(BOTH, "112", "c2", 1, ""));
    assert!(sim.take(BOTH).iter().all(|m| !m.starts_with("INVITE ")));
}

#[test]
fn a_registration_authorises_nothing() {
    const SEAT: &str = "127.0.0.9:5071";
    let mut sim = Sim::with_config(CONFIG);
    register_as(
        &mut sim,
        "op1",
        "secret1",
        SEAT,
        &format!("sip:op1@{SEAT}"),
        "",
    );
    // A feature code without credentials from the registered address and
    // port: a challenge, not an action.
    sim.send(SEAT, &invite(SEAT, "*43", "f1", 1, ""));
    let a = finals(&mut sim, SEAT);
    assert_eq!(status(&a[0]), "407", "{a:?}");
    assert_eq!(
        seat_records(&sim).len(),
        1,
        "only the registration's record"
    );
    // From an address nobody registered from, that is no trunk: 403 at once.
    sim.send(
        "127.0.0.8:5000",
        &invite("127.0.0.8:5000", "*43", "f2", 1, ""),
    );
    let a = finals(&mut sim, "127.0.0.8:5000");
    assert_eq!(status(&a[0]), "403", "{a:?}");
    // A trunk dialling a number nobody routes: 404.
    sim.send(TRUNK, &invite(TRUNK, "999", "n1", 1, ""));
    let a = finals(&mut sim, TRUNK);
    assert_eq!(status(&a[0]), "404", "{a:?}");
}

#[test]
fn a_seat_that_dials_112_reaches_the_queue_marked_as_that_seat() {
    const OP1: &str = "127.0.0.9:5071";
    const OP2: &str = "127.0.0.9:5072";
    let mut sim = Sim::with_config(CONFIG);
    register_as(
        &mut sim,
        "op1",
        "secret1",
        OP1,
        &format!("sip:op1@{OP1}"),
        "",
    );
    register_as(
        &mut sim,
        "op2",
        "secret2",
        OP2,
        &format!("sip:op2@{OP2}"),
        "",
    );
    // op1's test call: challenged, then queued; offered to op2, never op1.
    sim.send(OP1, &invite(OP1, "112", "t1", 1, ""));
    let challenge = finals(&mut sim, OP1).pop().unwrap();
    assert_eq!(status(&challenge), "407");
    let nonce = nonce_in(header(&challenge, "Proxy-Authenticate"));
    let auth = credentials(
        "Proxy-Authorization",
        "op1",
        "secret1",
        &nonce,
        "INVITE",
        "sip:112@127.0.0.1",
    );
    sim.send(OP1, &invite(OP1, "112", "t1", 2, &auth));
    let to_op1 = sim.take(OP1);
    assert!(
        to_op1.iter().any(|m| m.starts_with("SIP/2.0 180")),
        "{to_op1:?}"
    );
    assert!(
        to_op1.iter().all(|m| !m.starts_with("INVITE ")),
        "never offered to itself"
    );
    assert!(
        sim.take(OP2).iter().any(|m| m.starts_with("INVITE ")),
        "offered to op2"
    );
    assert!(sim.log.iter().any(|r| matches!(
        &r.kind,
        Kind::Opened { from_seat: Some(s), .. } if s == "op1"
    )));
}

#[test]
fn a_seat_behind_nat_is_reached_at_its_source() {
    const SOURCE: &str = "127.0.0.9:40000";
    let mut sim = Sim::with_config(CONFIG);
    // Contact: a private address nobody can reach; the REGISTER came from
    // SOURCE (a NAT's mapping).
    register_as(
        &mut sim,
        "op1",
        "secret1",
        SOURCE,
        "sip:op1@10.20.30.40:5060",
        "",
    );
    sim.send(TRUNK, &invite(TRUNK, "112", "c1", 1, ""));
    let to_seat = sim.take(SOURCE);
    let inv = to_seat
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("the INVITE goes to the source address");
    assert!(inv.starts_with("INVITE sip:op1@10.20.30.40:5060 "), "{inv}");
    assert!(
        sim.out.iter().all(|(p, _)| p.addr.ip().is_loopback()),
        "nothing sent to the private contact"
    );
}

#[test]
fn a_seat_registered_through_a_proxy_is_reached_through_its_path() {
    const PROXY: &str = "127.0.0.2:5070";
    let mut sim = Sim::with_config(CONFIG);
    let path = "Path: <sip:127.0.0.2:5070;lr;received=sip:127.0.0.9:5071>\r\nSupported: path\r\n";
    let ok = register_as(
        &mut sim,
        "op1",
        "secret1",
        PROXY,
        "sip:op1@127.0.0.9:5071",
        path,
    );
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert_eq!(
        header(&ok, "Path"),
        "<sip:127.0.0.2:5070;lr;received=sip:127.0.0.9:5071>"
    );
    assert_eq!(header(&ok, "Supported"), "path");
    // A call from the trunk behind the proxy: a call (the proxy is trusted).
    let rr = "Record-Route: <sip:127.0.0.2:5070;lr>\r\n";
    sim.send(PROXY, &invite(PROXY, "112", "c1", 1, rr));
    let out = sim.take(PROXY);
    assert!(out.iter().any(|m| m.starts_with("SIP/2.0 180")), "{out:?}");
    let inv = out
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .expect("the seat's INVITE goes to the proxy");
    assert!(inv.starts_with("INVITE sip:op1@127.0.0.9:5071 "), "{inv}");
    assert_eq!(
        header(inv, "Route"),
        "<sip:127.0.0.2:5070;lr;received=sip:127.0.0.9:5071>"
    );
    assert!(sim
        .log
        .iter()
        .any(|r| matches!(&r.kind, Kind::Opened { trunk, .. } if trunk == "edge")));
    // The seat answers through the proxy with its Record-Route; the BYE
    // from our side (the caller hangs up) follows the route set.
    let mut ans = answer(inv, "200 OK", "s1", SDP);
    ans = ans.replacen(
        "\r\nContact:",
        "\r\nRecord-Route: <sip:127.0.0.2:5070;lr>\r\nContact:",
        1,
    );
    sim.send(PROXY, &ans);
    let out = sim.take(PROXY);
    let ack = out
        .iter()
        .find(|m| m.starts_with("ACK "))
        .expect("ACK to the seat");
    assert_eq!(header(ack, "Route"), "<sip:127.0.0.2:5070;lr>");
    let ok = out
        .iter()
        .find(|m| m.starts_with("SIP/2.0 200"))
        .expect("200 to the trunk");
    let to = header(ok, "To").to_string();
    let bye = format!(
        "BYE sip:siaga112@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PROXY};branch=z9hG4bKbye1\r\n\
         From: <sip:op1@{PROXY}>;tag=fc1\r\nTo: {to}\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    sim.send(PROXY, &bye);
    let out = sim.take(PROXY);
    let seat_bye = out
        .iter()
        .find(|m| m.starts_with("BYE "))
        .expect("BYE via the proxy");
    assert_eq!(header(seat_bye, "Route"), "<sip:127.0.0.2:5070;lr>");
}

#[test]
fn a_request_with_the_right_call_id_but_not_its_tags_gets_481() {
    let mut sim = Sim::with_config(CONFIG);
    register_as(
        &mut sim,
        "op1",
        "secret1",
        SEAT,
        &format!("sip:op1@{SEAT}"),
        "",
    );
    sim.send(TRUNK, &invite(TRUNK, "112", "c1", 1, ""));
    let seat_invite = sim
        .take(SEAT)
        .into_iter()
        .find(|m| m.starts_with("INVITE "))
        .unwrap();
    sim.send(SEAT, &answer(&seat_invite, "200 OK", "s1", SDP));
    sim.take(SEAT);
    sim.take(TRUNK);
    // A BYE with the trunk's Call-ID but a made-up To tag: not this dialog.
    let bye = "BYE sip:siaga112@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:6666;branch=z9hG4bKevil\r\n\
         From: <sip:op1@x>;tag=fc1\r\nTo: <sip:112@127.0.0.1>;tag=guessed\r\nCall-ID: c1\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n";
    sim.send("127.0.0.1:6666", bye);
    let a = sim.take("127.0.0.1:6666");
    assert!(a[0].starts_with("SIP/2.0 481"), "{a:?}");
    assert!(
        sim.take(SEAT).iter().all(|m| !m.starts_with("BYE ")),
        "the call goes on"
    );
    assert!(!sim.log.iter().any(|r| matches!(r.kind, Kind::Ended { .. })));
}

const KEEPALIVE: &str = r#"
[sip]
listen = ["udp:127.0.0.1:5060"]
realm = "siaga112"
keepalive_s = 10
no_response_ms = 2000

[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112"]
queue = "emergency"

[[queue]]
name = "emergency"

[[seat]]
user = "op1"
password = "secret1"
queues = ["emergency"]

[[seat]]
user = "op2"
password = "secret2"
queues = ["emergency"]
"#;

#[test]
fn a_seat_that_stops_answering_keepalives_is_out_of_rotation_until_it_answers() {
    const OP1: &str = "127.0.0.9:5071";
    const OP2: &str = "127.0.0.9:5072";
    let mut sim = Sim::with_config(KEEPALIVE);
    register_as(
        &mut sim,
        "op1",
        "secret1",
        OP1,
        &format!("sip:op1@{OP1}"),
        "",
    );
    sim.advance(Duration::from_millis(100));
    register_as(
        &mut sim,
        "op2",
        "secret2",
        OP2,
        &format!("sip:op2@{OP2}"),
        "",
    );
    // Both answer the first keep-alive; then op1 falls silent.
    sim.advance(Duration::from_secs(10));
    answer_options(&mut sim, OP1);
    answer_options(&mut sim, OP2);
    sim.advance(Duration::from_secs(10));
    assert!(
        sim.take(OP1).iter().any(|m| m.starts_with("OPTIONS ")),
        "probed"
    );
    answer_options(&mut sim, OP2);
    sim.advance(Duration::from_secs(3));
    assert!(sim.log.iter().any(|r| matches!(
        &r.kind,
        Kind::Seat { seat, reason: Some(why), .. } if seat == "op1" && why == "unreachable"
    )));
    // op1 had been idle longest, but the call goes to op2 at once.
    sim.send(TRUNK, &invite(TRUNK, "112", "c1", 1, ""));
    assert!(sim.take(OP1).iter().all(|m| !m.starts_with("INVITE ")));
    assert!(sim.take(OP2).iter().any(|m| m.starts_with("INVITE ")));
    // op1 answers the next keep-alive: back in rotation.
    sim.advance(Duration::from_secs(8));
    let probes = sim.take(OP1);
    let probe = probes
        .iter()
        .find(|m| m.starts_with("OPTIONS "))
        .expect("still probed");
    sim.send(OP1, &answer(probe, "200 OK", "ka", ""));
    assert!(sim.log.iter().any(|r| matches!(
        &r.kind,
        Kind::Seat { seat, state, .. } if seat == "op1" && state == "available"
    )));
    sim.send(TRUNK, &invite(TRUNK, "112", "c2", 1, ""));
    assert!(
        sim.take(OP1).iter().any(|m| m.starts_with("INVITE ")),
        "op1 takes the next call"
    );
}
