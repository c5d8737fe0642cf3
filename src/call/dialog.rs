//! Requests inside a call's dialogs: BYE from either side, re-INVITE and
//! friends relayed, in-dialog OPTIONS; and the requests we write into a
//! dialog (INVITE, ACK, BYE, relayed requests, keep-alives).

use super::leg::Dialog;
use super::purpose::Purpose;
use super::table::CallState;
use super::B2bua;
use crate::acd::CallId;
use crate::caselog::EndReason;
use crate::sip::rsip::{Method, Request};
use crate::sip::write::{concat, finish_message, push_header};
use crate::sip::{self, header, Peer};
use crate::transaction::{Transactions, TxKey};
use bytes::Bytes;
use std::time::Instant;

/// A request we wrote: its method, top Via branch and wire text.
pub struct Built {
    method: &'static str,
    branch: String,
    data: Bytes,
}

impl Built {
    /// Sends it as a client transaction.
    pub fn send(self, now: Instant, txs: &mut Transactions, peer: Peer) -> TxKey {
        txs.send_written(now, self.method, &self.branch, self.data, peer)
    }

    /// The wire text (for an ACK of a 2xx, sent outside any transaction).
    pub fn into_data(self) -> Bytes {
        self.data
    }
}

impl B2bua {
    /// An in-dialog request (To tag present). Returns false if no dialog of
    /// ours matches (the caller answers 481).
    pub fn on_in_dialog(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: TxKey,
        req: &Request,
    ) -> bool {
        let call_id = header(&req.headers, "Call-ID").unwrap_or("");
        let (id, from_trunk) = if let Some(id) = self.calls.by_trunk(call_id) {
            (id, true)
        } else if let Some(id) = self.calls.by_leg(call_id) {
            (id, false)
        } else {
            if self.zombies.contains_key(call_id) && req.method == Method::Bye {
                self.reply(now, txs, &key, req, 200, "OK", None, &[]);
                self.zombies.remove(call_id);
                return true;
            }
            return false;
        };
        // The same Call-ID is not enough: the tags must name this dialog
        // (RFC 3261 §12.2.2), or it is someone else's request: 481.
        let belongs = self.calls.get(id).is_some_and(|c| {
            if from_trunk {
                c.trunk.matches(req)
            } else {
                c.legs
                    .iter()
                    .any(|l| l.dialog.call_id == call_id && l.dialog.matches(req))
            }
        });
        if !belongs {
            return false;
        }
        match req.method {
            Method::Bye => self.on_bye(now, txs, key, req, id, from_trunk),
            Method::Options => {
                let allow = sip::ALLOW;
                self.reply(now, txs, &key, req, 200, "OK", None, &[("Allow", allow)]);
            }
            Method::Info => {
                self.info_digit(now, req, id, from_trunk);
                self.relay(now, txs, key, req, id, from_trunk)
            }
            Method::Invite | Method::Update | Method::Message | Method::Notify | Method::Refer => {
                self.relay(now, txs, key, req, id, from_trunk)
            }
            _ => self.reply(
                now,
                txs,
                &key,
                req,
                405,
                "Method Not Allowed",
                None,
                &[("Allow", sip::ALLOW)],
            ),
        }
        true
    }

    /// A SIP INFO carrying a key press (`application/dtmf-relay`,
    /// `application/dtmf`): recorded like an RFC 4733 digit, and relayed.
    fn info_digit(&mut self, now: Instant, req: &Request, id: CallId, from_trunk: bool) {
        let ct = header(&req.headers, "Content-Type").unwrap_or("");
        let Some((digit, duration)) = crate::sip::body::parse_dtmf_relay(ct, &req.body) else {
            return;
        };
        let Some(c) = self.calls.get(id) else { return };
        let case = c.case.clone();
        let side = if from_trunk { "caller" } else { "seat" };
        tracing::info!(case = %case, side, %digit, "digit (SIP INFO)");
        self.record(
            now,
            Some(case),
            crate::caselog::Kind::Digit {
                side: side.into(),
                digit: digit.to_string(),
                duration_ms: duration.unwrap_or(0),
            },
        );
    }

    fn on_bye(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: TxKey,
        req: &Request,
        id: CallId,
        from_trunk: bool,
    ) {
        self.reply(now, txs, &key, req, 200, "OK", None, &[]);
        let Some(c) = self.calls.get(id) else { return };
        tracing::debug!(case = %c.case, by = if from_trunk { "caller" } else { "seat" }, "hang-up");
        let waiting = c.is_waiting();
        let reason = if waiting {
            EndReason::Abandoned
        } else if c.overflowed() {
            EndReason::Overflowed
        } else {
            EndReason::Completed
        };
        if from_trunk && waiting && !c.trunk_answered {
            // BYE before our 200 (RFC 3261 §15): answer the INVITE too.
            self.answer_trunk_failure(now, txs, id, 487, "Request Terminated");
        }
        self.end_call_from(now, txs, id, reason, from_trunk);
    }

    /// Hang-up from one side: BYE the other (if it is in a dialog with
    /// us), then end the case.
    pub(super) fn end_call_from(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        id: CallId,
        reason: EndReason,
        from_trunk: bool,
    ) {
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        let other = if from_trunk {
            c.answered_leg_mut().map(|l| &mut l.dialog)
        } else if c.trunk_answered || matches!(c.state, CallState::Answered | CallState::Talking) {
            Some(&mut c.trunk)
        } else {
            None
        };
        if let Some(d) = other {
            d.cseq += 1;
            let d = d.clone();
            self.send_bye(now, txs, &d);
        }
        self.end_call(now, txs, id, reason);
    }

    /// The engine itself ends a call (its media died): BYE whichever sides
    /// are in a dialog with us, answer a trunk INVITE still open, end it.
    pub(super) fn hang_up_both(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        id: CallId,
        reason: EndReason,
    ) {
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        let trunk_in_dialog = c.trunk_answered || !c.is_waiting();
        let mut byes = Vec::new();
        if trunk_in_dialog {
            c.trunk.cseq += 1;
            byes.push(c.trunk.clone());
        }
        if let Some(l) = c.answered_leg_mut() {
            l.dialog.cseq += 1;
            byes.push(l.dialog.clone());
        }
        if !trunk_in_dialog {
            self.answer_trunk_failure(now, txs, id, 480, "Temporarily Unavailable");
        }
        for d in byes {
            self.send_bye(now, txs, &d);
        }
        self.end_call(now, txs, id, reason);
    }

    pub(super) fn send_bye(&mut self, now: Instant, txs: &mut Transactions, d: &Dialog) {
        let branch = self.token();
        let bye = self.in_dialog_request(d, "BYE", &branch, &[], None);
        let k = bye.send(now, txs, d.peer);
        self.purposes.insert(k, Purpose::Fire);
    }

    /// Builds a request inside a dialog. Every value comes from a parsed
    /// message or from us, so the request goes out as written, without a
    /// parse of its own (debug builds check that it parses).
    pub(super) fn in_dialog_request(
        &self,
        d: &Dialog,
        method: &'static str,
        branch: &str,
        extra: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Built {
        let via_t = d.peer.transport;
        let mut cseq = itoa::Buffer::new();
        let mut buf = String::with_capacity(600);
        for part in [
            method,
            " ",
            &d.remote_target,
            " SIP/2.0\r\nVia: SIP/2.0/",
            via_t.via_name(),
            " ",
            self.local.via(via_t),
            ";branch=z9hG4bK",
            branch,
            ";rport\r\nMax-Forwards: 70\r\n",
        ] {
            buf.push_str(part);
        }
        for r in &d.routes {
            push_header(&mut buf, "Route", r);
        }
        push_header(&mut buf, "From", &d.local);
        push_header(&mut buf, "To", &d.remote);
        push_header(&mut buf, "Call-ID", &d.call_id);
        for part in ["CSeq: ", cseq.format(d.cseq), " ", method, "\r\n"] {
            buf.push_str(part);
        }
        for (n, v) in extra {
            push_header(&mut buf, n, v);
        }
        push_header(&mut buf, "User-Agent", &self.cfg.sip.user_agent);
        let data = finish_message(buf, body);
        debug_assert!(
            sip::rsip::parser::parse_message(&data).is_ok(),
            "a request we wrote does not parse: {}",
            String::from_utf8_lossy(&data)
        );
        Built {
            method,
            branch: concat(&["z9hG4bK", branch]),
            data,
        }
    }
}
