//! A call's legs: each with a role (the trunk that called, a seat that
//! rings, the overflow target) and the dialog state needed to send
//! requests in it.

use crate::acd::SeatId;
use crate::sip::rsip::{Request, Response};
use crate::sip::write::concat;
use crate::sip::{self, header, resolve, tag_of, uri_in, Peer};
use crate::transaction::TxKey;
use bytes::Bytes;

/// What a leg is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The caller's side: the trunk (or proxy, or seat) that sent the INVITE.
    Trunk,
    /// A seat we ring.
    Seat(SeatId),
    /// The overflow target (another centre) we call.
    Overflow,
}

/// One side of a dialog, as needed to send requests in it.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    /// Our From (outbound leg) or To (trunk leg) value, tag included.
    pub local: String,
    /// Their value, tag included once known.
    pub remote: String,
    /// Where in-dialog requests go (their Contact).
    pub remote_target: String,
    /// Route set, in the order requests carry it.
    pub routes: Vec<String>,
    pub cseq: u32,
    /// The next hop.
    pub peer: Peer,
}

impl Dialog {
    /// Our side of a dialog that `req` (a dialog-creating INVITE we answer
    /// with `tag`) starts: the route set is its Record-Route, in order.
    pub fn answering(req: &Request, tag: &str, peer: Peer) -> Dialog {
        let h = |n| header(&req.headers, n).unwrap_or("").to_string();
        let from = h("From");
        let remote_target = match header(&req.headers, "Contact").map(uri_in) {
            Some(c) if !c.is_empty() => c.to_string(),
            _ => uri_in(&from).to_string(),
        };
        let routes = record_routes(&req.headers);
        Dialog {
            call_id: h("Call-ID"),
            local: concat(&[&h("To"), ";tag=", tag]),
            remote: from,
            remote_target,
            peer: next_hop(&routes, peer),
            routes,
            cseq: 0,
        }
    }

    /// Our side of an outbound leg, from the 2xx that answered it: their
    /// To (with its tag), Contact, and the route set (RFC 3261 §12.1.2: the
    /// Record-Route reversed). The next hop follows the route set.
    ///
    /// Without a Record-Route the INVITE's preloaded Route (a seat's Path)
    /// is kept rather than dropped: the seat is reachable only through its
    /// proxy (which may be its NAT's only way in), and a softphone that
    /// forgets to echo Record-Route must not lose its BYE. Without either,
    /// requests go where the INVITE went (a NAT'd seat's source).
    pub fn confirm(&mut self, resp: &Response) {
        self.remote = header(&resp.headers, "To")
            .unwrap_or(&self.remote)
            .to_string();
        if let Some(c) = header(&resp.headers, "Contact") {
            self.remote_target = uri_in(c).to_string();
        }
        let mut routes = record_routes(&resp.headers);
        if !routes.is_empty() {
            routes.reverse();
            self.routes = routes;
        }
        self.peer = next_hop(&self.routes, self.peer);
    }

    /// Whether an in-dialog request belongs to this dialog (RFC 3261
    /// §12.2.2): its To tag is ours, its From tag theirs.
    pub fn matches(&self, req: &Request) -> bool {
        let (mut to, mut from) = (None, None);
        for h in req.headers.iter() {
            match h {
                sip::rsip::Header::To(v) if to.is_none() => to = Some(v.value()),
                sip::rsip::Header::From(v) if from.is_none() => from = Some(v.value()),
                _ => {}
            }
        }
        let to = to.and_then(tag_of);
        to.is_some() && to == tag_of(&self.local) && from.and_then(tag_of) == tag_of(&self.remote)
    }
}

/// Where an outbound leg is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegState {
    Calling,
    Ringing,
    Answered,
}

/// An outbound leg: a seat or the overflow target we ring.
#[derive(Debug)]
pub struct Leg {
    pub role: Role,
    pub dialog: Dialog,
    /// Its INVITE client transaction.
    pub invite_tx: TxKey,
    pub state: LegState,
    /// Any response at all (a provisional counts): it is reachable.
    pub got_response: bool,
    /// The ACK we sent for its 2xx (re-sent when the 2xx is retransmitted).
    pub ack: Option<Bytes>,
    /// Numbers the legs of all calls, so a late timer or response for a
    /// leg that is gone finds nothing.
    pub gen: u32,
}

/// Where in-dialog requests go: the first route's address (loose routing),
/// or `fallback` without a route set.
pub fn next_hop(routes: &[String], fallback: Peer) -> Peer {
    match routes.first() {
        Some(r) => resolve(uri_in(r), fallback),
        None => fallback,
    }
}

/// A From or To value without its tag parameter.
pub fn strip_tag(value: &str) -> String {
    let after = match value.rfind('>') {
        Some(i) => i + 1,
        None => 0,
    };
    let (head, params) = value.split_at(after);
    if head.is_empty() {
        return concat(&["<", uri_in(value), ">"]);
    }
    let mut out = head.trim().to_string();
    for p in params.split(';').skip(1) {
        if !p.trim().to_ascii_lowercase().starts_with("tag=") {
            out.push(';');
            out.push_str(p.trim());
        }
    }
    out
}

/// The Record-Route values of a message, in order.
pub fn record_routes(headers: &sip::rsip::Headers) -> Vec<String> {
    let mut out = Vec::new();
    for h in headers.iter() {
        if let sip::rsip::Header::RecordRoute(r) = h {
            out.extend(sip::split_list(r.value()).into_iter().map(str::to_string));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_tag_keeps_other_parameters() {
        assert_eq!(strip_tag("<sip:a@b>;tag=1;x=y"), "<sip:a@b>;x=y");
        assert_eq!(strip_tag("\"A\" <sip:a@b>;tag=1"), "\"A\" <sip:a@b>");
        assert_eq!(strip_tag("sip:a@b;tag=1"), "<sip:a@b>");
    }
}
