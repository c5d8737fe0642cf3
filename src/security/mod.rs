//! Defences against floods, scans and password guessing, as plain state on
//! the core's explicit clock (no I/O, no clock reads):
//!
//! - [`RateLimits`]: per-source token buckets for REGISTER, INVITE, OPTIONS
//!   and everything else, with trunks, proxies and `[security] allow`
//!   addresses on their own, higher limit (governor's GCRA, driven by the
//!   `now` of each input through [`DrivenClock`]).
//! - [`Bans`]: failed digest attempts counted per source and per user;
//!   past `ban_after` a ban with back-off, logged as a `security:` line
//!   in a fixed form fail2ban can read.
//!
//! Both keep their tables bounded: a flood from many (spoofed) sources
//! cannot grow them without limit.

mod bans;
mod limits;
#[cfg(test)]
mod tests;

pub use bans::{log_safe, BanKind, BanStatus, Bans};
pub use limits::{Class, DrivenClock, RateLimits};

/// What the defences did, for `/metrics` (monotonic counts).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SecurityCounters {
    /// Requests (and stray responses) dropped by a rate limit, per class:
    /// REGISTER, INVITE, OPTIONS, other.
    pub limited: [u64; 4],
    /// Messages dropped because their source is banned.
    pub banned_drops: u64,
    /// Requests refused because the user they authenticate as is banned.
    pub banned_user_refusals: u64,
    /// Failed digest attempts (wrong password or unknown user).
    pub auth_failures: u64,
    /// Bans imposed: on sources, on users.
    pub bans_source: u64,
    pub bans_user: u64,
    /// Authorization headers refused as replays (a nonce count not above
    /// the last one seen for that nonce).
    pub replays: u64,
    /// ACKs and responses that matched nothing, dropped from a scan.
    pub stray_dropped: u64,
}
