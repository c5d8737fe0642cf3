//! Writing the messages we send. Responses echo the request's Via, From, To,
//! Call-ID and CSeq (RFC 3261 §8.2.6.2) as raw text, so a response can be
//! built even for a request the full parser refused.

use super::rsip::{Header, Request};
use super::scan::{scan, RawHead};
use super::tag_of;
use bytes::Bytes;
use std::fmt::Write as _;

/// The headers a response copies from its request.
#[derive(Debug, Default, Clone)]
pub struct Echo<'a> {
    pub vias: Vec<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub call_id: Option<&'a str>,
    pub cseq: Option<&'a str>,
    /// Record-Route values, copied into a dialog-creating answer (RFC 3261
    /// §12.1.1) so the caller's later requests pass the same proxies.
    pub record_routes: Vec<&'a str>,
}

impl<'a> Echo<'a> {
    pub fn from_request(req: &'a Request) -> Echo<'a> {
        let mut e = Echo::default();
        for h in req.headers.iter() {
            match h {
                Header::Via(v) => e.vias.push(v.value()),
                Header::From(v) => e.from = e.from.or(Some(v.value())),
                Header::To(v) => e.to = e.to.or(Some(v.value())),
                Header::CallId(v) => e.call_id = e.call_id.or(Some(v.value())),
                Header::CSeq(v) => e.cseq = e.cseq.or(Some(v.value())),
                Header::RecordRoute(v) => e.record_routes.push(v.value()),
                _ => {}
            }
        }
        e
    }

    pub fn from_raw(head: &'a RawHead) -> Echo<'a> {
        Echo {
            vias: head.all("Via").collect(),
            from: head.get("From"),
            to: head.get("To"),
            call_id: head.get("Call-ID"),
            cseq: head.get("CSeq"),
            record_routes: Vec::new(),
        }
    }

    /// Enough to answer: a response without Via cannot be routed.
    pub fn answerable(&self) -> bool {
        !self.vias.is_empty()
    }
}

/// Builds one response as wire bytes.
pub struct ResponseWriter {
    buf: String,
}

impl ResponseWriter {
    /// Starts a response: status line and the echoed headers. `to_tag` is
    /// added to To when it has none (every response but 100 needs one in a
    /// dialog-creating exchange; we add it to all non-100 responses).
    pub fn new(echo: &Echo<'_>, status: u16, reason: &str, to_tag: Option<&str>) -> Self {
        let mut buf = String::with_capacity(512);
        let mut code = itoa::Buffer::new();
        for part in ["SIP/2.0 ", code.format(status), " ", reason, "\r\n"] {
            buf.push_str(part);
        }
        for v in &echo.vias {
            push_header(&mut buf, "Via", v);
        }
        if let Some(f) = echo.from {
            push_header(&mut buf, "From", f);
        }
        if let Some(t) = echo.to {
            buf.push_str("To: ");
            buf.push_str(t);
            if let Some(tag) = to_tag.filter(|_| status != 100 && tag_of(t).is_none()) {
                buf.push_str(";tag=");
                buf.push_str(tag);
            }
            buf.push_str("\r\n");
        }
        if let Some(c) = echo.call_id {
            push_header(&mut buf, "Call-ID", c);
        }
        if let Some(c) = echo.cseq {
            push_header(&mut buf, "CSeq", c);
        }
        if (101..300).contains(&status) {
            for r in &echo.record_routes {
                push_header(&mut buf, "Record-Route", r);
            }
        }
        ResponseWriter { buf }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        push_header(&mut self.buf, name, value);
        self
    }

    /// Ends the head with Content-Length and the body, if any.
    pub fn finish(self, body: Option<(&str, &[u8])>) -> Bytes {
        finish_message(self.buf, body)
    }
}

/// A whole response without a body: status line, the echoed headers, the
/// To tag (if it has none), `extra` headers and our Server header. The one
/// builder of the answers the core, the registrar and the B2BUA send.
pub fn response<'a>(
    echo: &Echo<'_>,
    status: u16,
    reason: &str,
    tag: &str,
    extra: impl IntoIterator<Item = (&'a str, &'a str)>,
    server: &str,
) -> Bytes {
    let mut w = ResponseWriter::new(echo, status, reason, Some(tag));
    for (n, v) in extra {
        w = w.header(n, v);
    }
    w.header("Server", server).finish(None)
}

/// The parts joined, in a String of exactly their length.
pub fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// Appends `name: value\r\n` (plain pushes: `write!` costs several times
/// more, and messages are built of little else).
pub fn push_header(buf: &mut String, name: &str, value: &str) {
    for part in [name, ": ", value, "\r\n"] {
        buf.push_str(part);
    }
}

/// Ends a message head: Content-Type (if a body), Content-Length, blank line, body.
pub fn finish_message(mut buf: String, body: Option<(&str, &[u8])>) -> Bytes {
    let mut out;
    match body {
        Some((ctype, b)) => {
            let mut len = itoa::Buffer::new();
            push_header(&mut buf, "Content-Type", ctype);
            push_header(&mut buf, "Content-Length", len.format(b.len()));
            buf.push_str("\r\n");
            out = buf.into_bytes();
            out.extend_from_slice(b);
        }
        None => {
            buf.push_str("Content-Length: 0\r\n\r\n");
            out = buf.into_bytes();
        }
    }
    Bytes::from(out)
}

/// The ACK of a failure response to our INVITE (RFC 3261 §17.1.1.3): the
/// INVITE's Request-URI, top Via, Route, From, Call-ID and CSeq number, and
/// the response's To. `invite` is the INVITE as we sent it; None if it has
/// no request line.
pub fn ack_for_failure(invite: &[u8], response_to: &str) -> Option<Bytes> {
    derived_from(invite, "ACK", Some(response_to))
}

/// The CANCEL of an INVITE we sent (RFC 3261 §9.1): the INVITE's
/// Request-URI, top Via, Route, From, To, Call-ID and CSeq number. `invite`
/// is the INVITE as we sent it; None if it has no request line.
pub fn cancel_for(invite: &[u8]) -> Option<Bytes> {
    derived_from(invite, "CANCEL", None)
}

/// ACK or CANCEL of the INVITE `invite` as sent (both share its transaction
/// identity): its request URI, top Via, Routes, From and Call-ID, then `to`
/// (or the INVITE's To) and its CSeq number with `method`.
fn derived_from(invite: &[u8], method: &str, to: Option<&str>) -> Option<Bytes> {
    let head = scan(invite)?;
    let uri = head.start.split(' ').nth(1)?;
    let via = head.get("Via")?;
    let mut buf = String::with_capacity(400);
    let _ = write!(buf, "{method} {uri} SIP/2.0\r\n");
    push_header(&mut buf, "Via", via.split(',').next().unwrap_or("").trim());
    for r in head.all("Route") {
        push_header(&mut buf, "Route", r);
    }
    for (name, value) in [("From", head.get("From")), ("Call-ID", head.get("Call-ID"))] {
        if let Some(v) = value {
            push_header(&mut buf, name, v);
        }
    }
    if let Some(to) = to.or_else(|| head.get("To")) {
        push_header(&mut buf, "To", to);
    }
    let cseq = head
        .get("CSeq")
        .and_then(super::parse_cseq)
        .map_or(0, |c| c.0);
    let _ = write!(buf, "CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n");
    Some(finish_message(buf, None))
}
