//! The console API against the real binary: sign-in, roles, sessions and
//! CSRF, bad input, every endpoint; a SIPp trunk call answered by a SIPp
//! seat, followed on the operator's event stream and worked from the API
//! to "ready", with the records in the case log; the view after a restart;
//! `/metrics`.

mod common;
use common::console::*;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn case_records(e: &Engine, case: &str) -> Vec<Value> {
    records(e)
        .into_iter()
        .filter(|r| r["case"] == case)
        .collect()
}

#[test]
fn sign_in_sessions_roles_csrf_and_bad_input() {
    let (e, port) = console_engine("");
    let anon = Api::new(port);

    // Not signed in.
    let r = anon.get("/api/me");
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "unauthenticated", "{}", r.text);
    assert_eq!(anon.get("/api/state").status, 401);
    assert_eq!(anon.get("/api/events").status, 401);
    // The pages are public, with their types and a strict CSP.
    let index = anon.get("/");
    assert_eq!(index.status, 200);
    assert!(index
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(index
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    let js = anon.get("/js/api.js");
    assert!(js
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(js.header("cache-control"), Some("no-cache"));
    assert_eq!(anon.get("/dev/mock_server.py").status, 404);
    assert_eq!(anon.get("/api/nothing").body["error"], "not_found");
    let wrong_method = anon.get("/api/login");
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.body["error"], "method_not_allowed");

    // Bad sign-ins: each a 4xx with a JSON reason.
    let login = |body: &str, ct: &str| anon.post_raw("/api/login", Some(body.into()), ct, None);
    let r = login(r#"{"user":"op1","password":"nope"}"#, "application/json");
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (401, Some("unauthenticated"))
    );
    let r = login(r#"{"user":"op1","#, "application/json");
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("bad_request"))
    );
    assert!(r.body["message"].as_str().unwrap().contains("malformed"));
    let r = login(
        r#"{"user":"op1","password":"secret1","admin":true}"#,
        "application/json",
    );
    assert_eq!(r.status, 400, "unknown fields are refused: {}", r.text);
    let r = login(
        "user=op1&password=secret1",
        "application/x-www-form-urlencoded",
    );
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (415, Some("unsupported_media"))
    );
    let big = format!(r#"{{"user":"op1","password":"{}"}}"#, "x".repeat(20_000));
    let r = login(&big, "application/json");
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (413, Some("too_large"))
    );
    let r = login(
        r#"{"user":"nobody","password":"secret1"}"#,
        "application/json",
    );
    assert_eq!(r.status, 401);

    // An operator signs in with the seat's SIP password.
    let mut op1 = Api::new(port);
    let r = op1.login("op1", "secret1");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["role"], "operator");
    assert_eq!(r.body["seat"], "op1");
    let set = r.header("set-cookie").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    let me = op1.get("/api/me");
    assert_eq!(me.status, 200);
    assert_eq!(me.body["csrf"], r.body["csrf"], "one token per session");
    let cfg = op1.get("/api/config");
    assert_eq!(cfg.status, 200);
    assert!(cfg.body["classes"]
        .as_array()
        .unwrap()
        .contains(&json!("prank")));
    assert!(cfg.body["categories"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "kebakaran" && c["en_label"] == "Fire"));
    assert_eq!(cfg.body["seats"], json!(["op1", "op2", "op3"]));

    // CSRF: every change needs the session's token.
    let r = op1.post_raw("/api/seats/op1/unpause", None, "application/json", None);
    assert_eq!((r.status, r.body["error"].as_str()), (403, Some("csrf")));
    let r = op1.post_raw(
        "/api/seats/op1/unpause",
        None,
        "application/json",
        Some("forged"),
    );
    assert_eq!(r.body["error"], "csrf");

    // Seat commands: own seat only, real states, clear errors.
    let r = op1.post("/api/seats/op1/pause", Some(json!({"reason": "meal"})));
    assert_eq!(r.status, 409, "a logged-out seat cannot pause: {}", r.text);
    assert_eq!(r.body["error"], "conflict");
    assert_eq!(r.body["state"], "logged-out");
    let seat_port = free_port();
    register_seat(&e, "op1", seat_port);
    let r = op1.post("/api/seats/op1/pause", Some(json!({"reason": "meal"})));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["phase"].as_str(), r.body["reason"].as_str()),
        (Some("paused"), Some("meal"))
    );
    let r = op1.post(
        "/api/seats/op1/pause",
        Some(json!({"reason": "Lunch Break!"})),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    let r = op1.post("/api/seats/op1/pause", None);
    assert_eq!(r.status, 415, "pause needs its reason: {}", r.text);
    let r = op1.post("/api/seats/op1/unpause", None);
    assert_eq!(
        (r.status, r.body["phase"].as_str()),
        (200, Some("available"))
    );
    let r = op1.post("/api/seats/op2/pause", Some(json!({"reason": "meal"})));
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (403, Some("forbidden"))
    );
    assert_eq!(op1.post("/api/seats/op9/unpause", None).status, 404);
    assert_eq!(op1.post("/api/seats/op1/dance", None).status, 404);
    // Case actions on cases that are not there, or not real ids.
    let r = op1.post("/api/cases/0001-999999/note", Some(json!({"text": "x"})));
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(op1.get("/api/cases/..%2F..%2Fetc").status, 404);
    assert_eq!(op1.get("/api/cases/0001-999999").status, 404);

    // A supervisor acts on any seat.
    let sup = Api::signed_in(port, "sup", SUP_PASSWORD);
    assert_eq!(sup.get("/api/me").body["role"], "supervisor");
    let r = sup.post("/api/seats/op1/logout", None);
    assert_eq!(
        (r.status, r.body["phase"].as_str()),
        (200, Some("logged-out"))
    );
    let r = sup.post("/api/seats/op1/unpause", None);
    assert_eq!(
        (r.status, r.body["phase"].as_str()),
        (200, Some("available"))
    );
    let r = op1.get("/api/state");
    assert_eq!(r.status, 200);
    let seat = r.body["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["seat"] == "op1")
        .unwrap()
        .clone();
    assert_eq!(seat["phase"], "available");
    assert!(seat["since_ms"].as_u64().is_some());

    // Agency staff: no seats, no calls.
    let agency = Api::signed_in(port, "damkar", AGENCY_PASSWORD);
    assert_eq!(agency.get("/api/me").body["agency"], "damkar");
    let st = agency.get("/api/state");
    assert_eq!(st.status, 200, "{}", st.text);
    assert_eq!(
        (&st.body["seats"], &st.body["calls"], &st.body["figures"]),
        (&json!([]), &json!([]), &Value::Null),
        "no seats, calls or figures for agency staff"
    );
    assert_eq!(agency.get("/api/callbacks").status, 403);
    assert_eq!(
        agency
            .post("/api/seats/op1/pause", Some(json!({"reason": "meal"})))
            .status,
        403
    );
    assert_eq!(agency.get("/api/config").status, 200);

    // A cookie changed by hand, or expired, is refused.
    let mut forged = Api::new(port);
    forged.cookie = op1.cookie.as_ref().map(|c| c.replacen('.', "x.", 1));
    assert_eq!(forged.get("/api/me").status, 401);
    let keys =
        siaga112::engine::http::session::Keys::load_or_create(&e.dir.path().join("session.key"))
            .unwrap();
    let old = keys.issue(&siaga112::engine::http::session::Ticket {
        user: "op1".into(),
        expires_ms: 1_000,
        nonce: "n".into(),
    });
    forged.cookie = Some(format!("siaga112_session={old}"));
    let r = forged.get("/api/me");
    assert_eq!(r.status, 401);
    assert!(
        r.body["message"].as_str().unwrap().contains("expired"),
        "{}",
        r.text
    );

    // Signing out ends that session (not the others).
    let r = op1.post("/api/logout", None);
    assert_eq!(r.status, 204);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(op1.get("/api/me").status, 401);
    assert_eq!(sup.get("/api/me").status, 200);

    // Guessing is slowed: the sixth try in a minute is 429 with Retry-After.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(login(
            r#"{"user":"op3","password":"guess"}"#,
            "application/json",
        ));
    }
    assert_eq!(
        statuses.iter().map(|r| r.status).collect::<Vec<_>>(),
        [401, 401, 401, 401, 401, 429]
    );
    let limited = statuses.last().unwrap();
    assert_eq!(limited.body["error"], "too_many");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    // Another user is not locked out by it.
    let mut op2 = Api::new(port);
    assert_eq!(op2.login("op2", "secret2").status, 200);
    assert!(!e.log().contains("panicked"));
}

#[test]
fn an_answered_call_pops_up_at_its_seat_and_is_worked_to_ready() {
    let (e, port) = console_engine("wrapup_s = 30");
    let p1 = free_port();
    let p2 = free_port();
    register_seat(&e, "op1", p1);
    register_seat(&e, "op2", p2);
    let op1 = Api::signed_in(port, "op1", "secret1");
    let op2 = Api::signed_in(port, "op2", "secret2");
    let sup = Api::signed_in(port, "sup", SUP_PASSWORD);
    // op2 is paused, so the call goes to op1.
    assert_eq!(
        op2.post("/api/seats/op2/pause", Some(json!({"reason": "training"})))
            .status,
        200
    );
    let mut ev1 = op1.events();
    let mut ev2 = op2.events();
    let mut evs = sup.events();
    for ev in [&mut ev1, &mut ev2, &mut evs] {
        assert!(ev.wait("hello", Duration::from_secs(3), |_| true).is_some());
    }

    let seat = Seat::start(&e, "seat_answer.xml", p1, 1, &["-d", "500"]);
    let target = e.target();
    let trunk = std::thread::spawn(move || {
        sipp_to(
            &target,
            "trunk_call.xml",
            &["-s", "112", "-m", "1", "-d", "6000"],
            Duration::from_secs(20),
        )
    });
    let answered = ev1
        .wait("call", Duration::from_secs(5), |c| c["answered"] == true)
        .expect("the answered call reaches op1's screen");
    let case = answered["case"].as_str().unwrap().to_string();
    assert_eq!(answered["seat"], "op1");
    assert!(
        answered["caller"].as_str().unwrap().contains("+62811000"),
        "{answered}"
    );
    assert_eq!(answered["service"], "112");
    assert_eq!(answered["queue"], "emergency");
    assert!(answered["answered_ms"].as_u64().unwrap() >= answered["opened_ms"].as_u64().unwrap());
    // The ringing came first, on the same stream.
    assert!(ev1
        .seen
        .iter()
        .any(|(n, c)| n == "call" && c["case"] == case.as_str() && c["answered"] == false));
    assert!(
        evs.wait("call", Duration::from_secs(2), |c| c["case"]
            == case.as_str())
            .is_some(),
        "the supervisor sees it"
    );
    assert!(ev1
        .wait("seat", Duration::from_secs(2), |s| s["seat"] == "op1"
            && s["phase"] == "on-call")
        .is_some());

    // Only the seat's own calls: op2 sees none of it.
    let st2 = op2.get("/api/state");
    assert_eq!(st2.body["calls"], json!([]), "{}", st2.text);
    assert!(!ev2.drain().iter().any(|(n, _)| n == "call"));
    assert_eq!(op2.get(&format!("/api/cases/{case}")).status, 403);
    let r = op2.post(
        &format!("/api/cases/{case}/note"),
        Some(json!({"text": "mine?"})),
    );
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (403, Some("forbidden"))
    );
    let st1 = op1.get("/api/state");
    assert_eq!(st1.body["calls"][0]["case"], case.as_str());

    // Work the case: ready needs a class; bad words are 400.
    let url = |a: &str| format!("/api/cases/{case}/{a}");
    let r = op1.post(&url("ready"), None);
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (409, Some("conflict")),
        "{}",
        r.text
    );
    let r = op1.post(&url("classify"), Some(json!({"class": "urgent"})));
    assert_eq!(r.status, 400);
    let r = op1.post(
        &url("classify"),
        Some(json!({"class": "emergency", "category": "volcano"})),
    );
    assert_eq!(r.status, 400);
    let r = op1.post(
        &url("classify"),
        Some(json!({"class": "emergency", "category": "kebakaran"})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["class"].as_str(), r.body["category"].as_str()),
        (Some("emergency"), Some("kebakaran"))
    );
    let r = op1.post(
        &url("note"),
        Some(json!({"text": "Asap dari lantai 3 <b>ruko</b>"})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body["notes"][0]["text"], "Asap dari lantai 3 <b>ruko</b>");
    assert_eq!(r.body["notes"][0]["by"], "op1");
    assert_eq!(
        op1.post(&url("note"), Some(json!({"text": "   "}))).status,
        400
    );
    assert_eq!(
        op1.post(&url("note"), Some(json!({"text": "x".repeat(2001)})))
            .status,
        400
    );
    let r = op1.post(&url("location"), Some(json!({"address": "", "lat": -6.9})));
    assert_eq!(r.status, 400, "lat without lon: {}", r.text);
    let r = op1.post(
        &url("location"),
        Some(json!({"address": "Jl. Braga 10, Bandung", "lat": -6.917, "lon": 107.609})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["location"]["source"], "operator");
    assert_eq!(r.body["location"]["lat"], -6.917);
    let r = op1.post(&url("ready"), None);
    assert_eq!((r.status, r.body["ready"].as_bool()), (200, Some(true)));
    // The live call's screen got every change too.
    assert!(ev1
        .wait("call", Duration::from_secs(2), |c| c["case"]
            == case.as_str()
            && c["ready"] == true)
        .is_some());

    // The caller hangs up; the end reaches the seat; the case stays the
    // seat's in wrap-up, for more notes.
    let t = trunk.join().unwrap();
    assert!(t.ok, "trunk: {}", t.output);
    assert!(seat.finish(Duration::from_secs(10)));
    let end = ev1
        .wait("call-ended", Duration::from_secs(3), |c| {
            c["case"] == case.as_str()
        })
        .expect("call-ended");
    assert_eq!(end["reason"], "completed");
    assert!(end["ended_ms"].as_u64().is_some());
    let wrap = ev1
        .wait("seat", Duration::from_secs(2), |s| {
            s["seat"] == "op1" && s["phase"] == "wrap-up"
        })
        .unwrap();
    assert_eq!(
        wrap["case"],
        case.as_str(),
        "the seat's case through wrap-up"
    );
    let r = op1.post(
        &url("note"),
        Some(json!({"text": "Damkar sudah di lokasi"})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let d = op1.get(&format!("/api/cases/{case}"));
    assert_eq!(d.status, 200);
    assert_eq!(d.body["live"], false);
    assert_eq!(d.body["reason"], "completed");
    assert_eq!(d.body["notes"].as_array().unwrap().len(), 2);
    let kinds: Vec<&str> = d.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    for k in [
        "opened",
        "answered",
        "classified",
        "note",
        "located",
        "ready",
        "ended",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    // The caller's history and today's figures.
    let number = answered["caller"]
        .as_str()
        .unwrap()
        .split(['@', ';'])
        .next()
        .unwrap()
        .trim_start_matches("sip:")
        .to_string();
    let h = op1.get(&format!(
        "/api/callers/{}/history",
        number.replace('+', "%2B")
    ));
    assert_eq!(h.status, 200, "{}", h.text);
    assert_eq!(h.body["cases"][0]["case"], case.as_str());
    assert_eq!(h.body["cases"][0]["class"], "emergency");
    assert_eq!(h.body["pranks"], 0);
    let f = evs
        .wait("figures", Duration::from_secs(3), |f| f["answered"] == 1)
        .expect("figures");
    assert_eq!(f["offered"], 1);
    assert_eq!(f["by_class"]["emergency"], 1);
    assert_eq!(f["within_10s"], 1.0);

    // Every action is in the case log, with who did it.
    let recs = case_records(&e, &case);
    let by = |kind: &str| -> Vec<Value> {
        recs.iter()
            .filter(|r| r["event"] == kind)
            .cloned()
            .collect()
    };
    assert_eq!(by("classified")[0]["by"], "op1");
    assert_eq!(by("classified")[0]["category"], "kebakaran");
    assert_eq!(by("note").len(), 2);
    assert_eq!(by("located")[0]["address"], "Jl. Braga 10, Bandung");
    assert_eq!(by("ready")[0]["by"], "op1");
    let seats: Vec<Value> = records(&e)
        .into_iter()
        .filter(|r| r["event"] == "seat" && r["seat"] == "op2")
        .collect();
    assert!(
        seats
            .iter()
            .any(|r| r["state"] == "paused" && r["reason"] == "training"),
        "{seats:?}"
    );

    // /metrics counts the call.
    let m = Api::new(port).get("/metrics");
    assert_eq!(m.status, 200);
    assert!(
        m.text
            .contains(r#"siaga112_calls_total{queue="emergency",outcome="completed"} 1"#),
        "{}",
        m.text
    );
    assert!(m
        .text
        .contains(r#"siaga112_cases_classified_total{class="emergency"} 1"#));
    assert!(m
        .text
        .contains("siaga112_answer_wait_seconds_count{queue=\"emergency\"} 1"));
    assert!(
        m.text.contains("siaga112_console_sessions 3"),
        "three streams open"
    );
    let received: u64 = m
        .text
        .lines()
        .find_map(|l| l.strip_prefix("siaga112_sip_received_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(received >= 6, "REGISTERs, INVITE, ACK, BYE...: {received}");
}

#[test]
fn after_a_restart_the_figures_histories_and_sessions_are_back() {
    let (mut e, port) = console_engine("");
    let p1 = free_port();
    register_seat(&e, "op1", p1);
    let op1 = Api::signed_in(port, "op1", "secret1");
    let seat = Seat::start(&e, "seat_answer.xml", p1, 1, &["-d", "200"]);
    let target = e.target();
    let trunk = std::thread::spawn(move || {
        sipp_to(
            &target,
            "trunk_call.xml",
            &["-s", "112", "-m", "1", "-d", "1500"],
            Duration::from_secs(20),
        )
    });
    let mut ev = op1.events();
    let call = ev
        .wait("call", Duration::from_secs(5), |c| c["answered"] == true)
        .expect("answered");
    let case = call["case"].as_str().unwrap().to_string();
    assert_eq!(
        op1.post(
            &format!("/api/cases/{case}/classify"),
            Some(json!({"class": "prank"}))
        )
        .status,
        200
    );
    assert!(trunk.join().unwrap().ok);
    assert!(seat.finish(Duration::from_secs(10)));
    wait_ended(&e, 1);
    std::thread::sleep(Duration::from_millis(300));

    e.kill_and_restart();
    // The same cookie still works: sessions are signed, not stored.
    let me = op1.get("/api/me");
    assert_eq!(me.status, 200, "{}", me.text);
    let st = op1.get("/api/state");
    assert_eq!(st.body["figures"]["offered"], 1, "{}", st.text);
    assert_eq!(st.body["figures"]["answered"], 1);
    assert_eq!(st.body["figures"]["by_class"]["prank"], 1);
    assert_eq!(st.body["figures"]["false_share"], 1.0);
    assert_eq!(st.body["calls"], json!([]));
    let number = call["caller"]
        .as_str()
        .unwrap()
        .split(['@', ';'])
        .next()
        .unwrap()
        .trim_start_matches("sip:")
        .to_string();
    let h = op1.get(&format!(
        "/api/callers/{}/history",
        number.replace('+', "%2B")
    ));
    assert_eq!(h.body["pranks"], 1, "{}", h.text);
    assert_eq!(h.body["cases"][0]["case"], case.as_str());
    // A full URI works as well as the number.
    let h2 = op1.get(&format!(
        "/api/callers/sip:{}@telco.example/history",
        number.replace('+', "%2B")
    ));
    assert_eq!(h2.body["pranks"], 1, "{}", h2.text);
    let d = op1.get(&format!("/api/cases/{case}"));
    assert_eq!(
        d.status, 200,
        "the ended case is still the seat's: {}",
        d.text
    );
    assert_eq!(d.body["class"], "prank");
}

/// `GET /api/bans` and `POST /api/bans/lift`: supervisors only, clear 4xx
/// for the rest, and the bans event reaches the supervisor's stream only.
#[test]
fn bans_are_listed_and_lifted_by_the_supervisor_only() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let rest = format!(
        "{}\n[security]\nban_after = 2\n",
        console_config(http, dir.path(), "")
    );
    let e = Engine::start_in(dir, "retry_s = 30", &rest);
    let sup = Api::signed_in(http, "sup", SUP_PASSWORD);
    let op = Api::signed_in(http, "op1", "secret1");
    let mut sup_events = sup.events();
    let mut op_events = op.events();
    assert_eq!(sup.get("/api/bans").body["bans"], json!([]));
    assert_eq!(op.get("/api/bans").status, 403);

    let r = sipp(
        &e,
        "register_wrong_password.xml",
        &["-s", "op3", "-au", "op3", "-ap", "guess", "-m", "2"],
        Duration::from_secs(15),
    );
    assert!(r.ok, "{}", r.output);
    let ev = sup_events.wait("bans", Duration::from_secs(5), |d| {
        d["bans"].as_array().is_some_and(|b| !b.is_empty())
    });
    assert!(ev.is_some(), "the supervisor is told of the ban");
    let bans = sup.get("/api/bans").body["bans"].clone();
    assert_eq!(bans.as_array().unwrap().len(), 1, "{bans}");
    assert_eq!(bans[0]["kind"], "user");
    assert_eq!(bans[0]["key"], "op3");
    assert_eq!(bans[0]["failures"], 2);
    assert!(bans[0]["until_ms"].as_u64().unwrap() > 0);
    assert_eq!(
        sup.get("/api/state").body["bans"].as_array().unwrap().len(),
        1
    );
    assert_eq!(op.get("/api/state").body["bans"], json!([]));
    // The supervisor has had it; an operator's stream, given the time to
    // get it too, has not.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        op_events.drain().iter().all(|(t, _)| t != "bans"),
        "operators do not get the bans"
    );

    let lift = |api: &Api, kind: &str, key: &str| {
        api.post("/api/bans/lift", Some(json!({ "kind": kind, "key": key })))
    };
    assert_eq!(lift(&op, "user", "op3").status, 403);
    assert_eq!(lift(&sup, "mac", "op3").status, 400);
    assert_eq!(lift(&sup, "user", "op9").status, 404);
    assert_eq!(lift(&sup, "source", "not-an-address").status, 404);
    let ok = lift(&sup, "user", "op3");
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(sup.get("/api/bans").body["bans"], json!([]));
    assert_eq!(lift(&sup, "user", "op3").status, 404, "lifted once");
    assert!(e.wait_log("security: unban user=op3 by=sup", Duration::from_secs(2)));
}
