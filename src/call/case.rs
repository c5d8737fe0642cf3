//! What a call leaves behind: its end (the `ended` record, the per-minute
//! summary line), the cases each seat handled lately (to mark them), and
//! callers' prank history (to queue them lower).

use super::leg::{LegState, Role};
use super::B2bua;
use crate::acd::{CallId, SeatId};
use crate::caselog::{CaseId, EndReason, Kind, Record};
use crate::operator::{CallPhase, CallStatus, Event};
use crate::transaction::Transactions;
use foldhash::{HashMap, HashMapExt};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many recent cases of each seat can still be marked.
const HISTORY_PER_SEAT: usize = 16;

/// The "cases ended" line at info level, once a minute while calls end:
/// one line per call (now at debug) cost a formatted write to stderr per
/// call on the SIP path, and the case log holds every case anyway.
#[derive(Debug, Default)]
pub struct EndedSummary {
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
            EndReason::Failed | EndReason::MediaTimeout | EndReason::Refused => 3,
        };
        self.by_reason[i] += 1;
        self.wait_ms_max = self.wait_ms_max.max(wait_ms);
    }

    pub fn due(&self) -> Option<Instant> {
        self.since.map(|t| t + SUMMARY_EVERY)
    }

    /// Logs and resets if a minute has passed since the first case counted.
    pub fn log_if_due(&mut self, now: Instant, waiting: usize) {
        self.log(now, waiting, false)
    }

    /// Logs and resets when due, or (`at_stop`) now if anything was counted.
    pub fn log(&mut self, now: Instant, waiting: usize, at_stop: bool) {
        if self.due().is_some_and(|at| at <= now || at_stop) {
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

/// A case a seat handled.
#[derive(Debug, Clone)]
pub struct Handled {
    pub case: CaseId,
    pub caller: String,
    /// Its class, once an operator set one.
    pub class: Option<String>,
}

/// The cases each seat handled lately, newest last.
#[derive(Debug)]
pub struct History {
    seats: Vec<VecDeque<Handled>>,
}

impl History {
    pub fn new(seats: usize) -> History {
        History {
            seats: vec![VecDeque::new(); seats],
        }
    }

    fn push(&mut self, seat: SeatId, entry: Handled) {
        let h = &mut self.seats[seat];
        if h.len() == HISTORY_PER_SEAT {
            h.pop_front();
        }
        h.push_back(entry);
    }

    /// The seat's last case, or the given one if the seat handled it.
    pub fn find(&self, seat: SeatId, case: Option<&CaseId>) -> Option<&Handled> {
        let h = &self.seats[seat];
        match case {
            None => h.back(),
            Some(c) => h.iter().rev().find(|e| &e.case == c),
        }
    }

    /// Any seat's recent case of that id (a supervisor's action).
    pub fn find_any(&self, case: &CaseId) -> Option<&Handled> {
        self.seats
            .iter()
            .find_map(|h| h.iter().rev().find(|e| &e.case == case))
    }

    /// The same, to change (a class set in wrap-up).
    pub fn find_any_mut(&mut self, case: &CaseId) -> Option<&mut Handled> {
        self.seats
            .iter_mut()
            .find_map(|h| h.iter_mut().rev().find(|e| &e.case == case))
    }
}

/// Calls marked prank, per caller: unix ms of each mark.
#[derive(Debug, Default)]
pub struct Pranks {
    by_caller: HashMap<String, VecDeque<u64>>,
}

impl Pranks {
    pub fn add(&mut self, caller: &str, at_ms: u64) {
        self.by_caller
            .entry(caller_key(caller).to_string())
            .or_default()
            .push_back(at_ms);
    }

    /// Marks of this caller within `window_ms` of `now_ms` (older ones go).
    pub fn recent(&mut self, caller: &str, now_ms: u64, window_ms: u64) -> usize {
        match self.by_caller.get_mut(caller_key(caller)) {
            Some(v) => {
                while v
                    .front()
                    .is_some_and(|t| now_ms.saturating_sub(*t) > window_ms)
                {
                    v.pop_front();
                }
                v.len()
            }
            None => 0,
        }
    }
}

/// Who a caller is for their history: the number (user part) of their URI.
fn caller_key(uri: &str) -> &str {
    let rest = uri.split_once(':').map(|(_, r)| r).unwrap_or(uri);
    rest.split(['@', ';']).next().unwrap_or(rest)
}

impl B2bua {
    /// Rebuilds per-caller prank history from the case log's records.
    pub fn load_history<'a>(&mut self, records: impl IntoIterator<Item = &'a Record>) {
        let mut callers: HashMap<&str, &str> = HashMap::new();
        for r in records {
            let Some(case) = &r.case else { continue };
            match &r.kind {
                Kind::Opened { caller, .. } => {
                    callers.insert(case.as_str(), caller.as_str());
                }
                Kind::Outcome { mark: p, .. } | Kind::Classified { class: p, .. }
                    if p == "prank" =>
                {
                    if let Some(caller) = callers.get(case.as_str()) {
                        self.pranks.add(caller, r.time_ms);
                    }
                }
                _ => {}
            }
        }
        for v in self.pranks.by_caller.values_mut() {
            v.make_contiguous().sort_unstable();
        }
    }

    /// Prank marks (caller, unix ms) of earlier runs, from the store.
    pub fn load_pranks(&mut self, marks: impl IntoIterator<Item = (String, u64)>) {
        for (caller, ms) in marks {
            self.pranks.add(&caller, ms);
        }
        for v in self.pranks.by_caller.values_mut() {
            v.make_contiguous().sort_unstable();
        }
    }

    /// Marked pranks of this caller within the window.
    pub(super) fn recent_pranks(&mut self, caller: &str, now: Instant) -> usize {
        let window = self.cfg.acd.prank_window.as_millis() as u64;
        let now_ms = self.wall_ms(now);
        self.pranks.recent(caller, now_ms, window)
    }

    pub(super) fn call_event(&mut self, case: CaseId, phase: CallPhase, seat: Option<SeatId>) {
        let seat = seat.map(|s| self.seat_name(s).clone());
        self.event(Event::Call(CallStatus { case, phase, seat }));
    }

    /// Ends a call: frees its seat, cancels ringing legs, writes `ended`.
    pub(super) fn end_call(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        id: CallId,
        reason: EndReason,
    ) {
        let Some(mut c) = self.calls.remove(id) else {
            return;
        };
        let mut seat = None;
        if let Some(t) = c.text.take() {
            self.texts.retain(|_, v| *v != id);
            if let (true, Some(s)) = (t.answered, t.seat) {
                seat = Some(s);
                let wrapup = self.queue_cfg(c.queue).wrapup;
                let talk = c
                    .answered_at
                    .map(|t| now.saturating_duration_since(t))
                    .unwrap_or_default();
                self.acd.call_ended(s, talk, wrapup, now);
                self.history.push(
                    s,
                    Handled {
                        case: c.case.clone(),
                        caller: c.caller.clone(),
                        class: c.class.clone(),
                    },
                );
            }
        }
        for leg in std::mem::take(&mut c.legs) {
            // An answered leg kept its INVITE's purpose for 2xx retransmissions.
            self.purposes.remove(&leg.invite_tx);
            if leg.state != LegState::Answered {
                self.bury_leg(now, txs, leg.invite_tx, leg.got_response, leg.dialog);
            } else if let Role::Seat(s) = leg.role {
                seat = Some(s);
                let wrapup = self.queue_cfg(c.queue).wrapup;
                let talk = c
                    .answered_at
                    .map(|t| now.saturating_duration_since(t))
                    .unwrap_or_default();
                self.acd.call_ended(s, talk, wrapup, now);
                self.history.push(
                    s,
                    Handled {
                        case: c.case.clone(),
                        caller: c.caller.clone(),
                        class: c.class.clone(),
                    },
                );
            }
        }
        self.acd.remove_call(id, now);
        self.close_media(id, c.media.take());
        let talk_ms = c
            .answered_at
            .map(|t| now.saturating_duration_since(t).as_millis() as u64)
            .unwrap_or(0);
        let wait_ms = c
            .answered_at
            .unwrap_or(now)
            .saturating_duration_since(c.arrived)
            .as_millis() as u64;
        let queue = Some(self.queue_cfg(c.queue).name.clone());
        let seat_name = seat.map(|s| self.seat_name(s).to_string());
        tracing::debug!(case = %c.case, caller = %c.caller, called = %c.called, trunk = %c.trunk_name, seat = seat_name.as_deref().unwrap_or("-"), reason = reason.as_str(), wait_ms, talk_ms, "case ended");
        self.ended.add(now, reason, wait_ms);
        self.record(
            now,
            Some(c.case.clone()),
            Kind::Ended {
                reason,
                wait_ms,
                talk_ms,
                seat: seat_name,
                queue,
            },
        );
        self.close_case_if_done(now, &c.case);
        self.call_event(c.case, CallPhase::Ended(reason), seat);
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn history_keeps_the_last_cases_of_each_seat() {
        let mut h = History::new(2);
        for i in 0..20u64 {
            let entry = Handled {
                case: CaseId::new(1, i),
                caller: format!("sip:{i}@x"),
                class: None,
            };
            h.push(0, entry);
        }
        assert_eq!(h.find(0, None).unwrap().case, CaseId::new(1, 19));
        assert!(h.find(0, Some(&CaseId::new(1, 3))).is_none(), "forgotten");
        assert!(h.find(0, Some(&CaseId::new(1, 10))).is_some());
        assert!(h.find(1, None).is_none());
        assert!(h.find_any(&CaseId::new(1, 12)).is_some());
    }

    #[test]
    fn prank_marks_age_out_of_the_window() {
        let mut p = Pranks::default();
        p.add("sip:+62811@telco", 1_000);
        p.add("sip:+62811@other;user=phone", 5_000);
        assert_eq!(
            p.recent("tel:+62811", 6_000, 10_000),
            2,
            "the number, whatever the URI"
        );
        assert_eq!(p.recent("sip:+62899@x", 6_000, 10_000), 0);
        assert_eq!(p.recent("sip:+62811@x", 12_000, 10_000), 1);
    }
}
