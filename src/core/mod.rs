//! The sans-I/O core: one way in, [`Core::handle_input`], and one way out,
//! [`Core::poll_output`]. Datagrams, timer ticks, transport errors and
//! people's commands go in; messages to send, case records to write,
//! events for the screens, answers to commands and the next deadline come
//! out. It routes each message to the transaction layer, the registrar or
//! the B2BUA; it never touches a socket or reads the clock.

mod guard;
mod request;

use crate::call::{B2bua, CallOutput};
use crate::caselog::Record;
use crate::config::Config;
use crate::operator::{Actor, Command, CommandError, Done, Event, QueueStatus, SeatStatus};
use crate::ratelimit::RateLimit;
use crate::registrar::{Registrar, SeatEvent};
use crate::rng::Rng;
use crate::sip::{self, Peer};
use crate::transaction::{ClientMatch, TimerConfig, Transactions, TxEvent};
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What happened, for the core.
#[derive(Debug)]
pub enum Input<'a> {
    /// A datagram, or one framed TCP message, from `peer`.
    Receive { peer: Peer, data: &'a [u8] },
    /// The framing layer refused a TCP stream's message (too large, a bad
    /// Content-Length): answer it from its head with `status`.
    Refuse {
        peer: Peer,
        head: &'a [u8],
        status: u16,
        reason: &'a str,
    },
    /// A deadline the core gave has passed.
    Timeout,
    /// Sending towards `addr` failed (ICMP unreachable, TCP connect).
    TransportError { addr: SocketAddr },
    /// A person's command (the console); answered by `Output::Reply`.
    Command {
        id: u64,
        by: Actor,
        command: Command,
    },
    /// What the media machine (or the recorder) saw.
    Media(crate::media::MediaEvent),
    /// The engine is stopping: say what is left to say.
    Stop,
}

/// What the core wants the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Transmit {
        peer: Peer,
        data: Bytes,
    },
    /// A case-log record to append (never waited on).
    Record(Arc<Record>),
    /// A change for the screens (the view folds these).
    Event(Event),
    /// For the media machine (its own thread).
    Media(crate::media::MediaCommand),
    /// The answer to `Input::Command { id, .. }`.
    Reply {
        id: u64,
        result: Result<Done, CommandError>,
    },
    /// Nothing more now: feed `Input::Timeout` at this instant.
    Timeout(Instant),
}

/// Counters of the SIP side.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub received: u64,
    pub sent: u64,
    pub rejected: u64,
    pub dropped: u64,
    pub retransmissions_absorbed: u64,
}

/// Sizes of every per-call and per-transaction table, for leak checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Calls, their five indexes, purposes, zombies, feature calls, timers.
    pub calls: [usize; 9],
    /// Server and client transactions.
    pub transactions: (usize, usize),
}

/// The engine's protocol core.
pub struct Core {
    cfg: Arc<Config>,
    txs: Transactions,
    registrar: Registrar,
    b2bua: B2bua,
    out: VecDeque<Output>,
    /// Answers to commands: given out after everything their command
    /// caused, so a screen that waits for one has seen the change.
    replies: VecDeque<Output>,
    now: Instant,
    epoch: Instant,
    rng: Rng,
    /// One line a second for malformed messages dropped.
    drop_log: RateLimit,
    /// One line a second for requests refused for who sent them (403) or
    /// what they asked for (404).
    deny_log: RateLimit,
    counters: Counters,
    /// Rate limits and bans (`[security]`).
    guard: guard::Guard,
}

impl Core {
    /// A core started at `now`, which is `wall_ms` on the wall clock (unix
    /// milliseconds, for case records); `boot` numbers this run's case ids;
    /// `seed` feeds tags, branches and nonce keys.
    pub fn new(cfg: Arc<Config>, now: Instant, wall_ms: u64, boot: u32, seed: u64) -> Core {
        Core::with_prompts(cfg, now, wall_ms, boot, seed, Arc::default())
    }

    /// [`Core::new`] with the prompts the queues announce (loaded once by
    /// the shell; without them, callers wait without prompts).
    pub fn with_prompts(
        cfg: Arc<Config>,
        now: Instant,
        wall_ms: u64,
        boot: u32,
        seed: u64,
        prompts: Arc<crate::media::Prompts>,
    ) -> Core {
        let secret = (u128::from(seed) << 64) | u128::from(seed.rotate_left(17) ^ 0x5eed);
        let mut core = Core {
            txs: Transactions::new(TimerConfig {
                t1: cfg.sip.t1,
                t2: cfg.sip.t2,
                t4: cfg.sip.t4,
            }),
            registrar: Registrar::new(&cfg, now, secret),
            guard: guard::Guard::new(&cfg, now, wall_ms),
            b2bua: B2bua::new(
                cfg.clone(),
                now,
                wall_ms,
                boot,
                seed.rotate_left(29),
                prompts,
            ),
            cfg,
            out: VecDeque::new(),
            replies: VecDeque::new(),
            now,
            epoch: now,
            rng: Rng::new(seed),
            drop_log: RateLimit::new(),
            deny_log: RateLimit::new(),
            counters: Counters::default(),
        };
        // The first events: where every seat and queue starts.
        core.settle(now);
        core
    }

    /// Feeds the case log's past records in (caller prank history).
    pub fn load_history<'a>(&mut self, records: impl IntoIterator<Item = &'a Record>) {
        self.b2bua.load_history(records);
    }

    /// Feeds prank marks of earlier runs in: (caller URI, unix ms).
    pub fn load_pranks(&mut self, marks: impl IntoIterator<Item = (String, u64)>) {
        self.b2bua.load_pranks(marks);
    }

    /// Feeds the tickets of cases not closed yet in (from the store).
    pub fn load_tickets(
        &mut self,
        tickets: impl IntoIterator<
            Item = (crate::caselog::CaseId, String, crate::caselog::TicketStatus),
        >,
    ) {
        self.b2bua.load_tickets(tickets);
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Every seat's and queue's state now: what the events so far said.
    pub fn snapshot(&self) -> (Vec<SeatStatus>, Vec<QueueStatus>) {
        self.b2bua.snapshot()
    }

    pub fn sizes(&self) -> Sizes {
        Sizes {
            calls: self.b2bua.table_sizes(),
            transactions: self.txs.len(),
        }
    }

    /// Milliseconds since the core started (for its log limiters).
    fn ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// The one way in. Outputs wait in [`Core::poll_output`].
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        self.now = now;
        match input {
            Input::Receive { peer, data } => self.receive(now, peer, data),
            Input::Refuse {
                peer,
                head,
                status,
                reason,
            } if self.may_answer_refused(now, peer) => {
                let rej = sip::Rejection::Respond {
                    status,
                    reason: reason.to_string(),
                    extra: Vec::new(),
                };
                self.reject(now, peer, head, rej);
            }
            // A banned source's broken stream gets no answer either.
            Input::Refuse { .. } => {}
            Input::Timeout => {
                self.txs.handle_timeout(now);
                self.registrar.handle_timeout(now);
                while let Some((user, dest)) = self.registrar.poll_probe() {
                    self.b2bua.probe(now, &mut self.txs, &user, dest);
                }
                self.b2bua.handle_timeout(now, &mut self.txs);
            }
            Input::TransportError { addr } => self.txs.transport_failed(addr),
            Input::Command { id, by, command } => {
                // Bans are the guard's; every other command is the B2BUA's.
                let result = match &command {
                    Command::LiftBan { kind, key } => command
                        .authorize(&by)
                        .and_then(|()| self.lift_ban(now, &by, *kind, key)),
                    _ => self.b2bua.apply(now, &by, command),
                };
                self.replies.push_back(Output::Reply { id, result });
            }
            Input::Media(ev) => self.b2bua.on_media_event(now, &mut self.txs, ev),
            Input::Stop => self.b2bua.log_summary(now),
        }
        self.flush_bans(now);
        self.settle(now);
    }

    /// After every input: keep-alive answers to the registrar, then the
    /// seats the ACD matched are rung (so no match waits) and what changed
    /// is reported.
    fn settle(&mut self, now: Instant) {
        while let Some(user) = self.b2bua.poll_probe_answer() {
            self.registrar.probe_answered(&user);
        }
        self.b2bua.settle(now, &mut self.txs, &self.registrar);
    }

    /// A datagram or TCP frame.
    fn receive(&mut self, now: Instant, peer: Peer, data: &[u8]) {
        self.counters.received += 1;
        if !self.admit(now, peer, data) {
            return;
        }
        if self.known_by_status(now, peer, data) {
            return;
        }
        match sip::parse(data, peer.transport, self.cfg.sip.max_message_bytes) {
            Ok(sip::rsip::SipMessage::Request(req)) => self.on_request(now, peer, req),
            Ok(sip::rsip::SipMessage::Response(resp)) => match self.txs.on_response(now, &resp) {
                ClientMatch::Deliver(key) => {
                    self.b2bua.on_response(now, &mut self.txs, &key, &resp)
                }
                ClientMatch::Stray => self.b2bua.on_stray_response(now, &resp),
                ClientMatch::Absorbed => self.counters.retransmissions_absorbed += 1,
            },
            Err(rej) => self.reject(now, peer, data, rej),
        }
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
            if registered {
                let via = self.registrar.bindings(&user).first().map(|b| b.source);
                tracing::info!(
                    seat = %user,
                    transport = %via.map_or("", |p| p.transport.via_name()),
                    from = %via.map_or(String::new(), |p| p.addr.to_string()),
                    "seat registered"
                );
            } else {
                tracing::info!(seat = %user, "seat unregistered");
            }
            self.b2bua.seat_registered(self.now, &user, registered);
        }
    }

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
            match self.b2bua.poll_output() {
                Some(CallOutput::Transmit(peer, data)) => {
                    self.out.push_back(Output::Transmit { peer, data });
                    continue;
                }
                Some(CallOutput::Record(r)) => {
                    self.out.push_back(Output::Event(Event::Case(r.clone())));
                    return Output::Record(r);
                }
                Some(CallOutput::Event(e)) => return Output::Event(e),
                Some(CallOutput::Media(m)) => return Output::Media(m),
                None => {}
            }
            if self.registrar.has_events() {
                self.seat_events();
                self.settle(self.now);
                continue;
            }
            if let Some(r) = self.replies.pop_front() {
                return r;
            }
            return Output::Timeout(self.next_deadline());
        }
    }

    fn next_deadline(&mut self) -> Instant {
        let idle = self.now + Duration::from_secs(3600);
        [
            self.txs.poll_timeout(),
            self.registrar.poll_timeout(),
            self.b2bua.poll_timeout(),
            self.guard.bans_due,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(idle)
    }

    /// A random token for tags.
    fn token(&mut self) -> String {
        self.rng.token()
    }
}
