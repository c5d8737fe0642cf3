//! The B2BUA: every call is a trunk leg plus outbound legs with roles (the
//! seats that ring, the overflow target), run as a state machine on an
//! explicit clock: ringing, answer, bridge, re-offer, abandon, overflow and
//! hang-up. It drives the ACD and turns its matches into INVITEs.
//!
//! Every call that reaches it becomes a case: the records it emits are the
//! case log's events, and every change a person could want to see comes
//! out as an [`Event`].
//!
//! - `table`: the calls and their indexes
//! - `leg`: legs with roles, dialogs
//! - `trunk`: answering the caller's side (180, 200, failures, CANCEL)
//! - `offer`: ringing seats and the overflow target, their answers
//! - `purpose`: what each client transaction is for, relay, glare
//! - `dialog`: in-dialog requests, hang-ups, the requests we write
//! - `overflow`: max-wait, widening, overflow to a queue or a URI
//! - `features`: dialled codes as operator commands
//! - `commands`: operator commands applied to seats and cases
//! - `case`: the records a call writes, prank history, the summary line

mod case;
mod commands;
mod dialog;
mod features;
mod inputs;
mod leg;
mod media;
mod offer;
mod overflow;
mod purpose;
pub mod subscriptions;
mod table;
mod text;
mod tickets;
mod trunk;

pub use case::EndedSummary;
pub use leg::Role;

use crate::acd::{Acd, AcdEvent, CallId, QueueId, QueueSetup, SeatId, SeatSetup, SeatState};
use crate::caselog::{CaseId, CaseIds, Kind, Record};
use crate::config::{Config, QueueConfig};
use crate::operator::{Event, QueueStatus, SeatPhase, SeatStatus};
use crate::registrar::Registrar;
use crate::rng::Rng;
use crate::sip::rsip::Request;
use crate::sip::{self, Echo, Peer, Transport};
use crate::transaction::{Transactions, TxKey};
use bytes::Bytes;
use case::{History, Pranks};
use foldhash::{HashMap, HashMapExt};
use leg::Dialog;
use overflow::CallTimer;
use purpose::{Purpose, Zombie};
use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use table::Calls;

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
    /// Matched only by a catch-all route (`match = ["*"]`): a number the
    /// centre does not list.
    pub catch_all: bool,
}

/// What the B2BUA wants the core to pass on.
#[derive(Debug)]
pub enum CallOutput {
    /// A message outside any transaction (the ACK of a 2xx, a zombie's BYE).
    Transmit(Peer, Bytes),
    Record(Arc<Record>),
    Event(Event),
    /// For the media machine.
    Media(crate::media::MediaCommand),
}

/// Our own addresses, as Vias and Contacts name them.
#[derive(Debug)]
struct Local {
    udp: Own,
    tcp: Option<Own>,
    tls: Option<Own>,
}

/// One of our listening sockets: its address, sent-by and Contact.
#[derive(Debug)]
struct Own {
    addr: SocketAddr,
    text: String,
    contact: String,
}

impl Own {
    fn new(addr: SocketAddr, contact: String) -> Own {
        Own {
            addr,
            text: addr.to_string(),
            contact,
        }
    }
}

impl Local {
    fn new(cfg: &Config) -> Local {
        use crate::config::ListenTransport as L;
        let local = |t| {
            cfg.sip
                .listen
                .iter()
                .find(|l| l.transport == t)
                .map(|l| l.addr)
        };
        let udp = local(L::Udp)
            .or(local(L::Tcp))
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)));
        Local {
            udp: Own::new(udp, format!("<sip:siaga112@{udp}>")),
            tcp: local(L::Tcp).map(|a| Own::new(a, format!("<sip:siaga112@{a};transport=tcp>"))),
            // Over TLS our Contact is a SIPS URI (RFC 3261 §26.2.1, RFC 5630):
            // requests back to us must come over TLS too.
            tls: local(L::Tls).map(|a| Own::new(a, format!("<sips:siaga112@{a}>"))),
        }
    }

    fn own(&self, t: Transport) -> &Own {
        let o = match t {
            Transport::Udp => None,
            Transport::Tcp => self.tcp.as_ref(),
            Transport::Tls => self.tls.as_ref(),
        };
        o.unwrap_or(&self.udp)
    }

    fn addr(&self, t: Transport) -> SocketAddr {
        self.own(t).addr
    }

    /// Sent-by of our Via.
    fn via(&self, t: Transport) -> &str {
        &self.own(t).text
    }

    fn contact(&self, t: Transport) -> &str {
        &self.own(t).contact
    }
}

/// The B2BUA and the ACD it drives.
pub struct B2bua {
    cfg: Arc<Config>,
    acd: Acd,
    calls: Calls,
    purposes: HashMap<TxKey, Purpose>,
    zombies: HashMap<String, Zombie>,
    timers: BTreeSet<(Instant, CallId, CallTimer)>,
    out: VecDeque<CallOutput>,
    case_ids: CaseIds,
    next_call: CallId,
    leg_gen: u32,
    epoch: Instant,
    wall_epoch_ms: u64,
    local: Local,
    rng: Rng,
    /// Seat and queue names, shared by every event and record that names them.
    seat_names: Vec<Arc<str>>,
    queue_names: Vec<Arc<str>>,
    /// Calls offered to a seat in the very input that brought them.
    offered_at_once: bool,
    /// The cases each seat handled lately (for outcome marks).
    history: History,
    /// Calls marked prank per caller.
    pranks: Pranks,
    /// Feature-code calls answered, waiting for the ACK to hang up.
    feature_calls: HashMap<String, Dialog>,
    /// Seats whose keep-alive was answered, for the registrar.
    probe_answers: VecDeque<String>,
    /// Each seat's keep-alive Call-ID, From tag and last CSeq (one entry a
    /// seat: bounded by the configuration).
    probe_ids: HashMap<String, (String, String, u32)>,
    ended: EndedSummary,
    /// The relay, when `[media] enabled`.
    media: Option<media::MediaPlane>,
    /// Tickets of cases not closed yet.
    tickets: tickets::Tickets,
    /// Who follows the queues' and the centre's state (NENA i3).
    subs: subscriptions::Subscriptions,
    /// Open text calls by the caller's number.
    texts: HashMap<String, CallId>,
    /// Operators' text messages to send, and conversations to end (from
    /// commands, which have no transaction layer at hand).
    outgoing_texts: Vec<(CallId, String)>,
    ending_texts: Vec<CallId>,
}

impl B2bua {
    pub fn new(
        cfg: Arc<Config>,
        epoch: Instant,
        wall_epoch_ms: u64,
        boot: u32,
        seed: u64,
        prompts: Arc<crate::media::Prompts>,
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
        let mut acd = Acd::new(epoch, queues, seats, cfg.sip.retry);
        // The first events say where every seat and queue starts.
        acd.announce_all();
        B2bua {
            acd,
            media: media::MediaPlane::new(&cfg, prompts),
            tickets: tickets::Tickets::default(),
            subs: subscriptions::Subscriptions::default(),
            texts: HashMap::new(),
            outgoing_texts: Vec::new(),
            ending_texts: Vec::new(),
            seat_names: cfg
                .seats
                .iter()
                .map(|s| Arc::from(s.user.as_str()))
                .collect(),
            queue_names: cfg
                .queues
                .iter()
                .map(|q| Arc::from(q.name.as_str()))
                .collect(),
            local: Local::new(&cfg),
            history: History::new(cfg.seats.len()),
            cfg,
            calls: Calls::new(),
            purposes: HashMap::new(),
            zombies: HashMap::new(),
            timers: BTreeSet::new(),
            out: VecDeque::new(),
            case_ids: CaseIds::new(boot),
            next_call: 0,
            leg_gen: 0,
            epoch,
            wall_epoch_ms,
            rng: Rng::new(seed),
            offered_at_once: false,
            pranks: Pranks::default(),
            feature_calls: HashMap::new(),
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

    /// Sizes of every per-call table (for leak checks): the call table's
    /// five indexes, client-transaction purposes, zombies, feature calls,
    /// timers.
    pub fn table_sizes(&self) -> [usize; 9] {
        let [a, b, c, d, e] = self.calls.sizes();
        [
            a,
            b,
            c,
            d,
            e,
            self.purposes.len(),
            self.zombies.len(),
            self.feature_calls.len(),
            self.timers.len(),
        ]
    }

    /// The next thing for the core to pass on.
    pub fn poll_output(&mut self) -> Option<CallOutput> {
        self.out.pop_front()
    }

    /// Whether a call was offered to a seat in the input just handled.
    pub fn take_offered_at_once(&mut self) -> bool {
        std::mem::take(&mut self.offered_at_once)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.first().map(|t| t.0),
            self.acd.poll_timeout(),
            self.ended.due(),
            self.subs.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn wall_ms(&self, now: Instant) -> u64 {
        self.wall_epoch_ms + now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    fn record(&mut self, now: Instant, case: Option<CaseId>, kind: Kind) {
        let time_ms = self.wall_ms(now);
        self.out.push_back(CallOutput::Record(Arc::new(Record {
            time_ms,
            case,
            kind,
        })));
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(CallOutput::Event(e));
    }

    fn token(&mut self) -> String {
        self.rng.token()
    }

    fn queue_cfg(&self, q: QueueId) -> &QueueConfig {
        &self.cfg.queues[q]
    }

    fn seat_name(&self, s: SeatId) -> &Arc<str> {
        &self.seat_names[s]
    }

    /// Answers a server transaction: `tag` for the To (a fresh one if None).
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
        let own;
        let tag = match tag {
            Some(t) => t,
            None => {
                own = self.token();
                &own
            }
        };
        let echo = Echo::from_request(req);
        let extra = extra.iter().copied();
        let data =
            sip::write::response(&echo, status, reason, tag, extra, &self.cfg.sip.user_agent);
        txs.respond(now, key, status, data);
    }

    /// The queue and service of a dialled target (`112`, `urn:service:sos.fire`...).
    /// A catch-all route (`match = ["*"]`) comes after every other, in any
    /// order of the config.
    pub fn route(&self, target: &str) -> Option<RouteMatch> {
        if target.is_empty() {
            return None;
        }
        for catch_all in [false, true] {
            if let Some(m) = self.route_pass(target, catch_all) {
                return Some(m);
            }
        }
        None
    }

    fn route_pass(&self, target: &str, catch_all: bool) -> Option<RouteMatch> {
        for r in &self.cfg.routes {
            for m in &r.matches {
                let hit = match (m.as_str(), m.strip_suffix('*')) {
                    ("*", _) => catch_all,
                    (_, _) if catch_all => false,
                    (_, Some(prefix)) => target.len() > prefix.len() && target.starts_with(prefix),
                    (_, None) => m == target,
                };
                if hit {
                    let queue = self.cfg.queues.iter().position(|q| q.name == r.queue)?;
                    let service = match target.strip_prefix("urn:service:") {
                        Some(s) => s.to_string(),
                        None => r.service.clone().unwrap_or_else(|| target.to_string()),
                    };
                    return Some(RouteMatch {
                        queue,
                        service,
                        priority: r.priority,
                        catch_all,
                    });
                }
            }
        }
        None
    }

    /// Rings the seats the ACD matched, then reports what changed. The core
    /// calls this after every input, so a match never waits.
    pub fn settle(&mut self, now: Instant, txs: &mut Transactions, reg: &Registrar) {
        self.flush_texts(now, txs);
        while let Some(offer) = self.acd.poll_offer() {
            self.offer(now, txs, reg, offer.call, offer.seat);
        }
        let mut changed = false;
        while let Some(e) = self.acd.poll_event() {
            changed = true;
            let ev = match e {
                AcdEvent::Seat(s) => Event::Seat(self.seat_status(s)),
                AcdEvent::Queue(q) => Event::Queue(self.queue_status(q)),
            };
            self.event(ev);
        }
        self.refresh_subscriptions(now, txs, changed);
    }

    /// A seat's state as the screens show it.
    pub fn seat_status(&self, s: SeatId) -> SeatStatus {
        let (phase, reason, call) = match self.acd.seat_state(s) {
            SeatState::LoggedOut => (SeatPhase::LoggedOut, None, None),
            SeatState::Available => (SeatPhase::Available, None, None),
            SeatState::Ringing(c) => (SeatPhase::Ringing, None, Some(*c)),
            SeatState::OnCall(c) => (SeatPhase::OnCall, None, Some(*c)),
            SeatState::WrapUp { .. } => (SeatPhase::WrapUp, None, None),
            SeatState::Paused(r) => (SeatPhase::Paused, Some(r.clone()), None),
        };
        SeatStatus {
            seat: self.seat_name(s).clone(),
            phase,
            reason,
            case: call.and_then(|c| self.calls.get(c)).map(|c| c.case.clone()),
        }
    }

    /// A queue's waiting calls as the wallboard shows them.
    pub fn queue_status(&self, q: QueueId) -> QueueStatus {
        let (waiting, oldest) = self.acd.queue_status(q);
        QueueStatus {
            queue: self.queue_names[q].clone(),
            waiting: waiting as u32,
            oldest_ms: oldest.map(|t| self.wall_ms(t)),
        }
    }

    /// Every seat's and queue's state now (what the events have said).
    pub fn snapshot(&self) -> (Vec<SeatStatus>, Vec<QueueStatus>) {
        (
            (0..self.seat_names.len())
                .map(|s| self.seat_status(s))
                .collect(),
            (0..self.queue_names.len())
                .map(|q| self.queue_status(q))
                .collect(),
        )
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
        self.seat_record(now, seat, None);
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
            let why = (!reachable).then_some(crate::operator::reason::UNREACHABLE);
            self.seat_record(now, seat, why);
        }
    }

    /// A seat's state into the case log, with `why` it changed (its pause
    /// reason by default).
    fn seat_record(&mut self, now: Instant, seat: SeatId, why: Option<&str>) {
        let status = self.seat_status(seat);
        let reason = why.map(str::to_string).or(status.reason);
        self.record(
            now,
            None,
            Kind::Seat {
                seat: status.seat.to_string(),
                state: status.phase.as_str().to_string(),
                reason,
            },
        );
    }

    pub fn handle_timeout(&mut self, now: Instant, txs: &mut Transactions) {
        self.acd.handle_timeout(now);
        self.refresh_subscriptions(now, txs, false);
        self.ended.log_if_due(now, self.calls.len());
        while let Some(&(at, id, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            self.fire(now, txs, id, timer);
        }
        self.zombies.retain(|_, z| z.until > now);
        self.sweep_recordings(now);
    }
}
