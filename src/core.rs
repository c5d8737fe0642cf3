//! The sans-I/O core: every datagram and timer tick goes in here, and
//! messages to send, case records to write and the next deadline come out.
//! It routes each message to the transaction layer, the registrar or the
//! B2BUA; it never touches a socket or reads the clock.

use crate::call::{B2bua, Origin};
use crate::caselog::Record;
use crate::config::Config;
use crate::registrar::{Challenge, Registrar, SeatEvent};
use crate::sip::rsip::{Method, Request, SipMessage};
use crate::sip::{self, scan, Echo, Peer, Rejection, ResponseWriter};
use crate::transaction::{ClientMatch, ServerMatch, TimerConfig, Transactions, TxEvent, TxKey};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the core wants the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Transmit {
        peer: Peer,
        data: Bytes,
    },
    /// A case-log event to append (never waited on).
    Record(Record),
    /// Nothing more now: call `handle_timeout` at this instant.
    Timeout(Instant),
}

/// Counters the shell prints at shutdown.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub received: u64,
    pub sent: u64,
    pub rejected: u64,
    pub dropped: u64,
    pub retransmissions_absorbed: u64,
}

/// At most one log line a second per kind of trouble, with a count of the rest.
#[derive(Debug, Default)]
pub struct LogLimiter {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// `Some(suppressed)` when a line may be written now.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < Duration::from_secs(1) => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// The engine's protocol core.
pub struct Core {
    cfg: Arc<Config>,
    txs: Transactions,
    registrar: Registrar,
    b2bua: B2bua,
    out: VecDeque<Output>,
    now: Instant,
    rng: u64,
    drop_log: LogLimiter,
    /// One line a second for requests refused for who sent them (403) or
    /// what they asked for (404).
    deny_log: LogLimiter,
    pub counters: Counters,
}

impl Core {
    /// A core started at `now`, which is `wall_ms` on the wall clock (unix
    /// milliseconds, for case records); `boot` numbers this run's case ids;
    /// `seed` feeds tags, branches and nonce keys.
    pub fn new(cfg: Arc<Config>, now: Instant, wall_ms: u64, boot: u32, seed: u64) -> Core {
        let secret = (u128::from(seed) << 64) | u128::from(seed.rotate_left(17) ^ 0x5eed);
        Core {
            txs: Transactions::new(TimerConfig {
                t1: cfg.sip.t1,
                t2: cfg.sip.t2,
                t4: cfg.sip.t4,
            }),
            registrar: Registrar::new(&cfg, now, secret),
            b2bua: B2bua::new(cfg.clone(), now, wall_ms, boot, seed.rotate_left(29)),
            cfg,
            out: VecDeque::new(),
            now,
            rng: seed | 1,
            drop_log: LogLimiter::default(),
            deny_log: LogLimiter::default(),
            counters: Counters::default(),
        }
    }

    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    pub fn transactions(&self) -> &Transactions {
        &self.txs
    }

    pub fn b2bua(&self) -> &B2bua {
        &self.b2bua
    }

    /// Logs what is left to say before the engine stops (the summary of
    /// cases ended since the last one).
    pub fn finish(&mut self, now: Instant) {
        self.b2bua.log_summary(now);
    }

    /// Feeds the case log's past records in (caller prank history).
    pub fn load_history<'a>(&mut self, records: impl IntoIterator<Item = &'a Record>) {
        self.b2bua.load_history(records);
    }

    /// How many trunk INVITEs of the last input were offered to a seat in
    /// it (for the shell's INVITE-to-seat-INVITE histogram): 0 or 1.
    pub fn take_offered_at_once(&mut self) -> usize {
        self.b2bua.take_offered_at_once()
    }

    /// Rings the seats the ACD matched: after every input, so no match waits.
    fn settle(&mut self, now: Instant) {
        while let Some(user) = self.b2bua.poll_probe_answer() {
            self.registrar.probe_answered(&user);
        }
        self.b2bua
            .carry_out_offers(now, &mut self.txs, &self.registrar);
    }

    /// A random token for tags and branches (xorshift; not for secrets).
    fn token(&mut self) -> String {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        format!("{x:016x}")
    }

    // ------------------------------------------------------------ inputs

    /// A datagram, or one framed TCP message, from `peer`.
    pub fn handle_receive(&mut self, now: Instant, peer: Peer, data: &[u8]) {
        self.now = now;
        self.counters.received += 1;
        if self.known_by_status(now, peer, data) {
            return self.settle(now);
        }
        match sip::parse(data, peer.transport, self.cfg.sip.max_message_bytes) {
            Ok(SipMessage::Request(req)) => self.on_request(now, peer, req),
            Ok(SipMessage::Response(resp)) => match self.txs.on_response(now, &resp) {
                ClientMatch::Deliver(key) => {
                    self.b2bua.on_response(now, &mut self.txs, &key, &resp)
                }
                ClientMatch::Stray => self.b2bua.on_stray(now, &resp),
                ClientMatch::Absorbed => self.counters.retransmissions_absorbed += 1,
            },
            Err(rej) => self.reject(now, peer, data, rej),
        }
        self.settle(now);
    }

    /// A response that needs no more than its status, Via branch and CSeq
    /// method (see [`B2bua::needs_whole_response`]: a seat's 180, the 200 to
    /// our BYE, two of a call's six messages) is handled from a scan of
    /// those, without the full parse. False: take the full path.
    fn known_by_status(&mut self, now: Instant, peer: Peer, data: &[u8]) -> bool {
        let max = self.cfg.sip.max_message_bytes;
        let Some(head) = sip::response_head(data, peer.transport, max) else {
            return false;
        };
        let key = crate::transaction::client_key(head.branch, head.method);
        if head.status >= 200
            && (head.method == "INVITE" || self.b2bua.needs_whole_response(&key, head.status))
        {
            return false;
        }
        match self.txs.on_response_parts(now, &key, head.status, "") {
            ClientMatch::Deliver(key) => self.b2bua.on_response_status(&key, head.status),
            ClientMatch::Stray => {}
            ClientMatch::Absorbed => self.counters.retransmissions_absorbed += 1,
        }
        true
    }

    /// A framing failure on a TCP stream: answer from the head we have.
    pub fn handle_rejected_frame(
        &mut self,
        now: Instant,
        peer: Peer,
        head: &[u8],
        status: u16,
        reason: &str,
    ) {
        self.now = now;
        self.reject(
            now,
            peer,
            head,
            Rejection::Respond {
                status,
                reason: reason.to_string(),
                extra: Vec::new(),
            },
        );
    }

    /// Timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.txs.handle_timeout(now);
        self.registrar.handle_timeout(now);
        while let Some((user, dest)) = self.registrar.poll_probe() {
            self.b2bua.probe(now, &mut self.txs, &user, dest);
        }
        self.b2bua.handle_timeout(now, &mut self.txs);
        self.settle(now);
    }

    /// A transport error towards `addr` (ICMP unreachable, TCP connect failure).
    pub fn handle_transport_error(&mut self, now: Instant, addr: std::net::SocketAddr) {
        self.now = now;
        self.txs.transport_failed(addr);
    }

    fn seat_events(&mut self) {
        while let Some(ev) = self.registrar.poll_event() {
            let (user, registered) = match ev {
                SeatEvent::Registered { user } => (user, true),
                SeatEvent::Unregistered { user } => (user, false),
                SeatEvent::Unreachable { user } => {
                    self.b2bua.seat_reachable(self.now, &user, false);
                    continue;
                }
                SeatEvent::Reachable { user } => {
                    self.b2bua.seat_reachable(self.now, &user, true);
                    continue;
                }
            };
            tracing::info!(seat = %user, "seat {}", if registered { "registered" } else { "unregistered" });
            self.b2bua.seat_registered(self.now, &user, registered);
        }
    }

    // ------------------------------------------------------------ outputs

    /// The next thing to do; `Output::Timeout` when nothing else is pending.
    pub fn poll_output(&mut self) -> Output {
        loop {
            if let Some(o) = self.out.pop_front() {
                if matches!(o, Output::Transmit { .. }) {
                    self.counters.sent += 1;
                }
                return o;
            }
            match self.txs.poll_event() {
                Some(TxEvent::Transmit { peer, data }) => {
                    self.out.push_back(Output::Transmit { peer, data });
                    continue;
                }
                Some(TxEvent::ClientTimeout(key)) => {
                    self.b2bua.on_client_timeout(self.now, &mut self.txs, &key);
                    self.settle(self.now);
                    continue;
                }
                Some(TxEvent::AckTimeout(key)) => {
                    self.b2bua.on_ack_timeout(self.now, &mut self.txs, &key);
                    self.settle(self.now);
                    continue;
                }
                None => {}
            }
            if let Some((peer, data)) = self.b2bua.poll_transmit() {
                self.out.push_back(Output::Transmit { peer, data });
                continue;
            }
            if let Some(r) = self.b2bua.poll_record() {
                return Output::Record(r);
            }
            if self.registrar.has_events() {
                self.seat_events();
                self.settle(self.now);
                continue;
            }
            if self.out.is_empty() {
                return Output::Timeout(self.next_deadline());
            }
        }
    }

    fn next_deadline(&mut self) -> Instant {
        let idle = self.now + Duration::from_secs(3600);
        [
            self.txs.poll_timeout(),
            self.registrar.poll_timeout(),
            self.b2bua.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(idle)
    }

    // ------------------------------------------------------------ requests

    fn reject(&mut self, now: Instant, peer: Peer, data: &[u8], rej: Rejection) {
        let head = scan::scan(data);
        match (rej, head) {
            (
                Rejection::Respond {
                    status,
                    reason,
                    extra,
                },
                Some(head),
            ) if !head.is_response() => {
                let mut echo = Echo::from_raw(&head);
                if !echo.answerable() {
                    return self.drop_line(now, peer, &format!("{status} {reason}, no Via"));
                }
                let stamped = echo.vias.first().and_then(|v| sip::stamp_via(v, peer.addr));
                if let Some(s) = &stamped {
                    echo.vias[0] = s;
                }
                let to = sip::response_peer(echo.vias[0], peer);
                let tag = self.token();
                let mut w = ResponseWriter::new(&echo, status, &reason, Some(&tag));
                for (n, v) in &extra {
                    w = w.header(n, v);
                }
                let data = w.header("Server", &self.cfg.sip.user_agent).finish(None);
                self.counters.rejected += 1;
                tracing::debug!(%status, %reason, from = %peer.addr, "rejected a request");
                self.out.push_back(Output::Transmit { peer: to, data });
            }
            (Rejection::Respond { status, reason, .. }, _) => {
                self.drop_line(now, peer, &format!("unanswerable: {status} {reason}"))
            }
            (Rejection::Drop(why), _) => self.drop_line(now, peer, &why),
        }
    }

    fn drop_line(&mut self, now: Instant, peer: Peer, why: &str) {
        self.counters.dropped += 1;
        if let Some(suppressed) = self.drop_log.allow(now) {
            tracing::warn!(from = %peer.addr, %why, suppressed, "dropped a malformed message");
        }
    }

    fn on_request(&mut self, now: Instant, peer: Peer, mut req: Request) {
        // RFC 3261 §18.2.1 / RFC 3581: record where it really came from.
        let mut via_value = None;
        for h in req.headers.iter_mut() {
            if let crate::sip::rsip::Header::Via(v) = h {
                if let Some(s) = sip::stamp_via(v.value(), peer.addr) {
                    v.replace(s);
                }
                via_value = Some(v.value().to_string());
                break;
            }
        }
        let Some(via_value) = via_value else { return };
        let resp_peer = sip::response_peer(&via_value, peer);
        match self.txs.on_request(now, &req, resp_peer) {
            ServerMatch::New(key) => self.dispatch(now, key, peer, &req),
            ServerMatch::Retransmission | ServerMatch::AckAbsorbed => {
                self.counters.retransmissions_absorbed += 1;
            }
            ServerMatch::AckForDialog => self.b2bua.on_dialog_ack(now, &mut self.txs, &req),
        }
    }

    fn dispatch(&mut self, now: Instant, key: TxKey, peer: Peer, req: &Request) {
        if req.method != Method::Ack && req.method != Method::Cancel {
            if let Some(req_ext) = sip::header(&req.headers, "Require") {
                let unsupported = req_ext.to_string();
                return self.respond_with(
                    now,
                    &key,
                    req,
                    420,
                    "Bad Extension",
                    &[("Unsupported", unsupported)],
                );
            }
        }
        match req.method {
            Method::Register => {
                let reply = self.registrar.handle_register(now, req, peer);
                let extra: Vec<(&str, String)> = reply.headers;
                self.respond_with(now, &key, req, reply.status, reply.reason, &extra);
            }
            Method::Options => {
                let extra = [
                    ("Allow", sip::ALLOW.to_string()),
                    ("Accept", "application/sdp".to_string()),
                ];
                self.respond_with(now, &key, req, 200, "OK", &extra);
            }
            Method::Cancel => self.b2bua.on_cancel(now, &mut self.txs, key, req),
            _ if sip::header(&req.headers, "To")
                .and_then(sip::tag_of)
                .is_some() =>
            {
                if !self
                    .b2bua
                    .on_in_dialog(now, &mut self.txs, key.clone(), req)
                {
                    self.respond_with(now, &key, req, 481, "Call/Transaction Does Not Exist", &[]);
                }
            }
            Method::Invite => self.new_invite(now, key, peer, req),
            Method::Bye => {
                self.respond_with(now, &key, req, 481, "Call/Transaction Does Not Exist", &[]);
            }
            _ => {
                let extra = [("Allow", sip::ALLOW.to_string())];
                self.respond_with(now, &key, req, 405, "Method Not Allowed", &extra);
            }
        }
    }

    /// A new INVITE, classified by what it is, never by its source alone:
    /// - to a routed target from a trunk or edge proxy: a call. Always.
    /// - with credentials, or where a seat could be (a feature code from a
    ///   trunk's or proxy's address, or any request from an address a seat
    ///   registered from): a digest challenge (407); a seat's valid
    ///   credentials then make it that seat's feature code or call.
    /// - else 404 (a trunk or proxy dialled nothing we route) or 403
    ///   (unknown sender), with one rate-limited log line.
    fn new_invite(&mut self, now: Instant, key: TxKey, peer: Peer, req: &Request) {
        let target = sip::request_target(&req.uri);
        let route = self.b2bua.route(&target);
        let cfg = self.cfg.clone();
        let trusted = cfg.trusted_peer(peer.addr.ip()).map(|(name, _)| name);
        let route = match (route, trusted) {
            (Some(route), Some(name)) => {
                let origin = Origin::Trunk(name.to_string());
                return self.b2bua.on_call_in(
                    now,
                    &mut self.txs,
                    key,
                    peer,
                    req.clone(),
                    origin,
                    target,
                    route,
                );
            }
            (route, _) => route,
        };
        let feature = self.b2bua.is_feature_code(&target);
        let challenge = sip::header(&req.headers, "Proxy-Authorization").is_some()
            || (trusted.is_some() && feature)
            || self.registrar.registered_from(peer.addr.ip());
        if !challenge {
            let (status, reason, why) = if trusted.is_some() {
                (404, "Not Found", "no route for the dialled target")
            } else {
                (
                    403,
                    "Forbidden",
                    "INVITE from an address that is no trunk, proxy or seat",
                )
            };
            self.deny_line(now, peer, status, why, &target);
            return self.respond_with(now, &key, req, status, reason, &[]);
        }
        let user = match self.registrar.authenticate(now, req, Challenge::Proxy) {
            Ok(user) => user,
            Err(reply) => {
                if reply.status == 403 {
                    self.deny_line(now, peer, 403, "INVITE with wrong credentials", &target);
                }
                return self.respond_with(
                    now,
                    &key,
                    req,
                    reply.status,
                    reply.reason,
                    &reply.headers,
                );
            }
        };
        if feature {
            self.b2bua
                .feature_code(now, &mut self.txs, key, peer, req.clone(), &user, &target);
        } else if let Some(route) = route {
            let origin = Origin::Seat(user);
            self.b2bua.on_call_in(
                now,
                &mut self.txs,
                key,
                peer,
                req.clone(),
                origin,
                target,
                route,
            );
        } else {
            self.deny_line(now, peer, 404, "a seat dialled nothing we route", &target);
            self.respond_with(now, &key, req, 404, "Not Found", &[]);
        }
    }

    fn deny_line(&mut self, now: Instant, peer: Peer, status: u16, why: &str, target: &str) {
        self.counters.rejected += 1;
        if let Some(suppressed) = self.deny_log.allow(now) {
            tracing::warn!(from = %peer.addr, status, %why, %target, suppressed, "refused an INVITE");
        }
    }

    /// Answers a server transaction.
    fn respond_with(
        &mut self,
        now: Instant,
        key: &TxKey,
        req: &Request,
        status: u16,
        reason: &str,
        extra: &[(&str, String)],
    ) {
        let tag = self.token();
        let echo = Echo::from_request(req);
        let mut w = ResponseWriter::new(&echo, status, reason, Some(&tag));
        for (n, v) in extra {
            w = w.header(n, v);
        }
        let data = w.header("Server", &self.cfg.sip.user_agent).finish(None);
        self.txs.respond(now, key, status, data);
    }
}
