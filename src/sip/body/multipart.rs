//! Multipart bodies (RFC 2046 §5.1 as SIP uses them, RFC 5621): the parts,
//! their headers and the exact byte range of each part's content.
//!
//! A delimiter is `--boundary` at the start of a line (the line end before
//! it belongs to the delimiter, not to the part), followed by `--` for the
//! close delimiter, optional spaces or tabs, and a line end or the end of the
//! body. Bare LF is accepted wherever CRLF is expected. A part is its header
//! lines, an empty line, and its content; a part with no headers starts with
//! the empty line and is `text/plain` (RFC 2045 §5.2; `message/rfc822` in a
//! `multipart/digest`).
//!
//! Tolerated, each with a problem noted: no close delimiter (the last part
//! runs to the end of the body), a boundary that never occurs (the whole
//! body becomes one opaque part), a part with no empty line after its
//! headers (its content starts at the first line that is not a header), a
//! stray empty line before a part's `Content-*` headers (as in the example
//! of RFC 6442 §3.2, whose blank lines were meant for the reader), and
//! nesting deeper than [`MAX_DEPTH`] (the inner multipart stays opaque).

use super::note;
use memchr::memmem;
use std::ops::Range;

/// How deep multiparts nest before an inner one is left unparsed.
pub const MAX_DEPTH: usize = 8;

/// A message body: its parts (one for a body that is not multipart, none
/// for an empty untyped body) and what could not be read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    pub parts: Vec<Part>,
    /// Short, human-readable notes on what was garbled or guessed.
    pub problems: Vec<String>,
}

/// One body part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Part {
    /// `type/subtype`, lowercased, without parameters.
    pub content_type: String,
    /// The Content-Type parameters: names lowercased, values as sent
    /// (unquoted).
    pub params: Vec<(String, String)>,
    /// Content-ID without its angle brackets.
    pub content_id: Option<String>,
    /// The disposition type of Content-Disposition, lowercased (`render`,
    /// `session`, `by-reference`...); its parameters stay in `headers`.
    pub disposition: Option<String>,
    /// Every header line of the part, names as sent, values unfolded and
    /// trimmed.
    pub headers: Vec<(String, String)>,
    /// Where the part's content lies in the original body (of the top-level
    /// [`parse`] call, also for nested parts).
    pub range: Range<usize>,
    /// The parts of a nested multipart.
    pub children: Vec<Part>,
}

impl Part {
    /// The part's content, cut from the body it was parsed from (empty if
    /// `body` is not that body and the range does not fit).
    pub fn bytes<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        body.get(self.range.clone()).unwrap_or_default()
    }

    /// A Content-Type parameter, by name (ignoring case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A header of the part, by name (ignoring case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Body {
    /// Every part, depth first (a multipart part, then its children).
    pub fn iter(&self) -> impl Iterator<Item = &Part> {
        let mut stack: Vec<&Part> = self.parts.iter().rev().collect();
        std::iter::from_fn(move || {
            let p = stack.pop()?;
            stack.extend(p.children.iter().rev());
            Some(p)
        })
    }

    /// The first part of this type (`type/subtype`, ignoring case), depth
    /// first.
    pub fn find_type(&self, content_type: &str) -> Option<&Part> {
        self.iter()
            .find(|p| p.content_type.eq_ignore_ascii_case(content_type))
    }

    /// The part a `cid:` reference names (RFC 2392: Content-IDs compare
    /// ignoring case here, as the domain part does; local parts seldom
    /// differ only in case).
    pub fn by_content_id(&self, cid: &str) -> Option<&Part> {
        let cid = cid.trim().trim_start_matches('<').trim_end_matches('>');
        self.iter().find(|p| {
            p.content_id
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(cid))
        })
    }
}

/// The first `application/sdp` part, depth first.
pub fn find_sdp(body: &Body) -> Option<&Part> {
    body.find_type("application/sdp")
}

/// The body with `part`'s content replaced by `new_bytes` and every other
/// byte as it was. The caller fixes Content-Length, and must not put the
/// boundary into `new_bytes`. A range that does not fit `original` is cut
/// to fit (so a part from another body cannot panic this).
pub fn replace_part(original: &[u8], part: &Part, new_bytes: &[u8]) -> Vec<u8> {
    let end = part.range.end.min(original.len());
    let start = part.range.start.min(end);
    let mut out = Vec::with_capacity(original.len() - (end - start) + new_bytes.len());
    out.extend_from_slice(&original[..start]);
    out.extend_from_slice(new_bytes);
    out.extend_from_slice(&original[end..]);
    out
}

/// `type/subtype; a=b; c="d"` -> (`type/subtype` lowercased, parameters
/// with names lowercased and values unquoted).
pub fn split_content_type(value: &str) -> (String, Vec<(String, String)>) {
    let (mime, rest) = match value.find(';') {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => (value, ""),
    };
    let mime: String = mime
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    (mime, parse_params(rest))
}

/// `a=b; c="d;e"; f` -> [(a,b), (c,d;e), (f,"")]: quoted values may hold
/// `;` and backslash escapes; an unterminated quote runs to the end.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' {
                break;
            }
            name.push(c);
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        c => value.push(c),
                    }
                }
                // Whatever follows the closing quote up to `;` is dropped.
                while chars.peek().is_some_and(|&c| c != ';') {
                    chars.next();
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ';' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value = value.trim().to_string();
            }
        }
        let name = name.trim().to_ascii_lowercase();
        if !name.is_empty() {
            out.push((name, value));
        }
        if chars.next().is_none() {
            return out;
        }
    }
}

/// Parses a body by its Content-Type (the header's value, parameters and
/// all). Never fails: see [`Body::problems`].
pub fn parse(content_type: &str, body: &[u8]) -> Body {
    let mut problems = Vec::new();
    if content_type.trim().is_empty() {
        if body.is_empty() {
            return Body::default();
        }
        note(
            &mut problems,
            "body without a Content-Type, taken as text/plain".to_string(),
        );
        let part = Part {
            content_type: "text/plain".into(),
            range: 0..body.len(),
            ..Part::default()
        };
        return Body {
            parts: vec![part],
            problems,
        };
    }
    let (mime, params) = split_content_type(content_type);
    check_mime(&mime, "the body", &mut problems);
    let mut top = Part {
        content_type: mime,
        params,
        range: 0..body.len(),
        ..Part::default()
    };
    if !top.content_type.starts_with("multipart/") {
        return Body {
            parts: vec![top],
            problems,
        };
    }
    match multipart(body, 0..body.len(), &top, 0, "", &mut problems) {
        Some(parts) => Body { parts, problems },
        None => {
            // The opaque part keeps its declared type and has no children.
            top.children.clear();
            Body {
                parts: vec![top],
                problems,
            }
        }
    }
}

fn check_mime(mime: &str, what: &str, problems: &mut Vec<String>) {
    let ok = match mime.split_once('/') {
        Some((t, s)) => !t.is_empty() && !s.is_empty() && !s.contains('/'),
        None => false,
    };
    if !ok {
        note(
            problems,
            format!("{what} has content type {mime:?}, not type/subtype"),
        );
    }
}

/// A delimiter line found in a multipart body.
struct Delimiter {
    /// Where the delimiter starts, its leading line end included.
    start: usize,
    /// Just past its line end.
    line_end: usize,
    close: bool,
}

/// The parts of the multipart `part` whose content is `range` of `body`, or
/// `None` (with a problem) if it cannot be split. `path` names the part in
/// problems ("" at the top, else "2.1").
fn multipart(
    body: &[u8],
    range: Range<usize>,
    part: &Part,
    depth: usize,
    path: &str,
    problems: &mut Vec<String>,
) -> Option<Vec<Part>> {
    let what = if path.is_empty() {
        "the multipart body".to_string()
    } else {
        format!("part {path}")
    };
    let boundary = match part.param("boundary") {
        Some("") => {
            note(
                problems,
                format!("{what} has an empty boundary; left unparsed"),
            );
            return None;
        }
        Some(b) if b.contains(['\r', '\n']) => {
            note(
                problems,
                format!("{what} has a line break in its boundary; left unparsed"),
            );
            return None;
        }
        Some(b) => b,
        None => {
            note(
                problems,
                format!("{what} has no boundary parameter; left unparsed"),
            );
            return None;
        }
    };
    let data = body.get(range.clone()).unwrap_or_default();
    let delimiters = delimiters(data, boundary.as_bytes());
    if delimiters.is_empty() {
        note(
            problems,
            format!("{what}: boundary {boundary:?} never occurs; left as one opaque part"),
        );
        return None;
    }
    let digest = part.content_type == "multipart/digest";
    let mut parts = Vec::new();
    let mut closed = false;
    for (i, d) in delimiters.iter().enumerate() {
        if d.close {
            closed = true;
            break;
        }
        let end = match delimiters.get(i + 1) {
            Some(next) => next.start.max(d.line_end),
            None => data.len(),
        };
        let n = parts.len() + 1;
        let sub = if path.is_empty() {
            n.to_string()
        } else {
            format!("{path}.{n}")
        };
        let abs = range.start + d.line_end..range.start + end;
        parts.push(body_part(body, abs, digest, depth, &sub, problems));
    }
    if !closed {
        note(
            problems,
            format!("{what} has no closing boundary \"--{boundary}--\""),
        );
    }
    if parts.is_empty() {
        note(problems, format!("{what} has no parts"));
    }
    Some(parts)
}

/// Every delimiter line of `--boundary` in `data`, in order.
fn delimiters(data: &[u8], boundary: &[u8]) -> Vec<Delimiter> {
    let mut dash = Vec::with_capacity(boundary.len() + 2);
    dash.extend_from_slice(b"--");
    dash.extend_from_slice(boundary);
    let mut out = Vec::new();
    // A boundary holds no LF (checked by the caller), so a match at a line
    // start never overlaps an earlier match.
    for i in memmem::find_iter(data, &dash) {
        if i > 0 && data[i - 1] != b'\n' {
            continue;
        }
        let mut p = i + dash.len();
        let close = data[p..].starts_with(b"--");
        if close {
            p += 2;
        }
        while p < data.len() && (data[p] == b' ' || data[p] == b'\t') {
            p += 1;
        }
        let line_end = match data.get(p) {
            None => p,
            Some(b'\n') => p + 1,
            Some(b'\r') if data.get(p + 1) == Some(&b'\n') => p + 2,
            Some(b'\r') if p + 1 == data.len() => p + 1,
            Some(_) => continue,
        };
        let start = match i {
            0 => 0,
            1 => 0,
            _ if data[i - 2] == b'\r' => i - 2,
            _ => i - 1,
        };
        out.push(Delimiter {
            start,
            line_end,
            close,
        });
    }
    out
}

/// Is this line `token: ...` (RFC 3261 token characters, then `:`)?
fn header_name(line: &[u8]) -> Option<&[u8]> {
    let n = line
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)))?;
    if n == 0 {
        return None;
    }
    let rest = &line[n..];
    let colon = rest.iter().position(|&b| b != b' ' && b != b'\t')?;
    (rest[colon] == b':').then_some(&line[..n])
}

/// The line at `pos` of `data`: its text (without the line end) and where
/// the next line starts.
fn line_at(data: &[u8], pos: usize) -> (&[u8], usize) {
    let rest = &data[pos..];
    match memchr::memchr(b'\n', rest) {
        Some(i) => {
            let text = &rest[..i];
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            (text, pos + i + 1)
        }
        None => (rest, data.len()),
    }
}

/// One part whose whole text (headers and content) is `range` of `body`.
fn body_part(
    body: &[u8],
    range: Range<usize>,
    digest: bool,
    depth: usize,
    path: &str,
    problems: &mut Vec<String>,
) -> Part {
    let data = body.get(range.clone()).unwrap_or_default();
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut pos = 0;
    let (first, after_first) = line_at(data, 0);
    let content_start = if data.is_empty() {
        0
    } else if first.is_empty() {
        // No headers, unless a stray empty line precedes Content-* lines.
        let (next, _) = line_at(data, after_first);
        let stray = after_first < data.len()
            && header_name(next)
                .is_some_and(|n| n.len() >= 8 && n[..8].eq_ignore_ascii_case(b"content-"));
        if stray {
            note(
                problems,
                format!("part {path}: empty line before its headers"),
            );
            pos = after_first;
            read_headers(data, &mut pos, &mut headers, path, problems)
        } else {
            after_first
        }
    } else if header_name(first).is_some() {
        read_headers(data, &mut pos, &mut headers, path, problems)
    } else {
        note(
            problems,
            format!("part {path}: no empty line before its content"),
        );
        0
    };
    let mut part = Part {
        content_type: if digest {
            "message/rfc822".into()
        } else {
            "text/plain".into()
        },
        headers,
        range: range.start + content_start..range.end,
        ..Part::default()
    };
    let mut typed = false;
    for (name, value) in &part.headers {
        if name.eq_ignore_ascii_case("content-type") {
            // Only the first Content-Type counts.
            if std::mem::replace(&mut typed, true) {
                continue;
            }
            let (mime, params) = split_content_type(value);
            check_mime(&mime, &format!("part {path}"), problems);
            part.content_type = mime;
            part.params = params;
        } else if name.eq_ignore_ascii_case("content-id") && part.content_id.is_none() {
            let id = value.trim().trim_start_matches('<').trim_end_matches('>');
            part.content_id = Some(id.trim().to_string());
        } else if name.eq_ignore_ascii_case("content-disposition") && part.disposition.is_none() {
            let kind = value.split(';').next().unwrap_or_default().trim();
            part.disposition = Some(kind.to_ascii_lowercase());
        } else if name.eq_ignore_ascii_case("content-transfer-encoding") {
            let enc = value.trim().to_ascii_lowercase();
            if !matches!(enc.as_str(), "7bit" | "8bit" | "binary") {
                note(
                    problems,
                    format!("part {path} is {enc}-encoded; its bytes are left encoded"),
                );
            }
        }
    }
    if part.content_type.starts_with("multipart/") {
        if depth + 1 >= MAX_DEPTH {
            note(
                problems,
                format!("part {path}: multipart nested deeper than {MAX_DEPTH}; left unparsed"),
            );
        } else if let Some(children) =
            multipart(body, part.range.clone(), &part, depth + 1, path, problems)
        {
            part.children = children;
        }
    }
    part
}

/// Reads header lines from `*pos` up to and including the empty line that
/// ends them; returns where the content starts.
fn read_headers(
    data: &[u8],
    pos: &mut usize,
    headers: &mut Vec<(String, String)>,
    path: &str,
    problems: &mut Vec<String>,
) -> usize {
    while *pos < data.len() {
        let (line, next) = line_at(data, *pos);
        if line.is_empty() {
            return next;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, v)) = headers.last_mut() {
                let more = String::from_utf8_lossy(line);
                let more = more.trim();
                if !more.is_empty() {
                    if !v.is_empty() {
                        v.push(' ');
                    }
                    v.push_str(more);
                }
                *pos = next;
                continue;
            }
        }
        match header_name(line) {
            Some(name) => {
                let value = &line[name.len()..];
                let colon = value.iter().position(|&b| b == b':').unwrap_or(0);
                headers.push((
                    String::from_utf8_lossy(name).into_owned(),
                    String::from_utf8_lossy(&value[colon + 1..])
                        .trim()
                        .to_string(),
                ));
                *pos = next;
            }
            None => {
                note(
                    problems,
                    format!("part {path}: no empty line between its headers and its content"),
                );
                return *pos;
            }
        }
    }
    data.len()
}
