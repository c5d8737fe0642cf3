//! Agency dispatch against the real binary: an operator hands a live case
//! to two agencies, each agency's staff sees and moves only its own ticket
//! (live on its event stream), the case closes once the call is over and
//! every ticket is final; a caller who gave up is called back; the query
//! store answers the search, the report and the export; every refusal is
//! a 4xx with a JSON reason.

mod common;
use common::console::*;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Polls `f` until it gives something (the store catches up within a
/// moment of the journal).
fn eventually<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + within;
    loop {
        if let Some(x) = f() {
            return Some(x);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn error(r: &Reply) -> (u16, Option<&str>) {
    (r.status, r.body["error"].as_str())
}

#[test]
fn a_case_is_dispatched_worked_by_its_agencies_closed_searched_and_reported() {
    let (e, port) = console_engine("");
    let p1 = free_port();
    register_seat(&e, "op1", p1);
    let op1 = Api::signed_in(port, "op1", "secret1");
    let sup = Api::signed_in(port, "sup", SUP_PASSWORD);
    let damkar = Api::signed_in(port, "damkar", AGENCY_PASSWORD);
    let bpbd = Api::signed_in(port, "bpbd", AGENCY_PASSWORD);
    let mut ev_op = op1.events();
    let mut ev_sup = sup.events();
    let mut ev_damkar = damkar.events();
    let mut ev_bpbd = bpbd.events();
    for ev in [&mut ev_op, &mut ev_sup, &mut ev_damkar, &mut ev_bpbd] {
        assert!(ev.wait("hello", Duration::from_secs(3), |_| true).is_some());
    }

    let seat = Seat::start(&e, "seat_answer.xml", p1, 1, &["-d", "500"]);
    let target = e.target();
    let trunk = std::thread::spawn(move || {
        sipp_to(
            &target,
            "trunk_call.xml",
            &["-s", "112", "-m", "1", "-d", "5000"],
            Duration::from_secs(20),
        )
    });
    let call = ev_op
        .wait("call", Duration::from_secs(5), |c| c["answered"] == true)
        .expect("the call reaches op1");
    let case = call["case"].as_str().unwrap().to_string();
    let url = |a: &str| format!("/api/cases/{case}/{a}");
    assert_eq!(
        op1.post(
            &url("classify"),
            Some(json!({"class": "emergency", "category": "kebakaran"}))
        )
        .status,
        200
    );
    assert_eq!(
        op1.post(
            &url("location"),
            Some(json!({"address": "Jl. Braga 10, Bandung", "lat": -6.917, "lon": 107.609}))
        )
        .status,
        200
    );

    // Hand it on: to the fire brigade, then to BPBD.
    let t = op1.post(
        &url("dispatch"),
        Some(json!({"agency": "damkar", "note": "Asap tebal, lantai 3"})),
    );
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.body["status"], "sent");
    assert_eq!(t.body["agency"], "damkar");
    assert_eq!(t.body["brief"]["category"], "kebakaran");
    assert_eq!(t.body["brief"]["address"], "Jl. Braga 10, Bandung");
    assert_eq!(
        op1.post(&url("dispatch"), Some(json!({"agency": "bpbd"})))
            .status,
        200
    );
    // Refusals, each with its reason.
    let r = op1.post(&url("dispatch"), Some(json!({"agency": "damkar"})));
    assert_eq!(
        error(&r),
        (409, Some("conflict")),
        "already open: {}",
        r.text
    );
    let r = op1.post(&url("dispatch"), Some(json!({"agency": "nasa"})));
    assert_eq!(error(&r), (404, Some("not_found")));
    let r = op1.post(&url("dispatch"), Some(json!({"agency": 7})));
    assert_eq!(r.status, 400, "{}", r.text);
    let r = damkar.post(&url("dispatch"), Some(json!({"agency": "damkar"})));
    assert_eq!(r.status, 403, "agencies do not dispatch: {}", r.text);

    // Each agency sees its own ticket, the moment it is sent.
    let seen = ev_damkar
        .wait("ticket", Duration::from_secs(3), |t| {
            t["case"] == case.as_str()
        })
        .expect("damkar's screen gets its ticket");
    assert_eq!(seen["agency"], "damkar");
    assert_eq!(seen["brief"]["lat"], -6.917);
    assert!(ev_bpbd
        .wait("ticket", Duration::from_secs(3), |t| t["agency"] == "bpbd")
        .is_some());
    assert!(
        !ev_damkar
            .drain()
            .iter()
            .any(|(n, t)| n == "ticket" && t["agency"] != "damkar"),
        "no other agency's tickets on damkar's stream"
    );
    assert!(!ev_damkar
        .seen
        .iter()
        .any(|(n, _)| n == "call" || n == "seat"));
    let list = damkar.get("/api/tickets");
    assert_eq!(list.status, 200);
    let agencies: Vec<&str> = list.body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["agency"].as_str().unwrap())
        .collect();
    assert_eq!(agencies, ["damkar"]);
    assert_eq!(
        sup.get("/api/tickets").body["tickets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let st = damkar.get("/api/state");
    assert_eq!(st.body["calls"], json!([]));
    assert_eq!(
        st.body["tickets"].as_array().unwrap().len(),
        1,
        "{}",
        st.text
    );
    assert_eq!(damkar.get(&format!("/api/cases/{case}")).status, 403);

    // Steps: only its own, only forward.
    let step = |who: &Api, agency: &str, action: &str, body: Option<Value>| {
        who.post(&format!("/api/tickets/{case}/{agency}/{action}"), body)
    };
    let r = step(&damkar, "bpbd", "acknowledge", None);
    assert_eq!(error(&r), (403, Some("forbidden")));
    let r = step(&damkar, "damkar", "fly", None);
    assert_eq!(error(&r), (404, Some("not_found")));
    let r = step(&damkar, "damkar", "acknowledge", None);
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("acknowledged")),
        "{}",
        r.text
    );
    let r = step(&damkar, "damkar", "acknowledge", None);
    assert_eq!(error(&r), (409, Some("conflict")), "not twice");
    let r = step(
        &damkar,
        "damkar",
        "on-scene",
        Some(json!({"note": "Unit 3 di lokasi"})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = step(&damkar, "damkar", "acknowledge", None);
    assert_eq!(error(&r), (409, Some("conflict")), "never back");
    let r = step(&damkar, "damkar", "close", Some(json!({"note": 5})));
    assert_eq!(r.status, 400);
    let r = step(&sup, "dinkes", "close", None);
    assert_eq!(error(&r), (404, Some("not_found")), "no dinkes ticket");

    // The call ends; damkar closes; the case stays open for BPBD's.
    let t = trunk.join().unwrap();
    assert!(t.ok, "trunk: {}", t.output);
    assert!(seat.finish(Duration::from_secs(10)));
    ev_op
        .wait("call-ended", Duration::from_secs(3), |c| {
            c["case"] == case.as_str()
        })
        .expect("call-ended");
    let r = step(
        &damkar,
        "damkar",
        "close",
        Some(json!({"note": "Api padam"})),
    );
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("closed")));
    assert!(!records(&e)
        .iter()
        .any(|r| r["case"] == case.as_str() && r["event"] == "closed"));
    // The operator who had the call cancels BPBD's (not needed after all).
    let r = step(&op1, "bpbd", "cancel", Some(json!({"note": "tidak perlu"})));
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("cancelled")),
        "{}",
        r.text
    );
    let closed = ev_sup
        .wait("case-closed", Duration::from_secs(3), |c| {
            c["case"] == case.as_str()
        })
        .expect("the supervisor sees the case closed");
    assert!(closed["closed_ms"].as_u64().is_some(), "{closed}");
    assert!(ev_bpbd
        .wait("ticket", Duration::from_secs(3), |t| t["status"]
            == "cancelled")
        .is_some());
    // In the journal once committed (the screens may be a moment ahead).
    let recs = eventually(Duration::from_secs(3), || {
        let recs: Vec<Value> = records(&e)
            .into_iter()
            .filter(|r| r["case"] == case.as_str())
            .collect();
        recs.iter().any(|r| r["event"] == "closed").then_some(recs)
    })
    .expect("the closed case is in the journal");
    let steps: Vec<(String, String, String)> = recs
        .iter()
        .filter(|r| r["event"] == "ticket")
        .map(|r| {
            (
                r["agency"].as_str().unwrap().into(),
                r["status"].as_str().unwrap().into(),
                r["by"].as_str().unwrap().into(),
            )
        })
        .collect();
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        steps,
        [
            s("damkar", "sent", "op1"),
            s("bpbd", "sent", "op1"),
            s("damkar", "acknowledged", "damkar"),
            s("damkar", "on-scene", "damkar"),
            s("damkar", "closed", "damkar"),
            s("bpbd", "cancelled", "op1"),
        ]
    );
    assert_eq!(recs.last().unwrap()["event"], "closed");

    // A caller who gave up waiting: on the call-back list for any operator.
    assert_eq!(
        op1.post("/api/seats/op1/pause", Some(json!({"reason": "meal"})))
            .status,
        200
    );
    let r = sipp(
        &e,
        "trunk_abandon.xml",
        &["-s", "112", "-m", "1", "-d", "800"],
        Duration::from_secs(20),
    );
    assert!(r.ok, "{}", r.output);
    let due = eventually(Duration::from_secs(3), || {
        let l = op1.get("/api/callbacks");
        l.body["callbacks"]
            .as_array()
            .and_then(|a| a.first().cloned())
    })
    .expect("the abandoned call is due a call-back");
    assert_eq!(due["reason"], "abandoned");
    let lost = due["case"].as_str().unwrap().to_string();
    assert_eq!(damkar.get("/api/callbacks").status, 403);
    let cb = |body: Value| op1.post(&format!("/api/cases/{lost}/callback"), Some(body));
    assert_eq!(cb(json!({"outcome": "teleported"})).status, 400);
    let r = cb(json!({"outcome": "no-answer"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        op1.get("/api/callbacks").body["callbacks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = cb(json!({"outcome": "reached", "note": "salah pencet"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(op1.get("/api/callbacks").body["callbacks"], json!([]));

    // The store: search by number, the report, the export.
    let number = call["caller"]
        .as_str()
        .unwrap()
        .split(['@', ';'])
        .next()
        .unwrap()
        .trim_start_matches("sip:")
        .replace('+', "%2B");
    let found = eventually(Duration::from_secs(5), || {
        let r = sup.get(&format!("/api/cases?caller={number}"));
        (r.status == 200 && r.body["cases"].as_array().is_some_and(|a| !a.is_empty())).then_some(r)
    })
    .expect("the store has the case");
    let c = &found.body["cases"][0];
    assert_eq!(c["case"], case.as_str());
    assert_eq!(c["category"], "kebakaran");
    assert!(c["closed_ms"].as_u64().is_some(), "{c}");
    assert_eq!(c["tickets"].as_array().unwrap().len(), 2);
    let r = sup.get("/api/cases?class=emergency&category=kebakaran");
    assert_eq!(r.body["cases"].as_array().unwrap().len(), 1, "{}", r.text);
    assert_eq!(sup.get("/api/cases?from=2026-13-01").status, 400);
    assert_eq!(sup.get("/api/cases?limit=0").status, 400);
    assert_eq!(damkar.get("/api/cases").status, 403);

    let rep = eventually(Duration::from_secs(5), || {
        let r = sup.get("/api/report");
        (r.body["totals"]["offered"] == 2 && r.body["dispatch"]["tickets"] == 2).then_some(r)
    })
    .expect("the report counts both calls and both tickets");
    let t = &rep.body["totals"];
    assert_eq!(
        (t["answered"].as_u64(), t["abandoned"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(t["by_class"]["emergency"], 1);
    let d = &rep.body["dispatch"]["by_agency"];
    assert_eq!(
        (
            d["damkar"]["closed"].as_u64(),
            d["bpbd"]["cancelled"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(d["damkar"]["within_60s"], 1.0, "{d}");
    assert_eq!(op1.get("/api/report").status, 403);
    assert_eq!(
        sup.get("/api/report?from=2026-02-01&to=2026-01-01").status,
        400
    );

    let csv = sup.get("/api/export?format=csv");
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv
        .header("content-disposition")
        .unwrap()
        .contains("attachment"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two cases: {}", csv.text);
    assert!(lines
        .iter()
        .any(|l| l.contains(&case) && l.contains("kebakaran")));
    assert_eq!(sup.get("/api/export?format=xls").status, 400);
    // Asked first by the reports page: 204, nothing built; refused the same way.
    let check = sup.get("/api/export?format=csv&check=1");
    assert_eq!(check.status, 204, "{}", check.text);
    assert!(check.text.is_empty());
    assert_eq!(sup.get("/api/export?format=xls&check=1").status, 400);
    let js = sup.get("/api/export?format=json");
    assert_eq!(js.body.as_array().map(Vec::len), Some(2));
}
