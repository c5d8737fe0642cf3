//! A harness that drives the pure core like the shell does, on a simulated
//! clock: a seat that registers with digest auth, a trunk that calls, the
//! seat that answers, BYEs. Shared by `tests/core_sim.rs` and
//! `benches/call.rs` (which times only the core's own work, `core_time`).
#![allow(dead_code)]

use siaga112::caselog::Record;
use siaga112::config::Config;
use siaga112::core::{Core, Input, Output};
use siaga112::operator::Event;
use siaga112::sip::digest::{expected_response, DigestAuth};
use siaga112::sip::Peer;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CONFIG: &str = r#"
[sip]
listen = ["udp:127.0.0.1:5060"]
realm = "siaga112"
keepalive_s = 0

[[trunk]]
name = "telco-a"
peers = ["127.0.0.1/32"]

[[route]]
match = ["112"]
queue = "emergency"

[[queue]]
name = "emergency"

[[seat]]
user = "op1"
password = "secret1"
queues = ["emergency"]
"#;

pub struct Sim {
    pub core: Core,
    pub now: Instant,
    pub out: Vec<(Peer, String)>,
    pub records: usize,
    /// Every record the core wrote, in order.
    pub log: Vec<Arc<Record>>,
    /// Every event, in order.
    pub events: Vec<Event>,
    /// Replies to commands: (id, result).
    pub replies: Vec<(
        u64,
        Result<siaga112::operator::Done, siaga112::operator::CommandError>,
    )>,
    /// Time spent inside the core (inputs and draining its outputs).
    pub core_time: Duration,
    /// Time spent turning outputs into texts, kept out of `core_time`.
    texts: Duration,
}

pub const SEAT: &str = "127.0.0.1:5071";
pub const TRUNK: &str = "127.0.0.1:5080";

impl Sim {
    pub fn new() -> Sim {
        Sim::with_config(CONFIG)
    }

    pub fn with_config(text: &str) -> Sim {
        let cfg = Arc::new(Config::parse(text).unwrap());
        let now = Instant::now();
        Sim {
            core: Core::new(cfg, now, 1_795_392_000_000, 1, 42),
            now,
            out: Vec::new(),
            records: 0,
            log: Vec::new(),
            events: Vec::new(),
            replies: Vec::new(),
            core_time: Duration::ZERO,
            texts: Duration::ZERO,
        }
    }

    /// Takes the core's outputs; the texts are made outside `core_time`.
    fn drain(&mut self) -> Instant {
        let mut sent = Vec::new();
        let at = loop {
            match self.core.poll_output() {
                Output::Transmit { peer, data } => sent.push((peer, data)),
                Output::Record(r) => {
                    self.records += 1;
                    self.log.push(r);
                }
                Output::Event(e) => self.events.push(e),
                Output::Media(_) => {}
                Output::Reply { id, result } => self.replies.push((id, result)),
                Output::Timeout(at) => break at,
            }
        };
        let started = Instant::now();
        self.out.extend(
            sent.into_iter()
                .map(|(p, d)| (p, String::from_utf8_lossy(&d).into_owned())),
        );
        self.texts += started.elapsed();
        at
    }

    pub fn send(&mut self, from: &str, text: &str) {
        let peer = Peer::udp(from.parse().unwrap());
        let (started, texts) = (Instant::now(), self.texts);
        self.core.handle_input(
            self.now,
            Input::Receive {
                peer,
                data: text.as_bytes(),
            },
        );
        self.drain();
        self.core_time += started.elapsed().saturating_sub(self.texts - texts);
    }

    /// The messages sent to `to` since the last call, removed.
    pub fn take(&mut self, to: &str) -> Vec<String> {
        let addr = to.parse().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.out)
            .into_iter()
            .partition(|(p, _)| p.addr == addr);
        self.out = rest;
        mine.into_iter().map(|m| m.1).collect()
    }

    /// Lets `d` pass, firing every timer at its instant.
    pub fn advance(&mut self, d: Duration) {
        let (started, texts) = (Instant::now(), self.texts);
        let end = self.now + d;
        loop {
            let at = self.drain();
            if at > end {
                break;
            }
            self.now = at.max(self.now);
            self.core.handle_input(self.now, Input::Timeout);
        }
        self.now = end;
        self.core.handle_input(end, Input::Timeout);
        self.drain();
        self.core_time += started.elapsed().saturating_sub(self.texts - texts);
    }
}

pub fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in {msg}"))
}

/// A response to `req` as a softphone would send it.
pub fn answer(req: &str, status: &str, tag: &str, body: &str) -> String {
    let vias: String = req
        .lines()
        .filter(|l| l.starts_with("Via:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let ctype = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".into()
    };
    format!(
        "SIP/2.0 {status}\r\n{vias}From: {}\r\nTo: {};tag={tag}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Contact: <sip:op1@{SEAT}>\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
        header(req, "From"),
        header(req, "To"),
        header(req, "Call-ID"),
        header(req, "CSeq"),
        body.len()
    )
}

pub fn register(sim: &mut Sim) {
    let reg = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {SEAT};branch=z9hG4bKreg{cseq}\r\n\
             From: <sip:op1@127.0.0.1>;tag=r\r\nTo: <sip:op1@127.0.0.1>\r\nCall-ID: reg\r\n\
             CSeq: {cseq} REGISTER\r\nContact: <sip:op1@{SEAT}>\r\nExpires: 3600\r\n{auth}Content-Length: 0\r\n\r\n"
        )
    };
    sim.send(SEAT, &reg(1, ""));
    let challenge = sim.take(SEAT).pop().unwrap();
    let www = header(&challenge, "WWW-Authenticate");
    let nonce = www
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let a = DigestAuth {
        username: "op1",
        realm: "siaga112",
        nonce: &nonce,
        uri: "sip:127.0.0.1",
        response: "",
        algorithm: siaga112::config::DigestAlgorithm::Md5,
        qop_auth: Some(("00000001", "c")),
    };
    let resp = expected_response(&a, "secret1", "REGISTER");
    let auth = format!(
        "Authorization: Digest username=\"op1\", realm=\"siaga112\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", \
         response=\"{resp}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c\"\r\n"
    );
    sim.send(SEAT, &reg(2, &auth));
    assert!(sim.take(SEAT).pop().unwrap().starts_with("SIP/2.0 200"));
}

/// A typical trunk INVITE (the parse baseline of the benches).
pub fn trunk_invite() -> String {
    format!(
        "INVITE sip:112@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKinv1\r\n\
         From: <sip:+62811@{TRUNK}>;tag=t1\r\nTo: <sip:112@127.0.0.1>\r\nCall-ID: call1\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:trunk@{TRUNK}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
}

pub const SDP: &str = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n";

/// Sets a call up to talking; returns the To the trunk must use and the
/// seat's INVITE as received.
pub fn talking(sim: &mut Sim, n: u32) -> (String, String) {
    let invite = format!(
        "INVITE sip:112@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKinv{n}\r\n\
         From: <sip:+6281{n}@{TRUNK}>;tag=t{n}\r\nTo: <sip:112@127.0.0.1>\r\nCall-ID: call{n}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:trunk@{TRUNK}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    );
    sim.send(TRUNK, &invite);
    let seat_invite = sim
        .take(SEAT)
        .into_iter()
        .find(|m| m.starts_with("INVITE "))
        .unwrap_or_else(|| panic!("the seat is rung (call {n}): {:?}", sim.out));
    assert!(seat_invite.contains("purpose=siaga112-case"));
    sim.send(
        SEAT,
        &answer(&seat_invite, "180 Ringing", &format!("s{n}"), ""),
    );
    sim.send(SEAT, &answer(&seat_invite, "200 OK", &format!("s{n}"), SDP));
    assert!(
        sim.take(SEAT).iter().any(|m| m.starts_with("ACK ")),
        "the seat's 200 is ACKed"
    );
    let to_trunk = sim.take(TRUNK);
    let ok = to_trunk
        .iter()
        .find(|m| m.starts_with("SIP/2.0 200"))
        .expect("200 to the trunk");
    let to = header(ok, "To").to_string();
    let ack = format!(
        "ACK sip:siaga112@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKack{n}\r\n\
         From: <sip:+6281{n}@{TRUNK}>;tag=t{n}\r\nTo: {to}\r\nCall-ID: call{n}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    sim.send(TRUNK, &ack);
    (to, seat_invite)
}

pub fn one_call(sim: &mut Sim, n: u32) {
    let (to, _) = talking(sim, n);
    let ack = format!(
        "ACK sip:siaga112@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKack{n}\r\n\
         From: <sip:+6281{n}@{TRUNK}>;tag=t{n}\r\nTo: {to}\r\nCall-ID: call{n}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    sim.advance(Duration::from_millis(300));
    let bye = ack
        .replace("ACK ", "BYE ")
        .replace("CSeq: 1 ACK", "CSeq: 2 BYE")
        .replace(&format!("ack{n}"), &format!("bye{n}"));
    sim.send(TRUNK, &bye);
    assert!(
        sim.take(TRUNK).iter().any(|m| m.starts_with("SIP/2.0 200")),
        "the trunk's BYE is answered"
    );
    let seat_bye = sim
        .take(SEAT)
        .into_iter()
        .find(|m| m.starts_with("BYE "))
        .expect("the seat gets a BYE");
    sim.send(SEAT, &answer(&seat_bye, "200 OK", &format!("s{n}"), ""));
    sim.take(SEAT);
    sim.take(TRUNK);
}

/// The `nonce` of a challenge header value.
pub fn nonce_in(challenge: &str) -> String {
    challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a nonce")
        .to_string()
}

/// A digest credentials header line (`Authorization` or
/// `Proxy-Authorization`) answering `nonce` for `method` on `uri`.
pub fn credentials(
    name: &str,
    user: &str,
    password: &str,
    nonce: &str,
    method: &str,
    uri: &str,
) -> String {
    // A fresh cnonce per use, as a client makes: the same nonce, nc and
    // cnonce twice is a replay, refused.
    static USES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let cnonce = format!(
        "c{}",
        USES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let a = DigestAuth {
        username: user,
        realm: "siaga112",
        nonce,
        uri,
        response: "",
        algorithm: siaga112::config::DigestAlgorithm::Md5,
        qop_auth: Some(("00000001", &cnonce)),
    };
    let resp = expected_response(&a, password, method);
    format!(
        "{name}: Digest username=\"{user}\", realm=\"siaga112\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{resp}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"{cnonce}\"\r\n"
    )
}

/// Registers `user` from `from` with `contact` and extra header lines
/// (`Path: ...`); returns the final answer.
pub fn register_as(
    sim: &mut Sim,
    user: &str,
    password: &str,
    from: &str,
    contact: &str,
    extra: &str,
) -> String {
    let reg = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKreg{user}{cseq}\r\n\
             From: <sip:{user}@127.0.0.1>;tag=r\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: reg-{user}\r\n\
             CSeq: {cseq} REGISTER\r\nContact: <{contact}>\r\nExpires: 3600\r\n{extra}{auth}Content-Length: 0\r\n\r\n"
        )
    };
    sim.send(from, &reg(1, ""));
    let challenge = sim.take(from).pop().expect("a 401");
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let nonce = nonce_in(header(&challenge, "WWW-Authenticate"));
    let auth = credentials(
        "Authorization",
        user,
        password,
        &nonce,
        "REGISTER",
        "sip:127.0.0.1",
    );
    sim.send(from, &reg(2, &auth));
    sim.take(from).pop().expect("an answer")
}

/// Answers every OPTIONS sent to `to` with 200, as a softphone would.
pub fn answer_options(sim: &mut Sim, to: &str) {
    for m in sim.take(to) {
        if m.starts_with("OPTIONS ") {
            sim.send(to, &answer(&m, "200 OK", "ka", ""));
        }
    }
}
