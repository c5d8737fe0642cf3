//! The centre's state for the network, against the real binary: a
//! subscriber (an ESRP, on a UDP socket of the test, from the trunk's
//! address) SUBSCRIBEs to `emergency-QueueState` and gets a NOTIFY at once
//! and as SIPp calls queue and drain; one to `emergency-ServiceState` sees
//! Normal, MajorIncidentInProgress when the supervisor declares it, and
//! Unmanned when the last seat logs out; unknown packages get 489, short
//! expiries 423, refreshes in an unknown dialog 481, strangers 403.

mod common;
use common::console::*;
use common::*;
use serde_json::{json, Value};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

struct Subscriber {
    sock: UdpSocket,
    engine: String,
    call_id: String,
    to_tag: Option<String>,
    cseq: u32,
    /// NOTIFY bodies in order.
    notifies: Vec<(String, Value)>,
}

impl Subscriber {
    fn new(engine: &Engine) -> Subscriber {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Subscriber {
            sock,
            engine: engine.target(),
            call_id: format!("sub-{}@esrp.test", free_port()),
            to_tag: None,
            cseq: 0,
            notifies: Vec::new(),
        }
    }

    fn subscribe(&mut self, event: &str, expires: u32) {
        self.cseq += 1;
        let me = self.sock.local_addr().unwrap();
        let to_tag = self
            .to_tag
            .as_ref()
            .map(|t| format!(";tag={t}"))
            .unwrap_or_default();
        let msg = format!(
            "SUBSCRIBE sip:112@{e} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-{c}-{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:esrp@{me}>;tag=esrp1\r\nTo: <sip:112@{e}>{to_tag}\r\n\
             Call-ID: {c}\r\nCSeq: {n} SUBSCRIBE\r\nContact: <sip:esrp@{me}>\r\nEvent: {event}\r\n\
             Expires: {expires}\r\nAccept: application/json\r\nContent-Length: 0\r\n\r\n",
            e = self.engine,
            c = self.call_id,
            n = self.cseq,
        );
        self.sock.send_to(msg.as_bytes(), &self.engine).unwrap();
    }

    /// Reads for `d`: answers every NOTIFY 200 and keeps its body; returns
    /// the responses.
    fn pump(&mut self, d: Duration) -> Vec<String> {
        let end = Instant::now() + d;
        let mut responses = Vec::new();
        let mut buf = [0u8; 65536];
        while Instant::now() < end {
            let Ok((n, from)) = self.sock.recv_from(&mut buf) else {
                continue;
            };
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.starts_with("SIP/2.0 ") {
                if let Some(tag) = header_of(&msg, "To").and_then(|t| t.split(";tag=").nth(1)) {
                    self.to_tag.get_or_insert_with(|| tag.to_string());
                }
                responses.push(msg);
            } else if msg.starts_with("NOTIFY ") {
                self.sock.send_to(ok_to(&msg).as_bytes(), from).unwrap();
                let body = msg.split("\r\n\r\n").nth(1).unwrap_or("");
                let state = header_of(&msg, "Subscription-State")
                    .unwrap_or("")
                    .to_string();
                self.notifies
                    .push((state, serde_json::from_str(body).unwrap_or(Value::Null)));
            }
        }
        responses
    }

    /// The first NOTIFY body (after the `from`th) that `f` accepts.
    fn wait_notify(
        &mut self,
        from: usize,
        within: Duration,
        f: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let end = Instant::now() + within;
        loop {
            if let Some(n) = self.notifies.iter().skip(from).find(|(_, b)| f(b)) {
                return Some(n.1.clone());
            }
            if Instant::now() > end {
                return None;
            }
            self.pump(Duration::from_millis(200));
        }
    }
}

fn status(msg: &str) -> u16 {
    msg[8..11].parse().unwrap()
}

#[test]
fn queue_state_is_notified_as_calls_queue_and_drain() {
    let (e, port) = console_engine("max_length = 2");
    let p = free_port();
    register_seat(&e, "op1", p);
    let op1 = Api::signed_in(port, "op1", "secret1");
    assert_eq!(
        op1.post("/api/seats/op1/pause", Some(json!({"reason": "meal"})))
            .status,
        200
    );
    let mut s = Subscriber::new(&e);
    s.subscribe("emergency-QueueState", 600);
    let r = s.pump(Duration::from_millis(500));
    assert_eq!(status(&r[0]), 200, "{}", r[0]);
    assert_eq!(header_of(&r[0], "Expires"), Some("600"));
    let first = &s.notifies[0];
    assert!(first.0.starts_with("active;expires="), "{}", first.0);
    // op1 is paused: logged in, so the queue is active, and empty.
    assert_eq!(first.1["queueLength"], 0, "{:?}", first.1);
    assert_eq!(first.1["maxQueueLength"], 2);
    assert_eq!(first.1["state"], "Active");

    // Two calls wait: the queue is full.
    let mut calls = Vec::new();
    for _ in 0..2 {
        let t = e.target();
        calls.push(std::thread::spawn(move || {
            sipp_to(
                &t,
                "trunk_call.xml",
                &["-s", "112", "-m", "1", "-d", "200"],
                Duration::from_secs(30),
            )
        }));
    }
    let full = s
        .wait_notify(0, Duration::from_secs(5), |b| b["queueLength"] == 2)
        .expect("a NOTIFY with both calls waiting");
    assert_eq!(full["state"], "Full");
    // The seat takes them: the queue drains.
    let seat = Seat::start(&e, "seat_answer.xml", p, 2, &["-d", "100"]);
    assert_eq!(op1.post("/api/seats/op1/unpause", None).status, 200);
    let after_full = s.notifies.len();
    s.wait_notify(after_full, Duration::from_secs(8), |b| {
        b["queueLength"] == 0 && b["state"] == "Active"
    })
    .expect("a NOTIFY with the queue drained after it was full");
    for c in calls {
        assert!(c.join().unwrap().ok);
    }
    assert!(seat.finish(Duration::from_secs(10)));
    let lengths: Vec<u64> = s
        .notifies
        .iter()
        .map(|n| n.1["queueLength"].as_u64().unwrap())
        .collect();
    assert!(
        lengths.contains(&2) && *lengths.last().unwrap() == 0,
        "{lengths:?}"
    );

    // Unsubscribe: 200 and a last NOTIFY, terminated.
    s.subscribe("emergency-QueueState", 0);
    let r = s.pump(Duration::from_millis(500));
    assert_eq!(status(&r[0]), 200, "{}", r[0]);
    assert!(s.notifies.last().unwrap().0.starts_with("terminated"));
    // Gone: a refresh now is 481.
    s.subscribe("emergency-QueueState", 600);
    let r = s.pump(Duration::from_millis(500));
    assert_eq!(status(&r[0]), 481, "{}", r[0]);
}

#[test]
fn service_state_shows_a_major_incident_and_unmanned() {
    let (e, port) = console_engine("");
    register_seat(&e, "op1", free_port());
    let mut s = Subscriber::new(&e);
    s.subscribe("emergency-ServiceState", 600);
    s.pump(Duration::from_millis(400));
    assert_eq!(s.notifies[0].1["serviceState"]["state"], "Normal");
    assert_eq!(s.notifies[0].1["service"]["name"], "PSAP");
    let sup = Api::signed_in(port, "sup", SUP_PASSWORD);
    let op1 = Api::signed_in(port, "op1", "secret1");
    assert_eq!(
        op1.post("/api/service", Some(json!({"major_incident": true})))
            .status,
        403,
        "supervisors only"
    );
    let r = sup.post("/api/service", Some(json!({"major_incident": true})));
    assert_eq!(r.status, 200, "{}", r.text);
    s.wait_notify(0, Duration::from_secs(3), |b| {
        b["serviceState"]["state"] == "MajorIncidentInProgress"
    })
    .expect("the major incident");
    assert_eq!(op1.post("/api/seats/op1/logout", None).status, 200);
    s.wait_notify(0, Duration::from_secs(3), |b| {
        b["serviceState"]["state"] == "Unmanned"
    })
    .expect("unmanned once the last seat logged out");
}

#[test]
fn bad_subscriptions_get_their_answers() {
    let e = Engine::start(
        "retry_s = 30",
        "[[trunk]]\nname = \"t\"\npeers = [\"127.0.0.1/32\"]\n[[route]]\nmatch = [\"112\"]\nqueue = \"q\"\n[[queue]]\nname = \"q\"\n",
    );
    let mut s = Subscriber::new(&e);
    s.subscribe("presence", 600);
    let r = s.pump(Duration::from_millis(400));
    assert_eq!(status(&r[0]), 489, "{}", r[0]);
    assert!(header_of(&r[0], "Allow-Events")
        .unwrap()
        .contains("emergency-QueueState"));
    let mut s = Subscriber::new(&e);
    s.subscribe("emergency-QueueState", 10);
    let r = s.pump(Duration::from_millis(400));
    assert_eq!(status(&r[0]), 423);
    assert_eq!(header_of(&r[0], "Min-Expires"), Some("60"));
    assert!(s.notifies.is_empty());
    let mut s = Subscriber::new(&e);
    s.to_tag = Some("nope".into());
    s.subscribe("emergency-QueueState", 600);
    let r = s.pump(Duration::from_millis(400));
    assert_eq!(status(&r[0]), 481);
    // OPTIONS says what it allows.
    let opts = sipp(&e, "options.xml", &["-m", "1"], Duration::from_secs(10));
    assert!(opts.ok, "{}", opts.output);
}
