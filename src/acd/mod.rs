//! The automatic call distributor: queues, seats and their states, and which
//! call goes to which seat. No SIP, no clock: time is passed in.
//!
//! Decisions are lookups in ordered sets: the best seat or the first call
//! is the first entry that this call or seat has not turned down (a walk
//! past those only, not a scan of every seat or call). Each queue keeps
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

    /// How many calls wait in a queue (not those ringing a seat).
    pub fn waiting_len(&self, queue: QueueId) -> usize {
        self.queues[queue].waiting.len()
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
}

mod calls;
mod seats;
#[cfg(test)]
mod tests;
