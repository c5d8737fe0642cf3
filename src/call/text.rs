//! Text calls (text-to-112, for callers who cannot speak): a SIP MESSAGE
//! (page mode, RFC 3428) to a routed emergency target from a trunk or
//! proxy opens a case and is queued like a call; the ACD offers it to a
//! seat, whose operator takes it in the console (there is no SIP leg to a
//! seat); the operator's answers go to the caller as MESSAGEs; the
//! caller's further messages join the same case; the conversation ends
//! when the operator ends it or after `[acd] text_idle_s` of silence.
//! Every message is a `text` record.

use super::leg::{strip_tag, Dialog};
use super::overflow::CallTimer;
use super::purpose::Purpose;
use super::table::{Call, CallState};
use super::{B2bua, RouteMatch};
use crate::acd::{CallId, OfferFailure, SeatId};
use crate::caselog::{number_key, CaseId, EndReason, Kind};
use crate::operator::{Actor, CallPhase, CommandError, Done, Role};
use crate::sip::rsip::Request;
use crate::sip::write::concat;
use crate::sip::{header, uri_in, Peer};
use crate::transaction::{Transactions, TxKey};
use std::time::Instant;

/// A text call's conversation.
#[derive(Debug, Clone)]
pub struct TextChat {
    /// The seat it is offered to or answered by.
    pub seat: Option<SeatId>,
    pub answered: bool,
    /// Which offer (a ring timer names it).
    pub offer: u32,
    pub last_activity: Instant,
    /// Where the caller's messages come from (our answers go there).
    pub peer: Peer,
    /// The caller's URI (the Request-URI and To of our answers).
    pub caller_uri: String,
    /// Our side: the number they wrote to.
    pub us: String,
}

/// The most text bytes of a caller's MESSAGE we take.
const MAX_TEXT_BYTES: usize = 4096;

impl B2bua {
    /// A MESSAGE to a routed target from a trunk or proxy: a new text call,
    /// or the next message of the caller's open one.
    #[allow(clippy::too_many_arguments)]
    pub fn on_text_in(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: TxKey,
        peer: Peer,
        req: &Request,
        trunk: String,
        target: String,
        route: RouteMatch,
    ) {
        let ct = header(&req.headers, "Content-Type").unwrap_or("");
        let plain = ct.split(';').next().unwrap_or("").trim();
        if !plain.eq_ignore_ascii_case("text/plain") {
            let accept = [("Accept", "text/plain")];
            return self.reply(
                now,
                txs,
                &key,
                req,
                415,
                "Unsupported Media Type",
                None,
                &accept,
            );
        }
        if req.body.len() > MAX_TEXT_BYTES {
            return self.reply(now, txs, &key, req, 413, "Message Too Large", None, &[]);
        }
        let text = String::from_utf8_lossy(&req.body).trim().to_string();
        if text.is_empty() {
            return self.reply(now, txs, &key, req, 400, "Empty Message", None, &[]);
        }
        let caller = super::trunk::caller_of(req);
        self.reply(now, txs, &key, req, 200, "OK", None, &[]);
        let number = number_key(&caller);
        if let Some(id) = self.texts.get(&number).copied() {
            if let Some(c) = self.calls.get_mut(id) {
                if let Some(t) = c.text.as_mut() {
                    t.last_activity = now;
                    t.peer = peer;
                }
                let case = c.case.clone();
                self.record(
                    now,
                    Some(case),
                    Kind::Text {
                        from: "caller".into(),
                        by: None,
                        text,
                    },
                );
                return;
            }
            self.texts.remove(&number);
        }
        let RouteMatch {
            queue,
            service,
            mut priority,
            ..
        } = route;
        self.next_call += 1;
        let id = self.next_call;
        let case = self.case_ids.next();
        let tag = self.token();
        let pranks = self.recent_pranks(&caller, now);
        if pranks >= self.cfg.acd.prank_threshold as usize {
            priority = priority.min(self.cfg.acd.prank_priority);
        }
        tracing::info!(case = %case, %caller, %target, "text call arrived");
        self.record(
            now,
            Some(case.clone()),
            Kind::Opened {
                caller: caller.clone(),
                called: target.clone(),
                service: service.clone(),
                trunk: trunk.clone(),
                from_seat: None,
            },
        );
        self.record(
            now,
            Some(case.clone()),
            Kind::Text {
                from: "caller".into(),
                by: None,
                text,
            },
        );
        let us = uri_in(header(&req.headers, "To").unwrap_or("")).to_string();
        self.calls.insert(
            id,
            Call {
                case: case.clone(),
                state: CallState::Waiting,
                invite: req.clone(),
                invite_tx: key,
                trunk: Dialog::answering(req, &tag, peer),
                trunk_name: trunk,
                caller: caller.clone(),
                called: target,
                service,
                queue,
                priority,
                arrived: now,
                answered_at: None,
                legs: Vec::new(),
                overdue: false,
                reinvite_pending: false,
                media: None,
                trunk_answered: true,
                class: None,
                offers: 0,
                text: Some(Box::new(TextChat {
                    seat: None,
                    answered: false,
                    offer: 0,
                    last_activity: now,
                    peer,
                    caller_uri: caller,
                    us,
                })),
            },
        );
        self.texts.insert(number, id);
        self.record(
            now,
            Some(case.clone()),
            Kind::Queued {
                queue: self.queue_cfg(queue).name.clone(),
                priority,
            },
        );
        self.call_event(case, CallPhase::Queued, None);
        self.acd.enqueue(id, queue, priority, now);
        let idle = self.cfg.acd.text_idle;
        self.timers.insert((now + idle, id, CallTimer::TextIdle));
    }

    /// The ACD matched a text call with a seat: it rings in the console.
    /// True if `id` is a text call (handled here).
    pub(super) fn offer_text(&mut self, now: Instant, id: CallId, seat: SeatId) -> bool {
        let Some(c) = self.calls.get_mut(id) else {
            return false;
        };
        let Some(t) = c.text.as_mut() else {
            return false;
        };
        t.seat = Some(seat);
        t.offer += 1;
        let gen = t.offer;
        c.offers += 1;
        let (case, queue) = (c.case.clone(), c.queue);
        let ring = self.queue_cfg(queue).ring_timeout;
        self.timers
            .insert((now + ring, id, CallTimer::TextRing(gen)));
        let name = self.seat_name(seat).to_string();
        self.record(now, Some(case.clone()), Kind::Offered { seat: name });
        self.call_event(case, CallPhase::Offered { at_once: false }, Some(seat));
        true
    }

    /// The operator did not take the text call in time: offered elsewhere.
    pub(super) fn text_ring_out(&mut self, now: Instant, id: CallId, gen: u32) {
        let Some(t) = self.calls.get_mut(id).and_then(|c| c.text.as_mut()) else {
            return;
        };
        if t.answered || t.offer != gen {
            return;
        }
        let Some(seat) = t.seat.take() else { return };
        self.acd.offer_failed(id, seat, OfferFailure::NoAnswer, now);
        let case = self.calls.get(id).map(|c| c.case.clone());
        if let Some(case) = case {
            self.call_event(case, CallPhase::Queued, None);
        }
    }

    /// Ends a conversation silent for `text_idle_s`.
    pub(super) fn text_idle(&mut self, now: Instant, txs: &mut Transactions, id: CallId) {
        let Some(t) = self.calls.get(id).and_then(|c| c.text.as_ref()) else {
            return;
        };
        let idle = self.cfg.acd.text_idle;
        let due = t.last_activity + idle;
        if now < due {
            self.timers.insert((due, id, CallTimer::TextIdle));
            return;
        }
        tracing::info!(id, "text conversation idle: ended");
        self.end_call(now, txs, id, EndReason::Completed);
    }

    /// The text call of `case` and its seat, if `by` may act on it.
    fn text_of(&self, by: &Actor, case: &CaseId) -> Result<(CallId, Option<SeatId>), CommandError> {
        let id = self.calls.by_case(case).ok_or(CommandError::UnknownCase)?;
        let c = self.calls.get(id).ok_or(CommandError::UnknownCase)?;
        let t = c
            .text
            .as_ref()
            .ok_or_else(|| CommandError::WrongState("a voice call".into()))?;
        match &by.role {
            Role::Supervisor => {}
            Role::Operator { seat } => {
                if t.seat.map(|s| self.seat_name(s).as_ref()) != Some(seat.as_str()) {
                    return Err(CommandError::NotAllowed);
                }
            }
            Role::Agency { .. } => return Err(CommandError::NotAllowed),
        }
        Ok((id, t.seat))
    }

    pub(super) fn accept_text(
        &mut self,
        now: Instant,
        by: &Actor,
        case: CaseId,
    ) -> Result<Done, CommandError> {
        let (id, seat) = self.text_of(by, &case)?;
        let seat = seat.ok_or_else(|| CommandError::WrongState("waiting".into()))?;
        let Some(c) = self.calls.get_mut(id) else {
            return Err(CommandError::UnknownCase);
        };
        let Some(t) = c.text.as_mut() else {
            return Err(CommandError::UnknownCase);
        };
        if t.answered {
            return Err(CommandError::WrongState("answered".into()));
        }
        t.answered = true;
        t.last_activity = now;
        c.state = CallState::Answered;
        c.answered_at = Some(now);
        self.acd.answered(id, seat);
        let name = self.seat_name(seat).to_string();
        tracing::info!(case = %case, seat = %name, "text call taken");
        self.record(now, Some(case.clone()), Kind::Answered { seat: name });
        self.call_event(case.clone(), CallPhase::Answered, Some(seat));
        Ok(Done::Case { case })
    }

    pub(super) fn send_text(
        &mut self,
        now: Instant,
        by: &Actor,
        case: CaseId,
        text: String,
    ) -> Result<Done, CommandError> {
        let (id, _) = self.text_of(by, &case)?;
        let answered = self
            .calls
            .get(id)
            .and_then(|c| c.text.as_ref())
            .is_some_and(|t| t.answered);
        if !answered {
            return Err(CommandError::WrongState("not taken yet".into()));
        }
        let text = text.trim().to_string();
        if let Some(t) = self.calls.get_mut(id).and_then(|c| c.text.as_mut()) {
            t.last_activity = now;
        }
        self.record(
            now,
            Some(case.clone()),
            Kind::Text {
                from: "operator".into(),
                by: Some(by.user.clone()),
                text: text.clone(),
            },
        );
        self.outgoing_texts.push((id, text));
        Ok(Done::Case { case })
    }

    pub(super) fn end_text(&mut self, by: &Actor, case: CaseId) -> Result<Done, CommandError> {
        let (id, _) = self.text_of(by, &case)?;
        self.ending_texts.push(id);
        Ok(Done::Case { case })
    }

    /// What commands asked for that needs the transaction layer: the
    /// operators' messages out, conversations ended.
    pub(super) fn flush_texts(&mut self, now: Instant, txs: &mut Transactions) {
        for (id, text) in std::mem::take(&mut self.outgoing_texts) {
            let Some(t) = self.calls.get(id).and_then(|c| c.text.as_ref()) else {
                continue;
            };
            let (peer, to, us) = (t.peer, t.caller_uri.clone(), t.us.clone());
            let (call_id, tag, branch) = (
                concat(&[&self.token(), "@siaga112"]),
                self.token(),
                self.token(),
            );
            let d = Dialog {
                call_id,
                local: concat(&["<", &us, ">;tag=", &tag]),
                remote: strip_tag(&concat(&["<", &to, ">"])),
                remote_target: to,
                routes: Vec::new(),
                peer,
                cseq: 1,
            };
            let req = self.in_dialog_request(
                &d,
                "MESSAGE",
                &branch,
                &[],
                Some(("text/plain;charset=UTF-8", text.as_bytes())),
            );
            let key = req.send(now, txs, peer);
            self.purposes.insert(key, Purpose::Fire);
        }
        for id in std::mem::take(&mut self.ending_texts) {
            self.end_call(now, txs, id, EndReason::Completed);
        }
    }
}
