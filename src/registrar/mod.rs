//! Seat bindings (AOR -> contacts with expiry) and REGISTER handling with
//! digest authentication (RFC 3261 §10.3, §22; RFC 8760), Path (RFC 3327)
//! for seats behind an edge proxy, NAT'd contacts, and OPTIONS keep-alives.
//! Knows nothing of calls: it reports seats that come and go as
//! [`SeatEvent`]s.
//!
//! A binding's source address authorises nothing: every request a seat
//! makes is authenticated by its credentials ([`Registrar::authenticate`]).

mod keepalive;

use crate::config::{Config, DigestAlgorithm, NatMode};
use crate::sip::digest::{self, NonceCheck, NonceMint};
use crate::sip::rsip::{typed::Contact, Request};
use crate::sip::{header, resolve, split_list, uri_addr, uri_in, Peer};
use foldhash::{HashMap, HashMapExt};
use keepalive::Keepalive;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// One registered contact of a seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The contact URI, as the softphone gave it.
    pub uri: String,
    /// Where the REGISTER came from (transport, address, TCP connection).
    pub source: Peer,
    /// The Path the REGISTER carried (RFC 3327), in order: requests to the
    /// seat go through these proxies as a preloaded Route set.
    pub path: Vec<String>,
    /// The Contact is not where the REGISTER came from (a private address
    /// or another port) and `nat = "auto"`: requests go to the source.
    pub nat: bool,
    pub expires_at: Instant,
    pub call_id: String,
    pub cseq: u32,
}

/// Where a request to a binding goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The Request-URI: the Contact.
    pub uri: String,
    /// Route header values, in order (the Path).
    pub routes: Vec<String>,
    /// The next hop.
    pub peer: Peer,
}

impl Binding {
    /// Where a request to this contact is sent: through its Path if it
    /// has one, to the REGISTER's source if it is behind NAT, else to the
    /// Contact itself.
    pub fn destination(&self) -> Destination {
        let peer = if let Some(first) = self.path.first() {
            resolve(uri_in(first), self.source)
        } else if self.nat {
            self.source
        } else {
            resolve(&self.uri, self.source)
        };
        Destination {
            uri: self.uri.clone(),
            routes: self.path.clone(),
            peer,
        }
    }
}

/// What a REGISTER asks, read before anything changes.
struct Register {
    call_id: String,
    cseq: u32,
    /// The Expires header.
    expires: Option<u32>,
    path: Vec<String>,
    contacts: Vec<Contact>,
    /// `Contact: *` (remove every binding).
    star: bool,
}

impl Register {
    fn read(req: &Request) -> Result<Register, Reply> {
        let expires = match header(&req.headers, "Expires") {
            None => None,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => return Err(Reply::new(400, "Bad Expires Header")),
            },
        };
        let (mut path, mut contacts, mut star) = (Vec::new(), Vec::new(), false);
        for h in req.headers.iter() {
            match h {
                crate::sip::rsip::Header::Path(p) => {
                    path.extend(split_list(p.value()).into_iter().map(str::to_string))
                }
                crate::sip::rsip::Header::Contact(c) if c.value().trim() == "*" => star = true,
                crate::sip::rsip::Header::Contact(c) => match Contact::parse_header_list(c.value())
                {
                    Ok(list) => contacts.extend(list),
                    Err(_) => return Err(Reply::new(400, "Bad Contact Header")),
                },
                _ => {}
            }
        }
        Ok(Register {
            call_id: header(&req.headers, "Call-ID").unwrap_or("").to_string(),
            cseq: header(&req.headers, "CSeq")
                .and_then(crate::sip::parse_cseq)
                .map(|c| c.0)
                .unwrap_or(0),
            expires,
            path,
            contacts,
            star,
        })
    }
}

/// A seat whose softphone came or went, or stopped or started answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatEvent {
    /// The seat had no binding and now has one.
    Registered { user: String },
    /// The seat's last binding was removed or expired.
    Unregistered { user: String },
    /// Its contact left an OPTIONS keep-alive unanswered: out of rotation.
    Unreachable { user: String },
    /// It answers again.
    Reachable { user: String },
}

/// Which challenge a request gets: REGISTER is answered by a registrar
/// (401 WWW-Authenticate), every other request by a proxy-like UAS (407
/// Proxy-Authenticate, RFC 3261 §22.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    Www,
    Proxy,
}

impl Challenge {
    /// The header that carries the credentials.
    pub fn credentials(self) -> &'static str {
        match self {
            Challenge::Www => "Authorization",
            Challenge::Proxy => "Proxy-Authorization",
        }
    }
}

/// The answer to a REGISTER (or to an authentication check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub reason: &'static str,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// What a wrong password (or an unknown user) gets.
    pub fn forbidden() -> Reply {
        Reply::new(403, "Forbidden")
    }

    fn new(status: u16, reason: &'static str) -> Reply {
        Reply {
            status,
            reason,
            headers: Vec::new(),
        }
    }
    fn with(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

/// The seat registrar.
#[derive(Debug)]
pub struct Registrar {
    realm: String,
    algorithms: Vec<DigestAlgorithm>,
    nonce_ttl: Duration,
    min_expires: u32,
    max_expires: u32,
    default_expires: u32,
    nat: NatMode,
    passwords: HashMap<String, String>,
    bindings: HashMap<String, Vec<Binding>>,
    /// Source IP -> seat -> how many of its bindings came from there (a
    /// hint for whether to challenge a request, never an authorisation).
    sources: HashMap<IpAddr, BTreeMap<String, u32>>,
    /// (expiry, user, contact) for every binding: the next to expire first.
    expiry: BTreeSet<(Instant, String, String)>,
    mint: NonceMint,
    nonce_counts: NonceCounts,
    epoch: Instant,
    events: VecDeque<SeatEvent>,
    keepalive: Keepalive,
}

/// Hashed for a user that does not exist, so that it takes the same time.
const UNKNOWN_USER_PASSWORD: &str = "\u{0}no-such-user";

/// The highest nonce count seen per use of a nonce (nonce, user, cnonce),
/// for as long as a nonce lives
/// (bounded: past `MAX_NONCES` the oldest are forgotten).
#[derive(Debug, Default)]
struct NonceCounts {
    last: HashMap<String, u32>,
    by_age: VecDeque<(Instant, String)>,
    /// Credentials refused as replays so far.
    replays: u64,
}

const MAX_NONCES: usize = 100_000;

impl NonceCounts {
    /// Whether `nc` may be used with `nonce` now (and remembers it). A
    /// digest without qop has no count: its nonce serves once.
    fn admit(&mut self, nonce: &str, nc: u32, now: Instant, ttl: Duration) -> bool {
        while let Some((at, _)) = self.by_age.front() {
            if now.saturating_duration_since(*at) <= ttl && self.by_age.len() < MAX_NONCES {
                break;
            }
            if let Some((_, n)) = self.by_age.pop_front() {
                self.last.remove(&n);
            }
        }
        match self.last.get_mut(nonce) {
            Some(last) if nc <= *last => {
                self.replays += 1;
                false
            }
            Some(last) => {
                *last = nc;
                true
            }
            None => {
                self.last.insert(nonce.to_string(), nc);
                self.by_age.push_back((now, nonce.to_string()));
                true
            }
        }
    }
}

/// `Digest ...`: the only scheme we take (compared without case).
fn is_digest(value: &str) -> bool {
    let v = value.trim_ascii_start().as_bytes();
    v.len() > 6 && v[..6].eq_ignore_ascii_case(b"digest") && v[6].is_ascii_whitespace()
}

impl Registrar {
    pub fn new(cfg: &Config, epoch: Instant, secret: u128) -> Registrar {
        Registrar {
            realm: cfg.sip.realm.clone(),
            algorithms: cfg.sip.digest_algorithms.clone(),
            nonce_ttl: cfg.sip.nonce_ttl,
            min_expires: cfg.sip.min_expires,
            max_expires: cfg.sip.max_expires,
            default_expires: cfg.sip.default_expires,
            nat: cfg.sip.nat,
            passwords: cfg
                .seats
                .iter()
                .map(|s| (s.user.clone(), s.password.clone()))
                .collect(),
            bindings: HashMap::new(),
            sources: HashMap::new(),
            expiry: BTreeSet::new(),
            mint: NonceMint::new(secret),
            nonce_counts: NonceCounts::default(),
            epoch,
            events: VecDeque::new(),
            keepalive: Keepalive::new(cfg.sip.keepalive, cfg.sip.no_response),
        }
    }

    pub fn bindings(&self, user: &str) -> &[Binding] {
        self.bindings.get(user).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn is_registered(&self, user: &str) -> bool {
        !self.bindings(user).is_empty()
    }

    /// Whether some seat registered from this address: a request from
    /// there is challenged rather than refused (it authorises nothing).
    pub fn registered_from(&self, ip: IpAddr) -> bool {
        self.sources.contains_key(&ip)
    }

    /// Whether `user` has a binding that came from `ip`.
    pub fn registered_as_from(&self, user: &str, ip: IpAddr) -> bool {
        self.sources.get(&ip).is_some_and(|m| m.contains_key(user))
    }

    /// Credentials refused as replays (a nonce count not above the last).
    pub fn replays(&self) -> u64 {
        self.nonce_counts.replays
    }

    /// Whether `user` is a seat that answers its keep-alives (or is not
    /// probed).
    pub fn is_reachable(&self, user: &str) -> bool {
        self.keepalive.is_alive(user)
    }

    /// The next seat whose contact is due an OPTIONS keep-alive, and where
    /// to send it. The core sends it and reports back through
    /// [`Registrar::probe_answered`].
    pub fn poll_probe(&mut self) -> Option<(String, Destination)> {
        while let Some(user) = self.keepalive.poll_probe() {
            if let Some(b) = self.bindings(&user).last() {
                return Some((user, b.destination()));
            }
        }
        None
    }

    /// A keep-alive of `user`'s was answered (any status: it is alive).
    pub fn probe_answered(&mut self, user: &str) {
        if self.keepalive.answered(user) {
            tracing::info!(seat = %user, "seat answers its keep-alives again");
            self.events.push_back(SeatEvent::Reachable {
                user: user.to_string(),
            });
        }
    }

    fn index_add(&mut self, addr: IpAddr, user: &str) {
        *self
            .sources
            .entry(addr)
            .or_default()
            .entry(user.to_string())
            .or_insert(0) += 1;
    }

    fn index_remove(&mut self, addr: IpAddr, user: &str) {
        let Some(users) = self.sources.get_mut(&addr) else {
            return;
        };
        if let Some(n) = users.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                users.remove(user);
            }
        }
        if users.is_empty() {
            self.sources.remove(&addr);
        }
    }

    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    pub fn poll_event(&mut self) -> Option<SeatEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let expiry = self.expiry.first().map(|e| e.0);
        match (expiry, self.keepalive.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Removes bindings that have expired by `now`; runs the keep-alives.
    pub fn handle_timeout(&mut self, now: Instant) {
        for user in self.keepalive.handle_timeout(now) {
            tracing::warn!(seat = %user, "seat left a keep-alive unanswered: out of rotation");
            self.events.push_back(SeatEvent::Unreachable { user });
        }
        while let Some(first) = self.expiry.first() {
            if first.0 > now {
                break;
            }
            let Some((_, user, uri)) = self.expiry.pop_first() else {
                break;
            };
            self.remove_binding(&user, &uri);
        }
    }

    fn remove_binding(&mut self, user: &str, uri: &str) {
        let Some(list) = self.bindings.get_mut(user) else {
            return;
        };
        let removed = list
            .iter()
            .position(|b| b.uri == uri)
            .map(|i| list.remove(i));
        let now_empty = list.is_empty();
        if let Some(b) = removed {
            self.index_remove(b.source.addr.ip(), user);
            self.expiry.remove(&(b.expires_at, user.to_string(), b.uri));
        }
        if now_empty {
            self.bindings.remove(user);
            self.keepalive.forget(user);
            self.events.push_back(SeatEvent::Unregistered {
                user: user.to_string(),
            });
        }
    }

    fn ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// A fresh challenge of the given kind (401 or 407), one per algorithm.
    pub fn challenge(&self, now: Instant, kind: Challenge, stale: bool) -> Reply {
        let nonce = self.mint.mint(self.ms(now));
        let (mut r, name) = match kind {
            Challenge::Www => (Reply::new(401, "Unauthorized"), "WWW-Authenticate"),
            Challenge::Proxy => (
                Reply::new(407, "Proxy Authentication Required"),
                "Proxy-Authenticate",
            ),
        };
        for alg in &self.algorithms {
            r = r.with(name, digest::challenge(&self.realm, &nonce, *alg, stale));
        }
        r
    }

    /// Checks the digest credentials of a request (`Authorization` for a
    /// REGISTER, `Proxy-Authorization` for anything else). `Ok(user)` when
    /// they are right, or the reply to send (challenge, 403, 400).
    pub fn authenticate(
        &mut self,
        now: Instant,
        req: &Request,
        kind: Challenge,
    ) -> Result<String, Reply> {
        let Some(value) = header(&req.headers, kind.credentials()) else {
            return Err(self.challenge(now, kind, false));
        };
        if !is_digest(value) {
            // RFC 4475 §3.3.7: a scheme we do not know is no credentials.
            return Err(self.challenge(now, kind, false));
        }
        let auth = match digest::parse_authorization(value) {
            Ok(a) => a,
            Err(_) => {
                let reason = match kind {
                    Challenge::Www => "Bad Authorization Header",
                    Challenge::Proxy => "Bad Proxy-Authorization Header",
                };
                return Err(Reply::new(400, reason));
            }
        };
        if auth.realm != self.realm || !self.algorithms.contains(&auth.algorithm) {
            return Err(self.challenge(now, kind, false));
        }
        match self
            .mint
            .check(auth.nonce, self.ms(now), self.nonce_ttl.as_millis() as u64)
        {
            NonceCheck::Fresh => {}
            NonceCheck::Stale => return Err(self.challenge(now, kind, true)),
            NonceCheck::Forged => return Err(self.challenge(now, kind, false)),
        }
        // An unknown user costs the same hash as a known one and gets the
        // same 403: neither the answer nor its time tells which users exist.
        let known = self.passwords.get(auth.username);
        let password = known.map_or(UNKNOWN_USER_PASSWORD, String::as_str);
        let expected = digest::expected_response(&auth, password, &req.method.to_string());
        if !digest::constant_time_eq(&expected, auth.response) || known.is_none() {
            return Err(Reply::new(403, "Forbidden"));
        }
        // RFC 2617 §3.2.2: each use of a nonce counts up; a count not above
        // the last one seen is a replay of captured credentials.
        // Nonces are stateless (the same within a millisecond), so a use is
        // keyed by nonce, user and cnonce: another client has its own
        // cnonce, and a replay cannot change it without the password.
        let (nc, cnonce) = auth.qop_auth.map_or((0, auth.response), |(nc, cnonce)| {
            (u32::from_str_radix(nc, 16).unwrap_or(0), cnonce)
        });
        let key = format!("{}:{}:{cnonce}", auth.nonce, auth.username);
        if !self.nonce_counts.admit(&key, nc, now, self.nonce_ttl) {
            tracing::warn!(
                target: "siaga112::security",
                "security: replay user={} nonce-count={nc}",
                crate::security::log_safe(auth.username)
            );
            return Err(self.challenge(now, kind, false));
        }
        Ok(auth.username.to_string())
    }

    /// Handles an authenticated-or-not REGISTER and says what to answer.
    pub fn handle_register(&mut self, now: Instant, req: &Request, source: Peer) -> Reply {
        let user = match self.authenticate(now, req, Challenge::Www) {
            Ok(u) => u,
            Err(reply) => return reply,
        };
        // The AOR in To must be the authenticated seat (RFC 3261 §10.3 step 6).
        let to_user = header(&req.headers, "To")
            .and_then(|t| crate::sip::rsip::typed::To::parse(t).ok())
            .and_then(|t| t.uri.auth.map(|a| a.user));
        if to_user.as_deref() != Some(user.as_str()) {
            return Reply::new(403, "Forbidden");
        }
        let r = match Register::read(req) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        if r.star {
            if !r.contacts.is_empty() || r.expires != Some(0) {
                return Reply::new(400, "Contact * Needs Expires: 0 Alone");
            }
            for b in self.bindings(&user).to_vec() {
                self.remove_binding(&user, &b.uri);
            }
            return self.ok(now, &user);
        }
        let changes = match self.changes(&user, &r) {
            Ok(c) => c,
            Err(reply) => return reply,
        };
        let before = self.is_registered(&user);
        for (uri, expires) in changes {
            self.bind(now, &user, uri, expires, source, &r);
        }
        let after = self.is_registered(&user);
        if !after {
            self.bindings.remove(&user);
        }
        match (before, after) {
            (false, true) => {
                self.keepalive.watch(&user, now);
                self.events
                    .push_back(SeatEvent::Registered { user: user.clone() })
            }
            (true, false) => self
                .events
                .push_back(SeatEvent::Unregistered { user: user.clone() }),
            _ => {}
        }
        let mut reply = self.ok(now, &user);
        if !r.path.is_empty() {
            // RFC 3327 §5.3: the Path as stored, and that we support it.
            for p in r.path {
                reply = reply.with("Path", p);
            }
            reply = reply.with("Supported", "path".to_string());
        }
        reply
    }

    /// Every contact checked before anything changes (RFC 3261 §10.3 step
    /// 7): (contact, expires) for each, or the reply refusing them all.
    fn changes(&self, user: &str, r: &Register) -> Result<Vec<(String, u32)>, Reply> {
        let mut changes = Vec::new();
        for c in &r.contacts {
            let expires = c.expires().or(r.expires).unwrap_or(self.default_expires);
            if expires != 0 && expires < self.min_expires {
                return Err(Reply::new(423, "Interval Too Brief")
                    .with("Min-Expires", self.min_expires.to_string()));
            }
            let uri = c.uri.to_string();
            if let Some(old) = self.bindings(user).iter().find(|b| b.uri == uri) {
                if old.call_id == r.call_id && r.cseq <= old.cseq {
                    return Err(Reply::new(500, "Out Of Order REGISTER"));
                }
            }
            changes.push((uri, expires.min(self.max_expires)));
        }
        Ok(changes)
    }

    /// Replaces (or, with `expires` 0, removes) one binding of `user`.
    fn bind(
        &mut self,
        now: Instant,
        user: &str,
        uri: String,
        expires: u32,
        source: Peer,
        r: &Register,
    ) {
        let old = self.bindings.get_mut(user).and_then(|list| {
            list.iter()
                .position(|b| b.uri == uri)
                .map(|i| list.remove(i))
        });
        if let Some(b) = old {
            self.index_remove(b.source.addr.ip(), user);
            self.expiry.remove(&(b.expires_at, user.to_string(), b.uri));
        }
        if expires == 0 {
            return;
        }
        let nat = r.path.is_empty()
            && self.nat == NatMode::Auto
            && uri_addr(&uri).is_none_or(|a| a != source.addr);
        if nat {
            tracing::info!(seat = %user, contact = %uri, source = %source.addr, "seat behind NAT: reached at its source address");
        }
        let b = Binding {
            uri: uri.clone(),
            source,
            path: r.path.clone(),
            nat,
            expires_at: now + Duration::from_secs(u64::from(expires)),
            call_id: r.call_id.clone(),
            cseq: r.cseq,
        };
        self.expiry.insert((b.expires_at, user.to_string(), uri));
        self.index_add(b.source.addr.ip(), user);
        self.bindings.entry(user.to_string()).or_default().push(b);
    }

    /// 200 OK listing every current binding with its remaining time.
    fn ok(&self, now: Instant, user: &str) -> Reply {
        let mut r = Reply::new(200, "OK");
        for b in self.bindings(user) {
            let left = b.expires_at.saturating_duration_since(now).as_secs();
            r = r.with("Contact", format!("<{}>;expires={left}", b.uri));
        }
        r
    }
}

#[cfg(test)]
mod tests;
