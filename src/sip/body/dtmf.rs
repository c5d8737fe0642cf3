//! DTMF sent in SIP INFO bodies, as many phones and trunks do instead of (or
//! as well as) RFC 4733 events.
//!
//! Neither format has an RFC. `application/dtmf-relay` (Cisco's, the common
//! one) is `Signal=5\r\nDuration=160\r\n`: keys ignore case, spaces around
//! `=` are allowed, lines end in CRLF or LF, and some senders give the
//! RFC 4733 event number (`Signal=10` for `*`, `11` for `#`, `12`..`15`
//! for `A`..`D`). `application/dtmf` is the bare digit (`5`); a body in the
//! relay format under that type is read too. Flash (`16`) and anything else
//! is not a digit: `None`.

/// The digit (`0`-`9`, `*`, `#`, `A`-`D`) and duration in milliseconds of
/// an INFO body, or `None` if the content type is neither DTMF type or the
/// body holds no digit. A duration that does not read as a number is `None`
/// with the digit still returned.
pub fn parse_dtmf_relay(content_type: &str, body: &[u8]) -> Option<(char, Option<u32>)> {
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    let relay = mime.eq_ignore_ascii_case("application/dtmf-relay");
    if !relay && !mime.eq_ignore_ascii_case("application/dtmf") {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    if !relay {
        if let Some(d) = digit(text.trim()) {
            return Some((d, None));
        }
    }
    let (mut signal, mut duration) = (None, None);
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key.eq_ignore_ascii_case("signal") && signal.is_none() {
            signal = Some(digit(value)?);
        } else if key.eq_ignore_ascii_case("duration") && duration.is_none() {
            duration = Some(value.parse::<u32>().ok());
        }
    }
    Some((signal?, duration.flatten()))
}

/// One DTMF digit, by its character or its RFC 4733 event number.
fn digit(s: &str) -> Option<char> {
    let mut chars = s.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let c = c.to_ascii_uppercase();
        return matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c);
    }
    match s.parse::<u8>().ok()? {
        n @ 0..=9 => Some(char::from(b'0' + n)),
        10 => Some('*'),
        11 => Some('#'),
        n @ 12..=15 => Some(char::from(b'A' + (n - 12))),
        _ => None,
    }
}
