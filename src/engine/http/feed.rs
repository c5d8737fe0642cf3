//! The core's feed, applied: events folded into the view and turned into
//! Server-Sent Events for the browsers that may see them; answers handed
//! to the requests waiting for them (after the events before them).

use super::{wall_ms, AppState, Audience, Feed, Msg};
use crate::caselog::{CaseId, Kind};
use crate::operator::{CommandError, Done, Event};
use crate::view::View;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use tokio::sync::mpsc;

pub(crate) async fn run(state: Arc<AppState>, mut rx: mpsc::UnboundedReceiver<Feed>) {
    // Answers whose records are not yet durable, in order.
    let mut held: VecDeque<(u64, Result<Done, CommandError>, u64)> = VecDeque::new();
    loop {
        let f = if held.is_empty() {
            rx.recv().await
        } else {
            tokio::select! {
                f = rx.recv() => f,
                () = state.committed.notified() => {
                    release(&state, &mut held);
                    continue;
                }
            }
        };
        let Some(f) = f else { break };
        match f {
            Feed::Events(events) => apply(&state, &events),
            // A refusal wrote nothing: it needs no wait for the disk.
            Feed::Reply {
                id, result: Err(e), ..
            } => answer(&state, id, Err(e)),
            Feed::Reply { id, result, after } => {
                held.push_back((id, result, after));
                release(&state, &mut held);
                if held.len() > HELD_MAX {
                    // The writer is stuck (a full or dead disk): these
                    // requests have given up already (503 after 5 s).
                    held.pop_front();
                }
            }
        }
    }
}

/// Answers held at most while the journal cannot write.
const HELD_MAX: usize = 1024;

/// Hands out the answers whose records are settled now: on disk (or, if
/// the buffer overflowed while the disk failed, named in a `lost` record).
fn release(state: &AppState, held: &mut VecDeque<(u64, Result<Done, CommandError>, u64)>) {
    let settled = state.journal.settled();
    while held.front().is_some_and(|h| h.2 <= settled) {
        let Some((id, result, _)) = held.pop_front() else {
            break;
        };
        answer(state, id, result);
    }
}

fn answer(state: &AppState, id: u64, result: Result<Done, CommandError>) {
    let waiting = state
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id);
    if let Some(tx) = waiting {
        // The request may have given up waiting: fine.
        let _ = tx.send(result);
    }
}

/// What an event makes the browsers see, before it is rendered.
enum Out {
    Ready(Msg),
    /// A call changed: rendered once per batch, with its final state.
    Call(CaseId),
    /// An ended case changed (wrap-up work).
    Case(CaseId),
    /// A ticket changed.
    Ticket(CaseId, String),
}

fn apply(state: &AppState, events: &[Event]) {
    let mut outs: Vec<Out> = Vec::with_capacity(events.len());
    let msgs = {
        let mut v = state.view.write().unwrap_or_else(PoisonError::into_inner);
        v.tick(wall_ms());
        let callbacks = v.callbacks_due.len();
        for e in events {
            v.apply(e);
            state.metrics.event(e, &v);
            match e {
                Event::Seat(s) => {
                    if let Some(j) = seat_out(&v, &s.seat) {
                        let data = serde_json::to_string(&j).unwrap_or_default();
                        outs.push(Out::Ready(msg("seat", data, Audience::Staff)));
                    }
                }
                Event::Queue(q) => {
                    if let Some(j) = queue_out(&v, &q.queue) {
                        let data = serde_json::to_string(&j).unwrap_or_default();
                        outs.push(Out::Ready(msg("queue", data, Audience::Staff)));
                    }
                }
                Event::Call(c) => outs.push(Out::Call(c.case.clone())),
                Event::Bans(b) => {
                    let data =
                        json!({ "bans": &*b.bans, "total": b.total, "seq": v.seq }).to_string();
                    outs.push(Out::Ready(msg("bans", data, Audience::Supervisors)));
                }
                Event::Case(r) => {
                    let Some(case) = &r.case else { continue };
                    if matches!(
                        r.kind,
                        Kind::Opened { .. }
                            | Kind::Ended { .. }
                            | Kind::Classified { .. }
                            | Kind::Ticket { .. }
                    ) {
                        state.figures_dirty.store(true, Ordering::Relaxed);
                    }
                    if let Kind::Ticket { agency, .. } = &r.kind {
                        outs.push(Out::Ticket(case.clone(), agency.clone()));
                    }
                    match &r.kind {
                        Kind::Closed {} => {
                            let c = v.case(case);
                            let data = json!({
                                "case": case.as_str(),
                                "closed_ms": r.time_ms,
                                "seq": v.seq,
                            });
                            let seats = c.map(|c| c.seen_by.clone()).unwrap_or_default();
                            outs.push(Out::Ready(msg(
                                "case-closed",
                                data.to_string(),
                                Audience::Seats(seats),
                            )));
                        }
                        Kind::Ended { reason, .. } => {
                            if let Some(c) = v.ended.get(case) {
                                let data = json!({
                                    "case": case.as_str(),
                                    "reason": reason.as_str(),
                                    "ended_ms": c.ended_ms,
                                    "seat": c.seat,
                                    "seq": v.seq,
                                });
                                outs.push(Out::Ready(msg(
                                    "call-ended",
                                    data.to_string(),
                                    Audience::Seats(c.seen_by.clone()),
                                )));
                            }
                        }
                        Kind::Boot { .. } | Kind::Seat { .. } | Kind::Unknown => {}
                        _ if v.calls.contains_key(case) => outs.push(Out::Call(case.clone())),
                        _ => outs.push(Out::Case(case.clone())),
                    }
                }
            }
        }
        let mut msgs = render(&v, outs);
        if v.callbacks_due.len() != callbacks {
            let data = json!({ "count": v.callbacks_due.len(), "seq": v.seq });
            msgs.push(msg("callbacks", data.to_string(), Audience::Staff));
        }
        msgs
    };
    for m in msgs {
        // No browser listening: nothing to do.
        let _ = state.bus.send(Arc::new(m));
    }
}

/// The messages of a batch, each call once (where it last changed) and
/// only while it is live.
fn render(v: &View, outs: Vec<Out>) -> Vec<Msg> {
    let last = |i: usize, id: &CaseId| {
        !outs[i + 1..]
            .iter()
            .any(|o| matches!(o, Out::Call(c) | Out::Case(c) if c == id))
    };
    let last_ticket = |i: usize, id: &CaseId, agency: &str| {
        !outs[i + 1..]
            .iter()
            .any(|o| matches!(o, Out::Ticket(c, a) if c == id && a == agency))
    };
    let mut msgs = Vec::with_capacity(outs.len());
    for (i, o) in outs.iter().enumerate() {
        match o {
            Out::Ready(_) => {}
            Out::Call(id) if last(i, id) => {
                if let Some(c) = v.calls.get(id) {
                    msgs.push(msg(
                        "call",
                        serde_json::to_string(c).unwrap_or_default(),
                        Audience::Seats(c.seen_by.clone()),
                    ));
                }
            }
            Out::Case(id) if last(i, id) => {
                if let Some(c) = v.ended.get(id) {
                    msgs.push(msg(
                        "case",
                        serde_json::to_string(c).unwrap_or_default(),
                        Audience::Seats(c.seen_by.clone()),
                    ));
                }
            }
            Out::Ticket(id, agency) if last_ticket(i, id, agency) => {
                if let Some(t) = v.tickets.get(&(id.clone(), agency.clone())) {
                    let seats = v.case(id).map(|c| c.seen_by.clone()).unwrap_or_default();
                    msgs.push(msg(
                        "ticket",
                        serde_json::to_string(t).unwrap_or_default(),
                        Audience::Ticket {
                            agency: agency.clone(),
                            seats,
                        },
                    ));
                }
            }
            Out::Call(_) | Out::Case(_) | Out::Ticket(..) => {}
        }
    }
    // Ready messages keep their place relative to each other; calls come
    // after the seats and queues of the same batch.
    let mut ready: Vec<Msg> = outs
        .into_iter()
        .filter_map(|o| match o {
            Out::Ready(m) => Some(m),
            _ => None,
        })
        .collect();
    ready.append(&mut msgs);
    ready
}

fn msg(event: &'static str, data: String, audience: Audience) -> Msg {
    Msg {
        event,
        data,
        audience,
    }
}

/// An object with the view's sequence number added.
pub(crate) fn with_seq<T: Serialize>(x: &T, seq: u64) -> Value {
    let mut j = serde_json::to_value(x).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut j {
        m.insert("seq".into(), seq.into());
    }
    j
}

#[derive(Serialize)]
pub(crate) struct SeatOut<'a> {
    seat: &'a str,
    phase: &'static str,
    reason: Option<&'a str>,
    case: Option<&'a str>,
    since_ms: Option<u64>,
    last_case: Option<&'a str>,
    seq: u64,
}

#[derive(Serialize)]
pub(crate) struct QueueOut<'a> {
    queue: &'a str,
    waiting: u32,
    oldest_ms: Option<u64>,
    seq: u64,
}

/// A seat as the screens show it: its state, since when, and its case (the
/// last one it answered, through wrap-up).
pub(crate) fn seat_out<'a>(v: &'a View, seat: &str) -> Option<SeatOut<'a>> {
    let s = v.seats.get(seat)?;
    let last = v.seat_last.get(seat).map(String::as_str);
    let case = match &s.case {
        Some(c) => Some(c.as_str()),
        None if s.phase == crate::operator::SeatPhase::WrapUp => last,
        None => None,
    };
    Some(SeatOut {
        seat: &s.seat,
        phase: s.phase.as_str(),
        reason: s.reason.as_deref(),
        case,
        since_ms: v.seat_since.get(seat).copied(),
        last_case: last,
        seq: v.seq,
    })
}

pub(crate) fn seat_json(v: &View, seat: &str) -> Option<Value> {
    seat_out(v, seat).and_then(|s| serde_json::to_value(s).ok())
}

pub(crate) fn queue_out<'a>(v: &'a View, queue: &str) -> Option<QueueOut<'a>> {
    let q = v.queues.get(queue)?;
    Some(QueueOut {
        queue: &q.queue,
        waiting: q.waiting,
        oldest_ms: q.oldest_ms,
        seq: v.seq,
    })
}

/// Once a second: today's figures to the screens if they changed (or a
/// new day began); once a minute, the login limiters forget old entries
/// and expired sign-outs are dropped.
pub(crate) async fn ticker(state: Arc<AppState>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        every.tick().await;
        n += 1;
        let msg = {
            let mut v = state.view.write().unwrap_or_else(PoisonError::into_inner);
            let rolled = v.tick(wall_ms());
            if rolled || state.figures_dirty.swap(false, Ordering::Relaxed) {
                Some(msg(
                    "figures",
                    with_seq(&v.figures, v.seq).to_string(),
                    Audience::Staff,
                ))
            } else {
                None
            }
        };
        if let Some(m) = msg {
            let _ = state.bus.send(Arc::new(m));
        }
        if n.is_multiple_of(60) {
            state.login_by_user.retain_recent();
            state.login_by_addr.retain_recent();
            let now = wall_ms();
            state
                .revoked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, exp| *exp > now);
        }
    }
}
