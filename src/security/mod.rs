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

/// [`SecurityCounters`] and the bans in force, as the run loop publishes
/// them for `/metrics` (another thread reads them).
#[derive(Debug, Default)]
pub struct SecurityStats {
    pub limited: [std::sync::atomic::AtomicU64; 4],
    pub banned_drops: std::sync::atomic::AtomicU64,
    pub banned_user_refusals: std::sync::atomic::AtomicU64,
    pub auth_failures: std::sync::atomic::AtomicU64,
    pub bans_source: std::sync::atomic::AtomicU64,
    pub bans_user: std::sync::atomic::AtomicU64,
    pub replays: std::sync::atomic::AtomicU64,
    pub in_force_sources: std::sync::atomic::AtomicU64,
    pub in_force_users: std::sync::atomic::AtomicU64,
    /// The configured rates: REGISTER, INVITE, OPTIONS, other, trusted.
    pub rates: [std::sync::atomic::AtomicU64; 5],
}

impl SecurityStats {
    pub fn publish(&self, c: SecurityCounters, in_force: (usize, usize), rates: [u32; 5]) {
        use std::sync::atomic::Ordering::Relaxed;
        for (a, v) in self.limited.iter().zip(c.limited) {
            a.store(v, Relaxed);
        }
        self.banned_drops.store(c.banned_drops, Relaxed);
        self.banned_user_refusals
            .store(c.banned_user_refusals, Relaxed);
        self.auth_failures.store(c.auth_failures, Relaxed);
        self.bans_source.store(c.bans_source, Relaxed);
        self.bans_user.store(c.bans_user, Relaxed);
        self.replays.store(c.replays, Relaxed);
        self.in_force_sources.store(in_force.0 as u64, Relaxed);
        self.in_force_users.store(in_force.1 as u64, Relaxed);
        for (a, v) in self.rates.iter().zip(rates) {
            a.store(u64::from(v), Relaxed);
        }
    }
}
