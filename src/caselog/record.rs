//! The record schema: case ids, what happened, and the journal's line
//! format (one JSON object per line, times in RFC 3339 UTC).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------- case ids

/// A case id, `BOOT-SEQ` (`0007-000123`). Serialized as a plain string;
/// shared, not copied, by the many records and indexes that name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(std::sync::Arc<str>);

impl CaseId {
    /// The id of case `seq` of boot `boot`: `{boot:04}-{seq:06}`.
    pub fn new(boot: u32, seq: u64) -> CaseId {
        CaseId(format!("{boot:04}-{seq:06}").into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The boot number in front of the `-`, if the id has that shape.
    pub fn boot(&self) -> Option<u32> {
        let (boot, _) = self.0.split_once('-')?;
        if boot.is_empty() || !boot.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        boot.parse().ok()
    }
}

impl From<&str> for CaseId {
    fn from(s: &str) -> CaseId {
        CaseId(s.into())
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// Hands out the case ids of one run: the boot number recovered by
/// [`Journal::open`], and a sequence starting at 1.
#[derive(Debug, Clone)]
pub struct CaseIds {
    boot: u32,
    seq: u64,
}

impl CaseIds {
    pub fn new(boot: u32) -> CaseIds {
        CaseIds { boot, seq: 0 }
    }

    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> CaseId {
        self.seq += 1;
        CaseId::new(self.boot, self.seq)
    }
}

// ---------------------------------------------------------------- records

/// Why a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Completed,
    Abandoned,
    Overflowed,
    Failed,
    /// A leg's RTP stopped for `[media] timeout_s`: a dead call, hung up.
    #[serde(rename = "media-timeout")]
    MediaTimeout,
    /// Its queue was full (`max_length`) and had no overflow: answered
    /// `486` so that the network routes it elsewhere.
    Refused,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Completed => "completed",
            EndReason::Abandoned => "abandoned",
            EndReason::Overflowed => "overflowed",
            EndReason::Failed => "failed",
            EndReason::MediaTimeout => "media-timeout",
            EndReason::Refused => "refused",
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What happened. Serialized flat into the line, tagged by `"event"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Kind {
    /// A run started (written by [`Journal::open`]; no case).
    Boot {
        boot: u32,
    },
    Opened {
        caller: String,
        called: String,
        service: String,
        /// The trunk or edge proxy it came through ("" for a seat's call).
        trunk: String,
        /// The seat that placed the call (an operator's test or real call),
        /// authenticated by its credentials.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_seat: Option<String>,
    },
    Queued {
        queue: String,
        priority: i32,
    },
    Offered {
        seat: String,
    },
    Answered {
        seat: String,
    },
    Overflowed {
        target: String,
    },
    Ended {
        reason: EndReason,
        wait_ms: u64,
        talk_ms: u64,
        seat: Option<String>,
        queue: Option<String>,
    },
    /// A seat marks a case ("prank", "silent", ...).
    Outcome {
        mark: String,
        /// Who (absent in journals before stage 2: the seat of the call).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// What the call turned out to be (emergency, information, prank...)
    /// and the kind of emergency (kebakaran, kecelakaan...).
    Classified {
        class: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
        by: String,
    },
    /// A note an operator wrote.
    Note {
        text: String,
        by: String,
    },
    /// Where the emergency is: an address and/or coordinates, from the
    /// operator or from the call itself (`source`: "operator", "pidf").
    Located {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lat: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lon: Option<f64>,
        source: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// What the call's own location said besides (PIDF-LO, a reference).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<Box<LocationDetail>>,
    },
    /// What the call brought besides the caller (NG112 / NENA i3 inputs):
    /// written after `opened` when there is any.
    CallInfo(CallInfo),
    /// A text message of a text call (SIP MESSAGE, text-to-112): from the
    /// caller, or from the operator (`by`).
    Text {
        from: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        text: String,
    },
    /// Records that could not be kept while the disk could not be written
    /// (the writer's buffer overflowed): written as soon as it can write
    /// again, naming each one.
    Lost {
        count: u64,
        records: Vec<LostRecord>,
    },
    /// The case is ready to hand to an agency.
    Ready {
        by: String,
    },
    /// The case handed to an agency (`sent`, with the brief), or a step of
    /// that ticket's life. One ticket per agency and case.
    Ticket {
        agency: String,
        status: TicketStatus,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// What the centre knew when it sent the ticket.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        brief: Option<Box<Brief>>,
    },
    /// The call is over and every ticket is closed or cancelled.
    Closed {},
    /// A call-back to a caller whose emergency call was lost (abandoned,
    /// dropped): `reached`, `no-answer`, `busy`, `wrong-number`, `handled`.
    Callback {
        outcome: String,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The engine suggests a mark for the operator to confirm (a caller
    /// silent since the answer: "silent"); never acted on by itself.
    Suggested {
        mark: String,
    },
    /// A key pressed (RFC 4733 or SIP INFO), by the caller or the seat.
    Digit {
        side: String,
        digit: String,
        duration_ms: u32,
    },
    /// What the media plane did with the call when it is not the usual
    /// (not relayed and why, a codec that cannot be recorded...).
    Media {
        note: String,
    },
    /// The call's recording, closed and synced.
    Recorded {
        path: String,
        duration_ms: u64,
        codec: String,
        sha256: String,
        bytes: u64,
        /// Written up to a crash and repaired at the next start.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        recovered: bool,
    },
    /// The recording could not be written (disk full...); the call went on.
    RecordingFailed {
        why: String,
    },
    /// A seat's state changed (no case).
    Seat {
        seat: String,
        state: String,
        /// Why (a pause reason, or why an offer failed). Read in its one
        /// spelling: journals before stage 2 wrote `noanswer` for an offer
        /// that rang out beside `no-answer` for the pause it caused.
        #[serde(default, deserialize_with = "one_spelling")]
        reason: Option<String>,
    },
    /// An event kind this version does not know (written by a newer one).
    /// Read only: its fields are dropped; never append it.
    #[serde(other)]
    Unknown,
}

/// A caller's number: the user part of their URI (`sip:+62811@telco` ->
/// `+62811`, `tel:+62811` -> `+62811`).
pub fn caller_number(uri: &str) -> &str {
    let uri = uri.trim().trim_start_matches('<').trim_end_matches('>');
    let rest = uri.split_once(':').map(|(_, r)| r).unwrap_or(uri);
    rest.split(['@', ';', '>']).next().unwrap_or(rest)
}

/// The caller's number as the store indexes and searches it: Indonesian
/// numbers in international form whichever way they came or are typed
/// (`0812 3456 789`, `62812...`, `0062812...` and `+62812...` are all
/// `+628123456789`); anything else (short numbers, names) as sent.
pub fn number_key(uri: &str) -> String {
    let n: String = caller_number(uri)
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = n.strip_prefix('+') {
        return if digits(rest) { n.clone() } else { n };
    }
    if let Some(rest) = n.strip_prefix("00").filter(|r| digits(r)) {
        return format!("+{rest}");
    }
    if n.starts_with("62") && n.len() >= 9 && digits(&n) {
        return format!("+{n}");
    }
    if let Some(rest) = n.strip_prefix('0').filter(|r| r.len() >= 6 && digits(r)) {
        return format!("+62{rest}");
    }
    n
}

/// Call-back outcomes that take a case off the call-back list.
pub const CALLBACK_DONE: &[&str] = &["reached", "wrong-number", "handled"];

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TicketStatus {
    Sent,
    Acknowledged,
    OnScene,
    Closed,
    Cancelled,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Sent => "sent",
            TicketStatus::Acknowledged => "acknowledged",
            TicketStatus::OnScene => "on-scene",
            TicketStatus::Closed => "closed",
            TicketStatus::Cancelled => "cancelled",
        }
    }

    /// Closed or cancelled: nothing more happens to it.
    pub fn is_final(self) -> bool {
        matches!(self, TicketStatus::Closed | TicketStatus::Cancelled)
    }

    /// The step an action name asks for (`acknowledge`, `on-scene`...).
    pub fn from_action(a: &str) -> Option<TicketStatus> {
        Some(match a {
            "acknowledge" => TicketStatus::Acknowledged,
            "on-scene" => TicketStatus::OnScene,
            "close" => TicketStatus::Closed,
            "cancel" => TicketStatus::Cancelled,
            _ => return None,
        })
    }
}

/// What a call brought besides the caller (NG112 / NENA i3 inputs): the
/// `call_info` record, and the operator screen's `info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    /// `Resource-Priority` as sent (`esnet.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_priority: Option<String>,
    /// `Call-Info;purpose=emergency-CallId` (RFC 7852).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency_call_id: Option<String>,
    /// `Call-Info;purpose=emergency-IncidentId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    /// `Accept-Language` and SDP `a=lang`: an interpreter hint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// `History-Info` and `Diversion` entries: how the call got here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<String>,
    /// `Geolocation-Routing`: whether the network may route on the
    /// location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geolocation_routing: Option<bool>,
    /// What could not be read (a garbled body part, an unknown
    /// location format...): the call went on without it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<String>,
}

/// One record the writer had to drop: its case, its kind, its time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    pub event: String,
    pub time: String,
}

impl LostRecord {
    /// What is said of `r` when it cannot be kept.
    pub fn of(r: &Record) -> LostRecord {
        LostRecord {
            case: r.case.as_ref().map(|c| c.as_str().to_string()),
            event: serde_json::to_value(&r.kind)
                .ok()
                .and_then(|v| v["event"].as_str().map(str::to_string))
                .unwrap_or_default(),
            time: format_time(r.time_ms),
        }
    }
}

/// A location's detail from the call itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocationDetail {
    /// `point`, `circle`, `ellipse`, `polygon`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
    /// How far the caller may be from the centre (uncertainty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_m: Option<f64>,
    /// `GPS`, `Cell`, `802.11`, `Manual`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provided_by: Option<String>,
    /// The civic address, element by element (`country`, `A1`..`A6`,
    /// `RD`, `HNO`...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub civic: BTreeMap<String, String>,
    /// A location by reference (`Geolocation: <https://...>`), not
    /// dereferenced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// What in the location object could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// What a ticket tells the agency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Brief {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The caller, to call back.
    pub caller: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<BriefNote>,
    #[serde(default)]
    pub opened_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BriefNote {
    pub by: String,
    pub at_ms: u64,
    pub text: String,
}

fn one_spelling<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let r = Option::<String>::deserialize(d)?;
    Ok(r.map(|r| crate::operator::reason::normalize(&r).to_string()))
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Unix milliseconds; on disk the string `"time"`, RFC 3339 UTC with
    /// milliseconds (`2026-11-22T10:00:00.123Z`).
    #[serde(rename = "time", with = "time_ms")]
    pub time_ms: u64,
    /// None for boot and seat events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseId>,
    #[serde(flatten)]
    pub kind: Kind,
}

impl Record {
    /// A record stamped with the wall clock now.
    pub fn now(case: Option<CaseId>, kind: Kind) -> Record {
        Record {
            time_ms: now_unix_ms(),
            case,
            kind,
        }
    }

    /// The journal line, without its newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses one journal line (without its newline).
    pub fn from_line(s: &str) -> Option<Record> {
        serde_json::from_str(s).ok()
    }
}

/// The latest instant the line format can hold: 9999-12-31T23:59:59.999Z.
pub(super) const MAX_TIME_MS: u64 = 253_402_300_799_999;

const TIME_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// Unix milliseconds as RFC 3339 UTC with milliseconds. Times past the year
/// 9999 are clamped to its last millisecond.
pub fn format_time(ms: u64) -> String {
    let ns = i128::from(ms.min(MAX_TIME_MS)) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(ns)
        .ok()
        .and_then(|t| t.format(TIME_FORMAT).ok())
        .unwrap_or_default()
}

/// Parses the journal's time format, or any RFC 3339 time (another offset,
/// other sub-second digits), to Unix milliseconds. None before 1970.
pub fn parse_time(s: &str) -> Option<u64> {
    let t = match time::PrimitiveDateTime::parse(s, TIME_FORMAT) {
        Ok(t) => t.assume_utc(),
        Err(_) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?
        }
    };
    u64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

mod time_ms {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_time(&s).ok_or_else(|| D::Error::custom(format!("bad time {s:?}")))
    }
}

pub(super) fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
