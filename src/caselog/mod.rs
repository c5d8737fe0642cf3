//! The case log: the centre's legal record.
//!
//! An append-only JSON Lines journal, one [`Record`] per line:
//!
//! ```text
//! {"time":"2026-11-22T10:00:00.123Z","case":"0001-000001","event":"opened","caller":"+62811","called":"112","service":"sos","trunk":"telco-a"}
//! ```
//!
//! - Writes go through one dedicated writer thread (std, no tokio) fed by an
//!   unbounded channel: [`JournalHandle::append`] never blocks the SIP path.
//!   The writer group-commits: one `write` and one `fdatasync` per batch, at
//!   most one `fdatasync` per commit window. [`JournalHandle::durable`] counts
//!   the appended records that are written and synced.
//! - On start ([`Journal::open`]) the file is recovered: complete lines that
//!   do not parse are counted and skipped (left in place); a last line without
//!   its `'\n'` is a torn write, never parsed or merged: its bytes are copied
//!   to `<path>.torn` and the journal is cut back to the last complete line.
//!   Then a `boot` line numbering this run is appended and synced, so case ids
//!   (`BOOT-SEQ`, see [`CaseIds`]) never repeat across restarts.
//! - [`read_journal`] reads without changing anything; [`fold`] turns records
//!   into one [`Case`] per case id.

mod fold;
mod journal;
mod record;
mod recovery;
pub mod store;
#[cfg(test)]
mod tests;

pub use fold::{fold, Case};
pub use journal::{CommitObserver, CommitStats, Journal, JournalHandle, DEFAULT_BUFFER_RECORDS};
pub use record::{
    caller_number, format_time, number_key, parse_time, Brief, BriefNote, CallInfo, CaseId,
    CaseIds, EndReason, Kind, LocationDetail, LostRecord, Record, TicketStatus, CALLBACK_DONE,
};
pub use recovery::{read_journal, CaseLogError, Recovery};
