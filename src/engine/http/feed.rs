//! The core's feed, applied: events folded into the view and turned into
//! Server-Sent Events for the browsers that may see them; answers handed
//! to the requests waiting for them (after the events before them).

use super::{wall_ms, AppState, Audience, Feed, Msg};
use crate::caselog::{CaseId, Kind};
use crate::operator::Event;
use crate::view::View;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use tokio::sync::mpsc;

pub(crate) async fn run(state: Arc<AppState>, mut rx: mpsc::UnboundedReceiver<Feed>) {
    while let Some(f) = rx.recv().await {
        match f {
            Feed::Events(events) => apply(&state, &events),
            Feed::Reply { id, result } => {
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
        }
    }
}

/// What an event makes the browsers see, before it is rendered.
enum Out {
    Ready(Msg),
    /// A call changed: rendered once per batch, with its final state.
    Call(CaseId),
    /// An ended case changed (wrap-up work).
    Case(CaseId),
}

fn apply(state: &AppState, events: &[Event]) {
    let mut outs: Vec<Out> = Vec::with_capacity(events.len());
    let msgs = {
        let mut v = state.view.write().unwrap_or_else(PoisonError::into_inner);
        v.tick(wall_ms());
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
                Event::Case(r) => {
                    let Some(case) = &r.case else { continue };
                    if matches!(
                        r.kind,
                        Kind::Opened { .. } | Kind::Ended { .. } | Kind::Classified { .. }
                    ) {
                        state.figures_dirty.store(true, Ordering::Relaxed);
                    }
                    match &r.kind {
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
        render(&v, outs)
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
            Out::Call(_) | Out::Case(_) => {}
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
