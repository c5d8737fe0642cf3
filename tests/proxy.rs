//! Issue 10 end to end: Debian's Kamailio as the edge proxy in front of the
//! engine (`config/kamailio/edge.cfg`). SIPp trunks call through it, SIPp
//! and baresip seats register through it (Path) and answer through it;
//! every call hangs up cleanly from either side and is one case in the log.

mod common;
use common::*;
use std::time::Duration;

/// The engine behind the proxy: Kamailio is its only trusted peer.
fn engine() -> Engine {
    Engine::start(
        "retry_s = 30",
        &format!(
            r#"
[[proxy]]
name = "edge"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112", "urn:service:sos", "urn:service:sos.*"]
queue = "emergency"

[[queue]]
name = "emergency"
ring_timeout_s = 15
max_wait_s = 120
{SEATS}"#
        ),
    )
}

fn trunk_call(k: &Kamailio, scenario: &str, extra: &[&str]) -> SippRun {
    let mut args = vec!["-s", "112", "-m", "1"];
    args.extend_from_slice(extra);
    sipp_to(&k.target(), scenario, &args, Duration::from_secs(20))
}

fn check_one_case(e: &Engine, seat: &str) {
    let ev = one_case(&wait_ended(e, 1));
    assert_eq!(
        names(&ev),
        ["opened", "queued", "offered", "answered", "ended"],
        "{ev:#?}"
    );
    assert_eq!(ev[0].1["trunk"], "edge", "it came through the proxy");
    assert_eq!(ended(&ev)["reason"], "completed");
    assert_eq!(ended(&ev)["seat"], seat);
}

#[test]
fn a_trunk_call_through_the_proxy_is_answered_by_a_seat_behind_it_caller_hangs_up() {
    let e = engine();
    let k = Kamailio::start(&e);
    let port = free_port();
    register_seat_at(&e, &k.target(), "op1", port);
    let seat = Seat::start_at(&k.target(), "seat_answer.xml", port, 1, &["-d", "300"]);
    let r = trunk_call(&k, "trunk_call.xml", &["-d", "800"]);
    assert!(r.ok, "trunk: {}\n{}\n{}", r.output, e.log(), k.log());
    assert!(
        seat.finish(Duration::from_secs(10)),
        "seat failed\n{}\n{}",
        e.log(),
        k.log()
    );
    check_one_case(&e, "op1");
    assert!(
        e.log().contains("seat registered seat=op1"),
        "registered through the proxy"
    );
}

#[test]
fn the_seat_behind_the_proxy_hangs_up() {
    let e = engine();
    let k = Kamailio::start(&e);
    let port = free_port();
    register_seat_at(&e, &k.target(), "op2", port);
    let seat = Seat::start_at(
        &k.target(),
        "seat_answer_hangup.xml",
        port,
        1,
        &["-d", "500"],
    );
    let r = trunk_call(&k, "trunk_call_seat_hangs_up.xml", &[]);
    assert!(r.ok, "trunk: {}\n{}\n{}", r.output, e.log(), k.log());
    assert!(
        seat.finish(Duration::from_secs(10)),
        "seat failed\n{}\n{}",
        e.log(),
        k.log()
    );
    check_one_case(&e, "op2");
}

#[test]
fn baresip_registers_and_answers_through_the_proxy() {
    require("baresip");
    let e = engine();
    let k = Kamailio::start(&e);
    let dir = baresip_dir_at(&e, k.port, "op3", "secret3", "");
    let phone = spawn_baresip(&dir, 8);
    assert!(
        e.wait_log("seat registered seat=op3", Duration::from_secs(8)),
        "{}\n{}",
        e.log(),
        k.log()
    );
    let r = trunk_call(&k, "trunk_call.xml", &["-d", "1500"]);
    terminate(&phone);
    let out = phone.wait_with_output().unwrap();
    assert!(
        r.ok,
        "trunk: {}\n{}\n{}\nbaresip: {}",
        r.output,
        e.log(),
        k.log(),
        String::from_utf8_lossy(&out.stdout)
    );
    check_one_case(&e, "op3");
}
