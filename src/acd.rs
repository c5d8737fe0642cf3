//! The automatic call distributor: queues, seats and their states, and which
//! call goes to which seat. No SIP, no clock: time is passed in.
//!
//! Every decision is a lookup in ordered sets, never a scan of all seats or
//! calls: each queue keeps its waiting calls ordered by a *virtual arrival
//! time* (arrival minus priority x aging step, so a higher priority counts
//! as having waited longer and every call's priority rises with its age at
//! the same rate: the order never changes while calls wait), and the seats
//! ready to take one of its calls ordered by the strategy's key.
//!
//! Invariant after every public call: no queue has both a waiting call and
//! an available seat that may take it (a match is made at once); the caller
//! learns of each match through [`Acd::poll_offer`].

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// A call, as the ACD knows it (the B2BUA's number for it).
pub type CallId = u64;
/// A seat, by its index in the configuration.
pub type SeatId = usize;
/// A queue, by its index in the configuration.
pub type QueueId = usize;

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
    /// Taken back from a ringing seat (the call overflows): the seat is
    /// free again and the call is not put back in the queue.
    Withdrawn,
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
}

#[derive(Debug, Clone)]
pub struct SeatSetup {
    pub name: String,
    /// The queues the seat serves, most preferred first.
    pub queues: Vec<QueueId>,
}

#[derive(Debug)]
struct Seat {
    name: String,
    queues: Vec<QueueId>,
    state: SeatState,
    /// When the seat last became available (longest-idle order).
    idle_since: Instant,
    calls_taken: u64,
}

#[derive(Debug)]
struct Queue {
    name: String,
    aging_ms: i64,
    /// (virtual arrival in ms from the epoch, sequence, call).
    waiting: BTreeSet<(i64, u64, CallId)>,
    /// (idle since, seat): the available seats serving this queue.
    available: BTreeSet<(Instant, SeatId)>,
    /// Seats logged in (any state but logged out) serving this queue.
    logged_in: usize,
}

#[derive(Debug, Clone)]
struct Waiting {
    queue: QueueId,
    key: (i64, u64, CallId),
    /// Seats that turned this call down, until when.
    skip: Vec<(SeatId, Instant)>,
    /// Queued (true) or out being offered / overflowing (false).
    queued: bool,
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
    /// How long a seat that turned a call down is not offered it again.
    retry: Duration,
    /// Seats whose registration ended while they rang or talked.
    pending_logout: HashSet<SeatId>,
    /// Wrap-up ends and retry windows, earliest first (stale ones skipped).
    timers: BTreeSet<(Instant, Timer)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    WrapUp(SeatId),
    Retry(CallId),
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
                    name: q.name,
                    aging_ms: q.aging_step.as_millis().clamp(1, 1 << 40) as i64,
                    waiting: BTreeSet::new(),
                    available: BTreeSet::new(),
                    logged_in: 0,
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
                })
                .collect(),
            calls: HashMap::new(),
            seq: 0,
            offers: VecDeque::new(),
            retry,
            pending_logout: HashSet::new(),
            timers: BTreeSet::new(),
        }
    }

    pub fn seat_id(&self, name: &str) -> Option<SeatId> {
        self.seats.iter().position(|s| s.name == name)
    }

    pub fn seat_name(&self, seat: SeatId) -> &str {
        &self.seats[seat].name
    }

    pub fn queue_id(&self, name: &str) -> Option<QueueId> {
        self.queues.iter().position(|q| q.name == name)
    }

    pub fn queue_name(&self, q: QueueId) -> &str {
        &self.queues[q].name
    }

    pub fn seat_state(&self, seat: SeatId) -> &SeatState {
        &self.seats[seat].state
    }

    pub fn calls_taken(&self, seat: SeatId) -> u64 {
        self.seats[seat].calls_taken
    }

    /// Seats logged in to serve `queue` (in any state).
    pub fn logged_in(&self, queue: QueueId) -> usize {
        self.queues[queue].logged_in
    }

    pub fn waiting(&self, queue: QueueId) -> usize {
        self.queues[queue].waiting.len()
    }

    /// The queue a call waits in (or was offered from).
    pub fn call_queue(&self, call: CallId) -> Option<QueueId> {
        self.calls.get(&call).map(|w| w.queue)
    }

    /// The next match to carry out.
    pub fn poll_offer(&mut self) -> Option<Offer> {
        self.offers.pop_front()
    }

    /// The earliest instant something may change by itself (wrap-up ends, a
    /// turned-down seat may be tried again).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|t| t.0)
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            match timer {
                Timer::WrapUp(seat) => {
                    if matches!(self.seats[seat].state, SeatState::WrapUp { until } if until <= now)
                    {
                        self.make_available(seat, now);
                    }
                }
                Timer::Retry(call) => {
                    if let Some(w) = self.calls.get_mut(&call) {
                        w.skip.retain(|s| s.1 > now);
                        self.match_call(call, now);
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------ seats

    /// The seat's softphone registered: it is ready (unless already in a state).
    pub fn seat_login(&mut self, seat: SeatId, now: Instant) {
        match self.seats[seat].state {
            SeatState::LoggedOut => {
                for &q in &self.seats[seat].queues {
                    self.queues[q].logged_in += 1;
                }
                self.make_available(seat, now);
            }
            SeatState::Paused(ref r) if r == "unreachable" => self.make_available(seat, now),
            _ => {}
        }
    }

    /// The seat's registration ended. A call in progress is not cut; the
    /// seat is logged out when it would otherwise become available.
    pub fn seat_logout(&mut self, seat: SeatId) {
        match self.seats[seat].state {
            SeatState::LoggedOut => {}
            SeatState::Ringing(_) | SeatState::OnCall(_) => {
                // Logged out when the offer or the call is over.
                self.pending_logout.insert(seat);
            }
            _ => self.log_out_now(seat),
        }
    }

    fn log_out_now(&mut self, seat: SeatId) {
        self.take_off_available(seat);
        for &q in &self.seats[seat].queues {
            self.queues[q].logged_in = self.queues[q].logged_in.saturating_sub(1);
        }
        self.seats[seat].state = SeatState::LoggedOut;
    }

    /// Pauses a seat (not while it rings or talks).
    pub fn pause(&mut self, seat: SeatId, reason: &str) -> bool {
        match self.seats[seat].state {
            SeatState::LoggedOut | SeatState::Ringing(_) | SeatState::OnCall(_) => false,
            _ => {
                self.take_off_available(seat);
                self.seats[seat].state = SeatState::Paused(reason.to_string());
                true
            }
        }
    }

    pub fn unpause(&mut self, seat: SeatId, now: Instant) -> bool {
        if matches!(self.seats[seat].state, SeatState::Paused(_)) {
            self.make_available(seat, now);
            true
        } else {
            false
        }
    }

    fn take_off_available(&mut self, seat: SeatId) {
        let key = (self.seats[seat].idle_since, seat);
        for &q in &self.seats[seat].queues {
            self.queues[q].available.remove(&key);
        }
    }

    fn make_available(&mut self, seat: SeatId, now: Instant) {
        if self.pending_logout.remove(&seat) {
            return self.log_out_now(seat);
        }
        self.take_off_available(seat);
        let s = &mut self.seats[seat];
        s.state = SeatState::Available;
        s.idle_since = now;
        let key = (now, seat);
        for &q in &self.seats[seat].queues {
            self.queues[q].available.insert(key);
        }
        self.match_seat(seat, now);
    }

    // ------------------------------------------------------------ calls

    fn virtual_ms(&self, queue: QueueId, arrival: Instant, priority: i32) -> i64 {
        let ms = arrival.saturating_duration_since(self.epoch).as_millis() as i64;
        ms - i64::from(priority) * self.queues[queue].aging_ms
    }

    /// A call starts waiting in `queue`. Higher `priority` is served first.
    pub fn enqueue(
        &mut self,
        call: CallId,
        queue: QueueId,
        priority: i32,
        arrival: Instant,
        now: Instant,
    ) {
        self.seq += 1;
        let key = (self.virtual_ms(queue, arrival, priority), self.seq, call);
        self.calls.insert(
            call,
            Waiting {
                queue,
                key,
                skip: Vec::new(),
                queued: true,
            },
        );
        self.queues[queue].waiting.insert(key);
        self.match_call(call, now);
    }

    /// Moves a waiting call to another queue, keeping its place in time.
    pub fn move_call(&mut self, call: CallId, to: QueueId, now: Instant) {
        let Some(w) = self.calls.get_mut(&call) else {
            return;
        };
        if w.queued {
            self.queues[w.queue].waiting.remove(&w.key);
        }
        w.queue = to;
        w.queued = true;
        w.skip.clear();
        let key = w.key;
        self.queues[to].waiting.insert(key);
        self.match_call(call, now);
    }

    /// Takes a call out of its queue for good (answered elsewhere, abandoned,
    /// overflowed to another centre). Frees a seat ringing with it.
    pub fn remove_call(&mut self, call: CallId, now: Instant) {
        if let Some(w) = self.calls.remove(&call) {
            if w.queued {
                self.queues[w.queue].waiting.remove(&w.key);
            }
        }
        for seat in 0..self.seats.len() {
            if self.seats[seat].state == SeatState::Ringing(call) {
                self.make_available(seat, now);
            }
        }
    }

    /// Takes a waiting call out of its queue while it is sent elsewhere
    /// (overflow); [`requeue`](Self::requeue) puts it back in its place.
    pub fn hold_out(&mut self, call: CallId) {
        if let Some(w) = self.calls.get_mut(&call) {
            if w.queued {
                self.queues[w.queue].waiting.remove(&w.key);
                w.queued = false;
            }
        }
    }

    pub fn requeue(&mut self, call: CallId, now: Instant) {
        if let Some(w) = self.calls.get_mut(&call) {
            if !w.queued {
                w.queued = true;
                let (q, key) = (w.queue, w.key);
                self.queues[q].waiting.insert(key);
                self.match_call(call, now);
            }
        }
    }

    /// The seat answered: it is on the call, which leaves the queue.
    pub fn answered(&mut self, call: CallId, seat: SeatId) {
        self.calls.remove(&call);
        self.seats[seat].state = SeatState::OnCall(call);
        self.seats[seat].calls_taken += 1;
    }

    /// The offer failed; the call goes back to its place at the head of
    /// the queue and the seat is set aside as the failure says.
    pub fn offer_failed(&mut self, call: CallId, seat: SeatId, why: OfferFailure, now: Instant) {
        if self.seats[seat].state == SeatState::Ringing(call) {
            match why {
                OfferFailure::NoAnswer => {
                    self.seats[seat].state = SeatState::Paused("no-answer".into());
                    if self.pending_logout.remove(&seat) {
                        self.log_out_now(seat);
                    }
                }
                OfferFailure::Unreachable => {
                    self.seats[seat].state = SeatState::Paused("unreachable".into());
                    if self.pending_logout.remove(&seat) {
                        self.log_out_now(seat);
                    }
                }
                OfferFailure::Withdrawn => {
                    if let Some(w) = self.calls.get_mut(&call) {
                        w.skip.push((seat, now + self.retry));
                    }
                    self.make_available(seat, now);
                    return;
                }
                OfferFailure::Rejected => {
                    if let Some(w) = self.calls.get_mut(&call) {
                        w.skip.push((seat, now + self.retry));
                        self.timers.insert((now + self.retry, Timer::Retry(call)));
                    }
                    // Back in rotation for other calls (not this one, yet).
                    self.requeue(call, now);
                    self.make_available(seat, now);
                    return;
                }
            }
        }
        self.requeue(call, now);
    }

    /// The seat's call ended; it is free after `wrapup`.
    pub fn call_ended(&mut self, seat: SeatId, wrapup: Duration, now: Instant) {
        if !matches!(self.seats[seat].state, SeatState::OnCall(_)) {
            return;
        }
        if wrapup.is_zero() {
            self.make_available(seat, now);
        } else {
            self.seats[seat].state = SeatState::WrapUp {
                until: now + wrapup,
            };
            self.timers.insert((now + wrapup, Timer::WrapUp(seat)));
        }
    }

    // ------------------------------------------------------------ matching

    /// A call just became eligible: give it the best available seat. By the
    /// invariant, no call ahead of it could take any available seat.
    fn match_call(&mut self, call: CallId, _now: Instant) {
        if !self.calls.get(&call).is_some_and(|w| w.queued) {
            return;
        }
        if let Some(seat) = self.seat_for(call) {
            self.make_offer(call, seat);
        }
    }

    /// The best available seat for a call, skipping seats that turned it down.
    fn seat_for(&self, call: CallId) -> Option<SeatId> {
        let w = self.calls.get(&call)?;
        self.queues[w.queue]
            .available
            .iter()
            .map(|k| k.1)
            .find(|s| !w.skip.iter().any(|k| k.0 == *s))
    }

    /// A seat just became available: give it the best call it may take,
    /// from its most preferred queue that has one.
    fn match_seat(&mut self, seat: SeatId, _now: Instant) {
        for qi in 0..self.seats[seat].queues.len() {
            let q = self.seats[seat].queues[qi];
            let found = self.queues[q].waiting.iter().map(|k| k.2).find(|c| {
                self.calls
                    .get(c)
                    .is_some_and(|w| !w.skip.iter().any(|k| k.0 == seat))
            });
            if let Some(call) = found {
                return self.make_offer(call, seat);
            }
        }
    }

    fn make_offer(&mut self, call: CallId, seat: SeatId) {
        let Some(w) = self.calls.get_mut(&call) else {
            return;
        };
        self.queues[w.queue].waiting.remove(&w.key);
        w.queued = false;
        self.take_off_available(seat);
        self.seats[seat].state = SeatState::Ringing(call);
        self.offers.push_back(Offer { call, seat });
    }
}
