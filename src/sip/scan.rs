//! A forgiving scan of a message head, for what the full parser cannot give:
//! the Content-Length before parsing, and the headers to echo in a `400` when
//! the full parse failed.

use memchr::memmem;

/// The end of the head: the index of the `\r\n\r\n` that ends it.
pub fn find_head_end(data: &[u8]) -> Option<usize> {
    memmem::find(data, b"\r\n\r\n")
}

/// Compact forms of RFC 3261 §7.3.3 and their full names.
pub fn full_name(name: &str) -> &str {
    if name.len() != 1 {
        return name;
    }
    match name.as_bytes()[0].to_ascii_lowercase() {
        b'i' => "Call-ID",
        b'm' => "Contact",
        b'e' => "Content-Encoding",
        b'l' => "Content-Length",
        b'c' => "Content-Type",
        b'f' => "From",
        b's' => "Subject",
        b'k' => "Supported",
        b't' => "To",
        b'v' => "Via",
        _ => name,
    }
}

/// The Content-Length of a head (`None` if absent), or why it is unusable.
/// Several Content-Length headers must agree.
pub fn content_length(head: &[u8]) -> Result<Option<usize>, &'static str> {
    let mut found: Option<usize> = None;
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', head).chain(std::iter::once(head.len()));
    for end in ends {
        let line = &head[start..end];
        start = end + 1;
        let first = match line.first() {
            Some(b) => b.to_ascii_lowercase(),
            None => continue,
        };
        if first != b'c' && first != b'l' {
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = trim(&line[..colon]);
        let is_cl = name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l");
        if !is_cl {
            continue;
        }
        let value = trim(&line[colon + 1..]);
        let n = std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or("Bad Content-Length")?;
        if found.is_some_and(|f| f != n) {
            return Err("Conflicting Content-Length");
        }
        found = Some(n);
    }
    Ok(found)
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// The start line and headers of a head, as text, with compact names
/// expanded and folded lines joined. Lines that are not UTF-8 are skipped.
#[derive(Debug, Default)]
pub struct RawHead {
    pub start: String,
    pub headers: Vec<(String, String)>,
}

impl RawHead {
    /// Every value of a header, in order (a comma list counts once).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The method of a request line, if the start line looks like one.
    pub fn request_method(&self) -> Option<&str> {
        let mut parts = self.start.split(' ');
        let method = parts.next()?;
        let _uri = parts.next()?;
        let version = parts.next()?;
        version.starts_with("SIP/").then_some(method)
    }
    pub fn is_response(&self) -> bool {
        self.start.starts_with("SIP/")
    }
}

/// Scans whatever head there is (up to the blank line, or the whole input if
/// there is none). `None` if there is not even a text start line.
pub fn scan(data: &[u8]) -> Option<RawHead> {
    let end = find_head_end(data).unwrap_or(data.len());
    let head = &data[..end];
    let mut lines = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let start = std::str::from_utf8(lines.next()?).ok()?.trim().to_string();
    if start.is_empty() || start.len() > 4096 {
        return None;
    }
    let mut out = RawHead {
        start,
        headers: Vec::new(),
    };
    for line in lines {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.headers.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((n, v)) = line.split_once(':') {
            let n = n.trim();
            if n.is_empty() || n.contains(' ') {
                continue;
            }
            out.headers
                .push((full_name(n).to_string(), v.trim().to_string()));
        }
    }
    Some(out)
}
