//! Text-to-112 against the real binary: a text gateway (a UDP socket of
//! the test, at the trunk's address) sends SIP MESSAGEs to 112; the case
//! opens, is offered to op1's console like a call, op1 takes it and
//! answers, and the answer reaches the gateway as a MESSAGE; the caller's
//! next message joins the same case; op1 ends the conversation; all of it
//! is in the case log and searchable. Bad input gets its answer.

mod common;
use common::console::*;
use common::*;
use serde_json::{json, Value};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

struct Gateway {
    sock: UdpSocket,
    engine: String,
    n: u32,
    /// MESSAGEs the engine sent us: their bodies.
    got: Vec<String>,
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

impl Gateway {
    fn new(e: &Engine) -> Gateway {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Gateway {
            sock,
            engine: e.target(),
            n: 0,
            got: Vec::new(),
        }
    }

    /// Sends a MESSAGE and returns the status of its answer.
    fn send(&mut self, target: &str, content_type: &str, text: &str) -> u16 {
        self.n += 1;
        let me = self.sock.local_addr().unwrap();
        let msg = format!(
            "MESSAGE sip:{target}@{e} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-gw-{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+628199000111@{me}>;tag=gw{n}\r\nTo: <sip:{target}@{e}>\r\n\
             Call-ID: gw-{n}@sms.test\r\nCSeq: 1 MESSAGE\r\nContent-Type: {content_type}\r\n\
             Content-Length: {len}\r\n\r\n{text}",
            e = self.engine,
            n = self.n,
            len = text.len(),
        );
        self.sock.send_to(msg.as_bytes(), &self.engine).unwrap();
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            if let Some(status) = self.pump_one() {
                return status;
            }
        }
        0
    }

    /// Reads one message: a response's status, or a MESSAGE answered 200.
    fn pump_one(&mut self) -> Option<u16> {
        let mut buf = [0u8; 65536];
        let Ok((n, from)) = self.sock.recv_from(&mut buf) else {
            return None;
        };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if let Some(s) = msg.strip_prefix("SIP/2.0 ") {
            return s.get(..3).and_then(|c| c.parse().ok());
        }
        if msg.starts_with("MESSAGE ") {
            let mut ok = String::from("SIP/2.0 200 OK\r\n");
            for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
                ok.push_str(&format!("{h}: {}\r\n", header(&msg, h).unwrap()));
            }
            ok.push_str("Content-Length: 0\r\n\r\n");
            self.sock.send_to(ok.as_bytes(), from).unwrap();
            assert!(header(&msg, "Content-Type")
                .unwrap()
                .starts_with("text/plain"));
            self.got
                .push(msg.split("\r\n\r\n").nth(1).unwrap_or("").to_string());
        }
        None
    }

    fn wait_text(&mut self, within: Duration) -> Option<String> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if !self.got.is_empty() {
                return Some(self.got.remove(0));
            }
            self.pump_one();
        }
        None
    }
}

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
