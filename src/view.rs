//! The read model the screens show, folded from the core's events alone:
//! every seat's state, every queue's waiting calls, the calls in progress
//! and lately ended with what their case records said, the tickets not yet
//! done, the lost calls waiting for a call-back, and today's figures. The
//! HTTP side keeps one of these (it never touches the core); tests hold it
//! equal to the core's own state after any sequence of inputs. At start it
//! is fed the records of today's cases, of open tickets and of call-backs
//! due, read back from the journal (so it survives a restart). Callers'
//! histories and older cases are the store's.

use crate::caselog::{
    Brief, CallInfo, CaseId, EndReason, Kind, LocationDetail, Record, TicketStatus, CALLBACK_DONE,
};
use crate::operator::{Event, QueueStatus, SeatStatus, FALSE_CLASSES};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

/// Ended cases kept for the screens (an operator finishing one in wrap-up).
const RECENT: usize = 2000;
/// Final tickets are kept this long after their last step (the agency's
/// "done today").
const FINAL_TICKETS_MS: u64 = 24 * 3_600_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NoteView {
    pub by: String,
    pub at_ms: u64,
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LocationView {
    pub address: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub source: String,
    /// From the call itself: shape, uncertainty, method, civic elements,
    /// or the reference it gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Box<LocationDetail>>,
}

/// A text call's messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TextView {
    pub open: bool,
    pub messages: Vec<TextMessageView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TextMessageView {
    pub from: String,
    pub by: Option<String>,
    pub at_ms: u64,
    pub text: String,
}

/// A case as an operator's screen and the wallboard see it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CaseView {
    pub case: String,
    pub caller: String,
    pub called: String,
    pub service: String,
    pub queue: String,
    pub priority: i32,
    pub from_seat: Option<String>,
    pub opened_ms: u64,
    pub answered_ms: Option<u64>,
    pub ended_ms: Option<u64>,
    pub reason: Option<String>,
    /// The seat offered (ringing) or answering.
    pub seat: Option<String>,
    pub answered: bool,
    pub marks: Vec<String>,
    pub suggested: Vec<String>,
    pub class: Option<String>,
    pub category: Option<String>,
    pub notes: Vec<NoteView>,
    pub location: Option<LocationView>,
    /// The location the network sent with the call (kept when an operator
    /// sets another).
    pub network_location: Option<LocationView>,
    pub info: Option<CallInfo>,
    /// `voice`, or `text` for a text call.
    pub channel: &'static str,
    /// A text call's conversation.
    pub text: Option<TextView>,
    pub ready: bool,
    pub digits: Vec<String>,
    pub recording: Option<RecordingView>,
    pub wait_ms: Option<u64>,
    pub talk_ms: Option<u64>,
    pub tickets: Vec<TicketView>,
    /// When the call was over and every ticket done.
    pub closed_ms: Option<u64>,
    pub callback: Option<CallbackView>,
    /// The view's sequence number when the case last changed.
    pub seq: u64,
    /// Seats the call was shown to (offered or answered), first first: they
    /// are told when it moves on or ends.
    #[serde(skip)]
    pub seen_by: Vec<Arc<str>>,
    /// The case's records, for its detail.
    #[serde(skip)]
    pub records: Vec<Arc<Record>>,
}

impl CaseView {
    fn seen(&mut self, seat: &str) {
        if !self.seen_by.iter().any(|s| &**s == seat) {
            self.seen_by.push(seat.into());
        }
    }

    /// Whether an operator of `seat` may see this case: it was offered to,
    /// answered by or placed from that seat.
    pub fn concerns(&self, seat: &str) -> bool {
        self.seen_by.iter().any(|s| &**s == seat) || self.from_seat.as_deref() == Some(seat)
    }
}

/// A case's recording, or why there is none.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecordingView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// One step of a ticket.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TicketStepView {
    pub status: &'static str,
    pub at_ms: u64,
    pub by: String,
    pub note: Option<String>,
}

/// A ticket as the screens show it (the agency's, the operator's case,
/// the wallboard).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketView {
    pub ticket: String,
    pub case: String,
    pub agency: String,
    pub status: TicketStatus,
    pub sent_ms: u64,
    pub acknowledged_ms: Option<u64>,
    pub on_scene_ms: Option<u64>,
    pub closed_ms: Option<u64>,
    pub cancelled_ms: Option<u64>,
    pub history: Vec<TicketStepView>,
    pub brief: Option<Brief>,
    pub seq: u64,
    /// When the case was answered, for the answer-to-dispatch time.
    #[serde(skip)]
    pub answered_ms: Option<u64>,
}

impl TicketView {
    /// When it last changed.
    fn last_ms(&self) -> u64 {
        self.history.last().map_or(self.sent_ms, |h| h.at_ms)
    }
}

/// A call-back attempt.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallbackAttempt {
    pub at_ms: u64,
    pub by: String,
    pub outcome: String,
    pub note: Option<String>,
}

/// A lost call's call-back.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallbackView {
    pub due: bool,
    pub attempts: Vec<CallbackAttempt>,
}

/// An agency's tickets today.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AgencyFigures {
    pub open: u64,
    pub oldest_unacknowledged_ms: Option<u64>,
    pub sent: u64,
    pub closed: u64,
}

/// Today's figures (the NENA answer-time targets among them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// The day (`YYYY-MM-DD` in the centre's time zone).
    pub date: String,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub by_class: BTreeMap<String, u64>,
    pub within_10s: Option<f64>,
    pub within_15s: Option<f64>,
    pub within_20s: Option<f64>,
    pub mean_answer_s: Option<f64>,
    pub abandoned_share: Option<f64>,
    pub false_share: Option<f64>,
    /// Tickets sent today (answer-to-dispatch: NFPA 1225, 90 % in 60 s).
    pub dispatched: u64,
    pub dispatch_within_60s: Option<f64>,
    pub mean_answer_to_dispatch_s: Option<f64>,
    pub by_agency: BTreeMap<String, AgencyFigures>,
    #[serde(skip)]
    dispatch_ms: Vec<u64>,
    #[serde(skip)]
    counts: [u64; 3],
    #[serde(skip)]
    answer_ms_sum: u64,
    #[serde(skip)]
    classes: HashMap<String, String>,
}

impl Figures {
    fn recompute(&mut self) {
        let judged = self.answered + self.abandoned;
        let share = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
        self.within_10s = share(self.counts[0], judged);
        self.within_15s = share(self.counts[1], judged);
        self.within_20s = share(self.counts[2], judged);
        self.mean_answer_s = share(self.answer_ms_sum, self.answered).map(|ms| ms / 1000.0);
        self.abandoned_share = share(self.abandoned, judged);
        self.by_class.clear();
        for c in self.classes.values() {
            *self.by_class.entry(c.clone()).or_default() += 1;
        }
        let false_calls = self
            .classes
            .values()
            .filter(|c| FALSE_CLASSES.contains(&c.as_str()))
            .count() as u64;
        self.false_share = share(false_calls, self.offered);
        let n = self.dispatch_ms.len() as u64;
        let fast = self.dispatch_ms.iter().filter(|ms| **ms <= 60_000).count() as u64;
        self.dispatch_within_60s = share(fast, n);
        self.mean_answer_to_dispatch_s =
            share(self.dispatch_ms.iter().sum::<u64>(), n).map(|ms| ms / 1000.0);
    }
}

/// The read model.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub seats: BTreeMap<Arc<str>, SeatStatus>,
    /// When each seat's state last changed (unix ms), for the screens.
    pub seat_since: HashMap<Arc<str>, u64>,
    /// The last case each seat answered (kept through wrap-up).
    pub seat_last: HashMap<String, String>,
    pub queues: BTreeMap<Arc<str>, QueueStatus>,
    /// Calls in progress.
    pub calls: BTreeMap<CaseId, CaseView>,
    /// Calls ended lately, newest last.
    pub ended: HashMap<CaseId, CaseView>,
    ended_order: VecDeque<CaseId>,
    /// Tickets not done, and those done within a day.
    pub tickets: BTreeMap<(CaseId, String), TicketView>,
    /// Lost calls not yet called back.
    pub callbacks_due: BTreeSet<CaseId>,
    pub figures: Figures,
    /// The centre's offset from UTC in hours (for "today").
    pub utc_offset_h: i64,
    /// Events applied: the screens' sequence number.
    pub seq: u64,
    /// The time of the last record applied (unix ms).
    pub now_ms: u64,
    /// The password-guessing bans in force, as last reported (the screen
    /// leaves out those past their end).
    pub bans: crate::operator::BanList,
}

pub use crate::caselog::caller_number;

impl View {
    pub fn new() -> View {
        View::default()
    }

    /// A view whose "today" is in the time zone `utc_offset_h` hours east.
    pub fn with_offset(utc_offset_h: i64) -> View {
        View {
            utc_offset_h,
            ..View::default()
        }
    }

    fn day_of(&self, ms: u64) -> String {
        let shifted = ms as i64 + self.utc_offset_h * 3_600_000;
        crate::caselog::format_time(shifted.max(0) as u64)
            .get(..10)
            .unwrap_or("")
            .to_string()
    }

    /// The clock moved to `now_ms` with no record: a new day starts new
    /// figures at the centre's midnight, and tickets done over a day ago
    /// are let go. True when the figures started again.
    pub fn tick(&mut self, now_ms: u64) -> bool {
        self.now_ms = self.now_ms.max(now_ms);
        let now = self.now_ms;
        self.tickets
            .retain(|_, t| !t.status.is_final() || t.last_ms() + FINAL_TICKETS_MS > now);
        let today = self.day_of(self.now_ms);
        if today <= self.figures.date {
            return false;
        }
        self.new_day(today);
        true
    }

    fn new_day(&mut self, today: String) {
        self.figures = Figures {
            date: today,
            ..Figures::default()
        };
        self.agency_figures();
    }

    /// Each agency's open tickets and the oldest unacknowledged one, and
    /// what it was sent and closed today.
    fn agency_figures(&mut self) {
        let mut by: BTreeMap<String, AgencyFigures> = BTreeMap::new();
        let date = self.figures.date.clone();
        for t in self.tickets.values() {
            let a = by.entry(t.agency.clone()).or_default();
            if !t.status.is_final() {
                a.open += 1;
            }
            if t.status == TicketStatus::Sent {
                a.oldest_unacknowledged_ms = Some(
                    a.oldest_unacknowledged_ms
                        .map_or(t.sent_ms, |o| o.min(t.sent_ms)),
                );
            }
            if self.day_of(t.sent_ms) == date {
                a.sent += 1;
            }
            if t.closed_ms.is_some_and(|c| self.day_of(c) == date) {
                a.closed += 1;
            }
        }
        self.figures.by_agency = by;
    }

    /// Open tickets, oldest first.
    pub fn open_tickets(&self) -> impl DoubleEndedIterator<Item = &TicketView> {
        let mut v: Vec<&TicketView> = self
            .tickets
            .values()
            .filter(|t| !t.status.is_final())
            .collect();
        v.sort_by_key(|t| t.sent_ms);
        v.into_iter()
    }

    /// A ticket's record: kept in the ticket map (whether or not its case
    /// is still in view) and in the case's list.
    #[allow(clippy::too_many_arguments)]
    fn ticket(
        &mut self,
        id: &CaseId,
        at_ms: u64,
        agency: &str,
        status: TicketStatus,
        by: &str,
        note: &Option<String>,
        brief: &Option<Box<Brief>>,
    ) {
        let seq = self.seq;
        let answered = self.case(id).and_then(|c| c.answered_ms);
        let key = (id.clone(), agency.to_string());
        let step = TicketStepView {
            status: status.as_str(),
            at_ms,
            by: by.to_string(),
            note: note.clone(),
        };
        let counts_today = self.day_of(at_ms) == self.figures.date;
        match (status, self.tickets.get_mut(&key)) {
            (TicketStatus::Sent, existing) => {
                let history = existing
                    .map(|t| std::mem::take(&mut t.history))
                    .unwrap_or_default();
                let mut t = TicketView {
                    ticket: format!("{}/{agency}", id.as_str()),
                    case: id.as_str().to_string(),
                    agency: agency.to_string(),
                    status,
                    sent_ms: at_ms,
                    acknowledged_ms: None,
                    on_scene_ms: None,
                    closed_ms: None,
                    cancelled_ms: None,
                    history,
                    brief: brief.as_deref().cloned(),
                    seq,
                    answered_ms: answered,
                };
                t.history.push(step);
                if counts_today {
                    self.figures.dispatched += 1;
                    if let Some(a) = answered {
                        self.figures.dispatch_ms.push(at_ms.saturating_sub(a));
                    }
                }
                self.tickets.insert(key.clone(), t);
            }
            (_, Some(t)) => {
                t.status = status;
                t.seq = seq;
                match status {
                    TicketStatus::Acknowledged => t.acknowledged_ms = Some(at_ms),
                    TicketStatus::OnScene => t.on_scene_ms = Some(at_ms),
                    TicketStatus::Closed => t.closed_ms = Some(at_ms),
                    TicketStatus::Cancelled => t.cancelled_ms = Some(at_ms),
                    TicketStatus::Sent => {}
                }
                t.history.push(step);
            }
            // A step of a ticket sent before what this view saw.
            (_, None) => return,
        }
        let t = self.tickets.get(&key).cloned();
        let live = self.calls.contains_key(id);
        let case = if live {
            self.calls.get_mut(id)
        } else {
            self.ended.get_mut(id)
        };
        if let (Some(c), Some(t)) = (case, t) {
            match c.tickets.iter_mut().find(|x| x.agency == agency) {
                Some(x) => *x = t,
                None => c.tickets.push(t),
            }
        }
        self.agency_figures();
        self.figures.recompute();
    }

    /// A lost call: due for a call-back unless one already reached the caller.
    fn callback_due(&mut self, id: &CaseId) {
        let c = match self.calls.get_mut(id) {
            Some(c) => Some(c),
            None => self.ended.get_mut(id),
        };
        if let Some(c) = c {
            let cb = c.callback.get_or_insert_with(CallbackView::default);
            let done = cb
                .attempts
                .iter()
                .any(|a| CALLBACK_DONE.contains(&a.outcome.as_str()));
            if !done {
                cb.due = true;
                self.callbacks_due.insert(id.clone());
            }
        }
    }

    /// A live or lately ended case.
    pub fn case(&self, id: &CaseId) -> Option<&CaseView> {
        self.calls.get(id).or_else(|| self.ended.get(id))
    }

    pub fn apply(&mut self, e: &Event) {
        self.seq += 1;
        match e {
            Event::Seat(s) => {
                if self
                    .seats
                    .get(&s.seat)
                    .is_none_or(|old| old.phase != s.phase)
                {
                    self.seat_since.insert(s.seat.clone(), self.now_ms);
                }
                self.seats.insert(s.seat.clone(), s.clone());
            }
            Event::Queue(q) => {
                self.queues.insert(q.queue.clone(), q.clone());
            }
            Event::Call(c) => {
                if let Some(call) = self.calls.get_mut(&c.case) {
                    call.seq = self.seq;
                    if !call.answered || c.seat.is_some() {
                        call.seat = c.seat.as_ref().map(|s| s.to_string());
                    }
                    if let Some(s) = &c.seat {
                        call.seen(s);
                    }
                }
            }
            Event::Case(r) => self.record(r),
            Event::Bans(b) => self.bans = b.clone(),
        }
    }

    /// A case record (live, or replayed from the journal at start).
    pub fn record(&mut self, r: &Arc<Record>) {
        self.now_ms = self.now_ms.max(r.time_ms);
        let today = self.day_of(r.time_ms);
        if today > self.figures.date {
            self.new_day(today);
        }
        let Some(id) = &r.case else {
            if let Kind::Boot { .. } = r.kind {
                // A new run: calls of the last one are over.
                self.calls.clear();
            }
            return;
        };
        if let Kind::Opened {
            caller,
            called,
            service,
            from_seat,
            ..
        } = &r.kind
        {
            self.calls.insert(
                id.clone(),
                CaseView {
                    case: id.as_str().to_string(),
                    caller: caller.clone(),
                    called: called.clone(),
                    service: service.clone(),
                    from_seat: from_seat.clone(),
                    opened_ms: r.time_ms,
                    seq: self.seq,
                    records: vec![r.clone()],
                    channel: "voice",
                    ..CaseView::default()
                },
            );
            if self.day_of(r.time_ms) == self.figures.date {
                self.figures.offered += 1;
                self.figures.recompute();
            }
            return;
        }
        match &r.kind {
            Kind::Ticket {
                agency,
                status,
                by,
                note,
                brief,
            } => {
                self.ticket(id, r.time_ms, agency, *status, by, note, brief);
            }
            Kind::Callback { outcome, .. } if CALLBACK_DONE.contains(&outcome.as_str()) => {
                self.callbacks_due.remove(id);
            }
            _ => {}
        }
        let Some(opened) = self.case(id).map(|c| c.opened_ms) else {
            return;
        };
        let counts_today = self.day_of(opened) == self.figures.date;
        let live = self.calls.contains_key(id);
        let c = if live {
            self.calls.get_mut(id)
        } else {
            self.ended.get_mut(id)
        };
        let Some(c) = c else {
            return;
        };
        c.records.push(r.clone());
        c.seq = self.seq;
        match &r.kind {
            Kind::Queued { queue, priority } => {
                c.queue.clone_from(queue);
                c.priority = *priority;
            }
            Kind::Offered { seat } if !c.answered => {
                c.seat = Some(seat.clone());
                c.seen(seat);
            }
            Kind::Answered { seat } => {
                c.seen(seat);
                c.answered = true;
                c.answered_ms = Some(r.time_ms);
                c.seat = Some(seat.clone());
                self.seat_last.insert(seat.clone(), id.as_str().to_string());
            }
            Kind::Outcome { mark, .. } => c.marks.push(mark.clone()),
            Kind::Suggested { mark } => c.suggested.push(mark.clone()),
            Kind::Digit { side, digit, .. } => c.digits.push(format!("{side}:{digit}")),
            Kind::Classified {
                class, category, ..
            } => {
                c.class = Some(class.clone());
                c.category.clone_from(category);
                if class == "dropped" {
                    self.callback_due(id);
                }
                if counts_today {
                    self.figures
                        .classes
                        .insert(id.as_str().to_string(), class.clone());
                    self.figures.recompute();
                }
            }
            Kind::Text { from, by, text } => {
                c.channel = "text";
                let t = c.text.get_or_insert_with(|| TextView {
                    open: true,
                    messages: Vec::new(),
                });
                t.messages.push(TextMessageView {
                    from: from.clone(),
                    by: by.clone(),
                    at_ms: r.time_ms,
                    text: text.clone(),
                });
            }
            Kind::Note { text, by } => c.notes.push(NoteView {
                by: by.clone(),
                at_ms: r.time_ms,
                text: text.clone(),
            }),
            Kind::Located {
                address,
                lat,
                lon,
                source,
                detail,
                ..
            } => {
                let l = LocationView {
                    address: address.clone(),
                    lat: *lat,
                    lon: *lon,
                    source: source.clone(),
                    detail: detail.clone(),
                };
                if source != "operator" && c.network_location.is_none() {
                    c.network_location = Some(l.clone());
                }
                // The operator's word wins over the network's.
                let operator_had = c.location.as_ref().is_some_and(|o| o.source == "operator");
                if source == "operator" || !operator_had {
                    c.location = Some(l);
                }
            }
            Kind::CallInfo(info) => c.info = Some(info.clone()),
            Kind::Ready { .. } => c.ready = true,
            Kind::Closed {} => c.closed_ms = Some(r.time_ms),
            Kind::Callback {
                outcome, by, note, ..
            } => {
                let cb = c.callback.get_or_insert_with(CallbackView::default);
                cb.attempts.push(CallbackAttempt {
                    at_ms: r.time_ms,
                    by: by.clone(),
                    outcome: outcome.clone(),
                    note: note.clone(),
                });
                if CALLBACK_DONE.contains(&outcome.as_str()) {
                    cb.due = false;
                }
            }
            Kind::Recorded { path, sha256, .. } => {
                c.recording = Some(RecordingView {
                    path: Some(path.clone()),
                    sha256: Some(sha256.clone()),
                    failed: None,
                })
            }
            Kind::RecordingFailed { why } => {
                c.recording = Some(RecordingView {
                    failed: Some(why.clone()),
                    ..RecordingView::default()
                })
            }
            Kind::Ended {
                reason,
                wait_ms,
                talk_ms,
                ..
            } => {
                if let Some(t) = c.text.as_mut() {
                    t.open = false;
                }
                c.ended_ms = Some(r.time_ms);
                c.reason = Some(reason.as_str().to_string());
                c.wait_ms = Some(*wait_ms);
                c.talk_ms = Some(*talk_ms);
                let answered = c.answered;
                if let Some(done) = self.calls.remove(id) {
                    self.ended.insert(id.clone(), done);
                    self.ended_order.push_back(id.clone());
                    while self.ended_order.len() > RECENT {
                        if let Some(old) = self.ended_order.pop_front() {
                            self.ended.remove(&old);
                        }
                    }
                }
                if *reason == EndReason::Abandoned {
                    self.callback_due(id);
                }
                if counts_today {
                    let f = &mut self.figures;
                    if answered {
                        f.answered += 1;
                        f.answer_ms_sum += wait_ms;
                        for (k, limit) in [10_000, 15_000, 20_000].into_iter().enumerate() {
                            if *wait_ms <= limit {
                                f.counts[k] += 1;
                            }
                        }
                    } else if *reason == crate::caselog::EndReason::Abandoned {
                        f.abandoned += 1;
                    }
                    f.recompute();
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caselog::EndReason;

    // 2026-12-01 00:00 UTC; the centre is at UTC+7 (WIB).
    const T0: u64 = 1_796_083_200_000;

    fn rec(at_s: u64, case: &str, kind: Kind) -> Arc<Record> {
        Arc::new(Record {
            time_ms: T0 + at_s * 1000,
            case: Some(CaseId::from(case)),
            kind,
        })
    }

    fn opened(at_s: u64, case: &str, caller: &str) -> Arc<Record> {
        rec(
            at_s,
            case,
            Kind::Opened {
                caller: format!("sip:{caller}@telco"),
                called: "sip:112@c".into(),
                service: "112".into(),
                trunk: "telco".into(),
                from_seat: None,
            },
        )
    }

    fn ended(at_s: u64, case: &str, reason: EndReason, wait_s: u64) -> Arc<Record> {
        rec(
            at_s,
            case,
            Kind::Ended {
                reason,
                wait_ms: wait_s * 1000,
                talk_ms: 0,
                seat: None,
                queue: None,
            },
        )
    }

    fn answer(v: &mut View, case: &str, caller: &str, at_s: u64, wait_s: u64) {
        v.record(&opened(at_s, case, caller));
        v.record(&rec(
            at_s + wait_s,
            case,
            Kind::Answered { seat: "op1".into() },
        ));
        v.record(&ended(
            at_s + wait_s + 30,
            case,
            EndReason::Completed,
            wait_s,
        ));
    }

    #[test]
    fn todays_figures_count_answer_times_abandons_and_false_calls() {
        let mut v = View::with_offset(7);
        answer(&mut v, "a", "0811", 0, 5);
        answer(&mut v, "b", "0812", 100, 12);
        answer(&mut v, "c", "0813", 200, 18);
        answer(&mut v, "d", "0811", 300, 40);
        v.record(&opened(400, "e", "0815"));
        v.record(&ended(420, "e", EndReason::Abandoned, 20));
        let classify = |case: &str, class: &str| {
            rec(
                500,
                case,
                Kind::Classified {
                    class: class.into(),
                    category: None,
                    by: "op1".into(),
                },
            )
        };
        v.record(&classify("a", "prank"));
        v.record(&classify("b", "emergency"));
        v.record(&classify("a", "silent")); // a class can be corrected
        let f = &v.figures;
        assert_eq!(f.date, "2026-12-01");
        assert_eq!((f.offered, f.answered, f.abandoned), (5, 4, 1));
        assert_eq!(f.within_10s, Some(1.0 / 5.0));
        assert_eq!(f.within_15s, Some(2.0 / 5.0));
        assert_eq!(f.within_20s, Some(3.0 / 5.0));
        assert_eq!(f.mean_answer_s, Some((5.0 + 12.0 + 18.0 + 40.0) / 4.0));
        assert_eq!(f.abandoned_share, Some(0.2));
        assert_eq!(f.false_share, Some(0.2), "a silent call, once");
        assert_eq!(
            f.by_class,
            BTreeMap::from([("emergency".into(), 1), ("silent".into(), 1)])
        );
        // The abandoned call waits for a call-back.
        assert!(v.callbacks_due.contains(&CaseId::from("e")));
        assert!(v.calls.is_empty() && v.case(&CaseId::from("e")).is_some());
    }

    #[test]
    fn a_new_day_starts_new_figures_in_the_centres_time_zone() {
        let mut v = View::with_offset(7);
        answer(&mut v, "a", "0811", 0, 5);
        // 17:00 UTC is midnight in WIB.
        let next_day = 17 * 3600;
        v.record(&opened(next_day, "b", "0812"));
        assert_eq!(v.figures.date, "2026-12-02");
        assert_eq!((v.figures.offered, v.figures.answered), (1, 0));
        // An abandon counts on the day the call came in.
        v.record(&ended(next_day + 5, "b", EndReason::Abandoned, 5));
        assert_eq!(v.figures.abandoned, 1);
    }

    #[test]
    fn a_boot_ends_the_calls_of_the_last_run() {
        let mut v = View::new();
        v.record(&opened(0, "a", "0811"));
        assert_eq!(v.calls.len(), 1);
        v.record(&Arc::new(Record {
            time_ms: T0 + 10_000,
            case: None,
            kind: Kind::Boot { boot: 2 },
        }));
        assert!(v.calls.is_empty());
    }
}
