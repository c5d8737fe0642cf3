//! Next-generation emergency inputs against the real binary and SIPp: a
//! multipart INVITE with SDP (audio + video) and a PIDF-LO named by
//! `Geolocation`, with `Resource-Priority` and the emergency call and
//! incident ids; its location, ids and languages are in the case and on
//! the operator's screen, it overtakes a plain call waiting before it,
//! and it is answered audio-only (video declined, port 0). A full queue
//! refuses 486 (and every refused call is a case), or overflows where it
//! has an overflow; a catch-all route takes numbers the centre does not
//! list.

mod common;
use common::console::*;
use common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_record(e: &Engine, within: Duration, f: impl Fn(&Value) -> bool) -> Option<Value> {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if let Some(r) = records(e).into_iter().find(|r| f(r)) {
            return Some(r);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn of_case(e: &Engine, case: &str, kind: &str) -> Vec<Value> {
    records(e)
        .into_iter()
        .filter(|r| r["case"] == case && r["event"] == kind)
        .collect()
}

#[test]
fn an_ng112_call_brings_location_ids_and_priority_and_overtakes_a_plain_call() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let rest = format!(
        "[acd]\nresource_priority = {{ \"esnet.0\" = 5, \"esnet.1\" = 10 }}\n{}",
        console_config(port, dir.path(), "")
    );
    let e = Engine::start_in(dir, "retry_s = 30", &rest);
    let p = free_port();
    register_seat(&e, "op1", p);
    let op1 = Api::signed_in(port, "op1", "secret1");
    assert_eq!(
        op1.post("/api/seats/op1/pause", Some(json!({"reason": "meal"})))
            .status,
        200
    );
    let mut ev = op1.events();
    assert!(ev.wait("hello", Duration::from_secs(3), |_| true).is_some());

    // A plain call waits first; then the NG112 one comes.
    let t = e.target();
    let plain = std::thread::spawn(move || {
        sipp_to(
            &t,
            "trunk_call.xml",
            &["-s", "112", "-m", "1", "-d", "300"],
            Duration::from_secs(30),
        )
    });
    let first = wait_record(&e, Duration::from_secs(5), |r| r["event"] == "queued")
        .expect("the plain call queues");
    let t = e.target();
    let ng = std::thread::spawn(move || {
        sipp_to(
            &t,
            "trunk_ng112.xml",
            &["-s", "112", "-m", "1", "-d", "300"],
            Duration::from_secs(30),
        )
    });
    let queued = wait_record(&e, Duration::from_secs(5), |r| {
        r["event"] == "queued" && r["case"] != first["case"]
    })
    .expect("the NG112 call queues");
    let case = queued["case"].as_str().unwrap().to_string();
    assert_eq!(first["priority"], 0);
    assert_eq!(queued["priority"], 10, "esnet.1 raised it: {queued}");

    // What it brought, in the case.
    let info = &of_case(&e, &case, "call_info")[0];
    assert_eq!(info["resource_priority"], "esnet.1");
    assert!(info["emergency_call_id"]
        .as_str()
        .unwrap()
        .starts_with("urn:emergency:uid:callid:c0ffee"));
    assert!(info["incident_id"]
        .as_str()
        .unwrap()
        .starts_with("urn:emergency:uid:incidentid:1ncident"));
    assert_eq!(info["languages"], json!(["id", "jv"]));
    assert_eq!(info["geolocation_routing"], false);
    assert!(info.get("unread").is_none(), "all of it read: {info}");
    let loc = &of_case(&e, &case, "located")[0];
    assert_eq!(loc["source"], "pidf");
    assert_eq!(loc["lat"], -6.2088);
    assert_eq!(loc["lon"], 106.8456);
    assert_eq!(loc["detail"]["shape"], "circle");
    assert_eq!(loc["detail"]["radius_m"], 35.0);
    assert_eq!(loc["detail"]["method"], "GPS");
    assert_eq!(loc["detail"]["civic"]["A1"], "DKI Jakarta");
    let address = loc["address"].as_str().unwrap();
    assert!(
        address.contains("Jalan M.H. Thamrin 10") && address.contains("Menteng"),
        "{address}"
    );
    assert!(loc["detail"].get("problems").is_none(), "{loc}");

    // The seat comes back: the NG112 call is answered first.
    let seat = Seat::start(&e, "seat_answer.xml", p, 2, &["-d", "200"]);
    assert_eq!(op1.post("/api/seats/op1/unpause", None).status, 200);
    let on_screen = ev
        .wait("call", Duration::from_secs(5), |c| c["answered"] == true)
        .expect("answered");
    assert_eq!(on_screen["case"], case.as_str(), "the priority call first");
    assert_eq!(on_screen["network_location"]["lat"], -6.2088);
    assert_eq!(on_screen["location"]["detail"]["radius_m"], 35.0);
    assert_eq!(on_screen["info"]["resource_priority"], "esnet.1");
    let r = ng.join().unwrap();
    assert!(r.ok, "the NG112 call (answered audio only): {}", r.output);
    let r = plain.join().unwrap();
    assert!(r.ok, "{}", r.output);
    assert!(seat.finish(Duration::from_secs(10)));
    let answered: Vec<String> = records(&e)
        .into_iter()
        .filter(|r| r["event"] == "answered")
        .map(|r| r["case"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(answered[0], case);
    assert_eq!(answered.len(), 2);
}

fn queue_engine(queue_extra: &str, routes: &str) -> Engine {
    let rest = format!(
        r#"
[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112"]
queue = "emergency"
{routes}
[[queue]]
name = "emergency"
ring_timeout_s = 15
max_wait_s = 120
{queue_extra}

[[queue]]
name = "info"

[[seat]]
user = "op1"
password = "secret1"
queues = ["emergency", "info"]
"#
    );
    Engine::start("retry_s = 30", &rest)
}

#[test]
fn a_full_queue_refuses_486_and_every_refused_call_is_a_case() {
    let e = queue_engine("max_length = 1", "");
    let t = e.target();
    let waiting = std::thread::spawn(move || {
        sipp_to(
            &t,
            "trunk_abandon.xml",
            &["-s", "112", "-m", "1", "-d", "2500"],
            Duration::from_secs(20),
        )
    });
    assert!(wait_record(&e, Duration::from_secs(5), |r| r["event"] == "queued").is_some());
    let r = sipp(
        &e,
        "trunk_refused_486.xml",
        &["-s", "112", "-m", "2"],
        Duration::from_secs(20),
    );
    assert!(r.ok, "refused 486: {}", r.output);
    assert!(waiting.join().unwrap().ok);
    let ended: Vec<Value> = wait_ended(&e, 3)
        .into_iter()
        .filter(|r| r["event"] == "ended")
        .collect();
    let reasons: Vec<&str> = ended
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| **r == "refused").count(),
        2,
        "{reasons:?}"
    );
    assert_eq!(reasons.iter().filter(|r| **r == "abandoned").count(), 1);
    for r in ended.iter().filter(|r| r["reason"] == "refused") {
        let case = r["case"].as_str().unwrap();
        assert_eq!(of_case(&e, case, "opened").len(), 1);
        assert_eq!(r["queue"], "emergency");
    }
    assert!(e.log().contains("queue full and no overflow"));
}

#[test]
fn a_full_queue_with_an_overflow_sends_the_call_there() {
    let other = free_port();
    let e = queue_engine(
        &format!("max_length = 1\noverflow = \"sip:112@127.0.0.1:{other}\""),
        "",
    );
    let centre = Command::new("timeout")
        .args(["30", "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p"])
        .arg(other.to_string())
        .args(["-m", "1", "-nostdin", "-timeout", "25s", "-timeout_error"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut centre = Seat { child: centre };
    // op1 rings with the first call and never answers; the second waits
    // (the queue is full); the third goes to the other centre.
    let p = free_port();
    register_seat(&e, "op1", p);
    let _ringing = Seat::start(&e, "seat_no_answer.xml", p, 1, &[]);
    let mut waiting = Vec::new();
    for n in 1..=2 {
        let t = e.target();
        waiting.push(std::thread::spawn(move || {
            sipp_to(
                &t,
                "trunk_abandon.xml",
                &["-s", "112", "-m", "1", "-d", "3000"],
                Duration::from_secs(20),
            )
        }));
        let end = Instant::now() + Duration::from_secs(5);
        while records(&e)
            .iter()
            .filter(|r| r["event"] == "queued")
            .count()
            < n
        {
            assert!(Instant::now() < end, "call {n} did not queue");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(wait_record(&e, Duration::from_secs(5), |r| r["event"] == "offered").is_some());
    let r = sipp(
        &e,
        "trunk_call.xml",
        &["-s", "112", "-m", "1", "-d", "300"],
        Duration::from_secs(20),
    );
    assert!(
        r.ok,
        "the second call is answered by the other centre: {}",
        r.output
    );
    assert!(centre.child.wait().unwrap().success());
    for w in waiting {
        assert!(w.join().unwrap().ok);
    }
    let ended = wait_ended(&e, 3);
    assert!(
        ended
            .iter()
            .any(|r| r["event"] == "ended" && r["reason"] == "overflowed"),
        "{ended:?}"
    );
    assert!(records(&e).iter().any(|r| r["event"] == "overflowed"));
}

#[test]
fn a_catch_all_route_takes_numbers_the_centre_does_not_list() {
    // Without it: 404.
    let e = queue_engine("", "");
    let r = sipp(
        &e,
        "trunk_refused_404.xml",
        &["-s", "02150001", "-m", "1"],
        Duration::from_secs(20),
    );
    assert!(r.ok, "{}", r.output);
    drop(e);
    // With it: the call is taken, in the info queue; 112 still goes to
    // the emergency queue whatever the order of the routes.
    let e = queue_engine(
        "",
        "[[route]]\nmatch = [\"*\"]\nqueue = \"info\"\nservice = \"admin\"\n",
    );
    let e2 = e.target();
    let r = sipp_to(
        &e2,
        "trunk_abandon.xml",
        &["-s", "02150001", "-m", "1", "-d", "500"],
        Duration::from_secs(20),
    );
    assert!(r.ok, "{}", r.output);
    let r = sipp_to(
        &e2,
        "trunk_abandon.xml",
        &["-s", "112", "-m", "1", "-d", "500"],
        Duration::from_secs(20),
    );
    assert!(r.ok, "{}", r.output);
    let recs = records(&e);
    let queued: Vec<(&str, &str)> = recs
        .iter()
        .filter(|r| r["event"] == "queued")
        .map(|r| (r["case"].as_str().unwrap(), r["queue"].as_str().unwrap()))
        .collect();
    let opened: Vec<(&str, &str)> = recs
        .iter()
        .filter(|r| r["event"] == "opened")
        .map(|r| {
            (
                r["called"].as_str().unwrap(),
                r["service"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(opened, [("02150001", "admin"), ("112", "112")]);
    assert_eq!(queued[0].1, "info");
    assert_eq!(queued[1].1, "emergency");
    assert!(e.log().contains("catch-all route"));
}
