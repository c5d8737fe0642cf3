//! Requests: the checks every request passes (Via stamping, the
//! transaction layer, Require), who sent a new INVITE, and the answers the
//! core gives itself (REGISTER, OPTIONS, 405, rejections of what cannot be
//! parsed).

use super::Core;
use crate::call::Origin;
use crate::registrar::Challenge;
use crate::sip::rsip::{Method, Request};
use crate::sip::{self, scan, Echo, Peer, Rejection};
use crate::transaction::{ServerMatch, TxKey};
use std::time::Instant;

impl Core {
    pub(super) fn reject(&mut self, now: Instant, peer: Peer, data: &[u8], rej: Rejection) {
        let head = scan::scan(data);
        match (rej, head) {
            (
                Rejection::Respond {
                    status,
                    reason,
                    extra,
                },
                Some(head),
            ) if !head.is_response() => {
                if head.request_method() == Some("ACK") {
                    // An ACK is never answered (RFC 3261 §17.2.1), not even a bad one.
                    return self.drop_line(now, peer, &format!("ACK: {status} {reason}"));
                }
                let mut echo = Echo::from_raw(&head);
                if !echo.answerable() {
                    return self.drop_line(now, peer, &format!("{status} {reason}, no Via"));
                }
                let stamped = echo.vias.first().and_then(|v| sip::stamp_via(v, peer.addr));
                if let Some(s) = &stamped {
                    echo.vias[0] = s;
                }
                let to = sip::response_peer(echo.vias[0], peer);
                let tag = self.token();
                let extra = extra.iter().map(|(n, v)| (*n, v.as_str()));
                let ua = &self.cfg.sip.user_agent;
                let data = sip::write::response(&echo, status, &reason, &tag, extra, ua);
                self.counters.rejected += 1;
                tracing::debug!(%status, %reason, from = %peer.addr, "rejected a request");
                self.out
                    .push_back(super::Output::Transmit { peer: to, data });
            }
            (Rejection::Respond { status, reason, .. }, _) => {
                self.drop_line(now, peer, &format!("unanswerable: {status} {reason}"))
            }
            (Rejection::Drop(why), _) => self.drop_line(now, peer, &why),
        }
    }

    fn drop_line(&mut self, now: Instant, peer: Peer, why: &str) {
        self.counters.dropped += 1;
        if let Some(suppressed) = self.drop_log.check_at(self.ms(now)) {
            tracing::warn!(from = %peer.addr, %why, suppressed, "dropped a malformed message");
        }
    }

    pub(super) fn on_request(&mut self, now: Instant, peer: Peer, mut req: Request) {
        // RFC 3261 §18.2.1 / RFC 3581: record where it really came from.
        let mut via_value = None;
        for h in req.headers.iter_mut() {
            if let crate::sip::rsip::Header::Via(v) = h {
                if let Some(s) = sip::stamp_via(v.value(), peer.addr) {
                    v.replace(s);
                }
                via_value = Some(v.value().to_string());
                break;
            }
        }
        let Some(via_value) = via_value else { return };
        let resp_peer = sip::response_peer(&via_value, peer);
        match self.txs.on_request(now, &req, resp_peer) {
            ServerMatch::New(key) => self.dispatch(now, key, peer, &req),
            ServerMatch::Retransmission | ServerMatch::AckAbsorbed => {
                self.counters.retransmissions_absorbed += 1;
            }
            ServerMatch::AckForDialog => self.b2bua.on_dialog_ack(now, &mut self.txs, &req),
        }
    }

    fn dispatch(&mut self, now: Instant, key: TxKey, peer: Peer, req: &Request) {
        if req.method != Method::Ack && req.method != Method::Cancel {
            if let Some(req_ext) = sip::header(&req.headers, "Require") {
                let unsupported = req_ext.to_string();
                return self.respond_with(
                    now,
                    &key,
                    req,
                    420,
                    "Bad Extension",
                    &[("Unsupported", unsupported)],
                );
            }
        }
        match req.method {
            Method::Register => {
                let reply = match self.refuse_banned_user(now, peer, req, Challenge::Www) {
                    Err(refused) => refused,
                    Ok(user) => {
                        let reply = self.registrar.handle_register(now, req, peer);
                        self.auth_outcome(now, peer, user.as_deref(), Some(reply.status));
                        reply
                    }
                };
                let extra: Vec<(&str, String)> = reply.headers;
                self.respond_with(now, &key, req, reply.status, reply.reason, &extra);
            }
            Method::Options => {
                let extra = [
                    ("Allow", sip::ALLOW.to_string()),
                    ("Accept", "application/sdp".to_string()),
                ];
                self.respond_with(now, &key, req, 200, "OK", &extra);
            }
            Method::Cancel => self.b2bua.on_cancel(now, &mut self.txs, key, req),
            Method::Subscribe => self.subscribe(now, key, peer, req),
            _ if sip::header(&req.headers, "To")
                .and_then(sip::tag_of)
                .is_some() =>
            {
                if !self
                    .b2bua
                    .on_in_dialog(now, &mut self.txs, key.clone(), req)
                {
                    self.respond_with(now, &key, req, 481, "Call/Transaction Does Not Exist", &[]);
                }
            }
            Method::Invite => self.new_invite(now, key, peer, req),
            Method::Message => self.new_message(now, key, peer, req),
            Method::Bye => {
                self.respond_with(now, &key, req, 481, "Call/Transaction Does Not Exist", &[]);
            }
            _ => {
                let extra = [("Allow", sip::ALLOW.to_string())];
                self.respond_with(now, &key, req, 405, "Method Not Allowed", &extra);
            }
        }
    }

    /// A new INVITE, classified by what it is, never by its source alone:
    /// - to a routed target from a trunk or edge proxy: a call. Always.
    /// - with credentials, or where a seat could be (a feature code from a
    ///   trunk's or proxy's address, or any request from an address a seat
    ///   registered from): a digest challenge (407); a seat's valid
    ///   credentials then make it that seat's feature code or call.
    /// - else 404 (a trunk or proxy dialled nothing we route) or 403
    ///   (unknown sender), with one rate-limited log line.
    fn new_invite(&mut self, now: Instant, key: TxKey, peer: Peer, req: &Request) {
        let target = sip::request_target(&req.uri);
        let route = self.b2bua.route(&target);
        let cfg = self.cfg.clone();
        let trusted = cfg.trusted_peer(peer.addr.ip()).map(|(name, _)| name);
        let feature = self.b2bua.is_feature_code(&target);
        let route = match (route, trusted) {
            // A seat's feature code through a proxy is no call, even where
            // a catch-all route would take any number.
            (Some(route), Some(name)) if !(route.catch_all && feature) => {
                let origin = Origin::Trunk(name.to_string());
                return self.b2bua.on_call_in(
                    now,
                    &mut self.txs,
                    key,
                    peer,
                    req.clone(),
                    origin,
                    target,
                    route,
                );
            }
            (route, _) => route,
        };
        let challenge = sip::header(&req.headers, "Proxy-Authorization").is_some()
            || (trusted.is_some() && feature)
            || self.registrar.registered_from(peer.addr.ip());
        if !challenge {
            let (status, reason, why) = if trusted.is_some() {
                (404, "Not Found", "no route for the dialled target")
            } else {
                (
                    403,
                    "Forbidden",
                    "INVITE from an address that is no trunk, proxy or seat",
                )
            };
            self.deny_line(now, peer, status, why, &target);
            return self.respond_with(now, &key, req, status, reason, &[]);
        }
        let user = match self.authenticate(now, peer, req, Challenge::Proxy) {
            Ok(user) => user,
            Err(reply) => {
                if reply.status == 403 {
                    self.deny_line(now, peer, 403, "INVITE with wrong credentials", &target);
                }
                return self.respond_with(
                    now,
                    &key,
                    req,
                    reply.status,
                    reply.reason,
                    &reply.headers,
                );
            }
        };
        if feature {
            self.b2bua
                .feature_code(now, &mut self.txs, key, peer, req.clone(), &user, &target);
        } else if let Some(route) = route {
            let origin = Origin::Seat(user);
            self.b2bua.on_call_in(
                now,
                &mut self.txs,
                key,
                peer,
                req.clone(),
                origin,
                target,
                route,
            );
        } else {
            self.deny_line(now, peer, 404, "a seat dialled nothing we route", &target);
            self.respond_with(now, &key, req, 404, "Not Found", &[]);
        }
    }

    /// A MESSAGE outside a dialog: to a routed target from a trunk or
    /// proxy, a text call (text-to-112); else 404 (no route) or 403.
    fn new_message(&mut self, now: Instant, key: TxKey, peer: Peer, req: &Request) {
        let target = sip::request_target(&req.uri);
        let trusted = self
            .cfg
            .trusted_peer(peer.addr.ip())
            .map(|(n, _)| n.to_string());
        match (self.b2bua.route(&target), trusted) {
            (Some(route), Some(trunk)) => {
                self.b2bua
                    .on_text_in(now, &mut self.txs, key, peer, req, trunk, target, route)
            }
            (None, Some(_)) => {
                self.deny_line(now, peer, 404, "MESSAGE to nothing we route", &target);
                self.respond_with(now, &key, req, 404, "Not Found", &[]);
            }
            (_, None) => {
                self.deny_line(
                    now,
                    peer,
                    403,
                    "MESSAGE from an address that is no trunk or proxy",
                    &target,
                );
                self.respond_with(now, &key, req, 403, "Forbidden", &[]);
            }
        }
    }

    /// A SUBSCRIBE to the centre's state: from a trunk or proxy (the
    /// network's routing elements), or a seat with valid credentials;
    /// anyone else 403.
    fn subscribe(&mut self, now: Instant, key: TxKey, peer: Peer, req: &Request) {
        let trusted = self.cfg.trusted_peer(peer.addr.ip()).is_some();
        if !trusted {
            let may_be_seat = sip::header(&req.headers, "Proxy-Authorization").is_some()
                || self.registrar.registered_from(peer.addr.ip());
            if !may_be_seat {
                self.deny_line(
                    now,
                    peer,
                    403,
                    "SUBSCRIBE from an address that is no trunk, proxy or seat",
                    "",
                );
                return self.respond_with(now, &key, req, 403, "Forbidden", &[]);
            }
            if let Err(reply) = self.registrar.authenticate(now, req, Challenge::Proxy) {
                return self.respond_with(
                    now,
                    &key,
                    req,
                    reply.status,
                    reply.reason,
                    &reply.headers,
                );
            }
        }
        self.b2bua.on_subscribe(now, &mut self.txs, key, peer, req);
    }

    fn deny_line(&mut self, now: Instant, peer: Peer, status: u16, why: &str, target: &str) {
        self.counters.rejected += 1;
        if let Some(suppressed) = self.deny_log.check_at(self.ms(now)) {
            tracing::warn!(from = %peer.addr, status, %why, %target, suppressed, "refused an INVITE");
        }
    }

    /// Answers a server transaction.
    fn respond_with(
        &mut self,
        now: Instant,
        key: &TxKey,
        req: &Request,
        status: u16,
        reason: &str,
        extra: &[(&str, String)],
    ) {
        let tag = self.token();
        let echo = Echo::from_request(req);
        let extra = extra.iter().map(|(n, v)| (*n, v.as_str()));
        let data =
            sip::write::response(&echo, status, reason, &tag, extra, &self.cfg.sip.user_agent);
        self.txs.respond(now, key, status, data);
    }
}
