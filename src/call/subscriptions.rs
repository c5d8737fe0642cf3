//! The centre's state for the network (NENA i3, RFC 6665): a `SUBSCRIBE`
//! to `emergency-QueueState` gets `NOTIFY`s with a queue's length, maximum
//! and state (Active, Inactive when no seat is logged in, Full at
//! `max_length`); one to `emergency-ServiceState` gets the centre's
//! (Normal, Unmanned when no seat is logged in at all, Overloaded when
//! every queue is full, MajorIncidentInProgress set by a supervisor). A
//! NOTIFY goes out when the body would change, at most once a second per
//! subscription; a subscription ends at its expiry, on `Expires: 0`, or
//! when the subscriber answers a NOTIFY with an error or not at all.

use super::leg::Dialog;
use super::purpose::Purpose;
use super::B2bua;
use crate::acd::QueueId;
use crate::sip::rsip::Request;
use crate::sip::{header, tag_of, Peer};
use crate::transaction::{Transactions, TxKey};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The event packages we serve.
pub const ALLOW_EVENTS: &str = "emergency-QueueState, emergency-ServiceState";
/// Subscriptions at most (each a NOTIFY per change).
const MAX_SUBSCRIPTIONS: usize = 256;
const DEFAULT_EXPIRES: u64 = 3600;
const MIN_EXPIRES: u64 = 60;
const MAX_EXPIRES: u64 = 86_400;
/// The least time between two NOTIFYs of one subscription.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Package {
    Queue(QueueId),
    Service,
}

impl Package {
    fn event(self) -> &'static str {
        match self {
            Package::Queue(_) => "emergency-QueueState",
            Package::Service => "emergency-ServiceState",
        }
    }
}

#[derive(Debug)]
struct Sub {
    dialog: Dialog,
    package: Package,
    expires: Instant,
    /// The body last sent.
    last: String,
    last_sent: Option<Instant>,
    /// A change waits for `MIN_INTERVAL`.
    dirty: bool,
}

#[derive(Debug, Default)]
pub struct Subscriptions {
    by_call_id: HashMap<String, Sub>,
    /// A supervisor declared a major incident.
    pub major_incident: bool,
    /// Something the service state shows changed outside the ACD's
    /// events (the major incident): look again at the next settle.
    pub changed: bool,
}

impl Subscriptions {
    pub fn is_empty(&self) -> bool {
        self.by_call_id.is_empty()
    }

    pub fn has(&self, call_id: &str) -> bool {
        self.by_call_id.contains_key(call_id)
    }

    /// The next expiry or held-back NOTIFY.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.by_call_id
            .values()
            .map(|s| match (s.dirty, s.last_sent) {
                (true, Some(t)) => s.expires.min(t + MIN_INTERVAL),
                _ => s.expires,
            })
            .min()
    }
}

/// What a SUBSCRIBE's `Event` header asks for.
fn package_of(b: &B2bua, req: &Request) -> Option<Package> {
    let event = header(&req.headers, "Event")?;
    let name = event.split(';').next().unwrap_or("").trim();
    if name.eq_ignore_ascii_case("emergency-QueueState") {
        // The queue the Request-URI routes to; else the first.
        let target = crate::sip::request_target(&req.uri);
        let q = b.route(&target).map_or(0, |r| r.queue);
        Some(Package::Queue(q))
    } else if name.eq_ignore_ascii_case("emergency-ServiceState") {
        Some(Package::Service)
    } else {
        None
    }
}

impl B2bua {
    /// A SUBSCRIBE (new, or a refresh in its dialog) from a peer allowed to
    /// ask (a trunk, a proxy or an authenticated seat).
    pub fn on_subscribe(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: TxKey,
        peer: Peer,
        req: &Request,
    ) {
        let call_id = header(&req.headers, "Call-ID").unwrap_or("").to_string();
        let in_dialog = header(&req.headers, "To").and_then(tag_of).is_some();
        let Some(package) = package_of(self, req) else {
            let allow = [("Allow-Events", ALLOW_EVENTS)];
            return self.reply(now, txs, &key, req, 489, "Bad Event", None, &allow);
        };
        let expires = match header(&req.headers, "Expires").map(|v| v.trim().parse::<u64>()) {
            None => DEFAULT_EXPIRES,
            Some(Ok(e)) => e.min(MAX_EXPIRES),
            Some(Err(_)) => {
                return self.reply(now, txs, &key, req, 400, "Bad Expires", None, &[]);
            }
        };
        if expires > 0 && expires < MIN_EXPIRES {
            let min = [("Min-Expires", "60")];
            return self.reply(now, txs, &key, req, 423, "Interval Too Brief", None, &min);
        }
        if in_dialog {
            let Some(sub) = self.subs.by_call_id.get_mut(&call_id) else {
                return self.reply(
                    now,
                    txs,
                    &key,
                    req,
                    481,
                    "Subscription Does Not Exist",
                    None,
                    &[],
                );
            };
            if sub.package != package {
                let allow = [("Allow-Events", ALLOW_EVENTS)];
                return self.reply(now, txs, &key, req, 489, "Bad Event", None, &allow);
            }
            sub.expires = now + Duration::from_secs(expires);
            let tag = tag_of(&sub.dialog.local).map(str::to_string);
            let exp = expires.to_string();
            let contact = self.local.contact(peer.transport).to_string();
            let extra = [("Expires", exp.as_str()), ("Contact", contact.as_str())];
            self.reply(now, txs, &key, req, 200, "OK", tag.as_deref(), &extra);
            // A refresh gets the state again (RFC 6665 §4.2.1.2).
            return self.notify(now, txs, &call_id, expires == 0);
        }
        if self.subs.by_call_id.len() >= MAX_SUBSCRIPTIONS && expires > 0 {
            let retry = [("Retry-After", "60")];
            return self.reply(
                now,
                txs,
                &key,
                req,
                503,
                "Too Many Subscriptions",
                None,
                &retry,
            );
        }
        let tag = self.token();
        let dialog = Dialog::answering(req, &tag, peer);
        let exp = expires.to_string();
        let contact = self.local.contact(peer.transport).to_string();
        let extra = [("Expires", exp.as_str()), ("Contact", contact.as_str())];
        self.reply(now, txs, &key, req, 200, "OK", Some(&tag), &extra);
        tracing::info!(from = %peer.addr, event = package.event(), expires, "subscription");
        self.subs.by_call_id.insert(
            call_id.clone(),
            Sub {
                dialog,
                package,
                expires: now + Duration::from_secs(expires),
                last: String::new(),
                last_sent: None,
                dirty: false,
            },
        );
        // The first NOTIFY at once; with Expires 0 it is a fetch and ends it.
        self.notify(now, txs, &call_id, expires == 0);
    }

    /// The NOTIFY body of a package now.
    fn state_body(&self, package: Package) -> String {
        let logged_in_any = (0..self.cfg.queues.len()).any(|q| self.acd.logged_in(q) > 0);
        match package {
            Package::Queue(q) => {
                let cfg = self.queue_cfg(q);
                let waiting = self.acd.waiting_len(q);
                let state = if self.acd.logged_in(q) == 0 {
                    "Inactive"
                } else if cfg.max_length.is_some_and(|m| waiting >= m as usize) {
                    "Full"
                } else {
                    "Active"
                };
                serde_json::json!({
                    "queue": format!("sip:{}@{}", cfg.name, self.cfg.sip.realm),
                    "queueLength": waiting,
                    "maxQueueLength": cfg.max_length,
                    "state": state,
                })
                .to_string()
            }
            Package::Service => {
                let all_full = self.cfg.queues.iter().enumerate().all(|(q, c)| {
                    c.max_length
                        .is_some_and(|m| self.acd.waiting_len(q) >= m as usize)
                });
                let (state, reason) = if !logged_in_any {
                    ("Unmanned", "no seat is logged in")
                } else if self.subs.major_incident {
                    ("MajorIncidentInProgress", "declared by the supervisor")
                } else if all_full {
                    ("Overloaded", "every queue is full")
                } else {
                    ("Normal", "")
                };
                serde_json::json!({
                    "service": {"name": "PSAP", "domain": self.cfg.sip.realm},
                    "serviceState": {"state": state, "reason": reason},
                })
                .to_string()
            }
        }
    }

    /// Sends a NOTIFY of `call_id`'s subscription (`last`: terminated).
    fn notify(&mut self, now: Instant, txs: &mut Transactions, call_id: &str, last: bool) {
        let Some(sub) = self.subs.by_call_id.get(call_id) else {
            return;
        };
        let body = self.state_body(sub.package);
        let left = sub.expires.saturating_duration_since(now).as_secs();
        let state = if last || left == 0 {
            "terminated;reason=timeout".to_string()
        } else {
            format!("active;expires={left}")
        };
        let event = sub.package.event();
        let peer = sub.dialog.peer;
        let mut dialog = sub.dialog.clone();
        dialog.cseq += 1;
        let contact = self.local.contact(peer.transport).to_string();
        let branch = self.token();
        let extra = [
            ("Event", event),
            ("Subscription-State", state.as_str()),
            ("Contact", contact.as_str()),
        ];
        let req = self.in_dialog_request(
            &dialog,
            "NOTIFY",
            &branch,
            &extra,
            Some(("application/json", body.as_bytes())),
        );
        let key = req.send(now, txs, peer);
        self.purposes
            .insert(key, Purpose::Notify(call_id.to_string()));
        if last || left == 0 {
            self.subs.by_call_id.remove(call_id);
        } else if let Some(sub) = self.subs.by_call_id.get_mut(call_id) {
            sub.dialog.cseq = dialog.cseq;
            sub.last = body;
            sub.last_sent = Some(now);
            sub.dirty = false;
        }
    }

    /// End expired subscriptions and send the NOTIFYs held back; when a
    /// queue or the centre `changed` (the ACD reported events), also NOTIFY
    /// those whose state is different now (held back to one a second).
    /// Without a change no state is looked at: this runs after every input.
    pub(super) fn refresh_subscriptions(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        changed: bool,
    ) {
        if self.subs.is_empty() {
            return;
        }
        let changed = changed || std::mem::take(&mut self.subs.changed);
        let mut due = Vec::new();
        let packages: Vec<(String, Package, bool)> = self
            .subs
            .by_call_id
            .iter()
            .map(|(k, s)| (k.clone(), s.package, s.expires <= now))
            .collect();
        for (id, package, expired) in packages {
            if expired {
                due.push((id, true));
                continue;
            }
            let body = if changed {
                Some(self.state_body(package))
            } else {
                None
            };
            let Some(sub) = self.subs.by_call_id.get_mut(&id) else {
                continue;
            };
            if sub.dirty || body.is_some_and(|b| b != sub.last) {
                let ready = sub.last_sent.is_none_or(|t| now >= t + MIN_INTERVAL);
                if ready {
                    due.push((id, false));
                } else {
                    sub.dirty = true;
                }
            }
        }
        for (id, last) in due {
            self.notify(now, txs, &id, last);
        }
    }

    /// The subscriber refused or never answered a NOTIFY: it is gone.
    pub(super) fn notify_failed(&mut self, call_id: &str, status: u16) {
        if self.subs.by_call_id.remove(call_id).is_some() {
            tracing::info!(call_id, status, "subscription ended: its NOTIFY failed");
        }
    }
}
