//! What each client transaction of ours is for, and the responses to them:
//! a leg's INVITE, a relayed in-dialog request (re-INVITE, UPDATE, INFO...)
//! and its answer back to the other leg, keep-alives, requests whose
//! answer nobody needs; and 2xx for legs we gave up on.

use super::leg::Dialog;
use super::media::Relayed;
use super::B2bua;
use crate::acd::CallId;
use crate::registrar::Destination;
use crate::sip::rsip::{Method, Request, Response};
use crate::sip::write::concat;
use crate::sip::{self, header, parse_cseq, Echo, ResponseWriter, Transport};
use crate::transaction::{Transactions, TxKey};
use std::time::Instant;

/// What a client transaction of ours is for.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// The INVITE of leg `u32` of a call.
    LegInvite(CallId, u32),
    /// A request whose answer we don't need (BYE, CANCEL).
    Fire,
    /// An OPTIONS keep-alive to this seat's contact: any answer means alive.
    Probe(String),
    /// A relayed in-dialog request: answer this server transaction with it.
    Relay {
        server: TxKey,
        echo_of: Box<Request>,
        call: CallId,
        /// The request came from the trunk (its answer goes back there).
        from_trunk: bool,
    },
    /// A NOTIFY of the subscription with this Call-ID.
    Notify(String),
}

/// A leg we gave up on that may still answer: ACK and BYE a late 2xx.
#[derive(Debug)]
pub struct Zombie {
    pub dialog: Dialog,
    pub until: Instant,
}

impl B2bua {
    /// A response to one of our client transactions.
    pub fn on_response(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: &TxKey,
        resp: &Response,
    ) {
        let status = resp.status_code.code();
        let Some(purpose) = self.take_purpose(key, status) else {
            return self.on_stray_response(now, resp);
        };
        match purpose {
            Purpose::Fire => {}
            Purpose::Notify(id) if status >= 300 => self.notify_failed(&id, status),
            Purpose::Notify(_) => {}
            Purpose::Probe(user) => self.probe_answers.push_back(user),
            Purpose::Relay {
                server,
                echo_of,
                call,
                from_trunk,
            } => {
                if status < 200 {
                    return;
                }
                if echo_of.method == Method::Invite {
                    self.relay_done(call);
                }
                let body = match self.media_relay_body(call, from_trunk, &resp.headers, &resp.body)
                {
                    Relayed::Body(b) => Some(b),
                    _ => None,
                };
                self.relay_answer(now, txs, &server, &echo_of, resp, body);
                if (200..300).contains(&status) && echo_of.method == Method::Invite {
                    self.ack_2xx_of(resp);
                }
            }
            Purpose::LegInvite(id, gen) => self.on_leg_response(now, txs, key, id, gen, resp),
        }
    }

    /// The purpose of a client transaction a response with `status`
    /// arrived on; a final answer ends it, but a 2xx INVITE keeps its
    /// transaction (retransmitted 2xx are passed up again).
    fn take_purpose(&mut self, key: &TxKey, status: u16) -> Option<Purpose> {
        let purpose = self.purposes.get(key).cloned()?;
        let keep = (200..300).contains(&status) && matches!(purpose, Purpose::LegInvite(..));
        if status >= 200 && !keep {
            self.purposes.remove(key);
        }
        Some(purpose)
    }

    /// Whether a response with `status` on client transaction `key` must be
    /// read whole. Not needed: a provisional (a leg rings; relays ignore
    /// it), or a non-INVITE final answer nobody reads (our BYE, CANCEL, a
    /// keep-alive). Needed: INVITE finals and relayed answers.
    pub fn needs_whole_response(&self, key: &TxKey, status: u16) -> bool {
        status >= 200
            && !matches!(
                self.purposes.get(key),
                None | Some(Purpose::Fire) | Some(Purpose::Probe(_)) | Some(Purpose::Notify(_))
            )
    }

    /// A response that [`B2bua::needs_whole_response`] said is known by its
    /// status alone (a stray one of those needs nothing either).
    pub fn on_response_status(&mut self, key: &TxKey, status: u16) {
        debug_assert!(!self.needs_whole_response(key, status));
        match self.take_purpose(key, status) {
            Some(Purpose::LegInvite(id, gen)) => self.leg_provisional(key, id, gen, status),
            Some(Purpose::Probe(user)) if status >= 200 => self.probe_answers.push_back(user),
            Some(Purpose::Notify(id)) if status >= 300 => self.notify_failed(&id, status),
            _ => {}
        }
    }

    /// A 2xx for a leg we no longer have (gave up, or the call ended): ACK
    /// and hang it up, so no seat is left talking to nobody.
    pub fn on_stray_response(&mut self, _now: Instant, resp: &Response) {
        let status = resp.status_code.code();
        let call_id = header(&resp.headers, "Call-ID").unwrap_or("");
        let is_invite = header(&resp.headers, "CSeq")
            .and_then(parse_cseq)
            .is_some_and(|c| c.1 == "INVITE");
        if !(200..300).contains(&status) || !is_invite {
            return;
        }
        let Some(z) = self.zombies.remove(call_id) else {
            return;
        };
        let mut d = z.dialog;
        d.confirm(resp);
        let branch = self.token();
        let ack = self.in_dialog_request(&d, "ACK", &branch, &[], None);
        self.out
            .push_back(super::CallOutput::Transmit(d.peer, ack.into_data()));
        d.cseq += 1;
        let branch = self.token();
        // Not tracked: nothing more to do whatever it answers.
        let bye = self.in_dialog_request(&d, "BYE", &branch, &[], None);
        self.out
            .push_back(super::CallOutput::Transmit(d.peer, bye.into_data()));
    }

    /// The ACK of a relayed re-INVITE's 2xx, on the leg it was sent on.
    fn ack_2xx_of(&mut self, resp: &Response) {
        let call_id = header(&resp.headers, "Call-ID").unwrap_or("");
        let num = header(&resp.headers, "CSeq")
            .and_then(parse_cseq)
            .map(|c| c.0)
            .unwrap_or(0);
        let id = self
            .calls
            .by_trunk(call_id)
            .or_else(|| self.calls.by_leg(call_id));
        let Some(c) = id.and_then(|id| self.calls.get(id)) else {
            return;
        };
        let d = if c.trunk.call_id == call_id {
            &c.trunk
        } else if let Some(l) = c.answered_leg() {
            &l.dialog
        } else {
            return;
        };
        let d = Dialog {
            cseq: num,
            ..d.clone()
        };
        let branch = self.token();
        let ack = self.in_dialog_request(&d, "ACK", &branch, &[], None);
        self.out
            .push_back(super::CallOutput::Transmit(d.peer, ack.into_data()));
    }

    /// Relays a mid-call request to the other leg (re-INVITE, UPDATE,
    /// INFO...). Glare (RFC 3261 §14.2): a re-INVITE while one relayed on
    /// this call is still pending gets 491.
    pub(super) fn relay(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: TxKey,
        req: &Request,
        id: CallId,
        from_trunk: bool,
    ) {
        let Some(c) = self.calls.get(id) else { return };
        let answered = matches!(
            c.state,
            super::table::CallState::Answered | super::table::CallState::Talking
        );
        let invite = req.method == Method::Invite;
        if !answered || c.answered_leg().is_none() || (invite && c.reinvite_pending) {
            return self.reply(now, txs, &key, req, 491, "Request Pending", None, &[]);
        }
        let method = sip::method_name(req.method);
        let ctype = header(&req.headers, "Content-Type");
        let body = match self.media_relay_body(id, !from_trunk, &req.headers, &req.body) {
            Relayed::Unusable if !from_trunk => {
                // A seat's offer we cannot relay: refused. (The trunk's
                // are relayed as they came: an emergency call is never
                // refused for its SDP.)
                return self.reply(now, txs, &key, req, 488, "Not Acceptable Here", None, &[]);
            }
            Relayed::Body(b) => b,
            _ => req.body.clone(),
        };
        let branch = self.token();
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        let dialog = if from_trunk {
            match c.answered_leg_mut() {
                Some(l) => &mut l.dialog,
                None => return,
            }
        } else {
            &mut c.trunk
        };
        dialog.cseq += 1;
        let d = dialog.clone();
        if invite {
            c.reinvite_pending = true;
        }
        let contact = self.local.contact(d.peer.transport);
        let out = self.in_dialog_request(
            &d,
            method,
            &branch,
            &[("Contact", contact)],
            ctype.map(|t| (t, body.as_slice())),
        );
        let k = out.send(now, txs, d.peer);
        self.purposes.insert(
            k,
            Purpose::Relay {
                server: key,
                echo_of: Box::new(req.clone()),
                call: id,
                from_trunk,
            },
        );
    }

    /// A relayed re-INVITE got its final answer (or none): the next may go.
    pub(super) fn relay_done(&mut self, call: CallId) {
        if let Some(c) = self.calls.get_mut(call) {
            c.reinvite_pending = false;
        }
    }

    fn relay_answer(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        server: &TxKey,
        req: &Request,
        resp: &Response,
        body: Option<Vec<u8>>,
    ) {
        let status = resp.status_code.code();
        let reason = match resp.reason_phrase() {
            Some(r) if !r.is_empty() => r.to_string(),
            _ => resp.status_code.text().to_string(),
        };
        let echo = Echo::from_request(req);
        let mut w = ResponseWriter::new(&echo, status, &sip::reason_safe(&reason), None);
        // The transport of the top Via: the hop the request came over.
        let top = header(&req.headers, "Via").and_then(sip::top_via);
        let t = match top.map(|v| v.transport) {
            Some(t) if t.eq_ignore_ascii_case("TLS") => Transport::Tls,
            Some(t) if t.eq_ignore_ascii_case("TCP") => Transport::Tcp,
            _ => Transport::Udp,
        };
        w = w.header("Contact", self.local.contact(t));
        let body = body.as_deref().unwrap_or(&resp.body);
        let data = match header(&resp.headers, "Content-Type") {
            Some(ct) if !body.is_empty() => w.finish(Some((ct, body))),
            _ => w.finish(None),
        };
        txs.respond(now, server, status, data);
    }

    /// Sends an OPTIONS keep-alive to a seat's contact; its answer comes
    /// back through [`B2bua::poll_probe_answer`].
    ///
    /// A seat's probes share one Call-ID and From tag, the CSeq counting up
    /// (as REGISTER refreshes do): the seat's phone sees one exchange, not
    /// a new call every interval.
    pub fn probe(&mut self, now: Instant, txs: &mut Transactions, user: &str, dest: Destination) {
        let branch = self.token();
        let fresh = (concat(&[&self.token(), "@siaga112"]), self.token());
        let (call_id, tag, cseq) = {
            let p = self
                .probe_ids
                .entry(user.to_string())
                .or_insert((fresh.0, fresh.1, 0));
            p.2 += 1;
            (p.0.clone(), p.1.clone(), p.2)
        };
        let local = self.local.addr(dest.peer.transport).to_string();
        let d = Dialog {
            call_id,
            local: concat(&["<sip:siaga112@", &local, ">;tag=", &tag]),
            remote: concat(&["<", &dest.uri, ">"]),
            remote_target: dest.uri,
            routes: dest.routes,
            cseq,
            peer: dest.peer,
        };
        let req = self.in_dialog_request(&d, "OPTIONS", &branch, &[], None);
        let k = req.send(now, txs, d.peer);
        self.purposes.insert(k, Purpose::Probe(user.to_string()));
    }

    /// A seat whose keep-alive was answered.
    pub fn poll_probe_answer(&mut self) -> Option<String> {
        self.probe_answers.pop_front()
    }
}
