//! OPTIONS keep-alives of registered seats, as a timer table: which seat is
//! due a probe, and which left its last probe unanswered for too long.
//! Sending the OPTIONS and matching its answer is the core's work.

use foldhash::{HashMap, HashMapExt};
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Watch {
    /// When the next probe goes out.
    due: Instant,
    /// While a probe is unanswered: when it counts as lost.
    deadline: Option<Instant>,
    alive: bool,
}

#[derive(Debug)]
pub struct Keepalive {
    /// Zero: no probes.
    every: Duration,
    /// A probe unanswered this long is lost.
    wait: Duration,
    seats: HashMap<String, Watch>,
    /// (instant, seat): due probes and deadlines; stale entries (the seat's
    /// times moved on) are skipped when they come up.
    timers: BTreeSet<(Instant, String)>,
    probes: VecDeque<String>,
}

impl Keepalive {
    pub fn new(every: Duration, wait: Duration) -> Keepalive {
        Keepalive {
            every,
            wait,
            seats: HashMap::new(),
            timers: BTreeSet::new(),
            probes: VecDeque::new(),
        }
    }

    /// Starts probing a seat that just registered.
    pub fn watch(&mut self, user: &str, now: Instant) {
        if self.every.is_zero() {
            return;
        }
        let due = now + self.every;
        self.seats.insert(
            user.to_string(),
            Watch {
                due,
                deadline: None,
                alive: true,
            },
        );
        self.timers.insert((due, user.to_string()));
    }

    /// The seat has no binding any more.
    pub fn forget(&mut self, user: &str) {
        self.seats.remove(user);
        self.probes.retain(|u| u != user);
    }

    pub fn is_alive(&self, user: &str) -> bool {
        self.seats.get(user).is_none_or(|w| w.alive)
    }

    pub fn poll_probe(&mut self) -> Option<String> {
        self.probes.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|t| t.0)
    }

    /// The seat answered a probe. True if it was out of rotation until now.
    pub fn answered(&mut self, user: &str) -> bool {
        let Some(w) = self.seats.get_mut(user) else {
            return false;
        };
        w.deadline = None;
        let revived = !w.alive;
        w.alive = true;
        revived
    }

    /// Sends the probes that are due; returns the seats whose probe was
    /// just lost (they were alive until now).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<String> {
        let mut lost = Vec::new();
        while let Some((at, _)) = self.timers.first() {
            if *at > now {
                break;
            }
            let Some((at, user)) = self.timers.pop_first() else {
                break;
            };
            let Some(w) = self.seats.get_mut(&user) else {
                continue;
            };
            if w.deadline == Some(at) {
                w.deadline = None;
                if w.alive {
                    w.alive = false;
                    lost.push(user.clone());
                }
            }
            if w.due == at {
                w.due = at + self.every;
                self.timers.insert((w.due, user.clone()));
                if w.deadline.is_none() {
                    let deadline = now + self.wait;
                    w.deadline = Some(deadline);
                    self.timers.insert((deadline, user.clone()));
                }
                self.probes.push_back(user);
            }
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_seat_is_lost_once_and_revived_by_an_answer() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut k = Keepalive::new(s(30), s(4));
        k.watch("op1", t0);
        assert_eq!(k.poll_timeout(), Some(t0 + s(30)));
        assert!(k.handle_timeout(t0 + s(29)).is_empty());
        assert_eq!(k.poll_probe(), None);
        assert!(k.handle_timeout(t0 + s(30)).is_empty());
        assert_eq!(k.poll_probe().as_deref(), Some("op1"));
        // Answered in time: still alive, next probe 30 s after the last.
        assert!(!k.answered("op1"));
        assert!(k.handle_timeout(t0 + s(34)).is_empty());
        assert!(k.is_alive("op1"));
        k.handle_timeout(t0 + s(60));
        assert_eq!(k.poll_probe().as_deref(), Some("op1"));
        // Not answered within 4 s: lost, reported once.
        assert_eq!(k.handle_timeout(t0 + s(64)), vec!["op1".to_string()]);
        assert!(!k.is_alive("op1"));
        k.handle_timeout(t0 + s(90));
        assert_eq!(k.poll_probe().as_deref(), Some("op1"), "still probed");
        assert!(k.handle_timeout(t0 + s(94)).is_empty(), "lost only once");
        // An answer brings it back.
        assert!(k.answered("op1"));
        assert!(k.is_alive("op1"));
        k.forget("op1");
        assert!(k.is_alive("op1"), "an unwatched seat is not held back");
        k.handle_timeout(t0 + s(200));
        assert_eq!(k.poll_probe(), None);
    }

    #[test]
    fn zero_interval_means_no_probes() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Duration::ZERO, Duration::from_secs(4));
        k.watch("op1", t0);
        assert_eq!(k.poll_timeout(), None);
        assert!(k.is_alive("op1"));
    }
}
