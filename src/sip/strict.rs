//! Syntax checks the parser (rsip's fork) is too lenient for, run on a
//! request's raw head before it is parsed: the request line, header fields
//! that may appear once, name-addr syntax in From, To and Contact, and
//! empty Via entries or parameters. Each failure is the answer RFC 4475
//! asks for (400, 505 for another SIP version, 416 for a Request-URI
//! scheme we do not serve). Responses are not checked here (a bad one is
//! dropped later at the latest, never answered).
//!
//! Byte and `str` scans only, no allocation for a sound message but the
//! unfolding of folded lines.

use super::Rejection;
use std::borrow::Cow;

/// Checks a request's head (`head` ends with the blank line, or not).
pub(super) fn check(head: &[u8]) -> Result<(), Rejection> {
    if head.starts_with(b"SIP/") {
        return Ok(());
    }
    let Ok(text) = std::str::from_utf8(head) else {
        // Non-UTF-8 is the parser's to refuse (with its own reason).
        return Ok(());
    };
    let (line, rest) = text.split_once("\r\n").unwrap_or((text, ""));
    request_line(line)?;
    let mut seen = [false; SINGLE.len()];
    for (name, value) in fields(rest) {
        let name = long_name(name);
        if let Some(i) = SINGLE.iter().position(|n| n.eq_ignore_ascii_case(name)) {
            if seen[i] {
                return Err(bad(format!("Duplicate {} Header", SINGLE[i])));
            }
            seen[i] = true;
        }
        if name.eq_ignore_ascii_case("From") || name.eq_ignore_ascii_case("To") {
            if !name_addr_ok(&value) {
                return Err(bad(format!("Bad {} Header", canonical(name))));
            }
        } else if name.eq_ignore_ascii_case("Contact") {
            if value.trim_ascii() != "*" && !split_outside(&value).all(name_addr_ok) {
                return Err(bad("Bad Contact Header"));
            }
        } else if name.eq_ignore_ascii_case("Via") && !via_ok(&value) {
            return Err(bad("Bad Via Header"));
        }
    }
    Ok(())
}

/// Header fields a request carries at most once (RFC 3261 §7.3.1, §20).
const SINGLE: [&str; 6] = [
    "Call-ID",
    "CSeq",
    "From",
    "To",
    "Max-Forwards",
    "Content-Type",
];

fn bad(reason: impl Into<String>) -> Rejection {
    Rejection::respond(400, reason.into())
}

fn canonical(name: &str) -> &'static str {
    if name.eq_ignore_ascii_case("From") {
        "From"
    } else {
        "To"
    }
}

/// `Method SP Request-URI SP SIP-Version`, single spaces, nothing more.
fn request_line(line: &str) -> Result<(), Rejection> {
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("Bad Request-Line"));
    };
    if method.is_empty() || uri.is_empty() || line.bytes().any(|b| b == b'\t') {
        return Err(bad("Bad Request-Line"));
    }
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        let v = version.as_bytes();
        let numeric = v.len() > 4
            && v[..4].eq_ignore_ascii_case(b"SIP/")
            && v[4..].iter().all(|b| b.is_ascii_digit() || *b == b'.');
        return Err(if numeric {
            Rejection::respond(505, "Version Not Supported")
        } else {
            bad("Bad SIP Version")
        });
    }
    // RFC 3261 §25.1: an absoluteURI, never a name-addr in <>.
    let Some((scheme, opaque)) = uri.split_once(':') else {
        return Err(bad("Bad Request-URI"));
    };
    let scheme_ok = scheme
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok || opaque.is_empty() {
        return Err(bad("Bad Request-URI"));
    }
    let sip = scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips");
    // The user part may hold `?`; headers follow the host.
    let host_on = opaque.rfind('@').map_or(opaque, |at| &opaque[at + 1..]);
    if sip && host_on.contains('?') {
        // §19.1.1: headers are not allowed in a Request-URI.
        return Err(bad("Bad Request-URI"));
    }
    // `urn:service:sos` (RFC 5031): an emergency call is never refused here.
    if !sip && !scheme.eq_ignore_ascii_case("tel") && !scheme.eq_ignore_ascii_case("urn") {
        return Err(Rejection::respond(416, "Unsupported URI Scheme"));
    }
    Ok(())
}

/// The header fields of a head (after the request line): (name, value),
/// folded lines joined by a space.
fn fields(rest: &str) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
    let mut lines = rest.split("\r\n").peekable();
    std::iter::from_fn(move || loop {
        let line = lines.next()?;
        if line.is_empty() {
            return None;
        }
        let Some((name, value)) = line.split_once(':') else {
            // Not a field: the parser answers it.
            continue;
        };
        let mut value = Cow::Borrowed(value);
        while let Some(next) = lines.peek() {
            if !next.starts_with([' ', '\t']) {
                break;
            }
            let v = value.to_mut();
            v.push(' ');
            v.push_str(next);
            lines.next();
        }
        return Some((name.trim_ascii(), value));
    })
}

fn long_name(name: &str) -> &str {
    match name {
        "i" | "I" => "Call-ID",
        "f" | "F" => "From",
        "t" | "T" => "To",
        "m" | "M" => "Contact",
        "v" | "V" => "Via",
        "c" | "C" => "Content-Type",
        _ => name,
    }
}

/// The comma-separated entries of a value, commas inside quotes or `<>`
/// not counted.
fn split_outside(value: &str) -> impl Iterator<Item = &str> {
    let b = value.as_bytes();
    let (mut start, mut i) = (0, 0);
    let (mut quoted, mut angle) = (false, false);
    std::iter::from_fn(move || {
        if start > b.len() {
            return None;
        }
        while i < b.len() {
            match b[i] {
                b'\\' if quoted => i += 1,
                b'"' if !angle => quoted = !quoted,
                b'<' if !quoted => angle = true,
                b'>' if !quoted => angle = false,
                b',' if !quoted && !angle => {
                    let e = &value[start..i];
                    i += 1;
                    start = i;
                    return Some(e);
                }
                _ => {}
            }
            i += 1;
        }
        let e = &value[start.min(b.len())..];
        start = b.len() + 1;
        Some(e)
    })
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// `[display-name] <URI> *(;param)` or `addr-spec *(;param)`, where a
/// display name is tokens or one quoted string (quotes balanced, escapes
/// honoured) and no LWS stands just inside `<>`. An addr-spec (no `<>`)
/// may not hold `,` or `?` (RFC 3261 §20: those need the `<>` form).
fn name_addr_ok(value: &str) -> bool {
    let v = value.trim_ascii();
    if v.is_empty() {
        return false;
    }
    let b = v.as_bytes();
    // The display name: a quoted string or tokens, up to `<`.
    if b[0] == b'"' {
        let mut i = 1;
        loop {
            match b.get(i) {
                None => return false,
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                _ => i += 1,
            }
        }
        i += 1;
        let after = v[i..].trim_ascii_start();
        if !after.starts_with('<') {
            return false;
        }
        return angle_ok(after);
    }
    match memchr::memchr(b'<', b) {
        Some(lt) => {
            let display = &v[..lt];
            if !display
                .bytes()
                .all(|c| is_token_char(c) || c == b' ' || c == b'\t')
            {
                return false;
            }
            angle_ok(&v[lt..])
        }
        None => {
            if memchr::memchr(b'"', b).is_some() || memchr::memchr(b'>', b).is_some() {
                return false;
            }
            // In a Contact, `;` ends the URI; in From and To too (§20.20).
            let uri = v.split(';').next().unwrap_or(v);
            !uri.contains([',', '?']) && !uri.trim_ascii().is_empty()
        }
    }
}

/// `<URI>` then parameters: no LWS just inside the brackets, a `>`.
fn angle_ok(s: &str) -> bool {
    let inner = &s[1..];
    let Some(gt) = inner.find('>') else {
        return false;
    };
    let uri = &inner[..gt];
    !uri.is_empty()
        && !uri.starts_with([' ', '\t'])
        && !uri.ends_with([' ', '\t'])
        && !uri.contains('<')
        && params_ok(&inner[gt + 1..])
}

/// `*(SEMI param)`: no empty parameter.
fn params_ok(s: &str) -> bool {
    let s = s.trim_ascii();
    if s.is_empty() {
        return true;
    }
    let Some(rest) = s.strip_prefix(';') else {
        return false;
    };
    rest.split(';').all(|p| !p.trim_ascii().is_empty())
}

/// No empty entry (`,,`) and no empty parameter (`;;`) in a Via value.
fn via_ok(value: &str) -> bool {
    value.split(',').all(|entry| {
        let e = entry.trim_ascii();
        !e.is_empty() && e.split(';').all(|p| !p.trim_ascii().is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(head: &str) -> Option<u16> {
        match check(head.as_bytes()) {
            Ok(()) => None,
            Err(Rejection::Respond { status, .. }) => Some(status),
            Err(Rejection::Drop(_)) => Some(0),
        }
    }

    #[test]
    fn request_lines() {
        assert_eq!(status("OPTIONS sip:a@b SIP/2.0\r\n\r\n"), None);
        assert_eq!(status("OPTIONS sip:a@b SIP/2.0 \r\n\r\n"), Some(400));
        assert_eq!(status("OPTIONS sip:a@b SIP/7.0\r\n\r\n"), Some(505));
        assert_eq!(status("INVITE <sip:a@b> SIP/2.0\r\n\r\n"), Some(400));
        assert_eq!(status("INVITE sip:a@b?Route=x SIP/2.0\r\n\r\n"), Some(400));
        assert_eq!(status("OPTIONS foo:bar SIP/2.0\r\n\r\n"), Some(416));
        assert_eq!(status("INVITE tel:+62112 SIP/2.0\r\n\r\n"), None);
        assert_eq!(status("INVITE urn:service:sos SIP/2.0\r\n\r\n"), None);
        assert_eq!(status("INVITE urn:service:sos.fire SIP/2.0\r\n\r\n"), None);
    }

    #[test]
    fn name_addrs() {
        assert!(name_addr_ok("\"J \\\"R\\\"\" <sip:a@b>;tag=1"));
        assert!(name_addr_ok("caller<sip:a@b>;tag=1"));
        assert!(name_addr_ok("sip:a@b ;  tag = 1"));
        assert!(name_addr_ok("<sip:a@b?Route=%3Csip:c%3E>"));
        assert!(!name_addr_ok("\"Mr. J. User <sip:a@b>"));
        assert!(!name_addr_ok("Bell, Alexander <sip:a@b>;tag=43"));
        assert!(!name_addr_ok("\"W\" < sip:a@b >"));
        assert!(!name_addr_ok("sip:a@b?Route=x"));
        assert!(!name_addr_ok("\"Joe\" <sip:a@b>;;;;"));
        let entries: Vec<_> = split_outside("<sip:a@b>, \"x,y\" <sip:c@d>").collect();
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn vias_and_duplicates() {
        assert!(via_ok("SIP/2.0/UDP a;branch=1, SIP/2.0/UDP b"));
        assert!(!via_ok("SIP/2.0/UDP 192.0.2.15;;,;,,"));
        assert_eq!(
            status("OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\ni: 2\r\n\r\n"),
            Some(400)
        );
    }
}
