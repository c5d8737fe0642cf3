//! Issue 3 end to end: a SIPp trunk calls, SIPp (or baresip) seats answer,
//! the real binary in between; every test reads the case log it wrote.

mod common;
use common::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Queue and routing for these tests; `{extra}` goes in the queue.
fn routing(ring_timeout_s: u64, max_wait_s: u64, queue_extra: &str) -> String {
    format!(
        r#"
[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112", "urn:service:sos", "urn:service:sos.*"]
queue = "emergency"

[[queue]]
name = "emergency"
ring_timeout_s = {ring_timeout_s}
max_wait_s = {max_wait_s}
{queue_extra}
{SEATS}"#
    )
}

fn engine(ring_timeout_s: u64, max_wait_s: u64, queue_extra: &str) -> Engine {
    Engine::start(
        "retry_s = 30",
        &routing(ring_timeout_s, max_wait_s, queue_extra),
    )
}

fn trunk(e: &Engine, scenario: &str, number: &str, extra: &[&str]) -> SippRun {
    let mut args = vec!["-s", number, "-m", "1"];
    args.extend_from_slice(extra);
    sipp(e, scenario, &args, Duration::from_secs(20))
}

#[test]
fn answered_call_caller_hangs_up() {
    let e = engine(15, 120, "");
    let port = free_port();
    register_seat(&e, "op1", port);
    let seat = Seat::start(&e, "seat_answer.xml", port, 1, &["-d", "300"]);
    let r = trunk(&e, "trunk_call.xml", "112", &["-d", "800"]);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    assert!(
        seat.finish(Duration::from_secs(10)),
        "seat failed\n{}",
        e.log()
    );
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(
        names(&ev),
        ["opened", "queued", "offered", "answered", "ended"]
    );
    let opened = &ev[0].1;
    assert_eq!(opened["called"], "112");
    assert_eq!(opened["trunk"], "telco-a");
    assert!(
        opened["caller"].as_str().unwrap().contains("+62811000"),
        "{opened}"
    );
    let end = ended(&ev);
    assert_eq!(end["reason"], "completed");
    assert_eq!(end["seat"], "op1");
    assert_eq!(end["queue"], "emergency");
    assert!(end["talk_ms"].as_u64().unwrap() >= 700, "{end}");
    assert!(end["wait_ms"].as_u64().unwrap() >= 250, "{end}");
}

#[test]
fn answered_call_seat_hangs_up() {
    let e = engine(15, 120, "");
    let port = free_port();
    register_seat(&e, "op2", port);
    let seat = Seat::start(&e, "seat_answer_hangup.xml", port, 1, &["-d", "500"]);
    let r = trunk(
        &e,
        "trunk_call_seat_hangs_up.xml",
        "urn:service:sos.fire",
        &[],
    );
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    assert!(
        seat.finish(Duration::from_secs(10)),
        "seat failed\n{}",
        e.log()
    );
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(
        names(&ev),
        ["opened", "queued", "offered", "answered", "ended"]
    );
    assert_eq!(ev[0].1["service"], "sos.fire");
    assert_eq!(ended(&ev)["reason"], "completed");
    assert_eq!(ended(&ev)["seat"], "op2");
}

#[test]
fn abandoned_while_queued() {
    let e = engine(15, 120, "");
    let r = trunk(&e, "trunk_abandon.xml", "112", &["-d", "600"]);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(names(&ev), ["opened", "queued", "ended"]);
    let end = ended(&ev);
    assert_eq!(end["reason"], "abandoned");
    assert!(end["wait_ms"].as_u64().unwrap() >= 500, "{end}");
    assert_eq!(end["talk_ms"], 0);
}

#[test]
fn abandoned_while_ringing_cancels_the_seat() {
    let e = engine(15, 120, "");
    let port = free_port();
    register_seat(&e, "op1", port);
    let seat = Seat::start(&e, "seat_no_answer.xml", port, 1, &[]);
    let r = trunk(&e, "trunk_abandon.xml", "112", &["-d", "800"]);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    assert!(
        seat.finish(Duration::from_secs(10)),
        "the seat was not cancelled\n{}",
        e.log()
    );
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(names(&ev), ["opened", "queued", "offered", "ended"]);
    assert_eq!(ended(&ev)["reason"], "abandoned");
}

#[test]
fn no_answer_is_reoffered_to_the_next_seat() {
    let e = engine(1, 120, "");
    let (p1, p2) = (free_port(), free_port());
    register_seat(&e, "op1", p1);
    register_seat(&e, "op2", p2);
    // op1 has been idle longest: it rings first, never answers.
    let s1 = Seat::start(&e, "seat_no_answer.xml", p1, 1, &[]);
    let s2 = Seat::start(&e, "seat_answer.xml", p2, 1, &[]);
    let r = trunk(&e, "trunk_call.xml", "112", &["-d", "300"]);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    assert!(
        s1.finish(Duration::from_secs(10)),
        "op1 not cancelled\n{}",
        e.log()
    );
    assert!(
        s2.finish(Duration::from_secs(10)),
        "op2 did not get the call\n{}",
        e.log()
    );
    let all = wait_ended(&e, 1);
    let ev = one_case(&all);
    assert_eq!(
        names(&ev),
        ["opened", "queued", "offered", "offered", "answered", "ended"]
    );
    assert_eq!(ev[2].1["seat"], "op1");
    assert_eq!(ev[3].1["seat"], "op2");
    assert_eq!(ended(&ev)["seat"], "op2");
    // op1 was set aside as not ready.
    assert!(
        all.iter()
            .any(|v| v["event"] == "seat" && v["seat"] == "op1" && v["state"] == "paused"),
        "{all:#?}"
    );
}

#[test]
fn busy_seat_is_skipped() {
    let e = engine(15, 120, "");
    let (p1, p2) = (free_port(), free_port());
    register_seat(&e, "op1", p1);
    register_seat(&e, "op2", p2);
    let s1 = Seat::start(&e, "seat_busy.xml", p1, 1, &[]);
    let s2 = Seat::start(&e, "seat_answer.xml", p2, 1, &[]);
    let r = trunk(&e, "trunk_call.xml", "112", &["-d", "300"]);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    assert!(s1.finish(Duration::from_secs(10)));
    assert!(s2.finish(Duration::from_secs(10)));
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(
        names(&ev),
        ["opened", "queued", "offered", "offered", "answered", "ended"]
    );
    assert_eq!(ended(&ev)["seat"], "op2");
    assert_eq!(ended(&ev)["reason"], "completed");
}

#[test]
fn all_seats_away_overflows_to_another_centre() {
    let other = free_port();
    let e = engine(
        15,
        120,
        &format!("overflow = \"sip:112@127.0.0.1:{other}\""),
    );
    // The other centre: SIPp's built-in answering UAS.
    let centre = Command::new("timeout")
        .args([
            "30",
            "sipp",
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-p",
            &other.to_string(),
        ])
        .args(["-m", "1", "-nostdin", "-timeout", "25s", "-timeout_error"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut centre = Seat { child: centre };
    std::thread::sleep(Duration::from_millis(200));
    let r = trunk(&e, "trunk_call.xml", "112", &["-d", "500"]);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    let st = centre.child.wait().unwrap();
    assert!(
        st.success(),
        "the other centre did not get the call\n{}",
        e.log()
    );
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(
        names(&ev),
        ["opened", "queued", "overflowed", "answered", "ended"]
    );
    assert_eq!(ev[2].1["target"], format!("sip:112@127.0.0.1:{other}"));
    assert_eq!(ended(&ev)["reason"], "overflowed");
}

#[test]
fn max_wait_overflows_to_another_queue() {
    let rest = r#"
[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112"]
queue = "emergency"

[[queue]]
name = "emergency"
ring_timeout_s = 15
max_wait_s = 1
overflow = "backup"

[[queue]]
name = "backup"

[[seat]]
user = "op1"
password = "secret1"
queues = ["emergency"]

[[seat]]
user = "op3"
password = "secret3"
queues = ["backup"]
"#;
    let e = Engine::start("", rest);
    let (p1, p3) = (free_port(), free_port());
    // op1 (emergency) is logged in but busy elsewhere: it never answers.
    register_seat(&e, "op1", p1);
    register_seat(&e, "op3", p3);
    let s1 = Seat::start(&e, "seat_no_answer.xml", p1, 1, &[]);
    let s3 = Seat::start(&e, "seat_answer.xml", p3, 1, &[]);
    let r = trunk(&e, "trunk_call.xml", "112", &["-d", "300"]);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    assert!(
        s3.finish(Duration::from_secs(25)),
        "backup seat not reached\n{}",
        e.log()
    );
    drop(s1);
    let ev = one_case(&wait_ended(&e, 1));
    let n = names(&ev);
    assert!(n.contains(&"overflowed"), "{n:?}");
    assert_eq!(ended(&ev)["seat"], "op3");
    assert_eq!(ended(&ev)["queue"], "backup");
}

#[test]
fn unknown_source_is_forbidden_and_logged() {
    let e = Engine::start(
        "",
        &routing(15, 120, "").replace("peers = [\"127.0.0.1/32\"]", "peers = [\"192.0.2.1/32\"]"),
    );
    let r = trunk(&e, "trunk_refused_403.xml", "112", &[]);
    assert!(r.ok, "{}\n{}", r.output, e.log());
    assert!(
        e.log().contains("refused an INVITE")
            && e.log().contains("status=403")
            && e.log().contains("no trunk, proxy or seat"),
        "{}",
        e.log()
    );
    assert!(
        records(&e).iter().all(|v| v["case"].is_null()),
        "no case for a refused call"
    );
}

#[test]
fn unrouted_number_is_not_found() {
    let e = engine(15, 120, "");
    let r = trunk(&e, "trunk_refused_404.xml", "999", &[]);
    assert!(r.ok, "{}\n{}", r.output, e.log());
    assert!(
        e.log().contains("status=404") && e.log().contains("no route for the dialled target"),
        "{}",
        e.log()
    );
}

#[test]
fn baresip_seat_answers_a_sipp_trunk_call() {
    require("baresip");
    let e = engine(15, 120, "");
    let dir = baresip_dir(&e, "op3", "secret3", "");
    let phone = spawn_baresip(&dir, 6);
    assert!(
        e.wait_log("seat registered seat=op3", Duration::from_secs(8)),
        "{}",
        e.log()
    );
    let r = trunk(&e, "trunk_call.xml", "112", &["-d", "1500"]);
    terminate(&phone);
    let out = phone.wait_with_output().unwrap();
    assert!(
        r.ok,
        "trunk: {}\n{}\nbaresip: {}",
        r.output,
        e.log(),
        String::from_utf8_lossy(&out.stdout)
    );
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(
        names(&ev),
        ["opened", "queued", "offered", "answered", "ended"]
    );
    assert_eq!(ended(&ev)["seat"], "op3");
    assert_eq!(ended(&ev)["reason"], "completed");
}

/// `n` seats `s1..sn` with one password, serving "emergency".
fn many_seats(n: usize) -> String {
    (1..=n)
        .map(|i| {
            format!("\n[[seat]]\nuser = \"s{i}\"\npassword = \"pw\"\nqueues = [\"emergency\"]\n")
        })
        .collect()
}

#[test]
fn sigkill_mid_load_loses_nothing_reported_written() {
    let rest = routing(15, 120, "").replace(SEATS, &many_seats(20));
    let mut e = Engine::start("", &rest);
    let port = free_port();
    for i in 1..=20 {
        let user = format!("s{i}");
        let out = Command::new("timeout")
            .args(["15", "sipp", &e.target(), "-sf"])
            .arg(sipp_dir().join("register.xml"))
            .args([
                "-s",
                &user,
                "-au",
                &user,
                "-ap",
                "pw",
                "-m",
                "1",
                "-i",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &port.to_string(),
                "-nostdin",
                "-timeout",
                "10s",
                "-timeout_error",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{user} did not register");
    }
    let _seats = Seat::start(&e, "seat_answer.xml", port, 200, &["-d", "200"]);
    let trunk_port = free_port().to_string();
    let mut trunk = Command::new("timeout")
        .args(["40", "sipp", &e.target(), "-sf"])
        .arg(sipp_dir().join("trunk_call.xml"))
        .args([
            "-s",
            "112",
            "-m",
            "200",
            "-r",
            "50",
            "-d",
            "300",
            "-i",
            "127.0.0.1",
            "-p",
            &trunk_port,
        ])
        .args([
            "-nostdin",
            "-timeout",
            "30s",
            "-recv_timeout",
            "3000",
            "-buff_size",
            "4194304",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let about half of the calls in, then kill the engine outright.
    std::thread::sleep(Duration::from_millis(2200));
    e.kill();
    let log = e.log();
    let reported = reported_durable(&log).expect("the engine reported commits");
    let last_case = log
        .lines()
        .rev()
        .find_map(|l| l.split("last_case=").nth(1).map(|s| s.trim().to_string()))
        .unwrap();
    assert!(reported > 100, "only {reported} records reported written");
    stop(&mut trunk);
    // Restart: the journal is recovered and parses.
    e.kill_and_restart();
    assert!(e.wait_log("case log opened", Duration::from_secs(5)));
    let text = std::fs::read_to_string(e.cases_path()).unwrap();
    let mut first_boot = 0u64;
    let mut boots = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|err| panic!("{line:?}: {err}"));
        if v["event"] == "boot" {
            boots += 1;
        } else if boots == 1 {
            first_boot += 1;
        }
    }
    assert_eq!(boots, 2);
    assert!(
        first_boot >= reported,
        "{first_boot} records survived, {reported} were reported written"
    );
    assert!(
        text.contains(&format!("\"case\":\"{last_case}\"")),
        "{last_case} lost"
    );
    // The cases command reads it too.
    let out = Command::new(env!("CARGO_BIN_EXE_siaga112"))
        .args(["cases", "--json", "--config"])
        .arg(&e.config)
        .output()
        .unwrap();
    assert!(out.status.success());
    let rows = String::from_utf8_lossy(&out.stdout).lines().count();
    let ids: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["case"].as_str().map(str::to_string))
        .collect();
    assert_eq!(rows, ids.len(), "one row per case in the journal");
    assert!(rows > 50, "{rows} cases: the load reached the engine");
}

#[test]
fn reinvite_passes_through_and_in_dialog_options_is_answered() {
    let e = engine(15, 120, "");
    let port = free_port();
    register_seat(&e, "op1", port);
    let seat = Seat::start(&e, "seat_answer_reinvite.xml", port, 1, &[]);
    let r = trunk(&e, "trunk_call_reinvite.xml", "112", &["-d", "300"]);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    assert!(
        seat.finish(Duration::from_secs(10)),
        "seat did not see the re-INVITE\n{}",
        e.log()
    );
    let ev = one_case(&wait_ended(&e, 1));
    assert_eq!(
        names(&ev),
        ["opened", "queued", "offered", "answered", "ended"]
    );
    assert_eq!(ended(&ev)["reason"], "completed");
}

#[test]
fn ring_all_rings_every_free_seat_and_cancels_the_rest() {
    let e = engine(15, 120, "strategy = \"ring-all\"");
    let (p1, p2) = (free_port(), free_port());
    register_seat(&e, "op1", p1);
    register_seat(&e, "op2", p2);
    // op1 rings and is cancelled once op2 answers.
    let s1 = Seat::start(&e, "seat_no_answer.xml", p1, 1, &[]);
    let s2 = Seat::start(&e, "seat_answer.xml", p2, 1, &["-d", "300"]);
    let r = trunk(&e, "trunk_call.xml", "112", &["-d", "300"]);
    assert!(r.ok, "trunk: {}\n{}", r.output, e.log());
    assert!(
        s2.finish(Duration::from_secs(10)),
        "op2 did not answer\n{}",
        e.log()
    );
    assert!(
        s1.finish(Duration::from_secs(10)),
        "op1 was not cancelled\n{}",
        e.log()
    );
    let all = wait_ended(&e, 1);
    let ev = one_case(&all);
    assert_eq!(
        names(&ev),
        ["opened", "queued", "offered", "offered", "answered", "ended"]
    );
    assert_eq!(ended(&ev)["seat"], "op2");
    // op1 is free again, not paused: it did nothing wrong.
    assert!(!all
        .iter()
        .any(|v| v["event"] == "seat" && v["seat"] == "op1" && v["state"] == "paused"));
}
