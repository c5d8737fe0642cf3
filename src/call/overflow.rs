//! A call's own timers (a seat rings too long or not at all, max-wait,
//! widening) and overflow: to another queue, keeping the call's place in
//! time, or to a SIP URI that we call and bridge.

use super::leg::{LegState, Role};
use super::B2bua;
use crate::acd::{CallId, OfferFailure};
use crate::caselog::Kind;
use crate::registrar::Destination;
use crate::sip::{resolve, Peer};
use crate::transaction::Transactions;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallTimer {
    /// Leg `u32` rang for the queue's ring timeout.
    Ring(u32),
    /// Leg `u32` gave no answer at all in time: unreachable.
    NoResponse(u32),
    /// The call waited max_wait: overflow.
    MaxWait,
    /// The call waited overflow_after: widen to another queue's seats.
    Widen,
    /// Offer `u32` of a text call rang in a console for the ring timeout.
    TextRing(u32),
    /// A text conversation may have gone quiet.
    TextIdle,
}

impl B2bua {
    pub(super) fn fire(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        id: CallId,
        timer: CallTimer,
    ) {
        let Some(c) = self.calls.get(id) else {
            return;
        };
        match timer {
            CallTimer::TextRing(g) => self.text_ring_out(now, id, g),
            CallTimer::TextIdle => self.text_idle(now, txs, id),
            CallTimer::Ring(g) | CallTimer::NoResponse(g) => {
                let Some(leg) = c.leg(g) else { return };
                if matches!(timer, CallTimer::Ring(_)) && leg.state != LegState::Answered {
                    self.leg_failed(now, txs, id, g, OfferFailure::NoAnswer, None);
                } else if matches!(timer, CallTimer::NoResponse(_)) && !leg.got_response {
                    self.leg_failed(now, txs, id, g, OfferFailure::Unreachable, None);
                }
            }
            CallTimer::Widen => {
                let widen = self.queue_cfg(c.queue).widen_to.clone();
                let to = widen.and_then(|w| self.cfg.queues.iter().position(|q| q.name == w));
                if let Some(to) = to {
                    if c.is_waiting() && !c.overflowed() {
                        tracing::info!(case = %c.case, queue = %self.cfg.queues[to].name, "widened to another queue's seats");
                        self.acd.widen(id, to);
                    }
                }
            }
            CallTimer::MaxWait => {
                if !c.is_waiting() || c.overflowed() {
                    return;
                }
                if self.queue_cfg(c.queue).overflow.is_none() {
                    tracing::warn!(case = %c.case, "waited max_wait and the queue has no overflow; still waiting");
                } else if !c.legs.is_empty() {
                    // Take it back from the ringing seat(s), then overflow.
                    let gens: Vec<u32> = c.legs.iter().map(|l| l.gen).collect();
                    if let Some(c) = self.calls.get_mut(id) {
                        c.overdue = true;
                    }
                    for g in gens {
                        self.leg_failed(now, txs, id, g, OfferFailure::Withdrawn, None);
                    }
                } else {
                    self.overflow(now, txs, id);
                }
            }
        }
    }

    /// Sends a waiting call to its queue's overflow: another queue, or a SIP
    /// URI that we call and bridge to. Without an overflow it keeps waiting.
    pub(super) fn overflow(&mut self, now: Instant, txs: &mut Transactions, id: CallId) {
        self.overflow_hop(now, txs, id, 0)
    }

    fn overflow_hop(&mut self, now: Instant, txs: &mut Transactions, id: CallId, hops: usize) {
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        c.overdue = false;
        let (q, case, priority) = (c.queue, c.case.clone(), c.priority);
        let fallback = Peer {
            conn: None,
            ..c.trunk.peer
        };
        let Some(target) = self.queue_cfg(q).overflow.clone() else {
            tracing::warn!(case = %case, "no seat answered in time and the queue has no overflow; still waiting");
            return;
        };
        if let Some(to) = self.cfg.queues.iter().position(|c| c.name == target) {
            if let Some(c) = self.calls.get_mut(id) {
                c.queue = to;
            }
            let wait = self.queue_cfg(to).max_wait;
            self.timers
                .insert((now + wait, id, super::overflow::CallTimer::MaxWait));
            tracing::info!(case = %case, queue = %target, "overflowed to another queue");
            self.record(
                now,
                Some(case.clone()),
                Kind::Overflowed {
                    target: target.clone(),
                },
            );
            self.record(
                now,
                Some(case),
                Kind::Queued {
                    queue: target,
                    priority,
                },
            );
            self.acd.move_call(id, to);
            // Nobody there either: go on, at most once through every queue.
            let lonely = self.acd.logged_in(to) == 0;
            if lonely && self.queue_cfg(to).overflow.is_some() && hops < self.cfg.queues.len() {
                self.overflow_hop(now, txs, id, hops + 1);
            }
            return;
        }
        // A SIP URI: call it as the call's outbound leg.
        self.acd.hold_out(id);
        let dest = Destination {
            peer: resolve(&target, fallback),
            uri: target.clone(),
            routes: Vec::new(),
        };
        if self.start_leg(now, txs, id, Role::Overflow, dest) {
            tracing::info!(case = %case, %target, "overflowed to another centre");
            self.record(now, Some(case), Kind::Overflowed { target });
        } else {
            self.acd.requeue(id);
        }
    }
}
