//! What a call brings besides the caller (NG112 / NENA i3 inputs), read
//! once when the case opens: the caller's location (PIDF-LO by value in a
//! body part, named by `Geolocation` or not, or a reference to fetch), the
//! `Resource-Priority`, the emergency call and incident ids of `Call-Info`
//! (RFC 7852), languages, `History-Info` / `Diversion`. Nothing here can
//! fail the call: what cannot be read is listed in the case (`unread`) and
//! the call is queued all the same.

use crate::caselog::{CallInfo, Kind, LocationDetail};
use crate::config::Config;
use crate::sip::body::{self, GeoRef, Location, Part};
use crate::sip::rsip::Request;
use crate::sip::{header, header_value, split_list};

/// Longest value kept of one entry (an id, a URI, a history entry).
const MAX_ENTRY: usize = 256;
/// Entries kept of one list (languages, history).
const MAX_ENTRIES: usize = 10;
/// Locations read from one INVITE at most.
const MAX_LOCATIONS: usize = 4;

/// What was read; `records` go into the case after `opened`.
#[derive(Debug, Default)]
pub(super) struct CallInputs {
    pub records: Vec<Kind>,
    /// Added to the route's priority (`[acd] resource_priority`).
    pub priority_bonus: i32,
    /// The trunk's `Call-Info` entries with an emergency purpose, passed to
    /// the seat.
    pub call_info: Vec<String>,
    pub resource_priority: Option<String>,
    /// Where the SDP offer is in the body (the media plane reads it from
    /// here: the body is parsed once per INVITE).
    pub sdp: Option<std::ops::Range<usize>>,
}

fn cut(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(MAX_ENTRY) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// Every value of header `name` (each header line, not split).
fn all<'a>(req: &'a Request, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    req.headers
        .iter()
        .filter(move |h| h.name().eq_ignore_ascii_case(name))
        .map(header_value)
}

/// A `Located` record of a PIDF-LO location.
fn located(loc: &Location) -> Kind {
    let address = loc
        .civic
        .as_ref()
        .map(body::Civic::one_line)
        .filter(|a| !a.is_empty());
    let (lat, lon) = loc
        .centre()
        .map_or((None, None), |(a, o)| (Some(a), Some(o)));
    let shape = loc.shapes.first();
    let detail = LocationDetail {
        shape: shape.map(|s| s.kind().to_ascii_lowercase()),
        radius_m: shape.and_then(body::Shape::radius_m),
        method: loc.method.clone(),
        timestamp: loc.timestamp.clone(),
        provided_by: loc.provided_by.clone(),
        civic: loc
            .civic
            .as_ref()
            .map(|c| {
                c.fields()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        reference: None,
        problems: loc.problems.clone(),
    };
    Kind::Located {
        address,
        lat,
        lon,
        source: "pidf".into(),
        by: None,
        detail: Some(Box::new(detail)),
    }
}

fn is_pidf(p: &Part) -> bool {
    p.content_type == "application/pidf+xml"
}

/// Reads what the INVITE brings.
pub(super) fn read(req: &Request, cfg: &Config) -> CallInputs {
    let mut out = CallInputs::default();
    let mut unread: Vec<String> = Vec::new();

    // The location: parts named by Geolocation, then any other PIDF-LO part.
    let parsed = header(&req.headers, "Content-Type")
        .filter(|_| !req.body.is_empty())
        .map(|ct| body::parse(ct, &req.body))
        .unwrap_or_default();
    unread.extend(parsed.problems.iter().cloned());
    out.sdp = body::find_sdp(&parsed).map(|p| p.range.clone());
    let mut used: Vec<std::ops::Range<usize>> = Vec::new();
    let mut locations = Vec::new();
    let read_part =
        |p: &Part, unread: &mut Vec<String>, locations: &mut Vec<Kind>| match body::parse_pidf_lo(
            p.bytes(&req.body),
        ) {
            Ok(loc) => locations.push(located(&loc)),
            Err(why) => unread.push(why),
        };
    for value in all(req, "Geolocation") {
        for r in body::parse_geolocation(value) {
            match r {
                GeoRef::Cid(id) => match parsed.by_content_id(&id) {
                    Some(p) if is_pidf(p) => {
                        used.push(p.range.clone());
                        read_part(p, &mut unread, &mut locations);
                    }
                    Some(p) => unread.push(cut(&format!(
                        "Geolocation names cid:{id}, a {} part, not PIDF-LO",
                        p.content_type
                    ))),
                    None => unread.push(cut(&format!(
                        "Geolocation names cid:{id}, which is not in the body"
                    ))),
                },
                GeoRef::Uri(uri) => locations.push(Kind::Located {
                    address: None,
                    lat: None,
                    lon: None,
                    source: "reference".into(),
                    by: None,
                    detail: Some(Box::new(LocationDetail {
                        reference: Some(cut(&uri)),
                        ..LocationDetail::default()
                    })),
                }),
            }
        }
    }
    for p in parsed.iter() {
        if is_pidf(p) && !used.contains(&p.range) {
            read_part(p, &mut unread, &mut locations);
        }
    }
    let known = [
        "application/sdp",
        "application/pidf+xml",
        "application/emergencycallinfo+xml",
        "application/emergencycalldata.providerinfo+xml",
        "application/emergencycalldata.serviceinfo+xml",
        "application/emergencycalldata.deviceinfo+xml",
        "application/emergencycalldata.subscriberinfo+xml",
        "application/emergencycalldata.comment+xml",
        "application/emergencycalldata.ecall.msd",
        "application/isup",
    ];
    for p in parsed.iter() {
        if p.children.is_empty() && !known.contains(&p.content_type.as_str()) {
            unread.push(cut(&format!(
                "a {} part was kept, not read",
                p.content_type
            )));
        }
    }
    locations.truncate(MAX_LOCATIONS);

    // Priority: the best of the configured namespaces it names.
    let rp: Vec<String> = all(req, "Resource-Priority")
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .take(MAX_ENTRIES)
        .collect();
    out.priority_bonus = rp
        .iter()
        .filter_map(|v| cfg.acd.resource_priority.get(v).copied())
        .max()
        .unwrap_or(0);
    let resource_priority = (!rp.is_empty()).then(|| cut(&rp.join(", ")));

    // Emergency call and incident ids (RFC 7852 §4.1.2/3).
    let (mut call_id, mut incident_id) = (None, None);
    for value in all(req, "Call-Info") {
        for entry in split_list(value) {
            let purpose = entry
                .split(';')
                .skip(1)
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("purpose"))
                .map(|(_, v)| v.trim().trim_matches('"').to_ascii_lowercase());
            let uri = entry
                .split_once('<')
                .and_then(|(_, r)| r.split_once('>'))
                .map(|(u, _)| cut(u));
            match purpose.as_deref() {
                Some("emergency-callid") => call_id = call_id.or(uri),
                Some("emergency-incidentid") => incident_id = incident_id.or(uri),
                _ => continue,
            }
            if out.call_info.len() < MAX_ENTRIES {
                out.call_info.push(cut(entry));
            }
        }
    }

    // Languages: Accept-Language, and the SDP's a=lang / a=hlang-*.
    let mut languages: Vec<String> = all(req, "Accept-Language")
        .flat_map(|v| v.split(','))
        .filter_map(|l| l.split(';').next())
        .map(cut)
        .filter(|l| !l.is_empty() && l != "*")
        .collect();
    if let Some(sdp) = out.sdp.clone().and_then(|r| req.body.get(r)) {
        for line in String::from_utf8_lossy(sdp).lines() {
            for key in ["a=lang:", "a=hlang-recv:", "a=hlang-send:"] {
                if let Some(v) = line.trim().strip_prefix(key) {
                    languages.extend(v.split_whitespace().map(|l| cut(l.trim_end_matches('*'))));
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    languages.retain(|l| seen.insert(l.to_ascii_lowercase()));
    languages.truncate(MAX_ENTRIES);

    let history: Vec<String> = ["History-Info", "Diversion"]
        .into_iter()
        .flat_map(|n| {
            all(req, n)
                .flat_map(split_list)
                .map(cut)
                .collect::<Vec<_>>()
        })
        .take(MAX_ENTRIES)
        .collect();
    let routing = header(&req.headers, "Geolocation-Routing")
        .map(|v| body::parse_geolocation_routing(v).allows_routing());

    unread.truncate(body::MAX_PROBLEMS);
    let info = CallInfo {
        resource_priority: resource_priority.clone(),
        emergency_call_id: call_id,
        incident_id,
        languages,
        history,
        geolocation_routing: routing,
        unread,
    };
    if info != CallInfo::default() {
        out.records.push(Kind::CallInfo(info));
    }
    out.records.extend(locations);
    out.resource_priority = resource_priority;
    out
}

/// Headers of the caller's INVITE a seat's phone should see too: the
/// emergency call and incident ids, the priority, the languages.
pub(super) fn for_seat(req: &Request) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for value in all(req, "Call-Info") {
        for entry in split_list(value) {
            let lower = entry.to_ascii_lowercase();
            if lower.contains("purpose=emergency-callid")
                || lower.contains("purpose=emergency-incidentid")
            {
                out.push(("Call-Info", cut(entry)));
            }
        }
    }
    for name in ["Resource-Priority", "Accept-Language"] {
        if let Some(v) = header(&req.headers, name) {
            out.push((name, cut(v)));
        }
    }
    out.truncate(MAX_ENTRIES);
    out
}
