//! The caller's side: a routed INVITE opens the case and is answered 180 at
//! once; the seat's answer becomes our 200; failures, CANCEL, the ACK of
//! our 200 and its absence.

use super::leg::Dialog;
use super::overflow::CallTimer;
use super::table::{Call, CallState};
use super::{B2bua, Origin, RouteMatch};
use crate::acd::CallId;
use crate::caselog::{CallInfo, EndReason, Kind};
use crate::operator::CallPhase;
use crate::sip::rsip::{Request, Response};
use crate::sip::{self, header, tag_of, uri_in, Echo, Peer, ResponseWriter};
use crate::transaction::{Transactions, TxKey};
use std::time::Instant;

/// Who is calling: the network's asserted identity, else the From.
pub(super) fn caller_of(req: &Request) -> String {
    header(&req.headers, "P-Asserted-Identity")
        .or_else(|| header(&req.headers, "From"))
        .map(uri_in)
        .unwrap_or("")
        .to_string()
}

impl B2bua {
    /// A new INVITE to a routed target (no To tag), from a trunk, an edge
    /// proxy or an authenticated seat. Opens the case, answers 180, queues
    /// the call. No 100 Trying: the 180 leaves in the same step, and RFC
    /// 3261 §17.2.1 asks for a 100 only when no provisional response
    /// follows within 200 ms (one datagram less per call for both sides).
    #[allow(clippy::too_many_arguments)]
    pub fn on_call_in(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: TxKey,
        src: Peer,
        req: Request,
        origin: Origin,
        target: String,
        route: RouteMatch,
    ) {
        let RouteMatch {
            queue,
            service,
            mut priority,
            catch_all,
        } = route;
        if catch_all {
            tracing::info!(%target, queue = %self.queue_cfg(queue).name, "a number the centre does not list: taken by the catch-all route");
        }
        let (trunk, from_seat) = match origin {
            Origin::Trunk(t) => (t, None),
            Origin::Seat(s) => (String::new(), Some(s)),
        };
        self.next_call += 1;
        let id = self.next_call;
        let case = self.case_ids.next();
        let local_tag = self.token();
        let dialog = Dialog::answering(&req, &local_tag, src);
        let caller = caller_of(&req);
        let inputs = super::inputs::read(&req, &self.cfg);
        if inputs.priority_bonus != 0 {
            priority = priority.saturating_add(inputs.priority_bonus);
            tracing::info!(case = %case, resource_priority = inputs.resource_priority.as_deref().unwrap_or(""), priority, "priority raised by Resource-Priority");
        }
        let pranks = self.recent_pranks(&caller, now);
        if pranks >= self.cfg.acd.prank_threshold as usize {
            priority = priority.min(self.cfg.acd.prank_priority);
            tracing::info!(case = %case, %caller, pranks, priority, "caller with recent prank calls: lowest priority");
        }
        tracing::debug!(case = %case, %caller, %target, %trunk, queue = %self.queue_cfg(queue).name, priority, "call arrived");
        if let Some(seat) = &from_seat {
            tracing::info!(case = %case, %seat, %target, "a seat placed a call into the queue");
        }
        self.record(
            now,
            Some(case.clone()),
            Kind::Opened {
                caller: caller.clone(),
                called: target.clone(),
                service: service.clone(),
                trunk: trunk.clone(),
                from_seat: from_seat.clone(),
            },
        );
        for kind in inputs.records {
            if let Kind::CallInfo(CallInfo {
                geolocation_routing: Some(r),
                ..
            }) = &kind
            {
                tracing::info!(case = %case, geolocation_routing = r, "Geolocation-Routing");
            }
            self.record(now, Some(case.clone()), kind);
        }
        let from_seat = from_seat.as_deref().and_then(|s| self.acd.seat_id(s));
        let qcfg = self.queue_cfg(queue);
        let full = qcfg
            .max_length
            .is_some_and(|m| self.acd.waiting_len(queue) >= m as usize);
        let refuse = full && qcfg.overflow.is_none();
        let media = if refuse {
            None
        } else {
            let offer = inputs.sdp.clone().and_then(|r| req.body.get(r));
            self.open_call_media(now, id, &case, offer)
        };
        self.calls.insert(
            id,
            Call {
                case: case.clone(),
                state: CallState::Waiting,
                invite: req,
                invite_tx: key,
                trunk: dialog,
                trunk_name: trunk,
                caller,
                called: target,
                service,
                queue,
                priority,
                arrived: now,
                answered_at: None,
                legs: Vec::new(),
                overdue: false,
                reinvite_pending: false,
                media,
                trunk_answered: false,
                class: None,
                offers: 0,
                text: None,
            },
        );
        if refuse {
            // Never silently: the case says so, and the network hears a
            // busy centre and routes the call elsewhere.
            tracing::warn!(case = %case, queue = %self.queue_cfg(queue).name, "queue full and no overflow: call refused 486");
            let Some(c) = self.calls.get(id) else { return };
            let tag = tag_of(&c.trunk.local).map(str::to_string);
            let (key, invite) = (c.invite_tx.clone(), c.invite.clone());
            let why = [("Reason", "SIP;cause=486;text=\"queue full\"")];
            self.reply(
                now,
                txs,
                &key,
                &invite,
                486,
                "Busy Here",
                tag.as_deref(),
                &why,
            );
            return self.end_call(now, txs, id, EndReason::Refused);
        }
        self.ring_trunk(now, txs, id);
        self.record(
            now,
            Some(case.clone()),
            Kind::Queued {
                queue: self.queue_cfg(queue).name.clone(),
                priority,
            },
        );
        self.call_event(case, CallPhase::Queued, None);
        let max_wait = self.queue_cfg(queue).max_wait;
        self.timers.insert((now + max_wait, id, CallTimer::MaxWait));
        self.acd
            .enqueue_excluding(id, queue, priority, now, from_seat);
        if self.queue_cfg(queue).widen_to.is_some() {
            let after = self.queue_cfg(queue).overflow_after;
            self.timers.insert((now + after, id, CallTimer::Widen));
        }
        if (self.acd.logged_in(queue) == 0 || full)
            && self.queue_cfg(queue).overflow.is_some()
            && self.acd.is_queued(id)
        {
            // Nobody can take it here, or the queue is full: overflow at once.
            self.overflow(now, txs, id);
        }
    }

    /// The caller hears that the call is taken: 180, or, when the queue
    /// plays prompts, 183 with our SDP (early media) or, for a queue whose
    /// trunks take no early media, our 200 at once; then the prompts.
    fn ring_trunk(&mut self, now: Instant, txs: &mut Transactions, id: CallId) {
        let prompts = !self.prompts_of(id).is_empty();
        let Some(c) = self.calls.get(id) else { return };
        let q = &self.cfg.queues[c.queue];
        let (status, reason) = match (prompts, q.early_media) {
            (false, _) => (180, "Ringing"),
            (true, true) => (183, "Session Progress"),
            (true, false) => (200, "OK"),
        };
        let contact = self.local.contact(c.trunk.peer.transport);
        let tag = tag_of(&c.trunk.local);
        let echo = Echo::from_request(&c.invite);
        let w = ResponseWriter::new(&echo, status, reason, tag)
            .header("Contact", contact)
            .header("Server", &self.cfg.sip.user_agent);
        let w = if status == 200 {
            w.header("Allow", sip::ALLOW)
        } else {
            w
        };
        let data = match (&c.media, status) {
            (Some(m), 183 | 200) => w.finish(Some(("application/sdp", m.answer.as_bytes()))),
            _ => w.finish(None),
        };
        txs.respond(now, &c.invite_tx, status, data);
        if status == 200 {
            if let Some(c) = self.calls.get_mut(id) {
                c.trunk_answered = true;
            }
        }
        if prompts {
            self.announce(id);
        }
    }

    /// Our 200 to the trunk, with the answering leg's body (its SDP), or
    /// our relay's SDP when the media is relayed (`ours`). Nothing if we
    /// answered the trunk already (prompts without early media).
    pub(super) fn answer_trunk(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        id: CallId,
        resp: &Response,
        ours: Option<String>,
    ) {
        let Some(c) = self.calls.get(id) else { return };
        if c.trunk_answered {
            return;
        }
        let tag = tag_of(&c.trunk.local);
        let echo = Echo::from_request(&c.invite);
        let w = ResponseWriter::new(&echo, 200, "OK", tag)
            .header("Contact", self.local.contact(c.trunk.peer.transport))
            .header("Allow", sip::ALLOW)
            .header("Server", &self.cfg.sip.user_agent);
        let data = match (ours, header(&resp.headers, "Content-Type")) {
            (Some(sdp), _) => w.finish(Some(("application/sdp", sdp.as_bytes()))),
            (None, Some(ct)) if !resp.body.is_empty() => w.finish(Some((ct, &resp.body))),
            _ => w.finish(None),
        };
        txs.respond(now, &c.invite_tx, 200, data);
    }

    pub(super) fn answer_trunk_failure(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        id: CallId,
        status: u16,
        reason: &str,
    ) {
        let Some(c) = self.calls.get(id) else { return };
        let tag = tag_of(&c.trunk.local).map(str::to_string);
        let (key, invite) = (c.invite_tx.clone(), c.invite.clone());
        self.reply(now, txs, &key, &invite, status, reason, tag.as_deref(), &[]);
    }

    /// CANCEL from the trunk (a new server transaction `key`): the caller
    /// hung up before an answer. After our 2xx it changes nothing.
    pub fn on_cancel(&mut self, now: Instant, txs: &mut Transactions, key: TxKey, req: &Request) {
        let call = txs
            .invite_key_for(&key)
            .and_then(|k| self.calls.by_invite_tx(&k));
        let Some(id) = call else {
            return self.reply(
                now,
                txs,
                &key,
                req,
                481,
                "Call/Transaction Does Not Exist",
                None,
                &[],
            );
        };
        self.reply(now, txs, &key, req, 200, "OK", None, &[]);
        if self
            .calls
            .get(id)
            .is_some_and(|c| c.is_waiting() && !c.trunk_answered)
        {
            self.answer_trunk_failure(now, txs, id, 487, "Request Terminated");
            self.end_call(now, txs, id, EndReason::Abandoned);
        }
    }

    /// An ACK outside any transaction: the trunk confirming our 2xx (or a
    /// seat confirming a feature code's, which is then hung up).
    pub fn on_dialog_ack(&mut self, now: Instant, txs: &mut Transactions, req: &Request) {
        let call_id = header(&req.headers, "Call-ID").unwrap_or("");
        if let Some(mut d) = self.feature_calls.remove(call_id) {
            d.cseq += 1;
            return self.send_bye(now, txs, &d);
        }
        let Some(id) = self.calls.by_trunk(call_id) else {
            return;
        };
        if let Some(c) = self.calls.get_mut(id) {
            if c.state == CallState::Answered {
                c.state = CallState::Talking;
            }
        }
    }

    /// The trunk never ACKed our 200: the call cannot go on.
    pub fn on_ack_timeout(&mut self, now: Instant, txs: &mut Transactions, key: &TxKey) {
        let Some(id) = self.calls.by_invite_tx(key) else {
            return;
        };
        if self
            .calls
            .get(id)
            .is_some_and(|c| c.state == CallState::Answered)
        {
            tracing::warn!("trunk never acknowledged the answer; ending the call");
            self.end_call_from(now, txs, id, EndReason::Failed, true);
        }
    }
}
