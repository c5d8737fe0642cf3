//! Calls: waiting, moving between queues, being offered, answered or
//! given up; and the matching of calls to seats.

use super::*;

impl Acd {
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
    pub(super) fn release(&mut self, call: CallId) {
        let Some(w) = self.calls.get(&call) else {
            return;
        };
        let (home, at) = (w.queues[0], self.ms(w.arrival));
        if self.queues[home].held.remove(&(at, call)) {
            self.queue_changed(home);
        }
    }

    pub(super) fn queue_in(&mut self, call: CallId) {
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

    pub(super) fn unqueue(&mut self, call: CallId) {
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

    pub(super) fn set_aside(&mut self, seat: SeatId, reason: &str) {
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
    pub(super) fn match_call(&mut self, call: CallId) {
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
    pub(super) fn match_seat(&mut self, seat: SeatId) {
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

    pub(super) fn make_offer(&mut self, call: CallId, seat: SeatId) {
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

    pub(super) fn ring(&mut self, call: CallId, seat: SeatId) {
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
