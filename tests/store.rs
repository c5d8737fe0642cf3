//! The query store from the command line and across crashes: `siaga112
//! report` agrees with a direct count of the journal, a deleted store is
//! rebuilt to the same answers, a rebuild is refused while the engine
//! runs, and a SIGKILL during a burst of calls and console actions loses
//! no action the console was told is done: after the restart the store
//! has caught up with the journal and holds every one.

mod common;
use common::console::*;
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn cli(e: &Engine, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_siaga112"))
        .args(args)
        .arg("--config")
        .arg(&e.config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Today in the centre's time zone (the test config keeps the default,
/// WIB: UTC+7).
fn today() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 7 * 3_600_000;
    siaga112::caselog::format_time(now)[..10].to_string()
}

fn store_path(e: &Engine) -> std::path::PathBuf {
    e.dir.path().join("cases.sqlite")
}

#[test]
fn reports_match_the_journal_and_a_rebuilt_store_answers_the_same() {
    let (mut e, port) = console_engine("");
    let p = free_port();
    register_seat(&e, "op1", p);
    let seat = Seat::start(&e, "seat_answer.xml", p, 3, &["-d", "200"]);
    for _ in 0..3 {
        let r = sipp(
            &e,
            "trunk_call.xml",
            &["-s", "112", "-m", "1", "-d", "300"],
            Duration::from_secs(20),
        );
        assert!(r.ok, "{}", r.output);
    }
    assert!(seat.finish(Duration::from_secs(10)));
    wait_ended(&e, 3);
    let op1 = Api::signed_in(port, "op1", "secret1");
    let case = records(&e)
        .iter()
        .find(|r| r["event"] == "answered")
        .unwrap()["case"]
        .as_str()
        .unwrap()
        .to_string();
    let r = op1.post(
        &format!("/api/cases/{case}/classify"),
        Some(json!({"class": "emergency", "category": "banjir"})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = op1.post(
        &format!("/api/cases/{case}/dispatch"),
        Some(json!({"agency": "bpbd"})),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    // A rebuild under a running engine is refused, and says why.
    let (code, _, err) = cli(&e, &["store", "rebuild"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("running"), "{err}");
    assert!(e.stop());

    let day = today();
    let report = |e: &Engine, format: &str| {
        let (code, out, err) = cli(
            e,
            &["report", "--from", &day, "--to", &day, "--format", format],
        );
        assert_eq!(code, 0, "{err}");
        out
    };
    let json1: Value = serde_json::from_str(&report(&e, "json")).unwrap();
    // A direct count from the journal.
    let recs = records(&e);
    let count = |kind: &str| {
        recs.iter()
            .filter(|r| r["event"] == kind)
            .map(|r| r["case"].as_str().unwrap().to_string())
            .collect::<BTreeSet<_>>()
            .len() as u64
    };
    let t = &json1["totals"];
    assert_eq!(t["offered"].as_u64(), Some(count("opened")), "{json1}");
    assert_eq!(t["answered"].as_u64(), Some(count("answered")));
    assert_eq!(t["offered"], 3);
    assert_eq!(t["by_class"]["emergency"], 1);
    assert_eq!(t["unclassified"], 2);
    assert_eq!(json1["by_category"]["banjir"], 1);
    assert_eq!(json1["dispatch"]["by_agency"]["bpbd"]["tickets"], 1);
    let md = report(&e, "md");
    assert!(
        md.starts_with(&format!("# siaga112 report {day} to {day}")),
        "{md}"
    );
    assert!(md.contains("| Offered | 3 |"), "{md}");
    assert!(md.contains("| bpbd | 1 |"), "{md}");
    let csv = report(&e, "csv");
    assert!(csv.contains("totals,offered,3"), "{csv}");
    assert!(csv.contains("agency:bpbd,tickets,1"), "{csv}");
    let (_, export1, _) = cli(&e, &["export", "--from", &day, "--to", &day]);
    assert_eq!(
        export1.lines().count(),
        4,
        "a header and three cases: {export1}"
    );
    assert!(export1.contains(&case));

    // Bad words are refused with the reason.
    let (code, _, err) = cli(&e, &["report", "--from", "2026-02-30", "--to", &day]);
    assert_eq!(code, 2);
    assert!(err.contains("not a date"), "{err}");
    let (code, _, err) = cli(
        &e,
        &["report", "--from", &day, "--to", &day, "--format", "pdf"],
    );
    assert_eq!(code, 2, "{err}");

    // Delete the store; rebuild it; the same answers.
    std::fs::remove_file(store_path(&e)).unwrap();
    let (code, out, err) = cli(&e, &["store", "rebuild"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("records"), "{out}");
    let json2: Value = serde_json::from_str(&report(&e, "json")).unwrap();
    assert_eq!(json1, json2);
    let (_, export2, _) = cli(&e, &["export", "--from", &day, "--to", &day]);
    assert_eq!(export1, export2);

    // And the engine starts on the rebuilt store with the open ticket.
    e.kill_and_restart();
    let sup = Api::signed_in(port, "sup", SUP_PASSWORD);
    let open = sup.get("/api/tickets");
    assert_eq!(
        open.body["tickets"][0]["case"],
        case.as_str(),
        "{}",
        open.text
    );
}

#[test]
fn sigkill_during_a_burst_loses_no_acknowledged_action() {
    // A long commit window, so that an answer given before its record is
    // on disk would be caught by the kill.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let rest = console_config(port, dir.path(), "");
    let mut e = Engine::start_with(dir, "retry_s = 30", "commit_window_ms = 150", &rest);
    let p = free_port();
    register_seat(&e, "op1", p);
    let op1 = Api::signed_in(port, "op1", "secret1");
    let mut ev = op1.events();
    assert!(ev.wait("hello", Duration::from_secs(3), |_| true).is_some());
    // One long call to note on, and a stream of short ones beside it.
    let seat = Seat::start(&e, "seat_answer.xml", p, 1, &["-d", "200"]);
    let target = e.target();
    let _long = std::thread::spawn(move || {
        sipp_to(
            &target,
            "trunk_call.xml",
            &["-s", "112", "-m", "1", "-d", "30000"],
            Duration::from_secs(40),
        )
    });
    let call = ev
        .wait("call", Duration::from_secs(5), |c| c["answered"] == true)
        .expect("answered");
    let case = call["case"].as_str().unwrap().to_string();
    let target = e.target();
    let _burst = std::thread::spawn(move || {
        // Calls that queue (op1 is busy) and give up.
        sipp_to(
            &target,
            "trunk_abandon.xml",
            &["-s", "112", "-m", "400", "-r", "100", "-d", "200"],
            Duration::from_secs(30),
        )
    });
    // Notes as fast as the console takes them while the calls come, then
    // the engine dies under them.
    let mut acked = Vec::new();
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_millis(2000) {
        let text = format!("catatan {i}");
        let r = op1.post(
            &format!("/api/cases/{case}/note"),
            Some(json!({ "text": text })),
        );
        if r.status == 200 {
            acked.push(text);
        }
        i += 1;
    }
    // SIGKILL right after the last answer: nothing in flight is flushed.
    e.kill();
    drop(seat);
    assert!(acked.len() >= 8, "only {} notes acknowledged", acked.len());
    let notes: BTreeSet<String> = records(&e)
        .into_iter()
        .filter(|r| r["event"] == "note" && r["case"] == case.as_str())
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|t| !notes.contains(*t)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged notes lost: {lost:?}",
        lost.len()
    );

    // Restart: the store catches up with the journal and has them all.
    e.kill_and_restart();
    let journal_len = std::fs::metadata(e.cases_path()).unwrap().len();
    let sup = Api::signed_in(port, "sup", SUP_PASSWORD);
    let end = Instant::now() + Duration::from_secs(5);
    let detail = loop {
        let d = sup.get(&format!("/api/cases/{case}"));
        let n = d.body["notes"].as_array().map_or(0, Vec::len);
        if n >= acked.len() || Instant::now() > end {
            break d;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stored: BTreeSet<&str> = detail.body["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap())
        .collect();
    for t in &acked {
        assert!(stored.contains(t.as_str()), "{t} not in the store's case");
    }
    let reader = siaga112::caselog::store::Reader::open(&store_path(&e)).unwrap();
    assert!(
        reader.offset().unwrap() >= journal_len - 4096,
        "the store caught up"
    );
    let found = sup.get("/api/cases?text=catatan");
    assert_eq!(
        found.body["cases"][0]["case"],
        case.as_str(),
        "{}",
        found.text
    );
}
