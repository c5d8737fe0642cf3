//! Failed digest attempts and the bans they lead to.
//!
//! Failures are counted per source address and per user name (known or
//! not: a name that is no seat is counted and banned exactly like one that
//! is, so bans tell nothing about which users exist). `ban_after` failures
//! with no more than `ban` between them ban the source (or the user) for
//! `ban`, doubled for every earlier ban still remembered, up to `ban_max`.
//! Trusted sources (trunks, proxies, `allow`) are never banned: their
//! failures count for the user only.
//!
//! Every ban is one `security:` log line in a fixed form (for fail2ban):
//!
//! ```text
//! security: ban source=192.0.2.7 user=op1 failures=10 for=600s
//! security: ban-user user=op1 source=192.0.2.7 failures=10 for=600s
//! ```

use crate::config::SecurityConfig;
use crate::ratelimit::RateLimit;
use foldhash::{HashMap, HashMapExt};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Sources and users tracked at most (a flood of names or addresses
/// cannot grow the tables past these).
const MAX_SOURCES: usize = 100_000;
const MAX_USERS: usize = 10_000;
/// How often the tables are swept of forgotten entries.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanKind {
    Source,
    User,
}

impl BanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BanKind::Source => "source",
            BanKind::User => "user",
        }
    }
}

/// A ban in force, for the console and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanStatus {
    pub kind: BanKind,
    /// The address or the user name (as logged: made safe for a log line).
    pub key: String,
    /// Left of the ban.
    pub remaining: Duration,
    /// Failures that led to it.
    pub failures: u32,
    /// Bans of this key still remembered, this one included.
    pub strikes: u32,
    /// The other side of the last failure: the user for a source ban, the
    /// source for a user ban.
    pub other: String,
}

#[derive(Debug, Clone)]
struct Track {
    failures: u32,
    last_failure: Instant,
    banned_until: Option<Instant>,
    strikes: u32,
    /// The failures of the ban now in force (for the listing).
    ban_failures: u32,
    other: String,
}

impl Track {
    fn new(now: Instant) -> Track {
        Track {
            failures: 0,
            last_failure: now,
            banned_until: None,
            strikes: 0,
            ban_failures: 0,
            other: String::new(),
        }
    }

    fn banned(&self, now: Instant) -> bool {
        self.banned_until.is_some_and(|u| u > now)
    }
}

/// The ban book.
pub struct Bans {
    after: u32,
    base: Duration,
    max: Duration,
    sources: HashMap<IpAddr, Track>,
    users: HashMap<String, Track>,
    epoch: Instant,
    last_sweep: Instant,
    failure_log: RateLimit,
    /// Bans imposed so far: sources, users.
    pub bans: (u64, u64),
    pub failures: u64,
}

impl std::fmt::Debug for Bans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bans")
            .field("sources", &self.sources.len())
            .field("users", &self.users.len())
            .finish()
    }
}

/// A user name as it may appear in a log line: no spaces, `=` or control
/// characters (a hostile name must not forge `source=` for fail2ban), at
/// most 64 characters.
pub fn log_safe(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+@*#!~%".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect();
    if out.is_empty() {
        out.push('-');
    }
    out
}

impl Bans {
    pub fn new(cfg: &SecurityConfig, epoch: Instant) -> Bans {
        Bans {
            after: cfg.ban_after.max(1),
            base: cfg.ban,
            max: cfg.ban_max.max(cfg.ban),
            sources: HashMap::new(),
            users: HashMap::new(),
            epoch,
            last_sweep: epoch,
            failure_log: RateLimit::new(),
            bans: (0, 0),
            failures: 0,
        }
    }

    pub fn source_banned(&self, now: Instant, ip: IpAddr) -> bool {
        self.sources.get(&ip).is_some_and(|t| t.banned(now))
    }

    pub fn user_banned(&self, now: Instant, user: &str) -> bool {
        self.users.get(user).is_some_and(|t| t.banned(now))
    }

    /// The length of the next ban after `strikes` earlier ones.
    fn length(&self, strikes: u32) -> Duration {
        let factor = 1u32.checked_shl(strikes.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// A failed digest attempt for `user` from `ip`. Returns the bans it
    /// imposed (after logging them).
    pub fn failure(&mut self, now: Instant, ip: IpAddr, trusted: bool, user: &str) -> Vec<BanKind> {
        self.failures += 1;
        let user = log_safe(user);
        let ms = now.saturating_duration_since(self.epoch).as_millis() as u64;
        let mut imposed = Vec::new();
        let (after, base) = (self.after, self.base);
        let mut failures_now = 0;
        if !trusted {
            if let Some(t) = track(&mut self.sources, ip, now, MAX_SOURCES, base) {
                if let Some((n, strikes)) = count(t, now, after, base, &user) {
                    let len = self.length(strikes);
                    let t = self.sources.get_mut(&ip).expect("tracked");
                    t.banned_until = Some(now + len);
                    t.strikes += 1;
                    self.bans.0 += 1;
                    imposed.push(BanKind::Source);
                    tracing::warn!(
                        target: "siaga112::security",
                        "security: ban source={ip} user={user} failures={n} for={}s",
                        len.as_secs()
                    );
                } else {
                    failures_now = self.sources.get(&ip).map_or(0, |t| t.failures);
                }
            }
        }
        let source = ip.to_string();
        if let Some(t) = track(&mut self.users, user.clone(), now, MAX_USERS, base) {
            if let Some((n, strikes)) = count(t, now, after, base, &source) {
                let len = self.length(strikes);
                let t = self.users.get_mut(&user).expect("tracked");
                t.banned_until = Some(now + len);
                t.strikes += 1;
                self.bans.1 += 1;
                imposed.push(BanKind::User);
                tracing::warn!(
                    target: "siaga112::security",
                    "security: ban-user user={user} source={ip} failures={n} for={}s",
                    len.as_secs()
                );
            } else {
                failures_now = failures_now.max(self.users.get(&user).map_or(0, |t| t.failures));
            }
        }
        if imposed.is_empty() {
            if let Some(suppressed) = self.failure_log.check_at(ms) {
                tracing::warn!(
                    target: "siaga112::security",
                    "security: auth-failure source={ip} user={user} failures={failures_now} suppressed={suppressed}"
                );
            }
        }
        imposed
    }

    /// Right credentials for `user`: its failures are forgotten (an
    /// operator who mistyped is not banned later for it).
    pub fn success(&mut self, user: &str) {
        if let Some(t) = self.users.get_mut(user) {
            t.failures = 0;
        }
    }

    /// Forgets what no longer counts (every 10 s at most); true when it
    /// swept.
    pub fn housekeep(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.last_sweep) < SWEEP_EVERY {
            return false;
        }
        self.last_sweep = now;
        let (base, max) = (self.base, self.max);
        self.sources.retain(|_, t| keep(t, now, base, max));
        self.users.retain(|_, t| keep(t, now, base, max));
        true
    }

    /// Every ban in force now.
    pub fn list(&self, now: Instant) -> Vec<BanStatus> {
        let status = |kind, key: String, t: &Track| BanStatus {
            kind,
            key,
            remaining: t
                .banned_until
                .map_or(Duration::ZERO, |u| u.saturating_duration_since(now)),
            failures: t.ban_failures,
            strikes: t.strikes,
            other: t.other.clone(),
        };
        let mut out: Vec<BanStatus> = self
            .sources
            .iter()
            .filter(|(_, t)| t.banned(now))
            .map(|(ip, t)| status(BanKind::Source, ip.to_string(), t))
            .chain(
                self.users
                    .iter()
                    .filter(|(_, t)| t.banned(now))
                    .map(|(u, t)| status(BanKind::User, u.clone(), t)),
            )
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Ends a ban in force on `key` (an address for [`BanKind::Source`]);
    /// its failures are forgotten, its strikes kept (the next ban is still
    /// longer). False: no ban in force on it.
    pub fn lift(&mut self, now: Instant, kind: BanKind, key: &str) -> bool {
        let t = match kind {
            BanKind::Source => match key.parse::<IpAddr>() {
                Ok(ip) => self.sources.get_mut(&ip),
                Err(_) => None,
            },
            BanKind::User => self.users.get_mut(key),
        };
        match t {
            Some(t) if t.banned(now) => {
                t.banned_until = None;
                t.failures = 0;
                true
            }
            _ => false,
        }
    }

    /// Bans in force now: sources, users.
    pub fn in_force(&self, now: Instant) -> (usize, usize) {
        (
            self.sources.values().filter(|t| t.banned(now)).count(),
            self.users.values().filter(|t| t.banned(now)).count(),
        )
    }
}

/// The entry for `key`, made if there is room (after forgetting idle
/// entries when the table is full); None when there is none.
fn track<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, Track>,
    key: K,
    now: Instant,
    cap: usize,
    base: Duration,
) -> Option<&mut Track> {
    if !map.contains_key(&key) && map.len() >= cap {
        map.retain(|_, t| t.banned(now) || now.saturating_duration_since(t.last_failure) < base);
        if map.len() >= cap {
            return None;
        }
    }
    Some(map.entry(key).or_insert_with(|| Track::new(now)))
}

/// Counts one failure; `Some((failures, earlier strikes))` when it reaches
/// the ban threshold (the failures start again from zero).
fn count(
    t: &mut Track,
    now: Instant,
    after: u32,
    base: Duration,
    other: &str,
) -> Option<(u32, u32)> {
    if t.banned(now) {
        // Already banned (a user ban: attempts are refused unchecked).
        return None;
    }
    if now.saturating_duration_since(t.last_failure) > base {
        t.failures = 0;
    }
    t.failures += 1;
    t.last_failure = now;
    t.other.clear();
    t.other.push_str(other);
    if t.failures >= after {
        let n = t.failures;
        t.failures = 0;
        t.ban_failures = n;
        return Some((n, t.strikes));
    }
    None
}

/// Whether an entry still matters: banned, failures not yet forgotten, or
/// strikes remembered (for `ban_max` after the last ban ended).
fn keep(t: &Track, now: Instant, base: Duration, max: Duration) -> bool {
    if t.banned(now) {
        return true;
    }
    let quiet = now.saturating_duration_since(t.last_failure);
    if t.failures > 0 && quiet <= base {
        return true;
    }
    match t.banned_until {
        Some(u) if t.strikes > 0 => now.saturating_duration_since(u) < max,
        _ => false,
    }
}
