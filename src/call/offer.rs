//! Outbound legs: ringing the seats the ACD matched (or the overflow
//! target), their answers, and giving up on them.

use super::leg::{Dialog, Leg, LegState, Role};
use super::overflow::CallTimer;
use super::purpose::{Purpose, Zombie};
use super::table::CallState;
use super::B2bua;
use crate::acd::{CallId, OfferFailure, SeatId, SeatState};
use crate::caselog::Kind;
use crate::operator::CallPhase;
use crate::registrar::{Binding, Destination, Registrar};
use crate::sip::rsip::Response;
use crate::sip::write::concat;
use crate::sip::{self, header};
use crate::transaction::{Transactions, TxKey};
use std::time::Instant;

impl B2bua {
    /// Rings `seat` with call `id` (a match the ACD made).
    pub(super) fn offer(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        reg: &Registrar,
        id: CallId,
        seat: SeatId,
    ) {
        if self.offer_text(now, id, seat) {
            return;
        }
        let name = self.seat_name(seat).clone();
        let dest = reg.bindings(&name).last().map(Binding::destination);
        let started = dest.is_some_and(|d| self.start_leg(now, txs, id, Role::Seat(seat), d));
        if !started {
            self.acd
                .offer_failed(id, seat, OfferFailure::Unreachable, now);
            return;
        }
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        c.offers += 1;
        let at_once = c.offers == 1 && c.arrived == now;
        let case = c.case.clone();
        tracing::debug!(case = %case, seat = %name, "offered");
        self.record(
            now,
            Some(case.clone()),
            Kind::Offered {
                seat: name.to_string(),
            },
        );
        self.call_event(case, CallPhase::Offered { at_once }, Some(seat));
    }

    /// Sends the INVITE of an outbound leg; false if the call is gone.
    pub(super) fn start_leg(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        id: CallId,
        role: Role,
        dest: Destination,
    ) -> bool {
        let Destination { uri, routes, peer } = dest;
        let (call_id, tag, branch) = (
            concat(&[&self.token(), "@siaga112"]),
            self.token(),
            self.token(),
        );
        self.leg_gen += 1;
        let gen = self.leg_gen;
        let Some(c) = self.calls.get(id) else {
            return false;
        };
        let from = super::leg::strip_tag(&c.trunk.remote);
        let dialog = Dialog {
            call_id,
            local: concat(&[&from, ";tag=", &tag]),
            remote: concat(&["<", &uri, ">"]),
            remote_target: uri,
            routes,
            cseq: 1,
            peer,
        };
        let pai = concat(&["<", &c.caller, ">"]);
        let info = concat(&[
            "<urn:siaga112:case:",
            c.case.as_str(),
            ">;purpose=siaga112-case",
        ]);
        let extra = [
            ("Contact", self.local.contact(peer.transport)),
            ("P-Asserted-Identity", pai.as_str()),
            ("Call-Info", info.as_str()),
            ("Subject", c.service.as_str()),
            ("Allow", sip::ALLOW),
        ];
        let ctype = header(&c.invite.headers, "Content-Type").unwrap_or("application/sdp");
        let trunk_body =
            (!c.invite.body.is_empty()).then(|| (ctype.to_string(), c.invite.body.clone()));
        let relayed = c.media.is_some();
        let mut extra: Vec<(&str, String)> =
            extra.iter().map(|(n, v)| (*n, v.to_string())).collect();
        extra.extend(super::inputs::for_seat(&c.invite));
        let ours = if relayed { self.leg_offer(id) } else { None };
        let body = ours.or(trunk_body);
        let extra: Vec<(&str, &str)> = extra.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let body = body.as_ref().map(|(t, b)| (t.as_str(), b.as_slice()));
        let req = self.in_dialog_request(&dialog, "INVITE", &branch, &extra, body);
        let Some(c) = self.calls.get(id) else {
            return false;
        };
        let key = req.send(now, txs, peer);
        let queue = self.queue_cfg(c.queue);
        let ring = now + queue.ring_timeout;
        self.purposes
            .insert(key.clone(), Purpose::LegInvite(id, gen));
        self.calls.add_leg(
            id,
            Leg {
                role,
                dialog,
                invite_tx: key,
                state: LegState::Calling,
                got_response: false,
                ack: None,
                gen,
            },
        );
        self.timers.insert((
            now + self.cfg.sip.no_response,
            id,
            CallTimer::NoResponse(gen),
        ));
        self.timers.insert((ring, id, CallTimer::Ring(gen)));
        true
    }

    /// A response on the INVITE of leg `gen` of call `id`.
    pub(super) fn on_leg_response(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: &TxKey,
        id: CallId,
        gen: u32,
        resp: &Response,
    ) {
        let status = resp.status_code.code();
        if status < 200 {
            self.leg_provisional(key, id, gen, status);
            return;
        }
        if self.calls.get(id).and_then(|c| c.leg(gen)).is_none() {
            self.purposes.remove(key);
            return self.on_stray_response(now, resp);
        }
        if (200..300).contains(&status) {
            self.leg_answered(now, txs, id, gen, resp);
        } else {
            self.purposes.remove(key);
            self.leg_failed(now, txs, id, gen, OfferFailure::Rejected, Some(status));
        }
    }

    /// A provisional response on an outbound leg: it is alive, and rings.
    pub(super) fn leg_provisional(&mut self, key: &TxKey, id: CallId, gen: u32, status: u16) {
        let Some(leg) = self.calls.get_mut(id).and_then(|c| c.leg_mut(gen)) else {
            self.purposes.remove(key);
            return;
        };
        leg.got_response = true;
        if status != 100 && leg.state == LegState::Calling {
            leg.state = LegState::Ringing;
        }
    }

    fn leg_answered(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        id: CallId,
        gen: u32,
        resp: &Response,
    ) {
        let Some(leg) = self.calls.get_mut(id).and_then(|c| c.leg_mut(gen)) else {
            return;
        };
        if leg.state == LegState::Answered {
            // A retransmitted 2xx: our ACK was lost.
            if let Some(ack) = leg.ack.clone() {
                let peer = leg.dialog.peer;
                self.out.push_back(super::CallOutput::Transmit(peer, ack));
            }
            return;
        }
        leg.state = LegState::Answered;
        leg.got_response = true;
        leg.dialog.confirm(resp);
        let d = Dialog {
            cseq: 1,
            ..leg.dialog.clone()
        };
        let role = leg.role;
        let branch = self.token();
        let ack = self
            .in_dialog_request(&d, "ACK", &branch, &[], None)
            .into_data();
        self.out
            .push_back(super::CallOutput::Transmit(d.peer, ack.clone()));
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        if let Some(leg) = c.leg_mut(gen) {
            leg.ack = Some(ack);
        }
        c.state = CallState::Answered;
        c.answered_at = Some(now);
        let case = c.case.clone();
        let others: Vec<u32> = c
            .legs
            .iter()
            .filter(|l| l.gen != gen)
            .map(|l| l.gen)
            .collect();
        let ours = self.media_answered(now, id, resp);
        self.answer_trunk(now, txs, id, resp, ours);
        let seat = match role {
            Role::Seat(s) => {
                self.acd.answered(id, s);
                Some(s)
            }
            _ => {
                self.acd.remove_call(id, now);
                None
            }
        };
        let who = seat.map_or_else(|| "overflow".to_string(), |s| self.seat_name(s).to_string());
        tracing::debug!(case = %case, seat = %who, "answered");
        self.record(now, Some(case.clone()), Kind::Answered { seat: who });
        self.call_event(case, CallPhase::Answered, seat);
        // Ring-all: the others stop ringing.
        for g in others {
            let Some(f) = self.calls.take_leg(id, g) else {
                continue;
            };
            self.bury_leg(now, txs, f.invite_tx, f.got_response, f.dialog);
            if let Role::Seat(s) = f.role {
                self.acd.offer_failed(id, s, OfferFailure::Withdrawn, now);
            }
        }
    }

    /// Leg `gen` will not answer: give it up (CANCEL it if it rings) and
    /// find the call another way.
    pub(super) fn leg_failed(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        id: CallId,
        gen: u32,
        why: OfferFailure,
        status: Option<u16>,
    ) {
        let Some(leg) = self.calls.take_leg(id, gen) else {
            return;
        };
        let Some(c) = self.calls.get(id) else {
            return;
        };
        // Under ring-all other legs may still ring.
        let overdue = c.overdue && c.legs.is_empty();
        let case = c.case.clone();
        self.bury_leg(
            now,
            txs,
            leg.invite_tx,
            leg.got_response && status.is_none(),
            leg.dialog,
        );
        match leg.role {
            Role::Seat(seat) => {
                tracing::info!(case = %case, seat = %self.seat_name(seat), why = why.as_str(), ?status, "offer failed");
                self.acd.offer_failed(id, seat, why, now);
                if self
                    .calls
                    .get(id)
                    .is_some_and(|c| c.legs.is_empty() && c.answered_leg().is_none())
                {
                    // Waiting again: no seat has it now.
                    self.call_event(case.clone(), CallPhase::Queued, None);
                }
                if !matches!(
                    self.acd.seat_state(seat),
                    SeatState::Available | SeatState::LoggedOut
                ) {
                    self.seat_record(now, seat, Some(why.as_str()));
                }
                if overdue {
                    self.overflow(now, txs, id);
                }
            }
            Role::Overflow | Role::Trunk => {
                tracing::warn!(case = %case, ?status, "overflow target did not answer; back to the queue");
                let q = self.calls.get(id).map(|c| c.queue).unwrap_or_default();
                let wait = self.queue_cfg(q).max_wait;
                if let Some(c) = self.calls.get_mut(id) {
                    c.overdue = false;
                }
                self.timers.insert((now + wait, id, CallTimer::MaxWait));
                self.acd.requeue(id);
            }
        }
    }

    /// Stops an INVITE client transaction: CANCEL it if it has a provisional
    /// answer, else just forget it; a late 2xx is then ACKed and hung up.
    pub(super) fn bury_leg(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        invite_tx: TxKey,
        cancel: bool,
        dialog: Dialog,
    ) {
        self.purposes.remove(&invite_tx);
        if cancel {
            if let Some(k) = txs.send_cancel(now, &invite_tx) {
                self.purposes.insert(k, Purpose::Fire);
            }
        } else {
            txs.forget_client(&invite_tx);
        }
        let until = now + 64 * self.cfg.sip.t1;
        self.zombies
            .insert(dialog.call_id.clone(), Zombie { dialog, until });
    }

    /// A client transaction timed out (timer B/F) or hit a transport error.
    pub fn on_client_timeout(&mut self, now: Instant, txs: &mut Transactions, key: &TxKey) {
        match self.purposes.remove(key) {
            Some(Purpose::LegInvite(id, gen)) => {
                self.leg_failed(now, txs, id, gen, OfferFailure::Unreachable, Some(408));
            }
            Some(Purpose::Relay {
                server,
                echo_of,
                call,
                ..
            }) => {
                self.relay_done(call);
                self.reply(
                    now,
                    txs,
                    &server,
                    &echo_of,
                    408,
                    "Request Timeout",
                    None,
                    &[],
                );
            }
            Some(Purpose::Notify(id)) => self.notify_failed(&id, 408),
            _ => {}
        }
    }
}
