//! The `Geolocation` and `Geolocation-Routing` headers (RFC 6442 §4.1, §4.2).
//!
//! `Geolocation: <cid:target123@atlanta.example.com>, <https://lis.example/loc/7>;x=y`
//! names where the caller's location is: a body part (by Content-ID, RFC
//! 2392) or a URI to dereference (`sip:`, `sips:`, `pres:`, `http:`,
//! `https:`). Entries are split at commas outside `<...>` and quotes;
//! parameters are allowed and ignored; an entry without angle brackets is
//! read up to its first `;`. Entries with other schemes, or none, are
//! skipped: they name no location we could fetch.

use super::super::split_list;

/// One location reference of a `Geolocation` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GeoRef {
    /// A body part: its Content-ID, without `cid:` and percent-decoded, as
    /// [`super::Part::content_id`] holds it.
    Cid(String),
    /// A location URI (`https:`, `http:`, `sip:`, `sips:`, `pres:`), as sent.
    Uri(String),
}

/// The location references of a `Geolocation` header value, in order.
pub fn parse_geolocation(value: &str) -> Vec<GeoRef> {
    split_list(value)
        .into_iter()
        .filter_map(|entry| {
            let uri = match (entry.find('<'), entry.find('>')) {
                (Some(a), Some(b)) if a < b => &entry[a + 1..b],
                (Some(a), None) => &entry[a + 1..],
                _ => entry.split(';').next().unwrap_or_default(),
            };
            let uri = uri.trim();
            let (scheme, rest) = uri.split_once(':')?;
            let scheme = scheme.trim().to_ascii_lowercase();
            match scheme.as_str() {
                "cid" => {
                    let id = percent_decode(rest.trim());
                    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
                    (!id.is_empty()).then(|| GeoRef::Cid(id.to_string()))
                }
                "https" | "http" | "sip" | "sips" | "pres" if !rest.trim().is_empty() => {
                    Some(GeoRef::Uri(uri.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

/// `%40` -> `@`; a `%` not followed by two hex digits stays as it is.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// May proxies route the call by the caller's location (RFC 6442 §4.2)?
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GeoRouting {
    Yes,
    /// Also what an absent header means (RFC 6442 §4.2).
    No,
    /// A value from an extension: treat as `no`.
    Other(String),
}

impl GeoRouting {
    /// Only an explicit `yes` allows routing by location.
    pub fn allows_routing(&self) -> bool {
        matches!(self, GeoRouting::Yes)
    }
}

/// A `Geolocation-Routing` header value: `yes` or `no` ignoring case and
/// surrounding space, anything else kept trimmed.
pub fn parse_geolocation_routing(value: &str) -> GeoRouting {
    let v = value.trim();
    if v.eq_ignore_ascii_case("yes") {
        GeoRouting::Yes
    } else if v.eq_ignore_ascii_case("no") {
        GeoRouting::No
    } else {
        GeoRouting::Other(v.to_string())
    }
}
