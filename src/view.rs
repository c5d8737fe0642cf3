//! The read model the screens show, folded from the core's events alone:
//! every seat's state, every queue's waiting calls, the calls in progress
//! with what their case records said. The HTTP side keeps one of these
//! (it never touches the core); tests hold it equal to the core's own
//! state after any sequence of inputs.

use crate::caselog::{CaseId, EndReason, Kind};
use crate::operator::{CallPhase, Event, QueueStatus, SeatStatus};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A call in progress, as an operator's screen and the wallboard see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveCall {
    pub case: Option<CaseId>,
    pub caller: String,
    pub called: String,
    pub service: String,
    pub queue: String,
    pub priority: i32,
    pub from_seat: Option<String>,
    /// Unix ms.
    pub opened_ms: u64,
    pub answered_ms: Option<u64>,
    /// The seat offered (ringing) or answering.
    pub seat: Option<String>,
    pub answered: bool,
    pub marks: Vec<String>,
}

/// The read model.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub seats: BTreeMap<Arc<str>, SeatStatus>,
    pub queues: BTreeMap<Arc<str>, QueueStatus>,
    pub calls: BTreeMap<CaseId, LiveCall>,
    /// Calls ended since the view started, by reason (for the figures).
    pub ended: BTreeMap<&'static str, u64>,
}

impl View {
    pub fn new() -> View {
        View::default()
    }

    pub fn apply(&mut self, e: &Event) {
        match e {
            Event::Seat(s) => {
                self.seats.insert(s.seat.clone(), s.clone());
            }
            Event::Queue(q) => {
                self.queues.insert(q.queue.clone(), q.clone());
            }
            Event::Call(c) => {
                if let CallPhase::Ended(reason) = c.phase {
                    self.calls.remove(&c.case);
                    *self.ended.entry(reason_name(reason)).or_default() += 1;
                    return;
                }
                let call = self.calls.entry(c.case.clone()).or_default();
                call.case = Some(c.case.clone());
                if let Some(seat) = &c.seat {
                    call.seat = Some(seat.to_string());
                }
                if c.phase == CallPhase::Answered {
                    call.answered = true;
                }
            }
            Event::Case(r) => {
                let Some(case) = &r.case else { return };
                // A record after the end (a mark in wrap-up) has no live call.
                if !self.calls.contains_key(case) && !matches!(r.kind, Kind::Opened { .. }) {
                    return;
                }
                let call = self.calls.entry(case.clone()).or_default();
                call.case = Some(case.clone());
                match &r.kind {
                    Kind::Opened {
                        caller,
                        called,
                        service,
                        from_seat,
                        ..
                    } => {
                        call.caller.clone_from(caller);
                        call.called.clone_from(called);
                        call.service.clone_from(service);
                        call.from_seat.clone_from(from_seat);
                        call.opened_ms = r.time_ms;
                    }
                    Kind::Queued { queue, priority } => {
                        call.queue.clone_from(queue);
                        call.priority = *priority;
                    }
                    Kind::Answered { .. } => call.answered_ms = Some(r.time_ms),
                    Kind::Outcome { mark } => call.marks.push(mark.clone()),
                    _ => {}
                }
            }
        }
    }
}

fn reason_name(r: EndReason) -> &'static str {
    r.as_str()
}
