//! Per-source rate limits on the core's clock.
//!
//! governor's keyed GCRA limiters take their time from a [`Clock`]; ours,
//! [`DrivenClock`], reads an atomic the core sets to the `now` of each
//! input before it asks, so the limits run on simulated time in tests and
//! never read the system clock.

use crate::config::SecurityConfig;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A clock that shows the time it was last set to (nanoseconds since the
/// limits were made).
#[derive(Debug, Clone, Default)]
pub struct DrivenClock(Arc<AtomicU64>);

impl DrivenClock {
    pub fn set(&self, nanos: u64) {
        // Never backwards: governor assumes a monotonic clock.
        self.0.fetch_max(nanos, Ordering::Relaxed);
    }
}

impl Clock for DrivenClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(self.0.load(Ordering::Relaxed))
    }
}

type Limiter = RateLimiter<
    IpAddr,
    HashMapStateStore<IpAddr, foldhash::fast::RandomState>,
    DrivenClock,
    NoOpMiddleware<Nanos>,
>;

/// What a message is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Register,
    Invite,
    Options,
    /// Everything else: in-dialog requests, CANCEL, ACK, unknown methods,
    /// and responses that match no transaction.
    Other,
}

impl Class {
    /// The class of a request method as it stands on the wire.
    pub fn of_method(method: &[u8]) -> Class {
        match method {
            b"REGISTER" => Class::Register,
            b"INVITE" => Class::Invite,
            b"OPTIONS" => Class::Options,
            _ => Class::Other,
        }
    }

    pub fn index(self) -> usize {
        match self {
            Class::Register => 0,
            Class::Invite => 1,
            Class::Options => 2,
            Class::Other => 3,
        }
    }

    pub fn name(self) -> &'static str {
        ["register", "invite", "options", "other"][self.index()]
    }
}

/// Keys seen at most before the tables are swept of idle sources at once
/// (rather than at the next periodic sweep).
const SWEEP_AT: usize = 65_536;
/// How often idle sources are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The per-source limits: one limiter per class for strangers and seats,
/// one for trusted sources (their REGISTER and OPTIONS; their INVITEs and
/// everything else are never limited: a trunk's calls and hang-ups are
/// never dropped).
pub struct RateLimits {
    clock: DrivenClock,
    epoch: Instant,
    untrusted: [Option<Limiter>; 4],
    trusted: Option<Limiter>,
    /// The configured rates, for `/metrics`.
    rates: [u32; 5],
    last_sweep: Instant,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("rates", &self.rates)
            .finish()
    }
}

fn limiter(rate: u32, clock: &DrivenClock) -> Option<Limiter> {
    let per_s = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(rate.saturating_mul(2)).unwrap_or(per_s);
    let quota = Quota::per_second(per_s).allow_burst(burst);
    Some(RateLimiter::hashmap_with_clock_and_hasher(
        quota,
        clock.clone(),
        foldhash::fast::RandomState::default(),
    ))
}

impl RateLimits {
    pub fn new(cfg: &SecurityConfig, epoch: Instant) -> RateLimits {
        let clock = DrivenClock::default();
        let rates = [
            cfg.register_rate,
            cfg.invite_rate,
            cfg.options_rate,
            cfg.other_rate,
            cfg.trusted_rate,
        ];
        RateLimits {
            untrusted: [0, 1, 2, 3].map(|i| limiter(rates[i], &clock)),
            trusted: limiter(cfg.trusted_rate, &clock),
            clock,
            epoch,
            rates,
            last_sweep: epoch,
        }
    }

    /// The configured rates: REGISTER, INVITE, OPTIONS, other, trusted.
    pub fn rates(&self) -> [u32; 5] {
        self.rates
    }

    fn tick(&self, now: Instant) {
        let ns = now.saturating_duration_since(self.epoch).as_nanos();
        self.clock.set(u64::try_from(ns).unwrap_or(u64::MAX));
    }

    /// Whether one more message of `class` from `ip` may be handled now.
    pub fn allow(&mut self, now: Instant, ip: IpAddr, class: Class, trusted: bool) -> bool {
        let limiter = if trusted {
            match class {
                Class::Register | Class::Options => self.trusted.as_ref(),
                Class::Invite | Class::Other => None,
            }
        } else {
            self.untrusted[class.index()].as_ref()
        };
        let Some(l) = limiter else { return true };
        self.tick(now);
        let ok = l.check_key(&ip).is_ok();
        if l.len() > SWEEP_AT {
            self.sweep(now);
        }
        ok
    }

    /// Forgets sources whose buckets are full again (every 10 s at most,
    /// or at once when the tables grow large).
    pub fn housekeep(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_sweep) >= SWEEP_EVERY {
            self.sweep(now);
        }
    }

    fn sweep(&mut self, now: Instant) {
        self.last_sweep = now;
        self.tick(now);
        for l in self.untrusted.iter().flatten().chain(self.trusted.as_ref()) {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Sources tracked now (all classes).
    pub fn tracked(&self) -> usize {
        self.untrusted
            .iter()
            .flatten()
            .chain(self.trusted.as_ref())
            .map(|l| l.len())
            .sum()
    }
}
