//! The automatic call distributor: queues, seats and their states, and which
//! call goes to which seat. No SIP, no clock: time is passed in.
//!
//! Every decision is a lookup in ordered sets, never a scan of all seats or
//! calls. Each queue keeps
//! - its waiting calls ordered by a *virtual arrival time*: arrival minus
//!   priority x aging step. A higher priority counts as having waited longer,
//!   FIFO holds within a priority, and since every call ages at the same
//!   rate the order never changes while calls wait (priority aging for free);
//! - the seats ready to take one of its calls, ordered by the queue's
//!   strategy key (longest idle, fewest calls, skill level...).
//!
//! Invariant after every public call: no queue has a waiting call and an
//! available seat that may take it (matches are made at once and reported
//! through [`Acd::poll_offer`]).
//!
//! Like the registrar's `SeatEvent`s, the ACD reports what changed:
//! [`Acd::poll_event`] names each seat whose state and each queue whose
//! waiting calls changed since the last poll (once each, however often it
//! changed), and the caller reads their state then.

use crate::rng::Rng;
use foldhash::{HashMap, HashMapExt};
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// A call, as the ACD knows it (the B2BUA's number for it).
pub type CallId = u64;
/// A seat, by its index in the configuration.
pub type SeatId = usize;
/// A queue, by its index in the configuration.
pub type QueueId = usize;

/// How a queue picks among its available seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The seat that has been available longest (the default).
    LongestIdle,
    /// The seat offered a call least recently (round robin with memory).
    RoundRobin,
    /// The seat that has taken the fewest calls.
    FewestCalls,
    /// The seat with the least talk time so far.
    LeastTalkTime,
    /// Any available seat, at random.
    Random,
    /// The lowest skill level first, longest idle within a level.
    SkillLevel,
    /// Every available seat rings at once; the first to answer takes it.
    RingAll,
}

impl Strategy {
    pub fn parse(s: &str) -> Option<Strategy> {
        Some(match s {
            "longest-idle" => Strategy::LongestIdle,
            "round-robin" => Strategy::RoundRobin,
            "fewest-calls" => Strategy::FewestCalls,
            "least-talk-time" => Strategy::LeastTalkTime,
            "random" => Strategy::Random,
            "skill-level" => Strategy::SkillLevel,
            "ring-all" => Strategy::RingAll,
            _ => return None,
        })
    }
}

/// What a seat is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatState {
    LoggedOut,
    Available,
    /// Offered a call; its softphone is ringing.
    Ringing(CallId),
    OnCall(CallId),
    WrapUp {
        until: Instant,
    },
    /// Not taking calls; the reason says why (`no-answer`, `unreachable`...).
    Paused(String),
}

/// Why an offer did not become a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferFailure {
    /// Rang until the ring timeout.
    NoAnswer,
    /// Answered busy/decline/unavailable (486, 603, 480...).
    Rejected,
    /// Never answered at all, or a transport error: out of rotation.
    Unreachable,
    /// Taken back from a ringing seat (the call moves on): the seat is free
    /// again and the call is not put back in the queue.
    Withdrawn,
}

/// A seat or a queue whose state changed (see [`Acd::poll_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcdEvent {
    Seat(SeatId),
    Queue(QueueId),
}

impl OfferFailure {
    /// The reason's name in the case log.
    pub fn as_str(self) -> &'static str {
        match self {
            OfferFailure::NoAnswer => "no-answer",
            OfferFailure::Rejected => "rejected",
            OfferFailure::Unreachable => "unreachable",
            OfferFailure::Withdrawn => "withdrawn",
        }
    }
}

/// A match the B2BUA must carry out: ring `seat` with `call`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub call: CallId,
    pub seat: SeatId,
}

#[derive(Debug, Clone)]
pub struct QueueSetup {
    pub name: String,
    /// How much waiting counts as one priority level (priority aging).
    pub aging_step: Duration,
    pub strategy: Strategy,
    /// Missed offers in a row after which a seat is paused `no-answer`.
    pub max_no_answer: u32,
}

#[derive(Debug, Clone)]
pub struct SeatSetup {
    pub name: String,
    /// The queues the seat serves, most preferred first, with its skill
    /// level in each (lower is tried first under `skill-level`).
    pub queues: Vec<(QueueId, u32)>,
}

type Key = (i64, i64);

#[derive(Debug)]
struct Seat {
    name: String,
    queues: Vec<(QueueId, u32)>,
    state: SeatState,
    idle_since: Instant,
    calls_taken: u64,
    talk_ms: u64,
    last_offer: u64,
    missed: u32,
    /// Where the seat stands in each queue's available set, while available.
    keys: Vec<(QueueId, Key)>,
    logout_pending: bool,
}

#[derive(Debug)]
struct Queue {
    aging_ms: i64,
    strategy: Strategy,
    max_no_answer: u32,
    /// (virtual arrival in ms from the epoch, sequence, call).
    waiting: BTreeSet<(i64, u64, CallId)>,
    /// (strategy key, seat): available seats serving this queue.
    available: BTreeSet<(Key, SeatId)>,
    logged_in: usize,
    /// (arrival in ms from the epoch, call) of every call whose home queue
    /// this is, until answered or gone: the wallboard's waiting calls
    /// (ringing ones too) and the longest wait.
    held: BTreeSet<(i64, CallId)>,
}

#[derive(Debug, Clone)]
struct Waiting {
    /// Its home queue first, then queues it was widened to.
    queues: Vec<QueueId>,
    key: (i64, u64, CallId),
    priority: i32,
    arrival: Instant,
    /// Seats that turned this call down, until when.
    skip: Vec<(SeatId, Instant)>,
    /// In the waiting sets (true) or out being offered / elsewhere (false).
    queued: bool,
    /// The seats ringing with it (several under ring-all).
    ringing: Vec<SeatId>,
    /// A seat never offered this call (the seat that placed it).
    exclude: Option<SeatId>,
}

impl Waiting {
    /// Whether `seat` may be offered this call now.
    fn may_take(&self, seat: SeatId) -> bool {
        self.exclude != Some(seat) && !self.skip.iter().any(|k| k.0 == seat)
    }
}

/// Due at the same instant, retry windows end before wrap-ups (the order of
/// the variants), so a freed seat sees every call it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Retry(CallId),
    WrapUp(SeatId),
}

/// The distributor.
#[derive(Debug)]
pub struct Acd {
    epoch: Instant,
    queues: Vec<Queue>,
    seats: Vec<Seat>,
    calls: HashMap<CallId, Waiting>,
    seq: u64,
    offers: VecDeque<Offer>,
    retry: Duration,
    timers: BTreeSet<(Instant, Timer)>,
    rng: Rng,
    /// Changed since the last poll, each once (flags beside the queue).
    events: VecDeque<AcdEvent>,
    seat_dirty: Vec<bool>,
    queue_dirty: Vec<bool>,
}

impl Acd {
    pub fn new(
        epoch: Instant,
        queues: Vec<QueueSetup>,
        seats: Vec<SeatSetup>,
        retry: Duration,
    ) -> Acd {
        Acd {
            epoch,
            queues: queues
                .into_iter()
                .map(|q| Queue {
                    aging_ms: q.aging_step.as_millis().clamp(1, 1 << 40) as i64,
                    strategy: q.strategy,
                    max_no_answer: q.max_no_answer.max(1),
                    waiting: BTreeSet::new(),
                    available: BTreeSet::new(),
                    logged_in: 0,
                    held: BTreeSet::new(),
                })
                .collect(),
            seats: seats
                .into_iter()
                .map(|s| Seat {
                    name: s.name,
                    queues: s.queues,
                    state: SeatState::LoggedOut,
                    idle_since: epoch,
                    calls_taken: 0,
                    talk_ms: 0,
                    last_offer: 0,
                    missed: 0,
                    keys: Vec::new(),
                    logout_pending: false,
                })
                .collect(),
            calls: HashMap::new(),
            seq: 0,
            offers: VecDeque::new(),
            retry,
            timers: BTreeSet::new(),
            rng: Rng::new(0x9e37_79b9_7f4a_7c15),
            events: VecDeque::new(),
            seat_dirty: Vec::new(),
            queue_dirty: Vec::new(),
        }
        .with_flags()
    }

    fn with_flags(mut self) -> Acd {
        self.seat_dirty = vec![false; self.seats.len()];
        self.queue_dirty = vec![false; self.queues.len()];
        self
    }

    /// Reports every seat and queue as changed (their first state, at start).
    pub fn announce_all(&mut self) {
        for s in 0..self.seats.len() {
            self.seat_changed(s);
        }
        for q in 0..self.queues.len() {
            self.queue_changed(q);
        }
    }

    /// The next seat or queue whose state changed since the last poll.
    pub fn poll_event(&mut self) -> Option<AcdEvent> {
        let e = self.events.pop_front()?;
        match e {
            AcdEvent::Seat(s) => self.seat_dirty[s] = false,
            AcdEvent::Queue(q) => self.queue_dirty[q] = false,
        }
        Some(e)
    }

    fn seat_changed(&mut self, seat: SeatId) {
        if !self.seat_dirty[seat] {
            self.seat_dirty[seat] = true;
            self.events.push_back(AcdEvent::Seat(seat));
        }
    }

    fn queue_changed(&mut self, q: QueueId) {
        if !self.queue_dirty[q] {
            self.queue_dirty[q] = true;
            self.events.push_back(AcdEvent::Queue(q));
        }
    }

    fn set_state(&mut self, seat: SeatId, state: SeatState) {
        if self.seats[seat].state != state {
            self.seats[seat].state = state;
            self.seat_changed(seat);
        }
    }

    /// The calls waiting in a queue (ringing ones too) and when the one
    /// waiting longest arrived.
    pub fn queue_status(&self, q: QueueId) -> (usize, Option<Instant>) {
        let held = &self.queues[q].held;
        let oldest = held
            .first()
            .map(|(ms, _)| self.epoch + Duration::from_millis(*ms as u64));
        (held.len(), oldest)
    }

    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    pub fn seat_id(&self, name: &str) -> Option<SeatId> {
        self.seats.iter().position(|s| s.name == name)
    }

    pub fn seat_name(&self, seat: SeatId) -> &str {
        &self.seats[seat].name
    }

    pub fn seat_count(&self) -> usize {
        self.seats.len()
    }

    pub fn seat_state(&self, seat: SeatId) -> &SeatState {
        &self.seats[seat].state
    }

    /// Seats logged in to serve `queue` (in any state).
    pub fn logged_in(&self, queue: QueueId) -> usize {
        self.queues[queue].logged_in
    }

    /// The calls waiting in a queue, first to be served first.
    pub fn waiting_calls(&self, queue: QueueId) -> impl Iterator<Item = CallId> + '_ {
        self.queues[queue].waiting.iter().map(|k| k.2)
    }

    pub fn is_queued(&self, call: CallId) -> bool {
        self.calls.get(&call).is_some_and(|w| w.queued)
    }

    /// The next match to carry out.
    pub fn poll_offer(&mut self) -> Option<Offer> {
        self.offers.pop_front()
    }

    /// The earliest instant something may change by itself (a wrap-up ends,
    /// a turned-down seat may be tried again).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|t| t.0)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        // First end every retry window that is due, then let each seat
        // those windows concerned choose (its preferred queue's head), so
        // no call is matched before an older one it stands behind.
        let mut freed: Vec<SeatId> = Vec::new();
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            match timer {
                Timer::Retry(call) => {
                    if let Some(w) = self.calls.get_mut(&call) {
                        w.skip.retain(|s| {
                            let keep = s.1 > now;
                            if !keep {
                                freed.push(s.0);
                            }
                            keep
                        });
                    }
                }
                Timer::WrapUp(seat) => {
                    if matches!(self.seats[seat].state, SeatState::WrapUp { until } if until <= now)
                    {
                        self.make_available(seat, now);
                    }
                }
            }
        }
        freed.sort_unstable();
        freed.dedup();
        for seat in freed {
            if self.seats[seat].state == SeatState::Available {
                self.match_seat(seat);
            }
        }
    }

    // ------------------------------------------------------------ seats

    /// The seat's softphone registered: it is ready (or back from unreachable).
    pub fn seat_login(&mut self, seat: SeatId, now: Instant) {
        self.seats[seat].logout_pending = false;
        match self.seats[seat].state {
            SeatState::LoggedOut => {
                for i in 0..self.seats[seat].queues.len() {
                    let q = self.seats[seat].queues[i].0;
                    self.queues[q].logged_in += 1;
                }
                self.make_available(seat, now);
            }
            SeatState::Paused(ref r) if r == "unreachable" => self.make_available(seat, now),
            _ => {}
        }
    }

    /// The seat's contact stopped answering keep-alives: out of rotation
    /// (paused `unreachable`) unless it rings or talks, which end by
    /// themselves. True if the seat's state changed.
    pub fn seat_unreachable(&mut self, seat: SeatId) -> bool {
        match self.seats[seat].state {
            SeatState::Available | SeatState::WrapUp { .. } => {
                self.take_off_available(seat);
                self.set_state(seat, SeatState::Paused("unreachable".into()));
                true
            }
            _ => false,
        }
    }

    /// The seat answers again: back in rotation if it was out for that.
    /// True if the seat's state changed.
    pub fn seat_reachable(&mut self, seat: SeatId, now: Instant) -> bool {
        if matches!(&self.seats[seat].state, SeatState::Paused(r) if r == "unreachable") {
            self.make_available(seat, now);
            true
        } else {
            false
        }
    }

    /// The seat's registration ended or it logged out. A call in progress
    /// is not cut: the seat is logged out when the call or offer is over.
    pub fn seat_logout(&mut self, seat: SeatId) {
        match self.seats[seat].state {
            SeatState::LoggedOut => {}
            SeatState::Ringing(_) | SeatState::OnCall(_) => self.seats[seat].logout_pending = true,
            _ => self.log_out_now(seat),
        }
    }

    fn log_out_now(&mut self, seat: SeatId) {
        self.take_off_available(seat);
        for i in 0..self.seats[seat].queues.len() {
            let q = self.seats[seat].queues[i].0;
            self.queues[q].logged_in = self.queues[q].logged_in.saturating_sub(1);
        }
        self.set_state(seat, SeatState::LoggedOut);
        self.seats[seat].logout_pending = false;
    }

    /// Pauses a seat (not while it rings or talks, nor when logged out).
    pub fn pause(&mut self, seat: SeatId, reason: &str) -> bool {
        match self.seats[seat].state {
            SeatState::LoggedOut | SeatState::Ringing(_) | SeatState::OnCall(_) => false,
            _ => {
                self.take_off_available(seat);
                self.set_state(seat, SeatState::Paused(reason.to_string()));
                true
            }
        }
    }

    /// Ends a pause (or a wrap-up early): the seat takes calls again.
    pub fn unpause(&mut self, seat: SeatId, now: Instant) -> bool {
        if matches!(
            self.seats[seat].state,
            SeatState::Paused(_) | SeatState::WrapUp { .. }
        ) {
            self.seats[seat].missed = 0;
            self.make_available(seat, now);
            true
        } else {
            false
        }
    }

    fn take_off_available(&mut self, seat: SeatId) {
        for (q, key) in std::mem::take(&mut self.seats[seat].keys) {
            self.queues[q].available.remove(&(key, seat));
        }
    }

    fn ms(&self, t: Instant) -> i64 {
        t.saturating_duration_since(self.epoch).as_millis() as i64
    }

    fn seat_key(&mut self, seat: SeatId, q: QueueId, level: u32) -> Key {
        let s = &self.seats[seat];
        let idle = s
            .idle_since
            .saturating_duration_since(self.epoch)
            .as_millis() as i64;
        match self.queues[q].strategy {
            Strategy::LongestIdle | Strategy::RingAll => (idle, 0),
            Strategy::RoundRobin => (s.last_offer as i64, idle),
            Strategy::FewestCalls => (s.calls_taken as i64, idle),
            Strategy::LeastTalkTime => (s.talk_ms as i64, idle),
            Strategy::SkillLevel => (i64::from(level), idle),
            Strategy::Random => ((self.rng.next_u64() >> 1) as i64, 0),
        }
    }

    fn make_available(&mut self, seat: SeatId, now: Instant) {
        if self.seats[seat].logout_pending {
            return self.log_out_now(seat);
        }
        self.take_off_available(seat);
        self.set_state(seat, SeatState::Available);
        self.seats[seat].idle_since = now;
        for i in 0..self.seats[seat].queues.len() {
            let (q, level) = self.seats[seat].queues[i];
            let key = self.seat_key(seat, q, level);
            self.queues[q].available.insert((key, seat));
            self.seats[seat].keys.push((q, key));
        }
        self.match_seat(seat);
    }

    // ------------------------------------------------------------ calls

    /// A call starts waiting in `queue`. Higher `priority` is served first.
    pub fn enqueue(&mut self, call: CallId, queue: QueueId, priority: i32, arrival: Instant) {
        self.enqueue_excluding(call, queue, priority, arrival, None)
    }

    /// [`Acd::enqueue`] for a call that `exclude` (a seat) placed itself:
    /// it is never offered to that seat.
    pub fn enqueue_excluding(
        &mut self,
        call: CallId,
        queue: QueueId,
        priority: i32,
        arrival: Instant,
        exclude: Option<SeatId>,
    ) {
        self.seq += 1;
        let virt = self.ms(arrival) - i64::from(priority) * self.queues[queue].aging_ms;
        let w = Waiting {
            queues: vec![queue],
            key: (virt, self.seq, call),
            priority,
            arrival,
            skip: Vec::new(),
            queued: false,
            ringing: Vec::new(),
            exclude,
        };
        self.calls.insert(call, w);
        let at = self.ms(arrival);
        self.queues[queue].held.insert((at, call));
        self.queue_changed(queue);
        self.queue_in(call);
        self.match_call(call);
    }

    /// The call leaves its home queue's held set (answered, gone, moved).
    fn release(&mut self, call: CallId) {
        let Some(w) = self.calls.get(&call) else {
            return;
        };
        let (home, at) = (w.queues[0], self.ms(w.arrival));
        if self.queues[home].held.remove(&(at, call)) {
            self.queue_changed(home);
        }
    }

    fn queue_in(&mut self, call: CallId) {
        let Some(w) = self.calls.get_mut(&call) else {
            return;
        };
        if w.queued {
            return;
        }
        w.queued = true;
        for &q in &w.queues {
            self.queues[q].waiting.insert(w.key);
        }
    }

    fn unqueue(&mut self, call: CallId) {
        let Some(w) = self.calls.get_mut(&call) else {
            return;
        };
        if !w.queued {
            return;
        }
        w.queued = false;
        for &q in &w.queues {
            self.queues[q].waiting.remove(&w.key);
        }
    }

    /// Moves a call to another queue (overflow), keeping its arrival time
    /// and priority; re-keyed with the new queue's aging step.
    pub fn move_call(&mut self, call: CallId, to: QueueId) {
        self.unqueue(call);
        self.release(call);
        if let Some(w) = self.calls.get(&call) {
            let at = self.ms(w.arrival);
            self.queues[to].held.insert((at, call));
            self.queue_changed(to);
        }
        let aging = self.queues[to].aging_ms;
        let arrival_ms = match self.calls.get(&call) {
            Some(w) => self.ms(w.arrival),
            None => return,
        };
        let Some(w) = self.calls.get_mut(&call) else {
            return;
        };
        w.queues = vec![to];
        w.key.0 = arrival_ms - i64::from(w.priority) * aging;
        w.skip.clear();
        self.queue_in(call);
        self.match_call(call);
    }

    /// Makes a waiting call eligible for another queue's seats too, keeping
    /// its place in its own queue.
    pub fn widen(&mut self, call: CallId, to: QueueId) {
        let Some(w) = self.calls.get(&call) else {
            return;
        };
        if w.queues.contains(&to) {
            return;
        }
        let queued = w.queued;
        self.unqueue(call);
        if let Some(w) = self.calls.get_mut(&call) {
            w.queues.push(to);
        }
        if queued {
            self.queue_in(call);
            self.match_call(call);
        }
    }

    /// Takes a call out for good (answered elsewhere, abandoned, sent to
    /// another centre). Frees a seat ringing with it.
    pub fn remove_call(&mut self, call: CallId, now: Instant) {
        self.unqueue(call);
        self.release(call);
        for seat in self
            .calls
            .remove(&call)
            .map(|w| w.ringing)
            .unwrap_or_default()
        {
            if self.seats[seat].state == SeatState::Ringing(call) {
                self.make_available(seat, now);
            }
        }
    }

    /// Takes a waiting call out of its queue while it is sent elsewhere;
    /// [`requeue`](Self::requeue) puts it back in its place.
    pub fn hold_out(&mut self, call: CallId) {
        self.unqueue(call);
    }

    /// (Not while a seat still rings with it.)
    pub fn requeue(&mut self, call: CallId) {
        if self
            .calls
            .get(&call)
            .is_some_and(|w| !w.queued && w.ringing.is_empty())
        {
            self.queue_in(call);
            self.match_call(call);
        }
    }

    /// The seat answered: it is on the call, which leaves the ACD.
    pub fn answered(&mut self, call: CallId, seat: SeatId) {
        self.unqueue(call);
        self.release(call);
        self.calls.remove(&call);
        self.set_state(seat, SeatState::OnCall(call));
        let s = &mut self.seats[seat];
        s.calls_taken += 1;
        s.missed = 0;
    }

    /// The offer failed. The call goes back to its place; the seat is set
    /// aside as the failure says. Returns the seat's new state.
    pub fn offer_failed(
        &mut self,
        call: CallId,
        seat: SeatId,
        why: OfferFailure,
        now: Instant,
    ) -> SeatState {
        // Under ring-all other seats may still ring: the call waits for them.
        let others_ring = match self.calls.get_mut(&call) {
            Some(w) => {
                w.ringing.retain(|s| *s != seat);
                !w.ringing.is_empty()
            }
            None => false,
        };
        if others_ring {
            if self.seats[seat].state == SeatState::Ringing(call) {
                match why {
                    OfferFailure::NoAnswer => {
                        self.seats[seat].missed += 1;
                        let max = self
                            .calls
                            .get(&call)
                            .map(|w| self.queues[w.queues[0]].max_no_answer)
                            .unwrap_or(1);
                        if self.seats[seat].missed >= max {
                            self.set_aside(seat, "no-answer");
                            return self.seats[seat].state.clone();
                        }
                    }
                    OfferFailure::Unreachable => {
                        self.set_aside(seat, "unreachable");
                        return self.seats[seat].state.clone();
                    }
                    OfferFailure::Rejected | OfferFailure::Withdrawn => {}
                }
                if let Some(w) = self.calls.get_mut(&call) {
                    w.skip.push((seat, now + self.retry));
                    self.timers.insert((now + self.retry, Timer::Retry(call)));
                }
                self.make_available(seat, now);
            }
            return self.seats[seat].state.clone();
        }
        if self.seats[seat].state == SeatState::Ringing(call) {
            let home = self.calls.get(&call).map(|w| w.queues[0]);
            let max_missed = home.map(|q| self.queues[q].max_no_answer).unwrap_or(1);
            let skip_this = |acd: &mut Acd| {
                if let Some(w) = acd.calls.get_mut(&call) {
                    w.skip.push((seat, now + acd.retry));
                    acd.timers.insert((now + acd.retry, Timer::Retry(call)));
                }
            };
            match why {
                OfferFailure::NoAnswer => {
                    self.seats[seat].missed += 1;
                    if self.seats[seat].missed >= max_missed {
                        self.set_aside(seat, "no-answer");
                    } else {
                        skip_this(self);
                        self.requeue(call);
                        self.make_available(seat, now);
                        return self.seats[seat].state.clone();
                    }
                }
                OfferFailure::Unreachable => self.set_aside(seat, "unreachable"),
                OfferFailure::Withdrawn => {
                    skip_this(self);
                    self.make_available(seat, now);
                    return self.seats[seat].state.clone();
                }
                OfferFailure::Rejected => {
                    skip_this(self);
                    self.requeue(call);
                    self.make_available(seat, now);
                    return self.seats[seat].state.clone();
                }
            }
        }
        if why != OfferFailure::Withdrawn {
            self.requeue(call);
        }
        self.seats[seat].state.clone()
    }

    fn set_aside(&mut self, seat: SeatId, reason: &str) {
        if self.seats[seat].logout_pending {
            self.log_out_now(seat);
        } else {
            self.set_state(seat, SeatState::Paused(reason.into()));
        }
    }

    /// The seat's call ended after `talk`; it is free after `wrapup`.
    pub fn call_ended(&mut self, seat: SeatId, talk: Duration, wrapup: Duration, now: Instant) {
        if !matches!(self.seats[seat].state, SeatState::OnCall(_)) {
            return;
        }
        self.seats[seat].talk_ms += talk.as_millis() as u64;
        if wrapup.is_zero() || self.seats[seat].logout_pending {
            self.make_available(seat, now);
        } else {
            self.set_state(
                seat,
                SeatState::WrapUp {
                    until: now + wrapup,
                },
            );
            self.timers.insert((now + wrapup, Timer::WrapUp(seat)));
        }
    }

    // ------------------------------------------------------------ matching

    /// A call just became eligible: give it the best available seat of its
    /// home queue, else of a queue it was widened to. By the invariant, no
    /// call ahead of it could take any of those seats.
    fn match_call(&mut self, call: CallId) {
        let Some(w) = self.calls.get(&call) else {
            return;
        };
        if !w.queued {
            return;
        }
        let found = w.queues.iter().find_map(|&q| {
            self.queues[q]
                .available
                .iter()
                .map(|k| k.1)
                .find(|s| w.may_take(*s))
        });
        if let Some(seat) = found {
            self.make_offer(call, seat);
        }
    }

    /// A seat just became available: give it the first call it may take,
    /// from its most preferred queue that has one.
    fn match_seat(&mut self, seat: SeatId) {
        for i in 0..self.seats[seat].queues.len() {
            let q = self.seats[seat].queues[i].0;
            let found = self.queues[q]
                .waiting
                .iter()
                .map(|k| k.2)
                .find(|c| self.calls.get(c).is_some_and(|w| w.may_take(seat)));
            if let Some(call) = found {
                return self.make_offer(call, seat);
            }
        }
    }

    fn make_offer(&mut self, call: CallId, seat: SeatId) {
        self.unqueue(call);
        self.ring(call, seat);
        // Ring-all: every other available seat of the call's queue rings too.
        let Some(w) = self.calls.get(&call) else {
            return;
        };
        let home = w.queues[0];
        if self.queues[home].strategy == Strategy::RingAll {
            let more: Vec<SeatId> = self.queues[home]
                .available
                .iter()
                .map(|k| k.1)
                .filter(|s| w.may_take(*s))
                .collect();
            for s in more {
                self.ring(call, s);
            }
        }
    }

    fn ring(&mut self, call: CallId, seat: SeatId) {
        if let Some(w) = self.calls.get_mut(&call) {
            w.ringing.push(seat);
        }
        self.take_off_available(seat);
        self.seq += 1;
        self.seats[seat].last_offer = self.seq;
        self.set_state(seat, SeatState::Ringing(call));
        self.offers.push_back(Offer { call, seat });
    }
}

#[cfg(test)]
mod tests;
