//! Text-to-112 against the real binary: a text gateway (a UDP socket of
//! the test, at the trunk's address) sends SIP MESSAGEs to 112; the case
//! opens, is offered to op1's console like a call, op1 takes it and
//! answers, and the answer reaches the gateway as a MESSAGE; the caller's
//! next message joins the same case; op1 ends the conversation; all of it
//! is in the case log and searchable. Bad input gets its answer.

mod common;
use common::console::*;
use common::text::Gateway;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[test]
fn a_text_call_is_taken_and_answered_from_the_console() {
    let (e, port) = console_engine("");
    // op1 is registered (logged in) with no softphone needed for text.
    register_seat(&e, "op1", free_port());
    let op1 = Api::signed_in(port, "op1", "secret1");
    let op2 = Api::signed_in(port, "op2", "secret2");
    let mut ev = op1.events();
    assert!(ev.wait("hello", Duration::from_secs(3), |_| true).is_some());
    let mut gw = Gateway::new(&e);

    assert_eq!(
        gw.send(
            "112",
            "text/plain;charset=UTF-8",
            "Tolong, ada pencuri di rumah saya. Saya tidak bisa bicara."
        ),
        200
    );
    let ringing = ev
        .wait("call", Duration::from_secs(3), |c| {
            c["channel"] == "text" && c["seat"] == "op1"
        })
        .expect("the text call is offered to op1's console");
    let case = ringing["case"].as_str().unwrap().to_string();
    assert_eq!(ringing["answered"], false);
    assert!(ringing["text"]["messages"][0]["text"]
        .as_str()
        .unwrap()
        .contains("pencuri"));
    let url = |a: &str| format!("/api/cases/{case}/{a}");
    // Before taking it, no answer; another seat may not take it.
    let r = op1.post(&url("text"), Some(json!({"text": "Halo"})));
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(op2.post(&url("accept"), None).status, 403);
    let r = op1.post(&url("accept"), None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["answered"], true);
    assert_eq!(op1.post(&url("accept"), None).status, 409, "only once");
    assert_eq!(
        op1.post(&url("text"), Some(json!({"text": "  "}))).status,
        400
    );
    assert_eq!(
        op1.post(&url("text"), Some(json!({"text": "x".repeat(1001)})))
            .status,
        400
    );
    let r = op1.post(
        &url("text"),
        Some(json!({"text": "Kami dari 112. Di mana alamat Anda? Apakah pencuri masih di dalam?"})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let got = gw
        .wait_text(Duration::from_secs(3))
        .expect("the answer reaches the caller as a MESSAGE");
    assert!(got.contains("Di mana alamat Anda"), "{got}");
    // The caller writes again: the same case.
    assert_eq!(
        gw.send(
            "112",
            "text/plain",
            "Jl. Kenanga 5, Bandung. Masih di dapur."
        ),
        200
    );
    let more = ev
        .wait("call", Duration::from_secs(3), |c| {
            c["case"] == case.as_str()
                && c["text"]["messages"]
                    .as_array()
                    .is_some_and(|m| m.len() == 3)
        })
        .expect("the caller's second message on op1's screen");
    let froms: Vec<&str> = more["text"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["from"].as_str().unwrap())
        .collect();
    assert_eq!(froms, ["caller", "operator", "caller"]);
    // Classified and ended from the console.
    assert_eq!(
        op1.post(
            &url("classify"),
            Some(json!({"class": "emergency", "category": "kriminal"}))
        )
        .status,
        200
    );
    assert_eq!(op1.post(&url("end-text"), None).status, 200);
    ev.wait("call-ended", Duration::from_secs(3), |c| {
        c["case"] == case.as_str()
    })
    .expect("ended");
    assert_eq!(
        op1.post(&url("text"), Some(json!({"text": "halo?"})))
            .status,
        404
    );

    // The case log has every message, who wrote it, and the answer.
    let end = Instant::now() + Duration::from_secs(3);
    let recs: Vec<Value> = loop {
        let r: Vec<Value> = records(&e)
            .into_iter()
            .filter(|r| r["case"] == case.as_str())
            .collect();
        if r.iter().any(|x| x["event"] == "ended") || Instant::now() > end {
            break r;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let kinds: Vec<&str> = recs.iter().map(|r| r["event"].as_str().unwrap()).collect();
    for k in [
        "opened",
        "text",
        "queued",
        "offered",
        "answered",
        "classified",
        "ended",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    let texts: Vec<(&str, &str)> = recs
        .iter()
        .filter(|r| r["event"] == "text")
        .map(|r| (r["from"].as_str().unwrap(), r["by"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(texts, [("caller", ""), ("operator", "op1"), ("caller", "")]);
    // And the store finds it by what the caller wrote.
    let sup = Api::signed_in(port, "sup", SUP_PASSWORD);
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let r = sup.get("/api/cases?text=Kenanga");
        if r.body["cases"][0]["case"] == case.as_str() {
            break;
        }
        assert!(Instant::now() < end, "not found: {}", r.text);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bad_text_messages_get_their_answers() {
    let e = Engine::start(
        "retry_s = 30",
        "[[trunk]]\nname = \"t\"\npeers = [\"127.0.0.1/32\"]\n[[route]]\nmatch = [\"112\"]\nqueue = \"q\"\n[[queue]]\nname = \"q\"\n",
    );
    let mut gw = Gateway::new(&e);
    assert_eq!(gw.send("112", "message/cpim", "x"), 415);
    assert_eq!(gw.send("112", "text/plain", "   "), 400);
    assert_eq!(gw.send("5555", "text/plain", "halo"), 404);
    assert_eq!(gw.send("112", "text/plain", &"a".repeat(5000)), 413);
    // None of these opened a case; a good one does, and waits (no seat).
    assert!(!records(&e).iter().any(|r| r["event"] == "opened"));
    assert_eq!(gw.send("112", "text/plain", "tolong"), 200);
    let end = Instant::now() + Duration::from_secs(3);
    while !records(&e).iter().any(|r| r["event"] == "queued") {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(50));
    }
}
