//! Simulated peers around the pure core, in the style of str0m's tests: a
//! trunk that places calls, softphones that register and answer (or ring
//! out, turn calls down, or are gone), all on one simulated clock. Every
//! message the core sends is delivered to the peer it is addressed to,
//! which answers as a real one would; nothing touches a socket.
#![allow(dead_code)]

use siaga112::caselog::{Kind, Record};
use siaga112::config::Config;
use siaga112::core::{Core, Input, Output};
use siaga112::operator::{Actor, Command, CommandError, Done, Event};
use siaga112::sip::digest::{expected_response, DigestAuth};
use siaga112::sip::Peer;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SDP: &str = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n";
pub const TRUNK: &str = "127.0.0.1:5080";

/// The header value of a message's text (first of that name, compact
/// forms not needed: the core writes full names).
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn must<'a>(msg: &'a str, name: &str) -> &'a str {
    header(msg, name).unwrap_or_else(|| panic!("no {name} in {msg}"))
}

pub fn status(msg: &str) -> Option<u16> {
    msg.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

pub fn method(msg: &str) -> Option<&str> {
    if msg.starts_with("SIP/2.0") {
        return None;
    }
    msg.split(' ').next()
}

fn tag(v: &str) -> Option<&str> {
    v.split(";tag=")
        .nth(1)
        .map(|t| t.split(';').next().unwrap_or(t))
}

fn cseq_method(msg: &str) -> &str {
    must(msg, "CSeq").split_whitespace().nth(1).unwrap_or("")
}

/// A response to `req` as a UA writes it.
pub fn respond(req: &str, code: &str, to_tag: Option<&str>, contact: &str, body: &str) -> String {
    let vias: String = req
        .lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("Via:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let rr: String = req
        .lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("Record-Route:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let to = must(req, "To");
    let to = match to_tag {
        Some(t) if tag(to).is_none() => format!("{to};tag={t}"),
        _ => to.to_string(),
    };
    let ctype = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".into()
    };
    format!(
        "SIP/2.0 {code}\r\n{vias}{rr}From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <{contact}>\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
        must(req, "From"),
        must(req, "Call-ID"),
        must(req, "CSeq"),
        body.len()
    )
}

/// How a softphone treats an INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 180, then 200 after this long.
    After(Duration),
    /// 180 and nothing more (the operator is away).
    Never,
    /// 486 Busy Here at once.
    Busy,
    /// No answer at all, to anything (the phone is gone).
    Dead,
}

/// A call as a softphone sees it.
#[derive(Debug, Clone)]
pub struct PhoneCall {
    pub invite: String,
    pub tag: String,
    pub answered: bool,
    pub acked: bool,
    pub ended: bool,
    pub cancelled: bool,
    /// The engine's side of the dialog once answered: (its From, our To).
    pub cseq: u32,
}

#[derive(Debug)]
pub struct Phone {
    pub user: String,
    pub password: String,
    pub addr: SocketAddr,
    pub answer: Answer,
    /// By Call-ID.
    pub calls: BTreeMap<String, PhoneCall>,
    /// Everything received, in order.
    pub inbox: Vec<String>,
    seq: u32,
}

impl Phone {
    pub fn contact(&self) -> String {
        format!("sip:{}@{}", self.user, self.addr)
    }

    /// The calls that rang here, oldest first.
    pub fn rung(&self) -> Vec<&PhoneCall> {
        let mut v: Vec<_> = self.calls.values().collect();
        v.sort_by_key(|c| c.tag.clone());
        v
    }

    pub fn answered(&self) -> usize {
        self.calls.values().filter(|c| c.answered).count()
    }
}

/// A call as the trunk sees it.
#[derive(Debug, Clone, Default)]
pub struct TrunkCall {
    pub call_id: String,
    pub branch: String,
    pub target: String,
    pub invite: String,
    /// The engine's To (with its tag) once it answered anything.
    pub to: Option<String>,
    pub statuses: Vec<u16>,
    pub answered: bool,
    pub ended: bool,
    pub cseq: u32,
    pub route: Vec<String>,
    /// Our From, tag included.
    pub from: String,
}

/// A timed action of a peer.
#[derive(Debug, Clone)]
enum Later {
    PhoneAnswers { phone: usize, call_id: String },
}

/// The core and its peers on one clock.
pub struct Net {
    pub core: Core,
    pub now: Instant,
    pub phones: Vec<Phone>,
    pub trunk: BTreeMap<u32, TrunkCall>,
    /// Messages the trunk received, in order.
    pub trunk_inbox: Vec<String>,
    pub records: Vec<Arc<Record>>,
    pub events: Vec<Event>,
    pub replies: Vec<(u64, Result<Done, CommandError>)>,
    /// Messages to addresses nobody simulates (the overflow centre...).
    pub elsewhere: Vec<(SocketAddr, String)>,
    later: BTreeMap<(Instant, u64), Later>,
    seq: u64,
    next_deadline: Instant,
    queue: VecDeque<(Peer, String)>,
}

impl Net {
    pub fn new(config: &str) -> Net {
        let cfg = Arc::new(Config::parse(config).unwrap());
        let now = Instant::now();
        let mut n = Net {
            core: Core::new(cfg, now, 1_795_392_000_000, 1, 7),
            now,
            phones: Vec::new(),
            trunk: BTreeMap::new(),
            trunk_inbox: Vec::new(),
            records: Vec::new(),
            events: Vec::new(),
            replies: Vec::new(),
            elsewhere: Vec::new(),
            later: BTreeMap::new(),
            seq: 0,
            next_deadline: now,
            queue: VecDeque::new(),
        };
        n.pump();
        n
    }

    /// Adds a softphone for `user` at 127.0.0.1:`port`.
    pub fn phone(&mut self, user: &str, password: &str, port: u16, answer: Answer) -> usize {
        self.phones.push(Phone {
            user: user.into(),
            password: password.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            answer,
            calls: BTreeMap::new(),
            inbox: Vec::new(),
            seq: 0,
        });
        self.phones.len() - 1
    }

    /// Feeds a message from `from` into the core and delivers everything
    /// that follows until the network is quiet.
    pub fn send(&mut self, from: SocketAddr, text: &str) {
        self.core.handle_input(
            self.now,
            Input::Receive {
                peer: Peer::udp(from),
                data: text.as_bytes(),
            },
        );
        self.pump();
    }

    pub fn command(&mut self, id: u64, by: Actor, command: Command) -> Result<Done, CommandError> {
        self.core
            .handle_input(self.now, Input::Command { id, by, command });
        self.pump();
        self.replies
            .iter()
            .rev()
            .find(|r| r.0 == id)
            .map(|r| r.1.clone())
            .expect("a reply")
    }

    /// Drains the core and delivers every message, until nothing moves.
    fn pump(&mut self) {
        loop {
            loop {
                match self.core.poll_output() {
                    Output::Transmit { peer, data } => self
                        .queue
                        .push_back((peer, String::from_utf8_lossy(&data).into_owned())),
                    Output::Record(r) => self.records.push(r),
                    Output::Event(e) => self.events.push(e),
                    Output::Media(_) => {}
                    Output::Reply { id, result } => self.replies.push((id, result)),
                    Output::Timeout(at) => {
                        self.next_deadline = at;
                        break;
                    }
                }
            }
            let Some((peer, msg)) = self.queue.pop_front() else {
                return;
            };
            self.deliver(peer.addr, msg);
        }
    }

    /// Lets `d` pass: core timers and the peers' timed actions, in order.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let peer_next = self.later.keys().next().map(|k| k.0);
            let next = match peer_next {
                Some(p) if p < self.next_deadline => p,
                _ => self.next_deadline,
            };
            if next > end {
                break;
            }
            self.now = next.max(self.now);
            if peer_next.is_some_and(|p| p <= self.now) {
                let (k, action) = self.later.pop_first().unwrap();
                let _ = k;
                self.act(action);
            } else {
                self.core.handle_input(self.now, Input::Timeout);
                self.pump();
            }
        }
        self.now = end;
        self.core.handle_input(end, Input::Timeout);
        self.pump();
    }

    fn schedule(&mut self, at: Instant, action: Later) {
        self.seq += 1;
        self.later.insert((at, self.seq), action);
    }

    fn act(&mut self, action: Later) {
        match action {
            Later::PhoneAnswers { phone, call_id } => {
                let p = &mut self.phones[phone];
                let (contact, from) = (p.contact(), p.addr);
                let Some(c) = p.calls.get_mut(&call_id) else {
                    return;
                };
                if c.cancelled || c.ended || c.answered {
                    return;
                }
                c.answered = true;
                let ok = respond(&c.invite, "200 OK", Some(&c.tag), &contact, SDP);
                self.send(from, &ok);
            }
        }
    }

    fn deliver(&mut self, to: SocketAddr, msg: String) {
        if to == TRUNK.parse::<SocketAddr>().unwrap() {
            return self.trunk_receives(msg);
        }
        match self.phones.iter().position(|p| p.addr == to) {
            Some(i) => self.phone_receives(i, msg),
            None => self.elsewhere.push((to, msg)),
        }
    }

    // ---------------------------------------------------------------- phones

    /// Registers phone `i` (digest round included); returns the final status.
    pub fn register(&mut self, i: usize, expires: u32) -> u16 {
        let (user, pw, addr) = {
            let p = &self.phones[i];
            (p.user.clone(), p.password.clone(), p.addr)
        };
        let contact = self.phones[i].contact();
        let reg = |seq: u32, auth: &str| {
            format!(
                "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKr{user}{seq}\r\n\
                 From: <sip:{user}@127.0.0.1>;tag=r{user}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: reg-{user}\r\n\
                 CSeq: {seq} REGISTER\r\nContact: <{contact}>\r\nExpires: {expires}\r\n{auth}Content-Length: 0\r\n\r\n"
            )
        };
        self.phones[i].seq += 1;
        let seq = self.phones[i].seq;
        self.send(addr, &reg(seq, ""));
        let challenge = self.phones[i].inbox.pop().expect("an answer");
        let nonce = nonce(must(&challenge, "WWW-Authenticate"));
        let auth = credentials(
            "Authorization",
            &user,
            &pw,
            &nonce,
            "REGISTER",
            "sip:127.0.0.1",
        );
        self.phones[i].seq += 1;
        let seq = self.phones[i].seq;
        self.send(addr, &reg(seq, &auth));
        status(self.phones[i].inbox.last().expect("an answer")).unwrap_or(0)
    }

    /// Phone `i` dials `target` (a feature code, 112...) with its
    /// credentials; returns the final status of the authenticated INVITE.
    pub fn dial(&mut self, i: usize, target: &str, password: Option<&str>) -> u16 {
        let (user, addr) = (self.phones[i].user.clone(), self.phones[i].addr);
        let pw = password.map_or(self.phones[i].password.clone(), str::to_string);
        self.phones[i].seq += 1;
        let n = self.phones[i].seq;
        let call_id = format!("dial-{user}-{n}");
        let inv = |cseq: u32, auth: &str| {
            format!(
                "INVITE sip:{target}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKd{n}x{cseq}\r\n\
                 From: <sip:{user}@127.0.0.1>;tag=d{n}\r\nTo: <sip:{target}@127.0.0.1>\r\nCall-ID: {call_id}\r\n\
                 CSeq: {cseq} INVITE\r\nContact: <sip:{user}@{addr}>\r\n{auth}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
                SDP.len()
            )
        };
        self.send(addr, &inv(1, ""));
        let challenge = self.phones[i].inbox.pop().expect("an answer");
        if status(&challenge) != Some(407) {
            return status(&challenge).unwrap_or(0);
        }
        self.ack_failure(addr, &inv(1, ""), &challenge);
        let nonce = nonce(must(&challenge, "Proxy-Authenticate"));
        let uri = format!("sip:{target}@127.0.0.1");
        let auth = credentials("Proxy-Authorization", &user, &pw, &nonce, "INVITE", &uri);
        let invite = inv(2, &auth);
        self.send(addr, &invite);
        let last = self.phones[i]
            .inbox
            .iter()
            .rev()
            .find(|m| status(m).is_some_and(|s| s >= 200) && must(m, "Call-ID") == call_id)
            .cloned();
        let Some(fin) = last else { return 0 };
        let code = status(&fin).unwrap_or(0);
        if code == 200 {
            let ack = format!(
                "ACK sip:siaga112@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKda{n}\r\n\
                 From: <sip:{user}@127.0.0.1>;tag=d{n}\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: 2 ACK\r\nContent-Length: 0\r\n\r\n",
                must(&fin, "To")
            );
            self.send(addr, &ack);
        } else if code >= 300 {
            self.ack_failure(addr, &invite, &fin);
        }
        code
    }

    /// The ACK of a failure response (same branch as its INVITE).
    fn ack_failure(&mut self, from: SocketAddr, invite: &str, resp: &str) {
        let via = must(invite, "Via");
        let ack = format!(
            "ACK {} SIP/2.0\r\nVia: {via}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
            invite.split(' ').nth(1).unwrap_or(""),
            must(invite, "From"),
            must(resp, "To"),
            must(invite, "Call-ID"),
            must(invite, "CSeq").split_whitespace().next().unwrap_or("1"),
        );
        self.send(from, &ack);
    }

    /// Phone `i` hangs up its answered call.
    pub fn phone_hangs_up(&mut self, i: usize) {
        let p = &mut self.phones[i];
        let Some(c) = p.calls.values_mut().find(|c| c.answered && !c.ended) else {
            panic!("{} has no call to hang up", p.user);
        };
        c.ended = true;
        c.cseq += 1;
        let inv = &c.invite;
        let bye = format!(
            "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKpb{}{}\r\nFrom: {};tag={}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} BYE\r\nContent-Length: 0\r\n\r\n",
            header(inv, "Contact").map(|c| c.trim_matches(['<', '>'])).unwrap_or(""),
            p.addr,
            c.tag,
            c.cseq,
            must(inv, "To"),
            c.tag,
            must(inv, "From"),
            must(inv, "Call-ID"),
            c.cseq,
        );
        let from = p.addr;
        self.send(from, &bye);
    }

    fn phone_receives(&mut self, i: usize, msg: String) {
        self.phones[i].inbox.push(msg.clone());
        let p = &self.phones[i];
        if p.answer == Answer::Dead {
            return;
        }
        let from = p.addr;
        let contact = p.contact();
        let Some(m) = method(&msg) else { return };
        let call_id = must(&msg, "Call-ID").to_string();
        let in_dialog = header(&msg, "To").and_then(tag).is_some();
        match m {
            "INVITE" if !in_dialog => {
                let n = self.phones[i].calls.len();
                let t = format!("{}t{n}", self.phones[i].user);
                self.phones[i].calls.insert(
                    call_id.clone(),
                    PhoneCall {
                        invite: msg.clone(),
                        tag: t.clone(),
                        answered: false,
                        acked: false,
                        ended: false,
                        cancelled: false,
                        cseq: 0,
                    },
                );
                match self.phones[i].answer {
                    Answer::Busy => {
                        let r = respond(&msg, "486 Busy Here", Some(&t), &contact, "");
                        self.send(from, &r);
                    }
                    a => {
                        let r = respond(&msg, "180 Ringing", Some(&t), &contact, "");
                        self.send(from, &r);
                        if let Answer::After(d) = a {
                            let at = self.now + d;
                            self.schedule(at, Later::PhoneAnswers { phone: i, call_id });
                        }
                    }
                }
            }
            "INVITE" => {
                let t = self.phones[i].calls.get(&call_id).map(|c| c.tag.clone());
                let r = respond(&msg, "200 OK", t.as_deref(), &contact, SDP);
                self.send(from, &r);
            }
            "ACK" => {
                if let Some(c) = self.phones[i].calls.get_mut(&call_id) {
                    c.acked = true;
                }
            }
            "BYE" => {
                if let Some(c) = self.phones[i].calls.get_mut(&call_id) {
                    c.ended = true;
                }
                let r = respond(&msg, "200 OK", None, &contact, "");
                self.send(from, &r);
            }
            "CANCEL" => {
                let r = respond(&msg, "200 OK", None, &contact, "");
                self.send(from, &r);
                let c = self.phones[i].calls.get_mut(&call_id).cloned();
                if let Some(mut c) = c {
                    if !c.answered {
                        c.cancelled = true;
                        let r = respond(
                            &c.invite,
                            "487 Request Terminated",
                            Some(&c.tag),
                            &contact,
                            "",
                        );
                        self.phones[i].calls.insert(call_id, c);
                        self.send(from, &r);
                    }
                }
            }
            _ => {
                // OPTIONS, INFO, UPDATE...: 200.
                let r = respond(&msg, "200 OK", None, &contact, "");
                self.send(from, &r);
            }
        }
    }

    // ---------------------------------------------------------------- trunk

    /// The trunk places call `n` to `target`.
    pub fn call(&mut self, n: u32, target: &str) {
        self.call_with(n, target, "")
    }

    /// [`Net::call`] with extra header lines.
    pub fn call_with(&mut self, n: u32, target: &str, extra: &str) {
        self.place(n, target, &format!("+6281{n}"), extra)
    }

    /// [`Net::call`] from the caller number `caller`.
    pub fn call_as(&mut self, n: u32, target: &str, caller: &str) {
        self.place(n, target, caller, "")
    }

    fn place(&mut self, n: u32, target: &str, caller: &str, extra: &str) {
        self.place_body(n, target, caller, extra, "application/sdp", SDP)
    }

    /// [`Net::call_with`] with a body of its own.
    pub fn call_body(&mut self, n: u32, target: &str, extra: &str, content_type: &str, body: &str) {
        self.place_body(n, target, &format!("+6281{n}"), extra, content_type, body)
    }

    fn place_body(
        &mut self,
        n: u32,
        target: &str,
        caller: &str,
        extra: &str,
        content_type: &str,
        body: &str,
    ) {
        let branch = format!("z9hG4bKtr{n}");
        let invite = format!(
            "INVITE sip:{target}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch={branch}\r\n\
             From: <sip:{caller}@{TRUNK}>;tag=tt{n}\r\nTo: <sip:{target}@127.0.0.1>\r\nCall-ID: tcall{n}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:trunk@{TRUNK}>\r\n{extra}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.trunk.insert(
            n,
            TrunkCall {
                call_id: format!("tcall{n}"),
                branch,
                target: target.into(),
                invite: invite.clone(),
                cseq: 1,
                from: format!("<sip:{caller}@{TRUNK}>;tag=tt{n}"),
                ..TrunkCall::default()
            },
        );
        self.send(TRUNK.parse().unwrap(), &invite);
    }

    fn trunk_call_of(&mut self, call_id: &str) -> Option<(u32, &mut TrunkCall)> {
        self.trunk
            .iter_mut()
            .find(|(_, c)| c.call_id == call_id)
            .map(|(n, c)| (*n, c))
    }

    fn trunk_receives(&mut self, msg: String) {
        self.trunk_inbox.push(msg.clone());
        let from: SocketAddr = TRUNK.parse().unwrap();
        let call_id = must(&msg, "Call-ID").to_string();
        if let Some(code) = status(&msg) {
            let is_invite = cseq_method(&msg) == "INVITE";
            let Some((n, c)) = self.trunk_call_of(&call_id) else {
                return;
            };
            if !is_invite {
                return;
            }
            c.statuses.push(code);
            if code > 100 && c.to.is_none() {
                c.to = header(&msg, "To").map(str::to_string);
            }
            let num = must(&msg, "CSeq")
                .split_whitespace()
                .next()
                .unwrap_or("1")
                .to_string();
            if (200..300).contains(&code) {
                c.to = header(&msg, "To").map(str::to_string);
                c.route = msg
                    .lines()
                    .take_while(|l| !l.is_empty())
                    .filter_map(|l| l.strip_prefix("Record-Route: "))
                    .map(str::to_string)
                    .collect();
                if num == "1" {
                    c.answered = true;
                }
                let ack = format!(
                    "ACK sip:siaga112@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKta{n}x{num}\r\n\
                     From: {}\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: {num} ACK\r\nContent-Length: 0\r\n\r\n",
                    c.from,
                    must(&msg, "To")
                );
                self.send(from, &ack);
            } else if code >= 300 {
                if num == "1" {
                    c.ended = true;
                }
                let ack = format!(
                    "ACK sip:{}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch={}\r\n\
                     From: {}\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: {num} ACK\r\nContent-Length: 0\r\n\r\n",
                    c.target.clone(),
                    c.branch.clone(),
                    c.from.clone(),
                    must(&msg, "To")
                );
                self.send(from, &ack);
            }
            return;
        }
        match method(&msg) {
            Some("BYE") => {
                if let Some((_, c)) = self.trunk_call_of(&call_id) {
                    c.ended = true;
                }
                let r = respond(&msg, "200 OK", None, &format!("sip:trunk@{TRUNK}"), "");
                self.send(from, &r);
            }
            Some("ACK") => {}
            Some(_) => {
                let r = respond(&msg, "200 OK", None, &format!("sip:trunk@{TRUNK}"), SDP);
                self.send(from, &r);
            }
            None => {}
        }
    }

    /// The caller hangs up call `n`: BYE once answered, CANCEL before.
    pub fn trunk_hangs_up(&mut self, n: u32) {
        let c = self.trunk.get_mut(&n).expect("a trunk call");
        c.ended = true;
        if !c.answered {
            let cancel = format!(
                "CANCEL sip:{}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch={}\r\n\
                 From: {}\r\nTo: <sip:{}@127.0.0.1>\r\nCall-ID: {}\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
                c.target, c.branch, c.from, c.target, c.call_id
            );
            return self.send(TRUNK.parse().unwrap(), &cancel);
        }
        c.cseq += 1;
        let bye = format!(
            "BYE sip:siaga112@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKtb{n}x{}\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} BYE\r\nContent-Length: 0\r\n\r\n",
            c.cseq,
            c.from,
            c.to.clone().unwrap_or_default(),
            c.call_id,
            c.cseq
        );
        self.send(TRUNK.parse().unwrap(), &bye);
    }

    /// The trunk sends a re-INVITE (hold) on answered call `n`.
    pub fn trunk_reinvites(&mut self, n: u32) {
        let c = self.trunk.get_mut(&n).expect("a trunk call");
        c.cseq += 1;
        let re = format!(
            "INVITE sip:siaga112@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKtre{n}x{}\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} INVITE\r\n\
             Contact: <sip:trunk@{TRUNK}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
            c.cseq,
            c.from,
            c.to.clone().unwrap_or_default(),
            c.call_id,
            c.cseq,
            SDP.len()
        );
        self.send(TRUNK.parse().unwrap(), &re);
    }

    // ---------------------------------------------------------------- reading

    /// The case records, as (case, record kind) of every case, in order.
    pub fn case_kinds(&self) -> Vec<(String, &'static str)> {
        self.records
            .iter()
            .filter_map(|r| Some((r.case.as_ref()?.as_str().to_string(), kind_name(&r.kind))))
            .collect()
    }

    /// The kinds of the records of the case of trunk call `n` (cases are
    /// numbered in arrival order: call `n` is the n-th case opened).
    pub fn kinds_of(&self, case: &str) -> Vec<&'static str> {
        self.case_kinds()
            .into_iter()
            .filter(|(c, _)| c == case)
            .map(|(_, k)| k)
            .collect()
    }

    /// The `ended` record of a case.
    pub fn ended(&self, case: &str) -> Option<&Kind> {
        self.records
            .iter()
            .filter(|r| r.case.as_ref().is_some_and(|c| c.as_str() == case))
            .map(|r| &r.kind)
            .find(|k| matches!(k, Kind::Ended { .. }))
    }

    /// The seat records of a seat: (state, reason).
    pub fn seat_records(&self, seat: &str) -> Vec<(String, Option<String>)> {
        self.records
            .iter()
            .filter_map(|r| match &r.kind {
                Kind::Seat {
                    seat: s,
                    state,
                    reason,
                } if s == seat => Some((state.clone(), reason.clone())),
                _ => None,
            })
            .collect()
    }
}

pub fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::Boot { .. } => "boot",
        Kind::Opened { .. } => "opened",
        Kind::Queued { .. } => "queued",
        Kind::Offered { .. } => "offered",
        Kind::Answered { .. } => "answered",
        Kind::Overflowed { .. } => "overflowed",
        Kind::Ended { .. } => "ended",
        Kind::Outcome { .. } => "outcome",
        Kind::Classified { .. } => "classified",
        Kind::Note { .. } => "note",
        Kind::Located { .. } => "located",
        Kind::CallInfo(_) => "call_info",
        Kind::Text { .. } => "text",
        Kind::Lost { .. } => "lost",
        Kind::Ready { .. } => "ready",
        Kind::Ticket { .. } => "ticket",
        Kind::Closed {} => "closed",
        Kind::Callback { .. } => "callback",
        Kind::Seat { .. } => "seat",
        Kind::Suggested { .. } => "suggested",
        Kind::Digit { .. } => "digit",
        Kind::Media { .. } => "media",
        Kind::Recorded { .. } => "recorded",
        Kind::RecordingFailed { .. } => "recording-failed",
        Kind::Unknown => "unknown",
    }
}

pub fn nonce(challenge: &str) -> String {
    challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a nonce")
        .to_string()
}

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
