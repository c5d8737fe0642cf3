//! The B2BUA: one call = a trunk leg + at most one live outbound leg (a seat,
//! or the overflow target) at a time. Ringing, answer, bridge, re-offer,
//! abandon, overflow and hang-up, as a state machine on an explicit clock.
//!
//! Every call that reaches it becomes a case: the records it emits are the
//! case log's events.

use crate::acd::{Acd, CallId, OfferFailure, QueueId, QueueSetup, SeatId, SeatSetup, SeatState};
use crate::caselog::{CaseId, CaseIds, EndReason, Event, Record};
use crate::config::{Config, QueueConfig};
use crate::registrar::{Binding, Destination, Registrar};
use crate::sip::rsip::{Request, Response};
use crate::sip::write::{concat, finish_message, push_header};
use crate::sip::{
    self, header, parse_cseq, resolve, tag_of, uri_in, Echo, Peer, ResponseWriter, Transport,
};
use crate::transaction::{Transactions, TxKey};
use bytes::Bytes;
use foldhash::{HashMap, HashMapExt};
use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What an outbound leg rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Seat(SeatId),
    Overflow,
}

/// One side of a dialog, as needed to send requests in it.
#[derive(Debug, Clone)]
struct Dialog {
    call_id: String,
    /// Our From (outbound leg) or To (trunk leg) value, tag included.
    local: String,
    /// Their value, tag included once known.
    remote: String,
    /// Where in-dialog requests go (their Contact).
    remote_target: String,
    /// Route set, in the order requests carry it.
    routes: Vec<String>,
    cseq: u32,
    peer: Peer,
}

impl Dialog {
    /// Our side of a dialog that `req` (a dialog-creating INVITE we answer
    /// with `tag`) starts: the route set is its Record-Route, in order.
    fn answering(req: &Request, tag: &str, peer: Peer) -> Dialog {
        let h = |n| header(&req.headers, n).unwrap_or("").to_string();
        let from = h("From");
        let remote_target = match header(&req.headers, "Contact").map(uri_in) {
            Some(c) if !c.is_empty() => c.to_string(),
            _ => uri_in(&from).to_string(),
        };
        let routes = record_routes(&req.headers);
        Dialog {
            call_id: h("Call-ID"),
            local: concat(&[&h("To"), ";tag=", tag]),
            remote: from,
            remote_target,
            peer: next_hop(&routes, peer),
            routes,
            cseq: 0,
        }
    }

    /// Our side of an outbound leg, from the 2xx that answered it: their
    /// To (with its tag), Contact, and the route set (RFC 3261 §12.1.2: the
    /// Record-Route reversed). The next hop follows the route set.
    ///
    /// Without a Record-Route the INVITE's preloaded Route (a seat's Path)
    /// is kept rather than dropped: the seat is reachable only through its
    /// proxy (which may be its NAT's only way in), and a softphone that
    /// forgets to echo Record-Route must not lose its BYE. Without either,
    /// requests go where the INVITE went (a NAT'd seat's source).
    fn confirm(&mut self, resp: &Response) {
        self.remote = header(&resp.headers, "To")
            .unwrap_or(&self.remote)
            .to_string();
        if let Some(c) = header(&resp.headers, "Contact") {
            self.remote_target = uri_in(c).to_string();
        }
        let routes = record_routes_reversed(resp);
        if !routes.is_empty() {
            self.routes = routes;
        }
        self.peer = next_hop(&self.routes, self.peer);
    }

    /// Whether an in-dialog request belongs to this dialog (RFC 3261
    /// §12.2.2): its To tag is ours, its From tag theirs.
    fn matches(&self, req: &Request) -> bool {
        let (mut to, mut from) = (None, None);
        for h in req.headers.iter() {
            match h {
                sip::rsip::Header::To(v) if to.is_none() => to = Some(v.value()),
                sip::rsip::Header::From(v) if from.is_none() => from = Some(v.value()),
                _ => {}
            }
        }
        let to = to.and_then(tag_of);
        to.is_some() && to == tag_of(&self.local) && from.and_then(tag_of) == tag_of(&self.remote)
    }
}

/// Where in-dialog requests go: the first route's address (loose routing),
/// or `fallback` without a route set.
fn next_hop(routes: &[String], fallback: Peer) -> Peer {
    match routes.first() {
        Some(r) => resolve(uri_in(r), fallback),
        None => fallback,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    Calling,
    Ringing,
    Answered,
}

#[derive(Debug)]
struct Leg {
    target: Target,
    dialog: Dialog,
    invite_tx: TxKey,
    state: LegState,
    got_response: bool,
    /// The ACK we sent for its 2xx (re-sent when the 2xx is retransmitted).
    ack: Option<Bytes>,
    gen: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// Waiting in a queue (maybe ringing a seat).
    Waiting,
    /// The outbound leg answered; the trunk has our 200 and owes an ACK.
    Answered,
    Talking,
}

#[derive(Debug)]
struct Call {
    case: CaseId,
    state: CallState,
    /// The trunk's INVITE as received (responses echo it).
    invite: Request,
    invite_tx: TxKey,
    trunk: Dialog,
    trunk_name: String,
    caller: String,
    called: String,
    service: String,
    queue: QueueId,
    priority: i32,
    arrived: Instant,
    answered_at: Option<Instant>,
    leg: Option<Leg>,
    /// More legs ringing at once (ring-all); the first to answer wins.
    forks: Vec<Leg>,
    /// max_wait passed while a seat was ringing: overflow when that ends.
    overdue: bool,
    /// The outbound leg is the overflow target, not a seat.
    overflowed: bool,
    offers: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum CallTimer {
    /// The seat rang for the queue's ring timeout.
    Ring(u32),
    /// The outbound leg gave no answer at all in time: unreachable.
    NoResponse(u32),
    /// The call waited max_wait: overflow.
    MaxWait,
    /// The call waited overflow_after: widen to another queue's seats.
    Widen,
}

/// What a client transaction of ours is for.
#[derive(Debug, Clone)]
enum Purpose {
    /// The INVITE of an outbound leg (generation `u32` of the call's legs).
    LegInvite(CallId, u32),
    /// A request whose answer we don't need (BYE, CANCEL).
    Fire,
    /// An OPTIONS keep-alive to this seat's contact: any answer means alive.
    Probe(String),
    /// A relayed in-dialog request: answer this server transaction with it.
    Relay {
        server: TxKey,
        echo_of: Box<Request>,
        /// The Call-ID of the dialog we sent it on (the other leg's).
        sent_on: String,
    },
}

/// A leg we gave up on that may still answer: ACK and BYE a late 2xx.
#[derive(Debug)]
struct Zombie {
    dialog: Dialog,
    until: Instant,
}

/// The B2BUA and the ACD it drives.
pub struct B2bua {
    cfg: Arc<Config>,
    pub acd: Acd,
    calls: HashMap<CallId, Call>,
    /// Trunk Call-ID -> call.
    by_trunk: HashMap<String, CallId>,
    /// Outbound leg Call-ID -> call.
    by_leg: HashMap<String, CallId>,
    /// Trunk INVITE server transaction -> call (for CANCEL).
    by_invite_tx: HashMap<TxKey, CallId>,
    purposes: HashMap<TxKey, Purpose>,
    zombies: HashMap<String, Zombie>,
    timers: BTreeSet<(Instant, CallId, CallTimer)>,
    records: VecDeque<Record>,
    case_ids: CaseIds,
    next_call: CallId,
    leg_gen: u32,
    epoch: Instant,
    wall_epoch_ms: u64,
    local_udp: SocketAddr,
    local_tcp: Option<SocketAddr>,
    /// The two above as text (sent-by of our Vias), and our Contacts.
    local_udp_text: String,
    local_tcp_text: Option<String>,
    contact_udp: String,
    contact_tcp: Option<String>,
    rng: u64,
    out: VecDeque<(Peer, Bytes)>,
    /// Calls offered to a seat in the very input that brought them (the
    /// shell measures INVITE-to-seat-INVITE for these).
    offered_at_once: usize,
    /// The last call each seat handled (case, caller), for outcome marks.
    last_call_of_seat: HashMap<SeatId, (CaseId, String)>,
    /// Feature-code calls answered, waiting for the ACK to hang up.
    feature_calls: HashMap<String, Dialog>,
    /// Calls marked prank per caller: unix ms of each mark.
    pranks: HashMap<String, VecDeque<u64>>,
    /// Seats whose keep-alive was answered, for the registrar.
    probe_answers: VecDeque<String>,
    /// Each seat's keep-alive Call-ID, From tag and last CSeq (one entry a
    /// seat: bounded by the configuration).
    probe_ids: HashMap<String, (String, String, u32)>,
    /// Cases ended since the last summary line (see [`EndedSummary`]).
    ended: EndedSummary,
}

/// The "cases ended" line at info level, once a minute while calls end:
/// one line per call (now at debug) cost a formatted write to stderr per
/// call on the SIP path, and the case log holds every case anyway.
#[derive(Debug, Default)]
struct EndedSummary {
    since: Option<Instant>,
    by_reason: [u64; 4],
    wait_ms_max: u64,
}

/// How often the ended-cases summary is logged.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

impl EndedSummary {
    fn add(&mut self, now: Instant, reason: EndReason, wait_ms: u64) {
        self.since.get_or_insert(now);
        let i = match reason {
            EndReason::Completed => 0,
            EndReason::Abandoned => 1,
            EndReason::Overflowed => 2,
            EndReason::Failed => 3,
        };
        self.by_reason[i] += 1;
        self.wait_ms_max = self.wait_ms_max.max(wait_ms);
    }

    fn due(&self) -> Option<Instant> {
        self.since.map(|t| t + SUMMARY_EVERY)
    }

    /// Logs and resets if a minute has passed since the first case counted
    /// (or at once with `force`, at shutdown, if anything was counted).
    fn log_if_due(&mut self, now: Instant, waiting: usize) {
        self.log(now, waiting, false)
    }

    fn log(&mut self, now: Instant, waiting: usize, force: bool) {
        if self.due().is_some_and(|at| at <= now || force) {
            let [completed, abandoned, overflowed, failed] = self.by_reason;
            tracing::info!(
                completed,
                abandoned,
                overflowed,
                failed,
                wait_ms_max = self.wait_ms_max,
                waiting,
                "cases ended since the last summary"
            );
            *self = EndedSummary::default();
        }
    }
}

/// Who placed a call into the centre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A trunk or an edge proxy (by its configured name).
    Trunk(String),
    /// A seat, by its authenticated user (a test call or a real one).
    Seat(String),
}

/// Where a routed target goes: queue, service name and priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub queue: QueueId,
    pub service: String,
    pub priority: i32,
}

fn random(rng: &mut u64) -> String {
    let mut x = *rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    hex16(x)
}

/// `x` as 16 lowercase hex digits (what `format!("{x:016x}")` gives,
/// without the formatting machinery: three of these go into every leg).
fn hex16(x: u64) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(16);
    for i in (0..16).rev() {
        out.push(char::from(DIGITS[((x >> (i * 4)) & 0xf) as usize]));
    }
    out
}

impl B2bua {
    pub fn new(
        cfg: Arc<Config>,
        epoch: Instant,
        wall_epoch_ms: u64,
        boot: u32,
        seed: u64,
    ) -> B2bua {
        let queues = cfg
            .queues
            .iter()
            .map(|q| QueueSetup {
                name: q.name.clone(),
                aging_step: q.aging_step,
                strategy: q.strategy,
                max_no_answer: q.max_no_answer,
            })
            .collect();
        let seats = cfg
            .seats
            .iter()
            .map(|s| SeatSetup {
                name: s.user.clone(),
                queues: s
                    .queues
                    .iter()
                    .filter_map(|q| {
                        let id = cfg.queues.iter().position(|c| &c.name == q)?;
                        Some((id, s.levels.get(q).copied().unwrap_or(1)))
                    })
                    .collect(),
            })
            .collect();
        let local = |t| {
            cfg.sip
                .listen
                .iter()
                .find(|l| l.transport == t)
                .map(|l| l.addr)
        };
        let local_udp = local(crate::config::ListenTransport::Udp)
            .or(local(crate::config::ListenTransport::Tcp))
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)));
        let local_tcp = local(crate::config::ListenTransport::Tcp);
        B2bua {
            acd: Acd::new(epoch, queues, seats, cfg.sip.retry),
            cfg,
            calls: HashMap::new(),
            by_trunk: HashMap::new(),
            by_leg: HashMap::new(),
            by_invite_tx: HashMap::new(),
            purposes: HashMap::new(),
            zombies: HashMap::new(),
            timers: BTreeSet::new(),
            records: VecDeque::new(),
            case_ids: CaseIds::new(boot),
            next_call: 0,
            leg_gen: 0,
            epoch,
            wall_epoch_ms,
            local_udp_text: local_udp.to_string(),
            local_tcp_text: local_tcp.map(|a| a.to_string()),
            contact_udp: format!("<sip:siaga112@{local_udp}>"),
            contact_tcp: local_tcp.map(|a| format!("<sip:siaga112@{a};transport=tcp>")),
            local_udp,
            local_tcp,
            rng: seed | 1,
            out: VecDeque::new(),
            offered_at_once: 0,
            last_call_of_seat: HashMap::new(),
            feature_calls: HashMap::new(),
            pranks: HashMap::new(),
            probe_answers: VecDeque::new(),
            probe_ids: HashMap::new(),
            ended: EndedSummary::default(),
        }
    }

    /// Logs the cases ended since the last summary line (at shutdown).
    pub fn log_summary(&mut self, now: Instant) {
        self.ended.log(now, self.calls.len(), true);
    }

    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// Sizes of every per-call table (for leak checks): calls, trunk and
    /// leg indexes, INVITE index, client-transaction purposes, zombies,
    /// feature calls, timers.
    pub fn table_sizes(&self) -> [usize; 8] {
        [
            self.calls.len(),
            self.by_trunk.len(),
            self.by_leg.len(),
            self.by_invite_tx.len(),
            self.purposes.len(),
            self.zombies.len(),
            self.feature_calls.len(),
            self.timers.len(),
        ]
    }

    pub fn poll_record(&mut self) -> Option<Record> {
        self.records.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.first().map(|t| t.0),
            self.acd.poll_timeout(),
            self.ended.due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn record(&mut self, now: Instant, case: Option<CaseId>, event: Event) {
        let time_ms =
            self.wall_epoch_ms + now.saturating_duration_since(self.epoch).as_millis() as u64;
        self.records.push_back(Record {
            time_ms,
            case,
            event,
        });
    }

    fn token(&mut self) -> String {
        random(&mut self.rng)
    }

    fn queue_cfg(&self, q: QueueId) -> &QueueConfig {
        &self.cfg.queues[q]
    }

    /// The queue and service of a dialled target (`112`, `urn:service:sos.fire`...).
    pub fn route(&self, target: &str) -> Option<RouteMatch> {
        for r in &self.cfg.routes {
            for m in &r.matches {
                let hit = match m.strip_suffix('*') {
                    Some(prefix) => target.len() > prefix.len() && target.starts_with(prefix),
                    None => m == target,
                };
                if hit {
                    let q = self.cfg.queues.iter().position(|q| q.name == r.queue)?;
                    let service = match target.strip_prefix("urn:service:") {
                        Some(s) => s.to_string(),
                        None => r.service.clone().unwrap_or_else(|| target.to_string()),
                    };
                    return Some(RouteMatch {
                        queue: q,
                        service,
                        priority: r.priority,
                    });
                }
            }
        }
        None
    }

    // ------------------------------------------------------------ trunk side

    /// A new INVITE to a routed target (no To tag), from a trunk, an edge
    /// proxy or an authenticated seat. Opens the case, answers 180, queues
    /// the call. No 100 Trying: the 180 leaves in the same step, and RFC
    /// 3261 §17.2.1 asks for a 100 only when no provisional response
    /// follows within 200 ms (one datagram less per call for both sides).
    #[allow(clippy::too_many_arguments)]
    pub fn on_call_in(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: TxKey,
        src: Peer,
        req: Request,
        origin: Origin,
        target: String,
        route: RouteMatch,
    ) {
        let RouteMatch {
            queue,
            service,
            mut priority,
        } = route;
        let (trunk, from_seat) = match origin {
            Origin::Trunk(t) => (t, None),
            Origin::Seat(s) => (String::new(), Some(s)),
        };
        self.next_call += 1;
        let id = self.next_call;
        let case = self.case_ids.next();
        let local_tag = self.token();
        let dialog = Dialog::answering(&req, &local_tag, src);
        let call_id = dialog.call_id.clone();
        let caller = header(&req.headers, "P-Asserted-Identity")
            .map(uri_in)
            .unwrap_or_else(|| uri_in(&dialog.remote))
            .to_string();
        let qname = self.queue_cfg(queue).name.clone();
        let pranks = self.recent_pranks(caller_key(&caller), now);
        if pranks >= self.cfg.acd.prank_threshold as usize {
            priority = priority.min(self.cfg.acd.prank_priority);
            tracing::info!(case = %case, %caller, pranks, priority, "caller with recent prank calls: lowest priority");
        }
        tracing::debug!(case = %case, %caller, %target, %trunk, queue = %qname, priority, "call arrived");
        self.record(
            now,
            Some(case.clone()),
            Event::Opened {
                caller: caller.clone(),
                called: target.clone(),
                service: service.clone(),
                trunk: trunk.clone(),
                from_seat: from_seat.clone(),
            },
        );
        if let Some(seat) = &from_seat {
            tracing::info!(case = %case, %seat, %target, "a seat placed a call into the queue");
        }
        let call = Call {
            case: case.clone(),
            state: CallState::Waiting,
            invite: req,
            invite_tx: key.clone(),
            trunk: dialog,
            trunk_name: trunk,
            caller,
            called: target,
            service,
            queue,
            priority,
            arrived: now,
            answered_at: None,
            leg: None,
            forks: Vec::new(),
            overdue: false,
            overflowed: false,
            offers: 0,
        };
        self.by_trunk.insert(call_id, id);
        self.by_invite_tx.insert(key, id);
        self.calls.insert(id, call);
        self.ring_trunk(now, txs, id);
        self.record(
            now,
            Some(case),
            Event::Queued {
                queue: qname,
                priority,
            },
        );
        let max_wait = self.queue_cfg(queue).max_wait;
        self.timers.insert((now + max_wait, id, CallTimer::MaxWait));
        let exclude = from_seat.as_deref().and_then(|s| self.acd.seat_id(s));
        self.acd
            .enqueue_excluding(id, queue, priority, now, exclude);
        if self.queue_cfg(queue).widen_to.is_some() {
            let after = self.queue_cfg(queue).overflow_after;
            self.timers.insert((now + after, id, CallTimer::Widen));
        }
        if self.acd.logged_in(queue) == 0
            && self.queue_cfg(queue).overflow.is_some()
            && self.acd.is_queued(id)
        {
            // Nobody can take it here: overflow at once.
            self.overflow(now, txs, id);
        }
    }

    fn ring_trunk(&mut self, now: Instant, txs: &mut Transactions, id: CallId) {
        let Some(c) = self.calls.get(&id) else { return };
        let contact = self.contact_header(c.trunk.peer.transport);
        let tag = tag_of(&c.trunk.local).map(str::to_string);
        let echo = Echo::from_request(&c.invite);
        let data = ResponseWriter::new(&echo, 180, "Ringing", tag.as_deref())
            .header("Contact", &contact)
            .header("Server", &self.cfg.sip.user_agent)
            .finish(None);
        txs.respond(now, &c.invite_tx, 180, data);
    }

    #[allow(clippy::too_many_arguments)]
    fn reply(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: &TxKey,
        req: &Request,
        status: u16,
        reason: &str,
        tag: Option<&str>,
        extra: &[(&str, &str)],
    ) {
        let own_tag;
        let tag = match tag {
            Some(t) => Some(t),
            None => {
                own_tag = self.token();
                Some(own_tag.as_str())
            }
        };
        let echo = Echo::from_request(req);
        let mut w = ResponseWriter::new(&echo, status, reason, tag);
        for (n, v) in extra {
            w = w.header(n, v);
        }
        let data = w.header("Server", &self.cfg.sip.user_agent).finish(None);
        txs.respond(now, key, status, data);
    }

    fn contact_header(&self, t: Transport) -> String {
        match (t, &self.contact_tcp) {
            (Transport::Tcp, Some(c)) => c.clone(),
            _ => self.contact_udp.clone(),
        }
    }

    /// CANCEL from the trunk (a new server transaction `key`).
    pub fn on_cancel(&mut self, now: Instant, txs: &mut Transactions, key: TxKey, req: &Request) {
        let call = txs
            .invite_key_for(&key)
            .and_then(|k| self.by_invite_tx.get(&k).copied());
        let Some(id) = call else {
            return self.reply(
                now,
                txs,
                &key,
                req,
                481,
                "Call/Transaction Does Not Exist",
                None,
                &[],
            );
        };
        self.reply(now, txs, &key, req, 200, "OK", None, &[]);
        let waiting = self
            .calls
            .get(&id)
            .is_some_and(|c| c.state == CallState::Waiting);
        if waiting {
            self.answer_trunk_failure(now, txs, id, 487, "Request Terminated");
            self.end_call(now, txs, id, EndReason::Abandoned);
        }
    }

    fn answer_trunk_failure(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        id: CallId,
        status: u16,
        reason: &str,
    ) {
        let Some(c) = self.calls.get(&id) else { return };
        let tag = tag_of(&c.trunk.local).map(str::to_string);
        let (key, invite) = (c.invite_tx.clone(), c.invite.clone());
        self.reply(now, txs, &key, &invite, status, reason, tag.as_deref(), &[]);
    }

    /// An in-dialog request (To tag present). Returns false if no dialog of
    /// ours matches (the caller answers 481).
    pub fn on_in_dialog(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: TxKey,
        req: &Request,
    ) -> bool {
        let call_id = header(&req.headers, "Call-ID").unwrap_or("");
        let (id, from_trunk) = if let Some(&id) = self.by_trunk.get(call_id) {
            (id, true)
        } else if let Some(&id) = self.by_leg.get(call_id) {
            (id, false)
        } else {
            if self.zombies.contains_key(call_id) && req.method == sip::rsip::Method::Bye {
                self.reply(now, txs, &key, req, 200, "OK", None, &[]);
                self.zombies.remove(call_id);
                return true;
            }
            return false;
        };
        // The same Call-ID is not enough: the tags must name this dialog
        // (RFC 3261 §12.2.2), or it is someone else's request: 481.
        let belongs = self.calls.get(&id).is_some_and(|c| {
            if from_trunk {
                c.trunk.matches(req)
            } else {
                std::iter::once(&c.leg)
                    .flatten()
                    .chain(&c.forks)
                    .any(|l| l.dialog.call_id == call_id && l.dialog.matches(req))
            }
        });
        if !belongs {
            return false;
        }
        use sip::rsip::Method;
        match req.method {
            Method::Bye => {
                self.reply(now, txs, &key, req, 200, "OK", None, &[]);
                let who = if from_trunk { "caller" } else { "seat" };
                if let Some(c) = self.calls.get(&id) {
                    tracing::debug!(case = %c.case, by = who, "hang-up");
                }
                let reason = if self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.state == CallState::Waiting)
                {
                    EndReason::Abandoned
                } else if self.calls.get(&id).is_some_and(|c| c.overflowed) {
                    EndReason::Overflowed
                } else {
                    EndReason::Completed
                };
                if from_trunk {
                    if let Some(c) = self.calls.get(&id) {
                        if c.state == CallState::Waiting {
                            // BYE before our 200 (RFC 3261 §15): answer the INVITE too.
                            self.answer_trunk_failure(now, txs, id, 487, "Request Terminated");
                        }
                    }
                    self.end_call_from(now, txs, id, reason, true);
                } else {
                    self.end_call_from(now, txs, id, reason, false);
                }
            }
            Method::Options => {
                let allow = sip::ALLOW;
                self.reply(now, txs, &key, req, 200, "OK", None, &[("Allow", allow)]);
            }
            Method::Invite
            | Method::Update
            | Method::Info
            | Method::Message
            | Method::Notify
            | Method::Refer => {
                self.relay(now, txs, key, req, id, from_trunk);
            }
            _ => {
                self.reply(
                    now,
                    txs,
                    &key,
                    req,
                    405,
                    "Method Not Allowed",
                    None,
                    &[("Allow", sip::ALLOW)],
                );
            }
        }
        true
    }

    /// An ACK outside any transaction: the trunk confirming our 2xx.
    pub fn on_dialog_ack(&mut self, now: Instant, txs: &mut Transactions, req: &Request) {
        let call_id = header(&req.headers, "Call-ID").unwrap_or("");
        if let Some(mut d) = self.feature_calls.remove(call_id) {
            d.cseq += 1;
            return self.send_bye(now, txs, &d);
        }
        let Some(&id) = self.by_trunk.get(call_id) else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&id) {
            if c.state == CallState::Answered {
                c.state = CallState::Talking;
                let _ = now;
            }
        }
    }

    /// Relays a mid-call request to the other leg (re-INVITE, UPDATE, INFO).
    fn relay(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: TxKey,
        req: &Request,
        id: CallId,
        from_trunk: bool,
    ) {
        // Glare (RFC 3261 §14.2): a re-INVITE on a dialog where one of ours
        // is still pending, or where the same side's last one is not answered.
        let call_id = header(&req.headers, "Call-ID").unwrap_or("");
        let glare = req.method == sip::rsip::Method::Invite
            && self.purposes.values().any(|p| match p {
                Purpose::Relay {
                    echo_of, sent_on, ..
                } => {
                    echo_of.method == sip::rsip::Method::Invite
                        && (sent_on == call_id
                            || header(&echo_of.headers, "Call-ID") == Some(call_id))
                }
                _ => false,
            });
        let Some(c) = self.calls.get(&id) else { return };
        let answered = matches!(c.state, CallState::Answered | CallState::Talking);
        if !answered || c.leg.as_ref().is_none_or(|l| l.state != LegState::Answered) {
            return self.reply(now, txs, &key, req, 491, "Request Pending", None, &[]);
        }
        if glare {
            return self.reply(now, txs, &key, req, 491, "Request Pending", None, &[]);
        }
        let body = req.body.clone();
        let ctype = header(&req.headers, "Content-Type").map(str::to_string);
        let method = req.method.to_string();
        let (to_trunk, branch) = (!from_trunk, self.token());
        let c = self.calls.get_mut(&id).expect("present");
        let dialog = if to_trunk {
            &mut c.trunk
        } else {
            &mut c.leg.as_mut().expect("answered leg").dialog
        };
        dialog.cseq += 1;
        let d = dialog.clone();
        let contact = self.contact_header(d.peer.transport);
        let extra = [("Contact", contact.as_str())];
        let Some(out) = self.in_dialog_request(
            &d,
            &method,
            &branch,
            &extra,
            ctype.as_deref().map(|t| (t, body.as_slice())),
        ) else {
            return self.reply(now, txs, &key, req, 500, "Server Internal Error", None, &[]);
        };
        if let Some(k) = out.send(now, txs, d.peer) {
            self.purposes.insert(
                k,
                Purpose::Relay {
                    server: key,
                    echo_of: Box::new(req.clone()),
                    sent_on: d.call_id.clone(),
                },
            );
        }
    }

    /// Builds a request inside a dialog.
    fn in_dialog_request(
        &self,
        d: &Dialog,
        method: &str,
        branch: &str,
        extra: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Option<Built> {
        let via_t = d.peer.transport;
        let local = match (via_t, &self.local_tcp_text) {
            (Transport::Tcp, Some(a)) => a,
            _ => &self.local_udp_text,
        };
        let mut cseq = itoa::Buffer::new();
        let mut buf = String::with_capacity(600);
        for part in [
            method,
            " ",
            &d.remote_target,
            " SIP/2.0\r\nVia: SIP/2.0/",
            via_t.via_name(),
            " ",
            local,
            ";branch=z9hG4bK",
            branch,
            ";rport\r\nMax-Forwards: 70\r\n",
        ] {
            buf.push_str(part);
        }
        for r in &d.routes {
            push_header(&mut buf, "Route", r);
        }
        push_header(&mut buf, "From", &d.local);
        push_header(&mut buf, "To", &d.remote);
        push_header(&mut buf, "Call-ID", &d.call_id);
        for part in ["CSeq: ", cseq.format(d.cseq), " ", method, "\r\n"] {
            buf.push_str(part);
        }
        for (n, v) in extra {
            push_header(&mut buf, n, v);
        }
        push_header(&mut buf, "User-Agent", &self.cfg.sip.user_agent);
        // Every value above came from a parsed message or from us: the
        // request goes out as written, without a parse of its own.
        let data = finish_message(buf, body);
        debug_assert!(
            sip::rsip::parser::parse_message(&data).is_ok(),
            "a request we wrote does not parse: {}",
            String::from_utf8_lossy(&data)
        );
        Some(Built {
            method: method.to_string(),
            branch: concat(&["z9hG4bK", branch]),
            data,
        })
    }

    fn local_for(&self, t: Transport) -> SocketAddr {
        match (t, self.local_tcp) {
            (Transport::Tcp, Some(a)) => a,
            _ => self.local_udp,
        }
    }

    // ------------------------------------------------------------ outbound legs

    /// Rings the seats the ACD matched. The core calls this after every
    /// input, so a match never waits.
    pub fn carry_out_offers(&mut self, now: Instant, txs: &mut Transactions, reg: &Registrar) {
        while let Some(offer) = self.acd.poll_offer() {
            self.offer(now, txs, reg, offer.call, offer.seat);
        }
    }
}

/// A request we wrote: its method, top Via branch and wire text.
struct Built {
    method: String,
    branch: String,
    data: Bytes,
}

impl Built {
    fn send(self, now: Instant, txs: &mut Transactions, peer: Peer) -> Option<TxKey> {
        Some(txs.send_written(now, &self.method, &self.branch, self.data, peer))
    }

    /// The wire text (for an ACK of a 2xx, sent outside any transaction).
    fn into_data(self) -> Bytes {
        self.data
    }
}

impl B2bua {
    /// Calls that went straight to a seat since the last call of this
    /// (see `offered_at_once`).
    pub fn take_offered_at_once(&mut self) -> usize {
        std::mem::take(&mut self.offered_at_once)
    }

    /// Raw messages to send outside transactions (ACKs of 2xx).
    pub fn poll_transmit(&mut self) -> Option<(Peer, Bytes)> {
        self.out.pop_front()
    }

    fn offer(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        reg: &Registrar,
        id: CallId,
        seat: SeatId,
    ) {
        let name = self.acd.seat_name(seat).to_string();
        let Some(dest) = reg.bindings(&name).last().map(Binding::destination) else {
            self.acd
                .offer_failed(id, seat, OfferFailure::Unreachable, now);
            return;
        };
        if self.start_leg(now, txs, id, Target::Seat(seat), dest) {
            if let Some(c) = self.calls.get_mut(&id) {
                c.offers += 1;
                if c.offers == 1 && c.arrived == now {
                    self.offered_at_once += 1;
                }
                let case = c.case.clone();
                tracing::debug!(case = %case, seat = %name, "offered");
                self.record(now, Some(case), Event::Offered { seat: name });
            }
        } else {
            self.acd
                .offer_failed(id, seat, OfferFailure::Unreachable, now);
        }
    }

    /// Sends the INVITE of an outbound leg; false if it could not be built.
    fn start_leg(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        id: CallId,
        target: Target,
        dest: Destination,
    ) -> bool {
        let Destination { uri, routes, peer } = dest;
        let uri = uri.as_str();
        let (call_id, tag, branch) = (
            concat(&[&self.token(), "@siaga112"]),
            self.token(),
            self.token(),
        );
        self.leg_gen += 1;
        let gen = self.leg_gen;
        let Some(c) = self.calls.get(&id) else {
            return false;
        };
        let from = strip_tag(&c.trunk.remote);
        let dialog = Dialog {
            call_id: call_id.clone(),
            local: concat(&[&from, ";tag=", &tag]),
            remote: concat(&["<", uri, ">"]),
            remote_target: uri.to_string(),
            routes,
            cseq: 1,
            peer,
        };
        let contact = self.contact_header(peer.transport);
        let pai = concat(&["<", &c.caller, ">"]);
        let info = concat(&[
            "<urn:siaga112:case:",
            c.case.as_str(),
            ">;purpose=siaga112-case",
        ]);
        let service = c.service.clone();
        let ctype = header(&c.invite.headers, "Content-Type")
            .unwrap_or("application/sdp")
            .to_string();
        let body = c.invite.body.clone();
        let extra = [
            ("Contact", contact.as_str()),
            ("P-Asserted-Identity", pai.as_str()),
            ("Call-Info", info.as_str()),
            ("Subject", service.as_str()),
            ("Allow", sip::ALLOW),
        ];
        let body = (!body.is_empty()).then_some((ctype.as_str(), body.as_slice()));
        let Some(req) = self.in_dialog_request(&dialog, "INVITE", &branch, &extra, body) else {
            return false;
        };
        let Some(key) = req.send(now, txs, peer) else {
            return false;
        };
        let queue = self.queue_cfg(c.queue).clone();
        self.purposes
            .insert(key.clone(), Purpose::LegInvite(id, gen));
        self.by_leg.insert(call_id, id);
        let c = self.calls.get_mut(&id).expect("present");
        let leg = Leg {
            target,
            dialog,
            invite_tx: key,
            state: LegState::Calling,
            got_response: false,
            ack: None,
            gen,
        };
        if c.leg.is_some() {
            c.forks.push(leg);
        } else {
            c.leg = Some(leg);
        }
        self.timers.insert((
            now + self.cfg.sip.no_response,
            id,
            CallTimer::NoResponse(gen),
        ));
        self.timers
            .insert((now + queue.ring_timeout, id, CallTimer::Ring(gen)));
        true
    }

    /// A response to one of our client transactions.
    pub fn on_response(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: &TxKey,
        resp: &Response,
    ) {
        let status = resp.status_code.code();
        let Some(purpose) = self.take_purpose(key, status) else {
            return self.on_stray_response(now, resp);
        };
        match purpose {
            Purpose::Fire => {}
            Purpose::Probe(user) => self.probe_answers.push_back(user),
            Purpose::Relay {
                server, echo_of, ..
            } => {
                if status < 200 {
                    return;
                }
                self.relay_answer(now, txs, &server, &echo_of, resp);
                if (200..300).contains(&status) && echo_of.method == sip::rsip::Method::Invite {
                    self.ack_2xx_of(key, txs, resp);
                }
            }
            Purpose::LegInvite(id, gen) => self.on_leg_response(now, txs, key, id, gen, resp),
        }
    }

    /// The purpose of a client transaction a response with `status`
    /// arrived on; a final answer ends it, but a 2xx INVITE keeps its
    /// transaction (retransmitted 2xx are passed up again).
    fn take_purpose(&mut self, key: &TxKey, status: u16) -> Option<Purpose> {
        let purpose = self.purposes.get(key).cloned()?;
        let keep = (200..300).contains(&status) && matches!(purpose, Purpose::LegInvite(..));
        if status >= 200 && !keep {
            self.purposes.remove(key);
        }
        Some(purpose)
    }

    /// Whether a response with `status` on client transaction `key` must be
    /// read whole. Not needed: a provisional (a leg rings; relays ignore
    /// it), or a non-INVITE final answer to a request nobody waits on (our
    /// BYE, CANCEL). Needed: INVITE finals and relayed answers.
    pub fn needs_whole_response(&self, key: &TxKey, status: u16) -> bool {
        status >= 200
            && !matches!(
                self.purposes.get(key),
                None | Some(Purpose::Fire) | Some(Purpose::Probe(_))
            )
    }

    /// A response that [`B2bua::needs_whole_response`] said is known by its
    /// status alone (a stray one of those needs nothing either).
    pub fn on_response_status(&mut self, key: &TxKey, status: u16) {
        debug_assert!(!self.needs_whole_response(key, status));
        match self.take_purpose(key, status) {
            Some(Purpose::LegInvite(id, gen)) => {
                self.leg_provisional(key, id, gen, status);
            }
            Some(Purpose::Probe(user)) if status >= 200 => self.probe_answers.push_back(user),
            _ => {}
        }
    }

    /// A provisional response on an outbound leg: it is alive, and rings.
    /// False if the leg is no longer the call's (then it is forgotten).
    fn leg_provisional(&mut self, key: &TxKey, id: CallId, gen: u32, status: u16) -> bool {
        if !self.select_leg(id, gen) {
            self.purposes.remove(key);
            return false;
        }
        let c = self.calls.get_mut(&id).expect("present");
        let leg = c.leg.as_mut().expect("current");
        leg.got_response = true;
        if status != 100 && leg.state == LegState::Calling {
            leg.state = LegState::Ringing;
        }
        true
    }

    /// A response no transaction of ours claims.
    pub fn on_stray(&mut self, now: Instant, resp: &Response) {
        self.on_stray_response(now, resp);
    }

    /// A 2xx for a leg we no longer have (gave up, or the call ended): ACK
    /// and hang it up, so no seat is left talking to nobody.
    fn on_stray_response(&mut self, now: Instant, resp: &Response) {
        let status = resp.status_code.code();
        let call_id = header(&resp.headers, "Call-ID").unwrap_or("");
        let is_invite = header(&resp.headers, "CSeq")
            .and_then(parse_cseq)
            .is_some_and(|c| c.1 == "INVITE");
        if !(200..300).contains(&status) || !is_invite {
            return;
        }
        if let Some(z) = self.zombies.remove(call_id) {
            self.ack_and_bye(now, z.dialog, resp);
        }
    }

    fn ack_and_bye(&mut self, _now: Instant, mut d: Dialog, resp: &Response) {
        d.confirm(resp);
        let branch = self.token();
        if let Some(ack) = self.in_dialog_request(&d, "ACK", &branch, &[], None) {
            self.out.push_back((d.peer, ack.into_data()));
        }
        d.cseq += 1;
        let branch = self.token();
        if let Some(bye) = self.in_dialog_request(&d, "BYE", &branch, &[], None) {
            // Not tracked: nothing more to do whatever it answers.
            self.out.push_back((d.peer, bye.into_data()));
        }
    }

    fn ack_2xx_of(&mut self, key: &TxKey, _txs: &mut Transactions, resp: &Response) {
        let _ = key;
        let call_id = header(&resp.headers, "Call-ID").unwrap_or("").to_string();
        let num = header(&resp.headers, "CSeq")
            .and_then(parse_cseq)
            .map(|c| c.0)
            .unwrap_or(0);
        let id = self
            .by_trunk
            .get(&call_id)
            .or_else(|| self.by_leg.get(&call_id))
            .copied();
        let Some(c) = id.and_then(|id| self.calls.get(&id)) else {
            return;
        };
        let d = if c.trunk.call_id == call_id {
            c.trunk.clone()
        } else if let Some(l) = &c.leg {
            l.dialog.clone()
        } else {
            return;
        };
        let mut d = d;
        d.cseq = num;
        let branch = self.token();
        if let Some(ack) = self.in_dialog_request(&d, "ACK", &branch, &[], None) {
            self.out.push_back((d.peer, ack.into_data()));
        }
    }

    fn relay_answer(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        server: &TxKey,
        req: &Request,
        resp: &Response,
    ) {
        let status = resp.status_code.code();
        let reason = resp.reason_phrase().unwrap_or("").to_string();
        let reason = if reason.is_empty() {
            resp.status_code.text().to_string()
        } else {
            reason
        };
        let echo = Echo::from_request(req);
        let mut w = ResponseWriter::new(&echo, status, &sip::reason_safe(&reason), None);
        let t = if header(&req.headers, "Via").is_some_and(|v| v.contains("/TCP")) {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        w = w.header("Contact", &self.contact_header(t));
        let ctype = header(&resp.headers, "Content-Type").map(str::to_string);
        let data = match &ctype {
            Some(ct) if !resp.body.is_empty() => w.finish(Some((ct, &resp.body))),
            _ => w.finish(None),
        };
        txs.respond(now, server, status, data);
    }

    fn on_leg_response(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: &TxKey,
        id: CallId,
        gen: u32,
        resp: &Response,
    ) {
        let status = resp.status_code.code();
        if status < 200 {
            // (A stray provisional needs nothing more.)
            self.leg_provisional(key, id, gen, status);
            return;
        }
        if !self.select_leg(id, gen) {
            self.purposes.remove(key);
            return self.on_stray_response(now, resp);
        }
        match status {
            200..=299 => self.leg_answered(now, txs, id, resp),
            _ => {
                self.purposes.remove(key);
                self.leg_failed(now, txs, id, OfferFailure::Rejected, Some(status));
            }
        }
    }

    fn leg_answered(&mut self, now: Instant, txs: &mut Transactions, id: CallId, resp: &Response) {
        let c = self.calls.get_mut(&id).expect("present");
        let leg = c.leg.as_mut().expect("current");
        if leg.state == LegState::Answered {
            // A retransmitted 2xx: our ACK was lost.
            if let Some(ack) = leg.ack.clone() {
                self.out.push_back((leg.dialog.peer, ack));
            }
            return;
        }
        leg.state = LegState::Answered;
        leg.got_response = true;
        leg.dialog.confirm(resp);
        let d = leg.dialog.clone();
        let target = leg.target;
        let branch = random(&mut self.rng);
        let ack = self
            .in_dialog_request(
                &Dialog {
                    cseq: 1,
                    ..d.clone()
                },
                "ACK",
                &branch,
                &[],
                None,
            )
            .map(Built::into_data);
        if let Some(a) = &ack {
            self.out.push_back((d.peer, a.clone()));
        }
        let contact = self.contact_header(self.calls[&id].trunk.peer.transport);
        let c = self.calls.get_mut(&id).expect("present");
        c.leg.as_mut().expect("current").ack = ack;
        c.state = CallState::Answered;
        c.answered_at = Some(now);
        let case = c.case.clone();
        // 200 OK to the trunk with the seat's SDP.
        let tag = tag_of(&c.trunk.local).map(str::to_string);
        let echo = Echo::from_request(&c.invite);
        let w = ResponseWriter::new(&echo, 200, "OK", tag.as_deref())
            .header("Contact", &contact)
            .header("Allow", sip::ALLOW)
            .header("Server", &self.cfg.sip.user_agent);
        let ctype = header(&resp.headers, "Content-Type").map(str::to_string);
        let data = match &ctype {
            Some(ct) if !resp.body.is_empty() => w.finish(Some((ct, &resp.body))),
            _ => w.finish(None),
        };
        let key = c.invite_tx.clone();
        txs.respond(now, &key, 200, data);
        self.by_invite_tx.remove(&key);
        let who = match target {
            Target::Seat(s) => {
                self.acd.answered(id, s);
                self.acd.seat_name(s).to_string()
            }
            Target::Overflow => {
                self.acd.remove_call(id, now);
                "overflow".to_string()
            }
        };
        tracing::debug!(case = %case, seat = %who, "answered");
        self.record(now, Some(case), Event::Answered { seat: who });
        // Ring-all: the others stop ringing.
        let forks = std::mem::take(&mut self.calls.get_mut(&id).expect("present").forks);
        for f in forks {
            self.by_leg.remove(&f.dialog.call_id);
            self.bury_leg(now, txs, f.invite_tx.clone(), f.got_response, f.dialog);
            if let Target::Seat(s) = f.target {
                self.acd.offer_failed(id, s, OfferFailure::Withdrawn, now);
            }
        }
    }

    /// Makes the leg of generation `gen` the call's primary leg (swapping a
    /// ring-all fork forward); false if the call has no such leg.
    fn select_leg(&mut self, id: CallId, gen: u32) -> bool {
        let Some(c) = self.calls.get_mut(&id) else {
            return false;
        };
        if c.leg.as_ref().is_some_and(|l| l.gen == gen) {
            return true;
        }
        let Some(i) = c.forks.iter().position(|l| l.gen == gen) else {
            return false;
        };
        let fork = c.forks.swap_remove(i);
        if let Some(old) = c.leg.replace(fork) {
            c.forks.push(old);
        }
        true
    }

    /// The current outbound leg will not answer: give it up (CANCEL it if it
    /// rings) and find the call another way.
    fn leg_failed(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        id: CallId,
        why: OfferFailure,
        status: Option<u16>,
    ) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(leg) = c.leg.take() else { return };
        // Under ring-all another leg may still ring: it becomes the primary.
        c.leg = c.forks.pop();
        let still_ringing = c.leg.is_some();
        let overdue = c.overdue && !still_ringing;
        let case = c.case.clone();
        self.by_leg.remove(&leg.dialog.call_id);
        self.bury_leg(
            now,
            txs,
            leg.invite_tx.clone(),
            leg.got_response && status.is_none(),
            leg.dialog,
        );
        match leg.target {
            Target::Seat(seat) => {
                let name = self.acd.seat_name(seat).to_string();
                tracing::info!(case = %case, seat = %name, ?why, ?status, "offer failed");
                self.acd.offer_failed(id, seat, why, now);
                if !matches!(
                    self.acd.seat_state(seat),
                    SeatState::Available | SeatState::LoggedOut
                ) {
                    let state = seat_state_name(self.acd.seat_state(seat));
                    self.record(
                        now,
                        None,
                        Event::Seat {
                            seat: name,
                            state,
                            reason: Some(format!("{why:?}").to_lowercase()),
                        },
                    );
                }
                if overdue {
                    self.overflow(now, txs, id);
                }
            }
            Target::Overflow => {
                tracing::warn!(case = %case, ?status, "overflow target did not answer; back to the queue");
                let wait = self.queue_cfg(self.calls[&id].queue).max_wait;
                let c = self.calls.get_mut(&id).expect("present");
                c.overflowed = false;
                c.overdue = false;
                self.timers.insert((now + wait, id, CallTimer::MaxWait));
                self.acd.requeue(id);
            }
        }
    }

    /// Stops an INVITE client transaction: CANCEL it if it has a provisional
    /// answer, else just forget it; a late 2xx is then ACKed and hung up.
    fn bury_leg(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        invite_tx: TxKey,
        cancel: bool,
        dialog: Dialog,
    ) {
        self.purposes.remove(&invite_tx);
        if cancel {
            if let Some(k) = txs.send_cancel(now, &invite_tx) {
                self.purposes.insert(k, Purpose::Fire);
            }
        } else {
            txs.forget_client(&invite_tx);
        }
        let until = now + 64 * self.cfg.sip.t1;
        self.zombies
            .insert(dialog.call_id.clone(), Zombie { dialog, until });
    }

    /// A client transaction timed out (timer B/F) or hit a transport error.
    pub fn on_client_timeout(&mut self, now: Instant, txs: &mut Transactions, key: &TxKey) {
        match self.purposes.remove(key) {
            Some(Purpose::LegInvite(id, gen)) if self.select_leg(id, gen) => {
                self.leg_failed(now, txs, id, OfferFailure::Unreachable, Some(408));
            }
            Some(Purpose::Relay {
                server, echo_of, ..
            }) => {
                self.reply(
                    now,
                    txs,
                    &server,
                    &echo_of,
                    408,
                    "Request Timeout",
                    None,
                    &[],
                );
            }
            _ => {}
        }
    }

    /// The trunk never ACKed our 200: the call cannot go on.
    pub fn on_ack_timeout(&mut self, now: Instant, txs: &mut Transactions, key: &TxKey) {
        let id = self
            .calls
            .iter()
            .find(|(_, c)| &c.invite_tx == key)
            .map(|(id, _)| *id);
        if let Some(id) = id {
            if self
                .calls
                .get(&id)
                .is_some_and(|c| c.state == CallState::Answered)
            {
                tracing::warn!("trunk never acknowledged the answer; ending the call");
                self.end_call_from(now, txs, id, EndReason::Failed, true);
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, txs: &mut Transactions) {
        self.acd.handle_timeout(now);
        self.ended.log_if_due(now, self.calls.len());
        while let Some(&(at, id, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let Some(c) = self.calls.get(&id) else {
                continue;
            };
            match timer {
                CallTimer::Ring(g) | CallTimer::NoResponse(g) => {
                    if !self.select_leg(id, g) {
                        continue;
                    }
                    let Some(leg) = self.calls.get(&id).and_then(|c| c.leg.as_ref()) else {
                        continue;
                    };
                    if matches!(timer, CallTimer::Ring(_)) && leg.state != LegState::Answered {
                        self.leg_failed(now, txs, id, OfferFailure::NoAnswer, None);
                    } else if matches!(timer, CallTimer::NoResponse(_)) && !leg.got_response {
                        self.leg_failed(now, txs, id, OfferFailure::Unreachable, None);
                    }
                }
                CallTimer::Widen => {
                    let widen = self.queue_cfg(c.queue).widen_to.clone();
                    if let Some(to) =
                        widen.and_then(|w| self.cfg.queues.iter().position(|q| q.name == w))
                    {
                        if c.state == CallState::Waiting && !c.overflowed {
                            tracing::info!(case = %c.case, queue = %self.cfg.queues[to].name, "widened to another queue's seats");
                            self.acd.widen(id, to);
                        }
                    }
                }
                CallTimer::MaxWait => {
                    let has_overflow = self.queue_cfg(c.queue).overflow.is_some();
                    let c = self.calls.get_mut(&id).expect("present");
                    if c.state != CallState::Waiting || c.overflowed {
                        continue;
                    }
                    if !has_overflow {
                        tracing::warn!(case = %c.case, "waited max_wait and the queue has no overflow; still waiting");
                    } else if c.leg.is_some() {
                        // Take it back from the ringing seat(s), then overflow.
                        c.overdue = true;
                        for _ in 0..=c.forks.len() {
                            self.leg_failed(now, txs, id, OfferFailure::Withdrawn, None);
                        }
                    } else {
                        self.overflow(now, txs, id);
                    }
                }
            }
        }
        self.zombies.retain(|_, z| z.until > now);
    }

    /// Sends a waiting call to its queue's overflow: another queue, or a SIP
    /// URI that we call and bridge to. Without an overflow it keeps waiting.
    fn overflow(&mut self, now: Instant, txs: &mut Transactions, id: CallId) {
        self.overflow_hop(now, txs, id, 0)
    }

    fn overflow_hop(&mut self, now: Instant, txs: &mut Transactions, id: CallId, hops: usize) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.overdue = false;
        let q = c.queue;
        let case = c.case.clone();
        let Some(target) = self.queue_cfg(q).overflow.clone() else {
            tracing::warn!(case = %case, "no seat answered in time and the queue has no overflow; still waiting");
            return;
        };
        if let Some(to) = self.cfg.queues.iter().position(|c| c.name == target) {
            let c = self.calls.get_mut(&id).expect("present");
            c.queue = to;
            let wait = self.queue_cfg(to).max_wait;
            self.timers.insert((now + wait, id, CallTimer::MaxWait));
            tracing::info!(case = %case, queue = %target, "overflowed to another queue");
            self.record(
                now,
                Some(case.clone()),
                Event::Overflowed {
                    target: target.clone(),
                },
            );
            self.record(
                now,
                Some(case),
                Event::Queued {
                    queue: target,
                    priority: self.calls[&id].priority,
                },
            );
            self.acd.move_call(id, to);
            // Nobody there either: go on, at most once through every queue.
            let lonely = self.acd.logged_in(to) == 0;
            if lonely && self.queue_cfg(to).overflow.is_some() && hops < self.cfg.queues.len() {
                self.overflow_hop(now, txs, id, hops + 1);
            }
            return;
        }
        // A SIP URI: call it as the call's outbound leg.
        self.acd.hold_out(id);
        let fallback = self.calls[&id].trunk.peer;
        let peer = resolve(
            &target,
            Peer {
                conn: None,
                ..fallback
            },
        );
        let dest = Destination {
            uri: target.clone(),
            routes: Vec::new(),
            peer,
        };
        if self.start_leg(now, txs, id, Target::Overflow, dest) {
            let c = self.calls.get_mut(&id).expect("present");
            c.overflowed = true;
            tracing::info!(case = %case, %target, "overflowed to another centre");
            self.record(now, Some(case), Event::Overflowed { target });
        } else {
            self.acd.requeue(id);
        }
    }

    /// Hang-up from one side: BYE (or CANCEL) the other, then end the case.
    fn end_call_from(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        id: CallId,
        reason: EndReason,
        from_trunk: bool,
    ) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        if from_trunk {
            if let Some(leg) = c.leg.as_mut() {
                if leg.state == LegState::Answered {
                    leg.dialog.cseq += 1;
                    let d = leg.dialog.clone();
                    self.send_bye(now, txs, &d);
                }
            }
        } else if matches!(c.state, CallState::Answered | CallState::Talking) {
            c.trunk.cseq += 1;
            let d = c.trunk.clone();
            self.send_bye(now, txs, &d);
        }
        self.end_call(now, txs, id, reason);
    }

    fn send_bye(&mut self, now: Instant, txs: &mut Transactions, d: &Dialog) {
        let branch = self.token();
        if let Some(bye) = self.in_dialog_request(d, "BYE", &branch, &[], None) {
            if let Some(k) = bye.send(now, txs, d.peer) {
                self.purposes.insert(k, Purpose::Fire);
            }
        }
    }

    /// Ends a call: frees its seat, cancels a ringing leg, writes `ended`.
    fn end_call(&mut self, now: Instant, txs: &mut Transactions, id: CallId, reason: EndReason) {
        let Some(mut c) = self.calls.remove(&id) else {
            return;
        };
        self.by_trunk.remove(&c.trunk.call_id);
        self.by_invite_tx.remove(&c.invite_tx);
        let mut seat_name = None;
        for f in std::mem::take(&mut c.forks) {
            self.by_leg.remove(&f.dialog.call_id);
            self.bury_leg(now, txs, f.invite_tx.clone(), f.got_response, f.dialog);
        }
        if let Some(leg) = c.leg.take() {
            self.by_leg.remove(&leg.dialog.call_id);
            // An answered leg kept its INVITE's purpose for 2xx retransmissions.
            self.purposes.remove(&leg.invite_tx);
            if let Target::Seat(s) = leg.target {
                seat_name = Some(self.acd.seat_name(s).to_string());
            }
            if leg.state != LegState::Answered {
                self.bury_leg(
                    now,
                    txs,
                    leg.invite_tx.clone(),
                    leg.got_response,
                    leg.dialog,
                );
            } else if let Target::Seat(s) = leg.target {
                let wrapup = self.queue_cfg(c.queue).wrapup;
                let talk = c
                    .answered_at
                    .map(|t| now.saturating_duration_since(t))
                    .unwrap_or_default();
                self.acd.call_ended(s, talk, wrapup, now);
                self.last_call_of_seat
                    .insert(s, (c.case.clone(), c.caller.clone()));
            }
        }
        self.acd.remove_call(id, now);
        let talk_ms = c
            .answered_at
            .map(|t| now.saturating_duration_since(t).as_millis() as u64)
            .unwrap_or(0);
        let wait_ms = c
            .answered_at
            .unwrap_or(now)
            .saturating_duration_since(c.arrived)
            .as_millis() as u64;
        if c.answered_at.is_none() {
            seat_name = None;
        }
        let queue = Some(self.queue_cfg(c.queue).name.clone());
        tracing::debug!(case = %c.case, caller = %c.caller, called = %c.called, trunk = %c.trunk_name, seat = seat_name.as_deref().unwrap_or("-"), reason = reason.as_str(), wait_ms, talk_ms, "case ended");
        self.ended.add(now, reason, wait_ms);
        self.record(
            now,
            Some(c.case.clone()),
            Event::Ended {
                reason,
                wait_ms,
                talk_ms,
                seat: seat_name,
                queue,
            },
        );
    }

    /// Sends an OPTIONS keep-alive to a seat's contact; its answer comes
    /// back through [`B2bua::poll_probe_answer`].
    ///
    /// A seat's probes share one Call-ID and From tag, the CSeq counting up
    /// (as REGISTER refreshes do): the seat's phone sees one exchange, not
    /// a new call every interval.
    pub fn probe(&mut self, now: Instant, txs: &mut Transactions, user: &str, dest: Destination) {
        let branch = self.token();
        let (call_id, tag) = (concat(&[&self.token(), "@siaga112"]), self.token());
        let (call_id, tag, cseq) = {
            let p = self
                .probe_ids
                .entry(user.to_string())
                .or_insert((call_id, tag, 0));
            p.2 += 1;
            (p.0.clone(), p.1.clone(), p.2)
        };
        let local = self.local_for(dest.peer.transport).to_string();
        let d = Dialog {
            call_id,
            local: concat(&["<sip:siaga112@", &local, ">;tag=", &tag]),
            remote: concat(&["<", &dest.uri, ">"]),
            remote_target: dest.uri,
            routes: dest.routes,
            cseq,
            peer: dest.peer,
        };
        if let Some(req) = self.in_dialog_request(&d, "OPTIONS", &branch, &[], None) {
            if let Some(k) = req.send(now, txs, d.peer) {
                self.purposes.insert(k, Purpose::Probe(user.to_string()));
            }
        }
    }

    /// A seat whose keep-alive was answered.
    pub fn poll_probe_answer(&mut self) -> Option<String> {
        self.probe_answers.pop_front()
    }

    /// The core's hook for a seat whose contact stopped (or started again)
    /// answering its keep-alives.
    pub fn seat_reachable(&mut self, now: Instant, user: &str, reachable: bool) {
        let Some(seat) = self.acd.seat_id(user) else {
            return;
        };
        let changed = if reachable {
            self.acd.seat_reachable(seat, now)
        } else {
            self.acd.seat_unreachable(seat)
        };
        if changed {
            let state = seat_state_name(self.acd.seat_state(seat));
            self.record(
                now,
                None,
                Event::Seat {
                    seat: user.to_string(),
                    state,
                    reason: (!reachable).then(|| "unreachable".to_string()),
                },
            );
        }
    }

    /// The core's hook for a seat whose softphone registered or left.
    pub fn seat_registered(&mut self, now: Instant, user: &str, registered: bool) {
        let Some(seat) = self.acd.seat_id(user) else {
            return;
        };
        if registered {
            self.acd.seat_login(seat, now);
        } else {
            self.acd.seat_logout(seat);
        }
        let state = seat_state_name(self.acd.seat_state(seat));
        self.record(
            now,
            None,
            Event::Seat {
                seat: user.to_string(),
                state,
                reason: None,
            },
        );
    }
}

impl B2bua {
    /// Whether a dialled target is one of the seats' feature codes.
    pub fn is_feature_code(&self, target: &str) -> bool {
        let a = &self.cfg.acd;
        [&a.code_pause, &a.code_unpause, &a.code_logout]
            .into_iter()
            .any(|c| c == target)
            || a.mark_codes.iter().any(|(c, _)| c == target)
    }

    /// An authenticated seat dialled a feature code: act on it, answer,
    /// and hang up.
    #[allow(clippy::too_many_arguments)]
    pub fn feature_code(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: TxKey,
        src: Peer,
        req: Request,
        user: &str,
        code: &str,
    ) {
        let Some(seat) = self.acd.seat_id(user) else {
            return self.reply(now, txs, &key, &req, 404, "Not Found", None, &[]);
        };
        let acd_cfg = self.cfg.acd.clone();
        let done = if code == acd_cfg.code_pause {
            self.acd.pause(seat, "break")
        } else if code == acd_cfg.code_unpause {
            if *self.acd.seat_state(seat) == SeatState::LoggedOut {
                self.acd.seat_login(seat, now);
                true
            } else {
                self.acd.unpause(seat, now)
            }
        } else if code == acd_cfg.code_logout {
            self.acd.seat_logout(seat);
            true
        } else if let Some((_, mark)) = acd_cfg.mark_codes.iter().find(|(c, _)| c == code) {
            match self.last_call_of_seat.get(&seat).cloned() {
                Some((case, caller)) => {
                    tracing::info!(case = %case, seat = %user, %mark, "call marked");
                    self.record(now, Some(case), Event::Outcome { mark: mark.clone() });
                    if mark == "prank" {
                        let ms = self.wall_ms(now);
                        self.pranks
                            .entry(caller_key(&caller).to_string())
                            .or_default()
                            .push_back(ms);
                    }
                    true
                }
                None => false,
            }
        } else {
            tracing::info!(seat = %user, %code, "unknown feature code");
            return self.reply(now, txs, &key, &req, 404, "Not Found", None, &[]);
        };
        if !done {
            tracing::info!(seat = %user, %code, state = %seat_state_name(self.acd.seat_state(seat)), "feature code refused in this state");
            return self.reply(now, txs, &key, &req, 409, "Conflict", None, &[]);
        }
        let state = seat_state_name(self.acd.seat_state(seat));
        if !acd_cfg.mark_codes.iter().any(|(c, _)| c == code) {
            let reason = match self.acd.seat_state(seat) {
                SeatState::Paused(r) => Some(r.clone()),
                _ => None,
            };
            tracing::info!(seat = %user, %code, %state, "feature code");
            self.record(
                now,
                None,
                Event::Seat {
                    seat: user.to_string(),
                    state,
                    reason,
                },
            );
        }
        // Answer (media inactive) and hang up as soon as the seat ACKs.
        let tag = self.token();
        let dialog = Dialog::answering(&req, &tag, src);
        let ip = self.local_for(src.transport).ip();
        let sdp = format!(
            "v=0\r\no=siaga112 1 1 IN IP4 {ip}\r\ns=siaga112\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 8\r\na=inactive\r\n"
        );
        let echo = Echo::from_request(&req);
        let data = ResponseWriter::new(&echo, 200, "OK", Some(&tag))
            .header("Contact", &self.contact_header(src.transport))
            .header("Server", &self.cfg.sip.user_agent)
            .finish(Some(("application/sdp", sdp.as_bytes())));
        txs.respond(now, &key, 200, data);
        self.feature_calls.insert(dialog.call_id.clone(), dialog);
    }

    fn wall_ms(&self, now: Instant) -> u64 {
        self.wall_epoch_ms + now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// Marked pranks of this caller within the window.
    fn recent_pranks(&mut self, caller: &str, now: Instant) -> usize {
        let window = self.cfg.acd.prank_window.as_millis() as u64;
        let now_ms = self.wall_ms(now);
        match self.pranks.get_mut(caller) {
            Some(v) => {
                while v
                    .front()
                    .is_some_and(|t| now_ms.saturating_sub(*t) > window)
                {
                    v.pop_front();
                }
                v.len()
            }
            None => 0,
        }
    }

    /// Rebuilds per-caller prank history from the case log's records.
    pub fn load_history<'a>(&mut self, records: impl IntoIterator<Item = &'a Record>) {
        let mut callers: HashMap<&str, &str> = HashMap::new();
        for r in records {
            let Some(case) = &r.case else { continue };
            match &r.event {
                Event::Opened { caller, .. } => {
                    callers.insert(case.0.as_str(), caller.as_str());
                }
                Event::Outcome { mark } if mark == "prank" => {
                    if let Some(caller) = callers.get(case.0.as_str()) {
                        self.pranks
                            .entry(caller.to_string())
                            .or_default()
                            .push_back(r.time_ms);
                    }
                }
                _ => {}
            }
        }
        for v in self.pranks.values_mut() {
            v.make_contiguous().sort_unstable();
        }
    }
}

/// Who a caller is for their history: the number (user part) of their URI.
fn caller_key(uri: &str) -> &str {
    let rest = uri.split_once(':').map(|(_, r)| r).unwrap_or(uri);
    rest.split(['@', ';']).next().unwrap_or(rest)
}

fn seat_state_name(s: &SeatState) -> String {
    match s {
        SeatState::LoggedOut => "logged-out".into(),
        SeatState::Available => "available".into(),
        SeatState::Ringing(_) => "ringing".into(),
        SeatState::OnCall(_) => "on-call".into(),
        SeatState::WrapUp { .. } => "wrap-up".into(),
        SeatState::Paused(_) => "paused".into(),
    }
}

fn strip_tag(value: &str) -> String {
    let after = match value.rfind('>') {
        Some(i) => i + 1,
        None => 0,
    };
    let (head, params) = value.split_at(after);
    let kept: Vec<&str> = params
        .split(';')
        .skip(1)
        .filter(|p| !p.trim().to_ascii_lowercase().starts_with("tag="))
        .collect();
    let mut out = head.trim().to_string();
    if head.is_empty() {
        return format!("<{}>", uri_in(value));
    }
    for p in kept {
        out.push(';');
        out.push_str(p.trim());
    }
    out
}

/// The Record-Route values of a message, in order.
fn record_routes(headers: &sip::rsip::Headers) -> Vec<String> {
    let mut out = Vec::new();
    for h in headers.iter() {
        if let sip::rsip::Header::RecordRoute(r) = h {
            out.extend(sip::split_list(r.value()).into_iter().map(str::to_string));
        }
    }
    out
}

/// A UAC's route set: the response's Record-Route, reversed (RFC 3261 §12.1.2).
fn record_routes_reversed(resp: &Response) -> Vec<String> {
    let mut r = record_routes(&resp.headers);
    r.reverse();
    r
}

#[cfg(test)]
mod summary_tests {
    use super::*;

    #[test]
    fn the_ended_summary_is_due_a_minute_after_its_first_case_and_then_resets() {
        let t0 = Instant::now();
        let mut s = EndedSummary::default();
        assert_eq!(s.due(), None, "nothing ended: no wake-up");
        s.add(t0, EndReason::Completed, 40);
        s.add(t0 + Duration::from_secs(5), EndReason::Abandoned, 900);
        s.add(t0 + Duration::from_secs(6), EndReason::Completed, 10);
        assert_eq!(s.due(), Some(t0 + SUMMARY_EVERY));
        assert_eq!(s.by_reason, [2, 1, 0, 0]);
        assert_eq!(s.wait_ms_max, 900);
        s.log_if_due(t0 + Duration::from_secs(59), 0);
        assert_eq!(s.by_reason, [2, 1, 0, 0], "not yet due: kept");
        s.log_if_due(t0 + SUMMARY_EVERY, 0);
        assert_eq!(s.due(), None);
        assert_eq!(s.by_reason, [0; 4]);
    }
}
