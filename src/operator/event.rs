//! The core's events: every change a wallboard or an operator's screen
//! would show. Each carries the whole new state of what changed (not a
//! delta), so a view that folds them is right after any one of them, and a
//! view that starts late catches up from the next.

use crate::caselog::{CaseId, EndReason, Record};
use std::sync::Arc;

/// Something a person could want to see change.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A seat's state changed (the end of a wrap-up too).
    Seat(SeatStatus),
    /// A queue's waiting calls changed.
    Queue(QueueStatus),
    /// A call was queued, offered, answered or ended.
    Call(CallStatus),
    /// A case's new record (the same one the journal gets).
    Case(Arc<Record>),
    /// The password-guessing bans in force changed (one imposed, lifted,
    /// or gone): told at most once a second.
    Bans(BanList),
}

/// The bans in force: the first ones (by address or name) and how many in all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BanList {
    pub bans: Arc<[Ban]>,
    pub total: usize,
}

/// A ban in force, as the supervisor's screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ban {
    /// `source` (an address, dropped) or `user` (a name, refused).
    pub kind: &'static str,
    /// The address or the user name (made safe for a log line).
    pub key: String,
    /// When it ends (unix ms).
    pub until_ms: u64,
    /// The failed attempts that led to it.
    pub failures: u32,
    /// Bans of this key still remembered, this one included.
    pub strikes: u32,
    /// The user of the last failure for a source ban, the source for a user ban.
    pub other: String,
}

/// What a seat is doing, as its screen and the wallboard show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeatPhase {
    LoggedOut,
    Available,
    Ringing,
    OnCall,
    WrapUp,
    Paused,
}

impl SeatPhase {
    /// The name in the case log and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SeatPhase::LoggedOut => "logged-out",
            SeatPhase::Available => "available",
            SeatPhase::Ringing => "ringing",
            SeatPhase::OnCall => "on-call",
            SeatPhase::WrapUp => "wrap-up",
            SeatPhase::Paused => "paused",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatStatus {
    pub seat: Arc<str>,
    pub phase: SeatPhase,
    /// Why it is paused.
    pub reason: Option<String>,
    /// The case it rings with or talks on.
    pub case: Option<CaseId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStatus {
    pub queue: Arc<str>,
    /// Calls not yet answered whose queue this is (ringing ones included:
    /// their callers still wait).
    pub waiting: u32,
    /// When the longest-waiting of them arrived (unix ms).
    pub oldest_ms: Option<u64>,
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPhase {
    Queued,
    /// Offered to a seat; `at_once` when in the very input that brought
    /// the call (the shell times trunk INVITE to seat INVITE for these).
    Offered {
        at_once: bool,
    },
    Answered,
    Ended(EndReason),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallStatus {
    pub case: CaseId,
    pub phase: CallPhase,
    /// The seat offered or answering.
    pub seat: Option<Arc<str>>,
}
