//! The `[security]` figures in `/metrics`: drops by rate limit (per class)
//! and by ban, failed digest attempts, bans imposed and in force, replays
//! refused, and the configured limits.

use crate::security::{Class, SecurityStats};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
pub struct SecurityMetrics {
    limited: Family<Labels, Counter>,
    banned_drops: Counter,
    banned_user_refusals: Counter,
    auth_failures: Counter,
    bans: Family<Labels, Counter>,
    bans_in_force: Family<Labels, Gauge>,
    replays: Counter,
    rate_limit: Family<Labels, Gauge>,
}

const CLASSES: [Class; 4] = [Class::Register, Class::Invite, Class::Options, Class::Other];

impl SecurityMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "security_rate_limited",
            "Requests dropped by a per-source rate limit, by class",
            self.limited.clone(),
        );
        r.register(
            "security_banned_drops",
            "Messages dropped because their source is banned",
            self.banned_drops.clone(),
        );
        r.register(
            "security_banned_user_refusals",
            "Digest attempts refused unchecked because their user is banned",
            self.banned_user_refusals.clone(),
        );
        r.register(
            "security_auth_failures",
            "Failed digest attempts (wrong password or unknown user)",
            self.auth_failures.clone(),
        );
        r.register(
            "security_bans",
            "Bans imposed after failed digest attempts, by kind (source, user)",
            self.bans.clone(),
        );
        r.register(
            "security_bans_in_force",
            "Bans in force, by kind (source, user)",
            self.bans_in_force.clone(),
        );
        r.register(
            "security_replays",
            "Digest credentials refused as replays (nonce count not above the last)",
            self.replays.clone(),
        );
        r.register(
            "security_rate_limit",
            "Configured requests per second per source, by class (0: none)",
            self.rate_limit.clone(),
        );
    }

    /// Brings the counters up to what the run loop published.
    pub fn sync(&self, s: &SecurityStats) {
        let sync = |c: &Counter, v: &AtomicU64| {
            let now = v.load(Ordering::Relaxed);
            let had = c.get();
            if now > had {
                c.inc_by(now - had);
            }
        };
        let label = |k: &'static str, v: &str| vec![(k, v.to_string())];
        for (class, v) in CLASSES.iter().zip(&s.limited) {
            sync(
                &self.limited.get_or_create(&label("class", class.name())),
                v,
            );
        }
        sync(&self.banned_drops, &s.banned_drops);
        sync(&self.banned_user_refusals, &s.banned_user_refusals);
        sync(&self.auth_failures, &s.auth_failures);
        sync(
            &self.bans.get_or_create(&label("kind", "source")),
            &s.bans_source,
        );
        sync(
            &self.bans.get_or_create(&label("kind", "user")),
            &s.bans_user,
        );
        sync(&self.replays, &s.replays);
        let set = |kind: &str, v: &AtomicU64| {
            self.bans_in_force
                .get_or_create(&label("kind", kind))
                .set(v.load(Ordering::Relaxed) as i64);
        };
        set("source", &s.in_force_sources);
        set("user", &s.in_force_users);
        for (name, v) in ["register", "invite", "options", "other", "trusted"]
            .iter()
            .zip(&s.rates)
        {
            self.rate_limit
                .get_or_create(&label("class", name))
                .set(v.load(Ordering::Relaxed) as i64);
        }
    }
}
