//! The defences at the core's door (see [`crate::security`]): before a
//! request is parsed, a banned source is dropped and each source's rate
//! limit per class is charged; around every digest check, failures are
//! counted towards bans and a banned user is refused unchecked.
//!
//! Never limited or banned: trunks, proxies and `[security] allow`
//! addresses for their INVITEs and in-dialog requests (an emergency call
//! is never refused by a limit); their REGISTER and OPTIONS get the far
//! higher `trusted_rate`. An address a seat registered from counts as
//! trusted for the limits (its seat proved its password) but not for
//! failures, which still count towards the user.

use super::Core;
use super::Output;
use crate::operator::{Actor, Ban, BanList, CommandError, Done, Event};
use crate::registrar::{Challenge, Reply};
use crate::security::{BanKind, Bans, Class, RateLimits, SecurityCounters};
use crate::sip::rsip::Request;
use crate::sip::{self, Peer};
use std::net::IpAddr;
use std::time::Instant;

/// Rate limits, bans and what they did.
pub(super) struct Guard {
    limits: RateLimits,
    bans: Bans,
    counters: SecurityCounters,
    /// Bans in force (sources, users) as of the last sweep or ban: counting
    /// them walks the tables, too much for every publish.
    in_force: (usize, usize),
    /// One line a second for messages dropped by a limit or a ban.
    log: crate::ratelimit::RateLimit,
    /// The wall clock (unix ms) when the core started: bans end at a time
    /// of day on the console.
    wall_ms: u64,
    /// The screens are told of bans at most once a second (a flood of
    /// bans must not make the core list them all for every one): when the
    /// last list went out, and when the next one is due (None: none).
    bans_sent: Option<Instant>,
    pub(super) bans_due: Option<Instant>,
}

/// The bans a list for the screens holds at most (the total is told too).
const BANS_SHOWN: usize = 200;
/// At most one list of bans a second.
const BANS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Guard {
    pub(super) fn new(cfg: &crate::config::Config, now: Instant, wall_ms: u64) -> Guard {
        Guard {
            wall_ms,
            bans_sent: None,
            bans_due: None,
            limits: RateLimits::new(&cfg.security, now),
            bans: Bans::new(&cfg.security, now),
            counters: SecurityCounters::default(),
            in_force: (0, 0),
            log: crate::ratelimit::RateLimit::new(),
        }
    }

    /// Sweeps the tables; true when the bans in force changed.
    pub(super) fn housekeep(&mut self, now: Instant) -> bool {
        self.limits.housekeep(now);
        if self.bans.housekeep(now) {
            let before = self.in_force;
            self.in_force = self.bans.in_force(now);
            return self.in_force != before;
        }
        false
    }
}

/// The method of a request as it stands on the wire (None: a response or
/// no request line worth a look).
fn method_of(data: &[u8]) -> Option<&[u8]> {
    if data.starts_with(b"SIP/") {
        return None;
    }
    let end = memchr::memchr(b' ', &data[..data.len().min(64)])?;
    Some(&data[..end])
}

impl Core {
    /// Whether a message may go on to be parsed: false drops it (a banned
    /// source, or over its rate limit), counted and logged once a second.
    pub(super) fn admit(&mut self, now: Instant, peer: Peer, data: &[u8]) -> bool {
        if self.guard.housekeep(now) {
            self.bans_changed(now);
        }
        let Some(method) = method_of(data) else {
            return true;
        };
        let ip = peer.addr.ip();
        let trusted = self.cfg.is_trusted(ip);
        let seat_source = !trusted && self.registrar.registered_from(ip);
        if !trusted && !seat_source && self.guard.bans.source_banned(now, ip) {
            self.guard.counters.banned_drops += 1;
            return self.refused_line(now, ip, "banned");
        }
        let class = Class::of_method(method);
        if !self
            .guard
            .limits
            .allow(now, ip, class, trusted || seat_source)
        {
            self.guard.counters.limited[class.index()] += 1;
            return self.refused_line(now, ip, class.name());
        }
        true
    }

    /// Whether a message the framing refused (`Input::Refuse`) may be
    /// answered: not when its source is banned.
    pub(super) fn may_answer_refused(&mut self, now: Instant, peer: Peer) -> bool {
        let ip = peer.addr.ip();
        if self.cfg.is_trusted(ip)
            || self.registrar.registered_from(ip)
            || !self.guard.bans.source_banned(now, ip)
        {
            return true;
        }
        self.guard.counters.banned_drops += 1;
        self.refused_line(now, ip, "banned")
    }

    fn refused_line(&mut self, now: Instant, ip: IpAddr, why: &str) -> bool {
        if let Some(suppressed) = self.guard.log.check_at(self.ms(now)) {
            tracing::warn!(
                target: "siaga112::security",
                "security: dropped source={ip} why={why} suppressed={suppressed}"
            );
        }
        false
    }

    /// Checks credentials as the registrar does, with bans around it: a
    /// user under a ban is refused unchecked (the same 403 as a wrong
    /// password) unless the attempt comes from where that seat is
    /// registered; every 403 counts a failure, every success forgets the
    /// user's.
    pub(super) fn authenticate(
        &mut self,
        now: Instant,
        peer: Peer,
        req: &Request,
        kind: Challenge,
    ) -> Result<String, Reply> {
        let user = self.refuse_banned_user(now, peer, req, kind)?;
        let result = self.registrar.authenticate(now, req, kind);
        self.auth_outcome(
            now,
            peer,
            user.as_deref(),
            result.as_ref().err().map(|r| r.status),
        );
        result
    }

    /// Before a digest check: `Err(403)` for a banned user; else the user
    /// the credentials name (None: no credentials).
    pub(super) fn refuse_banned_user(
        &mut self,
        now: Instant,
        peer: Peer,
        req: &Request,
        kind: Challenge,
    ) -> Result<Option<String>, Reply> {
        let Some(user) = credentials_user(req, kind) else {
            return Ok(None);
        };
        if self.guard.bans.user_banned(now, &user)
            && !self.registrar.registered_as_from(&user, peer.addr.ip())
        {
            self.guard.counters.banned_user_refusals += 1;
            self.auth_outcome(now, peer, Some(&user), Some(403));
            return Err(Reply::forbidden());
        }
        Ok(Some(user))
    }

    /// After a digest check: `status` None for success.
    pub(super) fn auth_outcome(
        &mut self,
        now: Instant,
        peer: Peer,
        user: Option<&str>,
        status: Option<u16>,
    ) {
        let Some(user) = user else { return };
        match status {
            None | Some(200) => self.guard.bans.success(user),
            Some(403) => {
                let ip = peer.addr.ip();
                let trusted = self.cfg.is_trusted(ip);
                self.guard.counters.auth_failures += 1;
                let imposed = self.guard.bans.failure(now, ip, trusted, user);
                if !imposed.is_empty() {
                    self.guard.in_force = self.guard.bans.in_force(now);
                    self.bans_changed(now);
                }
                for kind in imposed {
                    match kind {
                        crate::security::BanKind::Source => self.guard.counters.bans_source += 1,
                        crate::security::BanKind::User => self.guard.counters.bans_user += 1,
                    }
                }
            }
            Some(_) => {}
        }
    }

    /// What the defences did so far, and the bans in force (sources,
    /// users; as of the last ban or 10-second sweep), for `/metrics`.
    pub fn security(&self) -> (SecurityCounters, (usize, usize)) {
        let mut c = self.guard.counters;
        c.replays = self.registrar.replays();
        (c, self.guard.in_force)
    }

    /// The configured rates: REGISTER, INVITE, OPTIONS, other, trusted.
    pub fn security_rates(&self) -> [u32; 5] {
        self.guard.limits.rates()
    }

    /// Every ban in force now.
    pub fn bans(&self) -> Vec<crate::security::BanStatus> {
        self.guard.bans.list(self.now)
    }

    /// The bans in force changed: the screens are told now, or a second
    /// after the last time they were.
    fn bans_changed(&mut self, now: Instant) {
        match self.guard.bans_sent {
            Some(sent) if now < sent + BANS_EVERY => {
                self.guard.bans_due.get_or_insert(sent + BANS_EVERY);
            }
            _ => self.send_bans(now),
        }
    }

    /// Sends a list of bans that fell due (after every input).
    pub(super) fn flush_bans(&mut self, now: Instant) {
        if self.guard.bans_due.is_some_and(|d| d <= now) {
            self.send_bans(now);
        }
    }

    /// Tells the screens the bans in force now: the first [`BANS_SHOWN`]
    /// and how many in all.
    fn send_bans(&mut self, now: Instant) {
        self.guard.bans_sent = Some(now);
        self.guard.bans_due = None;
        let wall = self.guard.wall_ms + self.ms(now);
        let all = self.guard.bans.list(now);
        let total = all.len();
        let list: Vec<Ban> = all
            .into_iter()
            .take(BANS_SHOWN)
            .map(|b| Ban {
                kind: b.kind.as_str(),
                key: b.key,
                until_ms: wall + b.remaining.as_millis() as u64,
                failures: b.failures,
                strikes: b.strikes,
                other: b.other,
            })
            .collect();
        self.out.push_back(Output::Event(Event::Bans(BanList {
            bans: list.into(),
            total,
        })));
    }

    /// `Command::LiftBan`: the supervisor ends a ban.
    pub(super) fn lift_ban(
        &mut self,
        now: Instant,
        by: &Actor,
        kind: BanKind,
        key: &str,
    ) -> Result<Done, CommandError> {
        if !self.guard.bans.lift(now, kind, key) {
            return Err(CommandError::UnknownBan);
        }
        self.guard.in_force = self.guard.bans.in_force(now);
        tracing::warn!(
            target: "siaga112::security",
            "security: unban {}={} by={}",
            kind.as_str(),
            crate::security::log_safe(key),
            crate::security::log_safe(&by.user)
        );
        // The supervisor sees the lift at once.
        self.send_bans(now);
        Ok(Done::BanLifted)
    }
}

/// The `username` of a request's digest credentials.
fn credentials_user(req: &Request, kind: Challenge) -> Option<String> {
    let value = sip::header(&req.headers, kind.credentials())?;
    sip::digest::parse_authorization(value)
        .ok()
        .map(|a| a.username.to_string())
}
