//! Issue 10 end to end with SIPp: a trunk and a seat on one address and
//! port, a seat behind NAT, and a seat that stops answering keep-alives.

mod common;
use common::*;
use serde_json::Value;
use std::time::Duration;

fn engine(sip_extra: &str) -> Engine {
    Engine::start(
        &format!("retry_s = 30\n{sip_extra}"),
        &format!(
            r#"
[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112"]
queue = "emergency"

[[queue]]
name = "emergency"
ring_timeout_s = 15
max_wait_s = 120
{SEATS}"#
        ),
    )
}

fn seat_states(e: &Engine, seat: &str) -> Vec<(String, Option<String>)> {
    records(e)
        .iter()
        .filter(|v| v["event"] == "seat" && v["seat"] == seat)
        .map(|v| {
            (
                v["state"].as_str().unwrap().to_string(),
                v["reason"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn wait_for(e: &Engine, what: impl Fn(&[Value]) -> bool) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < end {
        if what(&records(e)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_trunk_and_a_seat_on_one_address_and_port() {
    let e = engine("");
    let shared = free_port();
    let t = Duration::from_secs(15);
    register_seat(&e, "op1", shared);
    // The seat's feature code from that address: 407, then done.
    let code = |scenario: &str, code: &str, pw: &str| {
        sipp_from(
            &e.target(),
            shared,
            scenario,
            &["-s", code, "-au", "op1", "-ap", pw, "-m", "1"],
            t,
        )
    };
    let r = code("seat_dial.xml", "*41", "secret1");
    assert!(r.ok, "pause: {}\n{}", r.output, e.log());
    assert!(wait_for(&e, |_| seat_states(&e, "op1")
        .last()
        .is_some_and(|s| s.0 == "paused")));
    // The trunk's 112 call from that same address and port: queued and
    // answered (by op2), never taken for the seat's.
    let port2 = free_port();
    register_seat(&e, "op2", port2);
    let seat = Seat::start(&e, "seat_answer.xml", port2, 1, &["-d", "200"]);
    let r = sipp_from(
        &e.target(),
        shared,
        "trunk_call.xml",
        &["-s", "112", "-m", "1", "-d", "500"],
        t,
    );
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    assert!(seat.finish(Duration::from_secs(10)), "op2\n{}", e.log());
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(
        names(&ev),
        ["opened", "queued", "offered", "answered", "ended"]
    );
    assert_eq!(ev[0].1["trunk"], "telco-a");
    assert_eq!(ended(&ev)["seat"], "op2");
    // A feature code with a wrong password: refused, nothing changes.
    let before = seat_states(&e, "op1");
    let r = code("seat_dial_refused.xml", "*42", "wrong");
    assert!(r.ok, "wrong password: {}\n{}", r.output, e.log());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(seat_states(&e, "op1"), before, "no seat change");
    // With the right one it works.
    let r = code("seat_dial.xml", "*42", "secret1");
    assert!(r.ok, "unpause: {}\n{}", r.output, e.log());
    assert!(wait_for(&e, |_| seat_states(&e, "op1")
        .last()
        .is_some_and(|s| s.0 == "available")));
}

#[test]
fn a_seat_whose_contact_is_not_its_source_gets_its_calls() {
    let e = engine("");
    let port = free_port();
    // Contact on a port nobody listens on (as a NAT rewrites the source
    // but not the Contact): the engine must ring the source instead.
    let dead = free_port().to_string();
    let r = sipp_from(
        &e.target(),
        port,
        "register_nat.xml",
        &[
            "-s",
            "op1",
            "-au",
            "op1",
            "-ap",
            "secret1",
            "-m",
            "1",
            "-key",
            "contact_host",
            "127.0.0.1",
            "-key",
            "contact_port",
            &dead,
        ],
        Duration::from_secs(10),
    );
    assert!(r.ok, "{}\n{}", r.output, e.log());
    assert!(
        e.wait_log("seat behind NAT", Duration::from_secs(3)),
        "{}",
        e.log()
    );
    let seat = Seat::start(&e, "seat_answer.xml", port, 1, &["-d", "200"]);
    let r = sipp(
        &e,
        "trunk_call.xml",
        &["-s", "112", "-m", "1", "-d", "500"],
        Duration::from_secs(15),
    );
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    assert!(seat.finish(Duration::from_secs(10)), "seat\n{}", e.log());
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(ended(&ev)["seat"], "op1");
    assert_eq!(ended(&ev)["reason"], "completed");
}

/// A baresip softphone registered as `user`, killed (SIGKILL: gone without
/// unregistering, as a phone that loses power or network) when dropped.
struct Phone(std::process::Child);

impl Phone {
    fn start(e: &Engine, user: &str) -> Phone {
        require("baresip");
        let pw = format!("secret{}", &user[2..]);
        let dir = baresip_dir(e, user, &pw, "");
        let child = std::process::Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .args(["-t", "40"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("baresip");
        Phone(child)
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_seat_that_stops_answering_keepalives_leaves_rotation_and_the_call_goes_on() {
    let e = engine("keepalive_s = 1\nno_response_ms = 800");
    // Two real softphones; op1 registers first (idle longest: first in line).
    let op1 = Phone::start(&e, "op1");
    assert!(
        e.wait_log("seat registered seat=op1", Duration::from_secs(8)),
        "{}",
        e.log()
    );
    std::thread::sleep(Duration::from_millis(100));
    let _op2 = Phone::start(&e, "op2");
    assert!(
        e.wait_log("seat registered seat=op2", Duration::from_secs(8)),
        "{}",
        e.log()
    );
    // Both answer keep-alives for a while; then op1's phone is gone.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        seat_states(&e, "op1").iter().all(|s| s.1.is_none()),
        "op1 answered its keep-alives"
    );
    drop(op1);
    assert!(
        wait_for(&e, |_| seat_states(&e, "op1")
            .contains(&("paused".into(), Some("unreachable".into())))),
        "op1 is out of rotation\n{}",
        e.log()
    );
    let op2_states = seat_states(&e, "op2");
    assert!(
        !op2_states.iter().any(|s| s.1.is_some()),
        "op2 stays in: {op2_states:?}"
    );
    let r = sipp(
        &e,
        "trunk_call.xml",
        &["-s", "112", "-m", "1", "-d", "500"],
        Duration::from_secs(15),
    );
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(
        names(&ev),
        ["opened", "queued", "offered", "answered", "ended"],
        "one offer, to op2"
    );
    assert_eq!(ended(&ev)["seat"], "op2");
    // op1's phone is back: it answers the next keep-alive and is available.
    let _op1 = Phone::start(&e, "op1");
    assert!(
        wait_for(&e, |_| seat_states(&e, "op1")
            .last()
            .is_some_and(|s| s.0 == "available")),
        "op1 is back\n{}",
        e.log()
    );
}
