//! Seats: logging in and out, pauses, reachability, and becoming
//! available (which offers the seat the first call it may take).

use super::*;

impl Acd {
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

    pub(super) fn log_out_now(&mut self, seat: SeatId) {
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

    pub(super) fn take_off_available(&mut self, seat: SeatId) {
        for (q, key) in std::mem::take(&mut self.seats[seat].keys) {
            self.queues[q].available.remove(&(key, seat));
        }
    }

    pub(super) fn ms(&self, t: Instant) -> i64 {
        t.saturating_duration_since(self.epoch).as_millis() as i64
    }

    pub(super) fn seat_key(&mut self, seat: SeatId, q: QueueId, level: u32) -> Key {
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

    pub(super) fn make_available(&mut self, seat: SeatId, now: Instant) {
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
}
