//! Message helpers over rsip's maintained fork (`rsipstack::sip`): parsing with
//! the checks RFC 3261 asks of a UAS, the responses we send, and digest auth.
//!
//! Nothing here holds state.

pub mod body;
pub mod digest;
pub mod framing;
pub mod scan;
pub mod sdp;
mod strict;
pub mod write;

use rsip::{prelude::*, Header, Method, SipMessage};
pub use rsipstack::sip as rsip;
use std::net::SocketAddr;

pub use scan::RawHead;
pub use write::{Echo, ResponseWriter};

/// How a message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    /// SIP over TLS (RFC 3261 §26.2): framed as TCP.
    Tls,
}

impl Transport {
    /// Reliable transports need no retransmissions (RFC 3261 §17).
    pub fn reliable(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

/// A TCP connection, as numbered by the shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The other end of a message: where it came from, or where to send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
    /// The TCP connection a message arrived on (responses go back over it).
    pub conn: Option<ConnId>,
}

impl Peer {
    pub fn udp(addr: SocketAddr) -> Peer {
        Peer {
            transport: Transport::Udp,
            addr,
            conn: None,
        }
    }
    pub fn tcp(addr: SocketAddr, conn: Option<ConnId>) -> Peer {
        Peer {
            transport: Transport::Tcp,
            addr,
            conn,
        }
    }
    pub fn tls(addr: SocketAddr, conn: Option<ConnId>) -> Peer {
        Peer {
            transport: Transport::Tls,
            addr,
            conn,
        }
    }
}

/// Why a message was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Answer with this status and reason (the raw head lets us echo the
    /// mandatory headers even when the full parse failed).
    Respond {
        status: u16,
        reason: String,
        /// Extra header lines, e.g. `Allow` on 405.
        extra: Vec<(&'static str, String)>,
    },
    /// Nothing sensible can be answered: drop with a (rate-limited) log line.
    Drop(String),
}

impl Rejection {
    fn respond(status: u16, reason: impl Into<String>) -> Rejection {
        Rejection::Respond {
            status,
            reason: reason.into(),
            extra: Vec::new(),
        }
    }
}

/// The methods the engine takes: out of a dialog INVITE, CANCEL, BYE (481),
/// OPTIONS and REGISTER; in a call's dialog also those it relays to the
/// other leg. Anything else gets 405 with this list.
pub const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, UPDATE, INFO, MESSAGE, NOTIFY, REFER";

/// Parses one whole message (a UDP datagram or a TCP frame) and checks what
/// RFC 3261 §8.2 and §18 ask before a message reaches a transaction.
///
/// On failure the returned [`Rejection`] says whether to answer (with the
/// status and reason) or drop; the caller uses [`scan::scan`] to build the
/// answer from the raw head.
pub fn parse(data: &[u8], transport: Transport, max_bytes: usize) -> Result<SipMessage, Rejection> {
    let Framing {
        body_start,
        content_length,
        ..
    } = framing(data, transport, max_bytes)?;
    let available = data.len() - body_start;
    strict::check(&data[..body_start])?;
    let mut msg = match rsip::parser::parse_message(data) {
        Ok(m) => m,
        Err(e) => return Err(classify_parse_error(data, e)),
    };
    if content_length.is_none() && available > 0 {
        // The fork drops the body of a message without Content-Length; on UDP
        // the body is the rest of the datagram (RFC 3261 §18.3).
        let body = data[body_start..].to_vec();
        match &mut msg {
            SipMessage::Request(r) => r.body = body,
            SipMessage::Response(r) => r.body = body,
        }
    }
    check_mandatory(&msg)?;
    Ok(msg)
}

/// Where a message's head ends and what its Content-Length says.
struct Framing {
    head_end: usize,
    body_start: usize,
    content_length: Option<usize>,
}

/// The checks of size and framing every message passes before any parse.
fn framing(data: &[u8], transport: Transport, max_bytes: usize) -> Result<Framing, Rejection> {
    if data.len() > max_bytes {
        return Err(Rejection::respond(513, "Message Too Large"));
    }
    let Some(head_end) = scan::find_head_end(data) else {
        return Err(Rejection::respond(400, "Missing Blank Line After Headers"));
    };
    let body_start = head_end + 4;
    let available = data.len() - body_start;
    let content_length = match scan::content_length(&data[..head_end]) {
        Ok(cl) => cl,
        Err(why) => return Err(Rejection::respond(400, why)),
    };
    match content_length {
        Some(cl) if cl > available => {
            Err(Rejection::respond(400, "Content-Length Larger Than Body"))
        }
        // RFC 3261 §18.3: over a stream the body needs a Content-Length.
        None if transport.reliable() && available > 0 => {
            Err(Rejection::respond(400, "Missing Content-Length"))
        }
        _ => Ok(Framing {
            head_end,
            body_start,
            content_length,
        }),
    }
}

/// What matching needs of a response, read without a full parse: the
/// status, the top Via's branch and the CSeq method.
#[derive(Debug, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    pub status: u16,
    pub branch: &'a str,
    pub method: &'a str,
}

/// Scans a response's head for [`ResponseHead`]: the same size and framing
/// checks as [`parse`], then the status line, the first Via and the one
/// CSeq. None for anything else or anything unusual (a request, folded or
/// non-UTF-8 lines, a line without a colon, no branch, two CSeq), which
/// then takes the full parse.
pub fn response_head(
    data: &[u8],
    transport: Transport,
    max_bytes: usize,
) -> Option<ResponseHead<'_>> {
    let code = data.strip_prefix(b"SIP/2.0 ")?.get(..4)?;
    if !code[..3].iter().all(u8::is_ascii_digit) || code[3] != b' ' {
        return None;
    }
    let status = code[..3]
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if !(100..700).contains(&status) {
        return None;
    }
    let head_end = framing(data, transport, max_bytes).ok()?.head_end;
    let head = std::str::from_utf8(&data[..head_end]).ok()?;
    let (mut via, mut cseq) = (None, None);
    let mut start = memchr::memchr(b'\n', head.as_bytes())? + 1;
    while start < head.len() {
        let end =
            memchr::memchr(b'\n', &head.as_bytes()[start..]).map_or(head.len(), |i| start + i);
        let line = &head[start..end];
        start = end + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            return None;
        }
        let (name, value) = line.split_once(':')?;
        let name = name.trim_ascii();
        if name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v") {
            via = via.or(Some(value));
        } else if name.eq_ignore_ascii_case("cseq") {
            if cseq.is_some() {
                return None;
            }
            cseq = Some(value);
        }
    }
    Some(ResponseHead {
        status,
        branch: top_via(via?)?.branch?,
        method: parse_cseq(cseq?)?.1,
    })
}

fn classify_parse_error(data: &[u8], e: rsip::Error) -> Rejection {
    // An unknown method parses as an error in the fork; RFC 3261 §8.2.1 wants
    // 405 with Allow for a method we do not support.
    if let Some(head) = scan::scan(data) {
        if let Some(method) = head.request_method() {
            if method.parse::<Method>().is_err() && is_token(method) {
                return Rejection::Respond {
                    status: 405,
                    reason: "Method Not Allowed".into(),
                    extra: vec![("Allow", ALLOW.to_string())],
                };
            }
        }
    }
    let why = match e {
        rsip::Error::ParseError(s)
        | rsip::Error::TokenizeError(s)
        | rsip::Error::InvalidParam(s)
        | rsip::Error::MissingHeader(s) => s,
        other => other.to_string(),
    };
    Rejection::respond(400, format!("Bad Request ({})", reason_safe(&why)))
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// A reason phrase must be one line of printable text; keep it short.
pub fn reason_safe(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .take(80)
        .collect();
    out.truncate(out.trim_end().len());
    out
}

/// A method's name as it goes on the wire (rsip's `Display` without the
/// formatting machinery or an allocation).
pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Ack => "ACK",
        Method::Bye => "BYE",
        Method::Cancel => "CANCEL",
        Method::Info => "INFO",
        Method::Invite => "INVITE",
        Method::Message => "MESSAGE",
        Method::Notify => "NOTIFY",
        Method::Options => "OPTIONS",
        Method::PRack => "PRACK",
        Method::Publish => "PUBLISH",
        Method::Refer => "REFER",
        Method::Register => "REGISTER",
        Method::Subscribe => "SUBSCRIBE",
        Method::Update => "UPDATE",
    }
}

/// `name` is `m` spelled as RFC 3261 spells it (method names are
/// case-sensitive; the fork parses them ignoring case), without writing
/// `m` out as a new String.
fn method_is(m: Method, name: &str) -> bool {
    name.parse::<Method>().is_ok_and(|p| p == m)
        && !name
            .bytes()
            .any(|b| b.is_ascii_lowercase() || b.is_ascii_whitespace())
}

fn check_mandatory(msg: &SipMessage) -> Result<(), Rejection> {
    let headers = msg.headers();
    let mut via = false;
    let (mut from, mut to, mut call_id, mut cseq) = (false, false, false, None);
    for h in headers.iter() {
        match h {
            Header::Via(_) => via = true,
            Header::From(_) => from = true,
            Header::To(_) => to = true,
            Header::CallId(c) => call_id = !c.value().trim().is_empty(),
            Header::CSeq(c) => cseq = Some(c.value()),
            _ => {}
        }
    }
    if !via {
        return Err(Rejection::Drop("no Via header".into()));
    }
    let missing = if !from {
        Some("From")
    } else if !to {
        Some("To")
    } else if !call_id {
        Some("Call-ID")
    } else if cseq.is_none() {
        Some("CSeq")
    } else {
        None
    };
    if let Some(name) = missing {
        return Err(match msg {
            SipMessage::Request(_) => Rejection::respond(400, format!("Missing {name} Header")),
            SipMessage::Response(_) => Rejection::Drop(format!("response without {name}")),
        });
    }
    let Some((_, method)) = cseq.and_then(parse_cseq) else {
        return Err(match msg {
            SipMessage::Request(_) => Rejection::respond(400, "Bad CSeq Header"),
            SipMessage::Response(_) => Rejection::Drop("response with a bad CSeq".into()),
        });
    };
    if let SipMessage::Request(r) = msg {
        if !method_is(r.method, method) {
            return Err(Rejection::respond(
                400,
                "CSeq Method Does Not Match Request",
            ));
        }
        let top = headers.iter().find_map(|h| match h {
            Header::Via(v) => Some(v.value()),
            _ => None,
        });
        if !top.is_some_and(via_is_sound) {
            return Err(Rejection::respond(400, "Bad Via Header"));
        }
    }
    Ok(())
}

/// `CSeq: 12 INVITE` -> (12, "INVITE").
pub fn parse_cseq(value: &str) -> Option<(u32, &str)> {
    let mut it = value.split_ascii_whitespace();
    let num = it.next()?.parse::<u32>().ok()?;
    let method = it.next()?;
    if it.next().is_some() {
        return None;
    }
    Some((num, method))
}

/// The raw value of the first header of this kind.
pub fn header<'a>(headers: &'a rsip::Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .map(header_value)
}

/// The raw value of a header (the text after `Name: `).
pub fn header_value(h: &Header) -> &str {
    macro_rules! v {
        ($($variant:ident),*) => {
            match h {
                Header::Other(_, v) => v.as_str(),
                $(Header::$variant(x) => x.value(),)*
            }
        };
    }
    v!(
        Accept,
        AcceptEncoding,
        AcceptLanguage,
        AlertInfo,
        Allow,
        AuthenticationInfo,
        Authorization,
        CSeq,
        CallId,
        CallInfo,
        Contact,
        ContentDisposition,
        ContentEncoding,
        ContentLanguage,
        ContentLength,
        ContentType,
        Date,
        ErrorInfo,
        Event,
        Expires,
        From,
        InReplyTo,
        MaxForwards,
        MimeVersion,
        MinExpires,
        Organization,
        Priority,
        ProxyAuthenticate,
        ProxyAuthorization,
        ProxyRequire,
        RecordRoute,
        ReplyTo,
        Require,
        RetryAfter,
        Route,
        ServiceRoute,
        Server,
        Subject,
        SubscriptionState,
        Supported,
        Timestamp,
        To,
        Unsupported,
        UserAgent,
        Via,
        Warning,
        WwwAuthenticate,
        Reason,
        ReferTo,
        ReferredBy,
        SessionExpires,
        MinSE,
        PAssertedIdentity,
        PPreferredIdentity,
        Replaces,
        RSeq,
        RAck,
        Privacy,
        Path,
        Identity,
        UserToUser,
        SessionId,
        HistoryInfo,
        Diversion
    )
}

/// The `tag` parameter of a From or To value.
pub fn tag_of(value: &str) -> Option<&str> {
    param_of(after_uri(value), "tag")
}

/// Text after the URI of a name-addr or addr-spec, where header parameters live.
fn after_uri(value: &str) -> &str {
    match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => match value.find(';') {
            Some(i) => &value[i..],
            None => "",
        },
    }
}

/// A `;name=value` parameter in a parameter list.
pub fn param_of<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    each_param(params).find_map(|(k, v)| k.eq_ignore_ascii_case(name).then_some(v))
}

/// The `;name=value` parameters of a list, each trimmed (`value` empty for
/// a bare name); whatever precedes the first `;` is not a parameter.
/// Byte scans: this runs several times for every message.
fn each_param(params: &str) -> impl Iterator<Item = (&str, &str)> {
    let b = params.as_bytes();
    let mut pos = memchr::memchr(b';', b).map_or(b.len() + 1, |i| i + 1);
    std::iter::from_fn(move || {
        if pos > b.len() {
            return None;
        }
        let end = memchr::memchr(b';', &b[pos..]).map_or(b.len(), |i| pos + i);
        let p = &params[pos..end];
        pos = end + 1;
        let (k, v) = match memchr::memchr(b'=', p.as_bytes()) {
            Some(i) => (&p[..i], &p[i + 1..]),
            None => (p, ""),
        };
        Some((k.trim_ascii(), v.trim_ascii()))
    })
}

/// The first entry of a Via value as it stands (up to the first comma),
/// and the same trimmed of LWS: [`top_via`] reads the trimmed one, and
/// [`stamp_via`] cuts it, so both must trim alike.
fn first_via_entry(value: &str) -> (&str, &str) {
    let raw = match memchr::memchr(b',', value.as_bytes()) {
        Some(i) => &value[..i],
        None => value,
    };
    (raw, raw.trim_ascii())
}

/// The branch of the top Via, and its sent-by (host[:port]).
pub fn top_via(value: &str) -> Option<TopVia<'_>> {
    let (_, first) = first_via_entry(value);
    // sent-protocol = name SLASH version SLASH transport, where SLASH may
    // have LWS on either side (RFC 3261 §25.1; RFC 4475 §3.1.1.1).
    let (name, rest) = first.split_once('/')?;
    let (version, rest) = rest.split_once('/')?;
    let rest = rest.trim_ascii_start();
    let space = rest.bytes().position(|b| b.is_ascii_whitespace())?;
    let (transport, rest) = (&rest[..space], &rest[space + 1..]);
    let protocol_ok =
        name.trim_ascii().eq_ignore_ascii_case("SIP") && version.trim_ascii() == "2.0";
    let rest = rest.trim_ascii();
    let (sent_by, params) = match memchr::memchr(b';', rest.as_bytes()) {
        Some(i) => (rest[..i].trim_ascii(), &rest[i..]),
        None => (rest, ""),
    };
    // The first branch parameter counts, even if empty.
    let (mut branch, mut has_rport) = (None, false);
    for (k, v) in each_param(params) {
        if branch.is_none() && k.eq_ignore_ascii_case("branch") {
            branch = Some(v);
        } else if k.eq_ignore_ascii_case("rport") {
            has_rport = true;
        }
    }
    Some(TopVia {
        protocol_ok,
        transport,
        sent_by,
        branch: branch.filter(|b| !b.is_empty()),
        has_rport,
        params,
    })
}

/// A top Via we can answer to (RFC 3261 §20.42): `SIP/2.0/<transport>`,
/// then a sent-by with a host and, if a port is given, a valid one. (Our
/// own scan: rsip's typed Via parse cost more than the rest of the checks.)
fn via_is_sound(value: &str) -> bool {
    let Some(v) = top_via(value) else {
        return false;
    };
    let port_ok = match v.sent_by.rfind(']') {
        Some(end) => v.sent_by[end + 1..]
            .strip_prefix(':')
            .is_none_or(|p| p.parse::<u16>().is_ok()),
        None => match v.sent_by.split_once(':') {
            Some((_, p)) => p.parse::<u16>().is_ok(),
            None => true,
        },
    };
    v.protocol_ok && is_token(v.transport) && !v.host().is_empty() && port_ok
}

/// The parts of a top Via that matching and routing need.
#[derive(Debug, Clone, Copy)]
pub struct TopVia<'a> {
    /// `SIP/2.0` (LWS around the slashes allowed).
    pub protocol_ok: bool,
    pub transport: &'a str,
    pub sent_by: &'a str,
    pub branch: Option<&'a str>,
    pub has_rport: bool,
    pub params: &'a str,
}

impl TopVia<'_> {
    /// The port of sent-by, or the transport's default.
    pub fn port(&self) -> u16 {
        let s = self.sent_by;
        let port = if let Some(end) = s.rfind(']') {
            s[end + 1..].strip_prefix(':')
        } else if s.matches(':').count() == 1 {
            s.rsplit(':').next()
        } else {
            None
        };
        port.and_then(|p| p.parse().ok()).unwrap_or(5060)
    }
    /// The host of sent-by, brackets removed.
    pub fn host(&self) -> &str {
        let s = self.sent_by;
        if let Some(rest) = s.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        if s.matches(':').count() == 1 {
            return s.split(':').next().unwrap_or(s);
        }
        s
    }
}

/// RFC 3261 §18.2.1 and RFC 3581: mark the top Via of a received request
/// with `received` (when sent-by is not the source address) and fill in an
/// empty `rport`. Returns the new header value, or `None` if nothing changes.
pub fn stamp_via(value: &str, src: SocketAddr) -> Option<String> {
    let via = top_via(value)?;
    // RFC 3261 §18.2.1: received when sent-by is a name or another address;
    // RFC 3581 §4: always when rport is asked for. Compared as addresses
    // (no formatting of the source for the common case of nothing to add).
    let same_host = via
        .host()
        .parse::<std::net::IpAddr>()
        .is_ok_and(|h| h == src.ip());
    if same_host && !via.has_rport {
        return None;
    }
    let ip = src.ip().to_string();
    // The first entry exactly as top_via cut and trimmed it: its params are
    // a suffix of it.
    let (first_raw, first) = first_via_entry(value);
    let rest = &value[first_raw.len()..];
    let mut out = String::with_capacity(value.len() + 32);
    // Keep everything but an old received and an empty rport.
    out.push_str(first[..first.len() - via.params.len()].trim_ascii_end());
    for (key, value) in each_param(via.params) {
        if key.eq_ignore_ascii_case("received") || key.eq_ignore_ascii_case("rport") {
            continue;
        }
        out.push(';');
        out.push_str(key);
        if !value.is_empty() {
            out.push('=');
            out.push_str(value);
        }
    }
    out.push_str(";received=");
    out.push_str(&ip);
    if via.has_rport {
        out.push_str(";rport=");
        out.push_str(itoa::Buffer::new().format(src.port()));
    }
    out.push_str(rest);
    Some(out)
}

/// Where responses to a request go (RFC 3261 §18.2.2, RFC 3581 §4): back over
/// its TCP connection, or over UDP to the source address at the rport, or at
/// the sent-by port without rport.
pub fn response_peer(via_value: &str, src: Peer) -> Peer {
    if src.transport.reliable() {
        return src;
    }
    let port = match top_via(via_value) {
        Some(v) if v.has_rport => src.addr.port(),
        Some(v) => v.port(),
        None => src.addr.port(),
    };
    Peer::udp(SocketAddr::new(src.addr.ip(), port))
}

/// What a caller dialled: the user part of a SIP URI, the number of a tel
/// URI, or a `urn:service:` URN (RFC 5031), also when a trunk wraps it as the
/// user of a SIP URI (`sip:urn:service:sos@host`, which parses as user and
/// password).
pub fn request_target(uri: &rsip::Uri) -> String {
    match &uri.scheme {
        Some(rsip::Scheme::Other(s)) if s.eq_ignore_ascii_case("urn") => {
            return format!("urn:{}", uri.host_with_port);
        }
        Some(rsip::Scheme::Other(s)) if s.eq_ignore_ascii_case("tel") => {
            let h = uri.host_with_port.to_string();
            return h.split(';').next().unwrap_or(&h).to_string();
        }
        _ => {}
    }
    match &uri.auth {
        Some(a) => match &a.password {
            Some(p) => format!("{}:{p}", a.user),
            None => a.user.clone(),
        },
        None => String::new(),
    }
}

/// The URI inside a name-addr (`"x" <sip:a@b>;tag=1` -> `sip:a@b`).
pub fn uri_in(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// Where to send a request for `uri`: its host if it is an address, else
/// the fallback (the peer we know the other side by). A `sips:` URI or
/// `transport=tls` goes over TLS (port 5061 by default, RFC 3261 §26.2),
/// `transport=tcp` over TCP; a connection the fallback has to that very
/// address and transport is reused.
pub fn resolve(uri: &str, fallback: Peer) -> Peer {
    let Ok(u) = rsip::Uri::try_from(uri) else {
        return fallback;
    };
    let param = u.params.iter().find_map(|p| match p {
        rsip::Param::Transport(t) => Some(t.to_string().to_ascii_lowercase()),
        _ => None,
    });
    let sips = matches!(u.scheme, Some(rsip::Scheme::Sips));
    let transport = match param.as_deref() {
        _ if sips => Some(Transport::Tls),
        Some("tls") => Some(Transport::Tls),
        Some("tcp") => Some(Transport::Tcp),
        _ => None,
    };
    let ip = match &u.host_with_port.host {
        rsip::Host::IpAddr(ip) => *ip,
        rsip::Host::Domain(d) => match d.to_string().parse() {
            Ok(ip) => ip,
            Err(_) => return fallback,
        },
    };
    let port = u
        .host_with_port
        .port
        .map(|p| p.value().to_owned())
        .unwrap_or(if transport == Some(Transport::Tls) {
            5061
        } else {
            5060
        });
    let addr = SocketAddr::new(ip, port);
    match transport {
        Some(t) => Peer {
            transport: t,
            addr,
            conn: if fallback.addr == addr && fallback.transport == t {
                fallback.conn
            } else {
                None
            },
        },
        None if fallback.transport.reliable() && fallback.addr == addr => fallback,
        None => Peer::udp(addr),
    }
}

/// The entries of a header value that may list several (`Path`,
/// `Record-Route`, `Route`): split at commas outside `<...>` and quotes.
pub fn split_list(value: &str) -> Vec<&str> {
    let (mut out, mut start, mut angle, mut quoted) = (Vec::new(), 0, false, false);
    for (i, b) in value.bytes().enumerate() {
        match b {
            b'"' if !angle => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !angle && !quoted => {
                let part = value[start..i].trim();
                if !part.is_empty() {
                    out.push(part);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    let part = value[start..].trim();
    if !part.is_empty() {
        out.push(part);
    }
    out
}

/// The host and port of a SIP URI whose host is an IP address.
pub fn uri_addr(uri: &str) -> Option<SocketAddr> {
    let u = rsip::Uri::try_from(uri).ok()?;
    let ip = match &u.host_with_port.host {
        rsip::Host::IpAddr(ip) => *ip,
        rsip::Host::Domain(d) => d.to_string().parse().ok()?,
    };
    let port = u
        .host_with_port
        .port
        .map(|p| p.value().to_owned())
        .unwrap_or(5060);
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests;
