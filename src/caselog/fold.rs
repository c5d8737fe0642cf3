//! Records folded into one row per case (the `cases` command, reports).

use super::record::{format_time, CaseId, EndReason, Kind, Record};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

// ---------------------------------------------------------------- folding

/// One case, folded from its events. Times are in the journal's format.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub opened: Option<String>,
    pub caller: String,
    pub called: String,
    pub service: String,
    pub trunk: String,
    /// The seat that placed the call, if a seat did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_seat: Option<String>,
    /// The last queue (the one it ended in, if the end says).
    pub queue: Option<String>,
    pub priority: i32,
    /// Times the case was offered to a seat.
    pub offers: u32,
    /// The seat that answered, else the last one offered.
    pub seat: Option<String>,
    pub answered: Option<String>,
    pub overflowed_to: Option<String>,
    pub ended: Option<String>,
    /// None while the case is open.
    pub reason: Option<EndReason>,
    pub wait_ms: u64,
    pub talk_ms: u64,
    /// Outcome marks, in order ("prank", "silent", ...).
    pub marks: Vec<String>,
    /// Marks the engine suggested ("silent").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggested: Vec<String>,
    /// Keys pressed: "caller:5", "seat:#".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub digits: Vec<String>,
    /// What the media plane noted (not relayed, not recordable...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_notes: Vec<String>,
    /// The recording: path and SHA-256, or why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_sha256: Option<String>,
    /// The operator's class ("emergency", "prank", ...) and category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Notes, each "by: text".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The last location: address and/or "lat,lon", with its source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Marked ready for dispatch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ready: bool,
    /// Each agency's ticket and where it is ("damkar:closed").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tickets: Vec<String>,
    /// When every ticket was done (and the call over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<String>,
    /// Call-back attempts, each "outcome by".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callbacks: Vec<String>,
}

/// Folds records into one [`Case`] per case id, in the order the cases first
/// appear in the journal (opened), newest last. Records without a case (boot,
/// seat) are ignored; events of a case never opened still make a row.
pub fn fold(records: impl IntoIterator<Item = Record>) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let mut index: HashMap<CaseId, usize> = HashMap::new();
    for r in records {
        let Some(id) = r.case else { continue };
        let i = match index.get(&id) {
            Some(&i) => i,
            None => {
                cases.push(Case {
                    id: id.as_str().to_string(),
                    ..Case::default()
                });
                index.insert(id, cases.len() - 1);
                cases.len() - 1
            }
        };
        let c = &mut cases[i];
        match r.kind {
            Kind::Opened {
                caller,
                called,
                service,
                trunk,
                from_seat,
            } => {
                c.opened = Some(format_time(r.time_ms));
                (c.caller, c.called, c.service, c.trunk) = (caller, called, service, trunk);
                c.from_seat = from_seat;
            }
            Kind::Queued { queue, priority } => {
                c.queue = Some(queue);
                c.priority = priority;
            }
            Kind::Offered { seat } => {
                c.offers += 1;
                if c.answered.is_none() {
                    c.seat = Some(seat);
                }
            }
            Kind::Answered { seat } => {
                c.answered = Some(format_time(r.time_ms));
                c.seat = Some(seat);
            }
            Kind::Overflowed { target } => c.overflowed_to = Some(target),
            Kind::Ended {
                reason,
                wait_ms,
                talk_ms,
                seat,
                queue,
            } => {
                c.ended = Some(format_time(r.time_ms));
                c.reason = Some(reason);
                (c.wait_ms, c.talk_ms) = (wait_ms, talk_ms);
                if c.seat.is_none() {
                    c.seat = seat;
                }
                if queue.is_some() {
                    c.queue = queue;
                }
            }
            Kind::Outcome { mark, .. } => c.marks.push(mark),
            Kind::Suggested { mark } => c.suggested.push(mark),
            Kind::Digit { side, digit, .. } => c.digits.push(format!("{side}:{digit}")),
            Kind::Media { note } => c.media_notes.push(note),
            Kind::Recorded { path, sha256, .. } => {
                c.recording = Some(path);
                c.recording_sha256 = Some(sha256);
            }
            Kind::RecordingFailed { why } => c.recording = Some(format!("failed: {why}")),
            Kind::Classified {
                class, category, ..
            } => {
                c.class = Some(class);
                c.category = category;
            }
            Kind::Note { text, by } => c.notes.push(format!("{by}: {text}")),
            Kind::Text { from, by, text } => {
                let who = by.unwrap_or(from);
                c.notes.push(format!("[text] {who}: {text}"))
            }
            Kind::Located {
                address,
                lat,
                lon,
                source,
                ..
            } => {
                let mut parts: Vec<String> = address.into_iter().collect();
                if let (Some(lat), Some(lon)) = (lat, lon) {
                    parts.push(format!("{lat:.6},{lon:.6}"));
                }
                c.location = Some(format!("{} ({source})", parts.join(" ")));
            }
            Kind::Ready { .. } => c.ready = true,
            Kind::Ticket { agency, status, .. } => {
                let entry = format!("{agency}:{}", status.as_str());
                match c
                    .tickets
                    .iter_mut()
                    .find(|t| t.split(':').next() == Some(agency.as_str()))
                {
                    Some(t) => *t = entry,
                    None => c.tickets.push(entry),
                }
            }
            Kind::Closed {} => c.closed = Some(format_time(r.time_ms)),
            Kind::Callback { outcome, by, .. } => c.callbacks.push(format!("{outcome} {by}")),
            Kind::Boot { .. }
            | Kind::Seat { .. }
            | Kind::CallInfo(_)
            | Kind::Lost { .. }
            | Kind::Unknown => {}
        }
    }
    cases
}
