//! Issue 4 end to end: priorities, prank-aware queueing, feature codes and
//! wrap-up, with SIPp trunks and seats against the real binary.

mod common;
use common::*;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[acd]
prank_threshold = 1

[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[route]]
match = ["urn:service:sos.fire"]
queue = "emergency"
priority = 5

[[route]]
match = ["112", "urn:service:sos", "urn:service:sos.*"]
queue = "emergency"

[[queue]]
name = "emergency"
ring_timeout_s = 15
max_wait_s = 120
wrapup_s = WRAPUP

[[seat]]
user = "op1"
password = "secret1"
queues = ["emergency"]
"#;

fn engine(wrapup: u64) -> Engine {
    Engine::start("", &CONFIG.replace("WRAPUP", &wrapup.to_string()))
}

fn sipp_bg(e: &Engine, scenario: &str, port: u16, args: &[&str]) -> Child {
    require("sipp");
    Command::new("timeout")
        .args(["40", "sipp", &e.target(), "-sf"])
        .arg(sipp_dir().join(scenario))
        .args(["-m", "1", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
            "-recv_timeout",
            "20000",
            "-aa",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp")
}

fn ok(child: Child, what: &str, e: &Engine) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        e.log()
    );
}

fn run(e: &Engine, scenario: &str, port: u16, args: &[&str]) {
    ok(sipp_bg(e, scenario, port, args), scenario, e);
}

fn register(e: &Engine, port: u16) {
    run(
        e,
        "register.xml",
        port,
        &["-s", "op1", "-au", "op1", "-ap", "secret1"],
    );
    assert!(e.wait_log("seat registered seat=op1", Duration::from_secs(3)));
}

fn dial(e: &Engine, port: u16, code: &str) {
    run(
        e,
        "seat_dial.xml",
        port,
        &["-s", code, "-au", "op1", "-ap", "secret1"],
    );
}

fn records(e: &Engine) -> Vec<Value> {
    std::fs::read_to_string(e.cases_path())
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn wait_for(e: &Engine, what: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let r = records(e);
        if what(&r) || Instant::now() > end {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Case ids in the order their `answered` events were written.
fn answered_order(r: &[Value]) -> Vec<(String, String)> {
    r.iter()
        .filter(|v| v["event"] == "answered")
        .map(|v| {
            let case = v["case"].as_str().unwrap().to_string();
            let called = r
                .iter()
                .find(|o| o["event"] == "opened" && o["case"] == v["case"])
                .map(|o| o["called"].as_str().unwrap().to_string())
                .unwrap();
            (case, called)
        })
        .collect()
}

#[test]
fn a_fire_call_queued_after_a_plain_112_is_answered_first() {
    let e = engine(0);
    let (seat_port, t1, t2) = (free_port(), free_port(), free_port());
    // Both calls wait: no seat is logged in yet.
    let plain = sipp_bg(&e, "trunk_call.xml", t1, &["-s", "112", "-d", "300"]);
    assert!(e.wait_log("call arrived", Duration::from_secs(3)));
    std::thread::sleep(Duration::from_millis(200));
    let fire = sipp_bg(
        &e,
        "trunk_call.xml",
        t2,
        &["-s", "urn:service:sos.fire", "-d", "300"],
    );
    let end = Instant::now() + Duration::from_secs(3);
    while e.log().matches("call arrived").count() < 2 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    register(&e, seat_port);
    let seat = sipp_bg(&e, "seat_answer.xml", seat_port, &["-m", "2"]);
    ok(fire, "fire call", &e);
    ok(plain, "plain call", &e);
    ok(seat, "seat", &e);
    let r = wait_for(&e, |r| {
        r.iter().filter(|v| v["event"] == "ended").count() == 2
    });
    let order: Vec<String> = answered_order(&r).into_iter().map(|x| x.1).collect();
    assert_eq!(order, ["urn:service:sos.fire", "112"], "{r:#?}");
    let fire_queued = r
        .iter()
        .find(|v| v["event"] == "queued" && v["priority"] == 5);
    assert!(fire_queued.is_some(), "the fire call has priority 5");
}

#[test]
fn a_flagged_prank_caller_waits_behind_a_later_normal_caller() {
    let e = engine(0);
    let (p, t1, t2, t3) = (free_port(), free_port(), free_port(), free_port());
    register(&e, p);
    // Caller +628110001 calls; the operator answers, then marks it a prank.
    let seat = sipp_bg(&e, "seat_answer.xml", p, &[]);
    run(&e, "trunk_call.xml", t1, &["-s", "112", "-d", "200"]);
    ok(seat, "seat", &e);
    dial(&e, p, "*51");
    assert!(
        e.wait_log("call marked", Duration::from_secs(3)),
        "{}",
        e.log()
    );
    // The seat pauses; the prank caller calls again, then a normal caller.
    dial(&e, p, "*41");
    let prank = sipp_bg(&e, "trunk_call.xml", t2, &["-s", "112", "-d", "300"]);
    assert!(
        e.wait_log("lowest priority", Duration::from_secs(3)),
        "{}",
        e.log()
    );
    std::thread::sleep(Duration::from_millis(200));
    let normal = sipp_bg(&e, "trunk_call_seat_hangs_up.xml", t3, &["-s", "112"]);
    let end = Instant::now() + Duration::from_secs(3);
    while e.log().matches("call arrived").count() < 3 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Back from the pause: the normal caller is served first (the seat
    // scenario that hangs up must get it), then the prank caller.
    dial(&e, p, "*42");
    run(&e, "seat_answer_hangup.xml", p, &["-d", "200"]);
    run(&e, "seat_answer.xml", p, &[]);
    ok(normal, "normal caller", &e);
    ok(prank, "prank caller", &e);
    let r = wait_for(&e, |r| {
        r.iter().filter(|v| v["event"] == "ended").count() == 3
    });
    let marks: Vec<_> = r.iter().filter(|v| v["event"] == "outcome").collect();
    assert_eq!(marks.len(), 1);
    assert_eq!(marks[0]["mark"], "prank");
    let queued: Vec<i64> = r
        .iter()
        .filter(|v| v["event"] == "queued")
        .map(|v| v["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(queued, [0, -100, 0]);
    // Pause and unpause by feature code are seat events in the case log.
    let seat_states: Vec<_> = r
        .iter()
        .filter(|v| v["event"] == "seat" && v["seat"] == "op1")
        .map(|v| v["state"].as_str().unwrap())
        .collect();
    // After *42 the seat is available, or already ringing with the next call.
    assert!(
        seat_states
            .windows(2)
            .any(|w| w[0] == "paused" && (w[1] == "available" || w[1] == "ringing")),
        "{seat_states:?}"
    );
}

#[test]
fn logout_by_feature_code_stops_offers() {
    let e = engine(0);
    let (p, t1) = (free_port(), free_port());
    register(&e, p);
    dial(&e, p, "*43");
    // A call now waits (no overflow configured): abandon it after a while.
    run(&e, "trunk_abandon.xml", t1, &["-s", "112", "-d", "800"]);
    let r = wait_for(&e, |r| r.iter().any(|v| v["event"] == "ended"));
    assert!(
        !r.iter().any(|v| v["event"] == "offered"),
        "a logged-out seat was offered a call"
    );
    assert!(r
        .iter()
        .any(|v| v["event"] == "seat" && v["state"] == "logged-out"));
}

#[test]
fn wrapup_delays_the_next_offer() {
    let e = engine(2);
    let (p, t1, t2) = (free_port(), free_port(), free_port());
    register(&e, p);
    let seat = sipp_bg(&e, "seat_answer.xml", p, &["-m", "2"]);
    let a = sipp_bg(&e, "trunk_call.xml", t1, &["-s", "112", "-d", "300"]);
    std::thread::sleep(Duration::from_millis(100));
    let b = sipp_bg(&e, "trunk_call.xml", t2, &["-s", "112", "-d", "300"]);
    ok(a, "first call", &e);
    ok(b, "second call", &e);
    ok(seat, "seat", &e);
    let r = wait_for(&e, |r| {
        r.iter().filter(|v| v["event"] == "ended").count() == 2
    });
    let t = |ev: &str, nth: usize| {
        let v = r.iter().filter(|v| v["event"] == ev).nth(nth).unwrap();
        let s = v["time"].as_str().unwrap();
        // RFC 3339 with ms: compare as seconds of the day.
        let hms = &s[11..23];
        let h: f64 = hms[0..2].parse().unwrap();
        let m: f64 = hms[3..5].parse().unwrap();
        let sec: f64 = hms[6..].parse().unwrap();
        h * 3600.0 + m * 60.0 + sec
    };
    let first_end = t("ended", 0);
    let second_offer = t("offered", 1);
    assert!(
        second_offer - first_end >= 1.95,
        "offered {:.3} s after the end",
        second_offer - first_end
    );
}
