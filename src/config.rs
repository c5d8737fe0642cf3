//! The TOML configuration as typed structs, validated once at start-up.
//!
//! Every error names the key at fault and says why, so `siaga112 check-config`
//! can point an operator at the line to fix.

use serde::Deserialize;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub sip: SipConfig,
    pub acd: AcdConfig,
    pub seats: Vec<SeatConfig>,
    pub trunks: Vec<TrunkConfig>,
    /// Edge proxies (SBCs) in front of the engine: trusted like a trunk for
    /// calls in, and the way seats behind them are reached (RFC 3327 Path).
    pub proxies: Vec<TrunkConfig>,
    pub routes: Vec<RouteConfig>,
    pub queues: Vec<QueueConfig>,
    pub caselog: CaseLogConfig,
}

/// Where and how the engine speaks SIP.
#[derive(Debug, Clone)]
pub struct SipConfig {
    pub listen: Vec<Listen>,
    pub realm: String,
    /// Digest algorithms offered in challenges, in order of preference.
    pub digest_algorithms: Vec<DigestAlgorithm>,
    pub nonce_ttl: Duration,
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    /// The largest message accepted, in bytes (RFC 3261 allows us a limit; 64 KiB).
    pub max_message_bytes: usize,
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
    pub user_agent: String,
    /// An outbound leg that gives no answer at all in this time is unreachable.
    pub no_response: Duration,
    /// A seat that turned a call down is not offered that call again for this long.
    pub retry: Duration,
    /// Seats behind NAT: a binding whose Contact differs from the REGISTER's
    /// source is reached at the source (`auto`), or always at its Contact.
    pub nat: NatMode,
    /// How often a seat's contact is sent an OPTIONS keep-alive (zero: never).
    /// One left unanswered for `no_response` takes the seat out of rotation
    /// until it answers again.
    pub keepalive: Duration,
}

/// How the registrar treats a Contact that is not where the REGISTER came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatMode {
    /// Send to the source address (Kamailio's `fix_nated_contact`).
    Auto,
    /// Send to the Contact as given.
    Never,
}

/// Distribution-wide settings: feature codes and prank handling.
#[derive(Debug, Clone)]
pub struct AcdConfig {
    /// Dialled by a seat: pause, unpause, log out.
    pub code_pause: String,
    pub code_unpause: String,
    pub code_logout: String,
    /// Dialled by a seat in wrap-up (or after its call): mark the call it
    /// just handled. Each entry is (code, mark), e.g. ("*51", "prank").
    pub mark_codes: Vec<(String, String)>,
    /// A caller with this many calls marked `prank` within the window is
    /// queued at `prank_priority` (never blocked).
    pub prank_threshold: u32,
    pub prank_window: Duration,
    pub prank_priority: i32,
}

/// A digest algorithm of RFC 8760.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    Md5,
    Sha256,
}

impl DigestAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("MD5") {
            Some(DigestAlgorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Some(DigestAlgorithm::Sha256)
        } else {
            None
        }
    }
}

/// One listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub transport: ListenTransport,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenTransport {
    Udp,
    Tcp,
}

/// An operator position; its softphone registers as `user`.
#[derive(Debug, Clone)]
pub struct SeatConfig {
    pub user: String,
    pub password: String,
    pub queues: Vec<String>,
    /// Skill level per queue (lower is tried first under `skill-level`).
    pub levels: std::collections::HashMap<String, u32>,
}

/// A telco peer allowed to send calls.
#[derive(Debug, Clone)]
pub struct TrunkConfig {
    pub name: String,
    pub peers: Vec<IpNet>,
}

/// Which dialled numbers or service URNs go to which queue.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub matches: Vec<String>,
    pub queue: String,
    /// The service name for calls that dialled a number (`sos`, `info`...);
    /// a service URN names its own.
    pub service: Option<String>,
    /// Higher is answered first.
    pub priority: i32,
}

/// Calls waiting for one kind of seat.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub name: String,
    pub ring_timeout: Duration,
    pub max_wait: Duration,
    pub overflow: Option<String>,
    /// After a call the seat rests this long before the next offer.
    pub wrapup: Duration,
    /// Waiting this long counts as one priority level.
    pub aging_step: Duration,
    pub strategy: crate::acd::Strategy,
    /// Missed offers in a row before a seat is paused `no-answer`.
    pub max_no_answer: u32,
    /// After `overflow_after` waiting, seats of `widen_to` may take the call too.
    pub widen_to: Option<String>,
    pub overflow_after: Duration,
}

#[derive(Debug, Clone)]
pub struct CaseLogConfig {
    pub path: PathBuf,
    pub commit_window: Duration,
}

/// An address block such as `127.0.0.1/32` or `::1/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn parse(s: &str) -> Option<IpNet> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A configuration error that names the key and says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Syntax(String),
    #[error("{key}: {why}")]
    Invalid { key: String, why: String },
}

fn invalid(key: impl Into<String>, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        why: why.into(),
    }
}

// ---- the raw file, as serde sees it ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    sip: RawSip,
    #[serde(default)]
    acd: RawAcd,
    #[serde(default, rename = "seat")]
    seats: Vec<RawSeat>,
    #[serde(default, rename = "trunk")]
    trunks: Vec<RawTrunk>,
    #[serde(default, rename = "proxy")]
    proxies: Vec<RawTrunk>,
    #[serde(default, rename = "route")]
    routes: Vec<RawRoute>,
    #[serde(default, rename = "queue")]
    queues: Vec<RawQueue>,
    #[serde(default)]
    caselog: RawCaseLog,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSip {
    listen: Vec<String>,
    realm: String,
    #[serde(default = "default_algorithms")]
    digest_algorithms: Vec<String>,
    #[serde(default = "default_nonce_ttl")]
    nonce_ttl_s: u64,
    #[serde(default = "default_min_expires")]
    min_expires_s: u32,
    #[serde(default = "default_max_expires")]
    max_expires_s: u32,
    #[serde(default = "default_expires")]
    default_expires_s: u32,
    #[serde(default = "default_max_message")]
    max_message_bytes: usize,
    #[serde(default = "default_t1")]
    t1_ms: u64,
    #[serde(default = "default_t2")]
    t2_ms: u64,
    #[serde(default = "default_t4")]
    t4_ms: u64,
    #[serde(default = "default_user_agent")]
    user_agent: String,
    #[serde(default = "default_no_response")]
    no_response_ms: u64,
    #[serde(default = "default_retry")]
    retry_s: u64,
    #[serde(default = "default_nat")]
    nat: String,
    #[serde(default = "default_keepalive")]
    keepalive_s: u64,
}
fn default_nat() -> String {
    "auto".into()
}
fn default_keepalive() -> u64 {
    30
}
fn default_no_response() -> u64 {
    4000
}
fn default_retry() -> u64 {
    5
}

fn default_algorithms() -> Vec<String> {
    vec!["MD5".into()]
}
fn default_nonce_ttl() -> u64 {
    300
}
fn default_min_expires() -> u32 {
    60
}
fn default_max_expires() -> u32 {
    3600
}
fn default_expires() -> u32 {
    600
}
fn default_max_message() -> usize {
    65536
}
fn default_t1() -> u64 {
    500
}
fn default_t2() -> u64 {
    4000
}
fn default_t4() -> u64 {
    5000
}
fn default_user_agent() -> String {
    format!("siaga112/{}", env!("CARGO_PKG_VERSION"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeat {
    user: String,
    password: String,
    #[serde(default)]
    queues: Vec<String>,
    #[serde(default)]
    levels: std::collections::HashMap<String, u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAcd {
    #[serde(default = "code_pause")]
    code_pause: String,
    #[serde(default = "code_unpause")]
    code_unpause: String,
    #[serde(default = "code_logout")]
    code_logout: String,
    #[serde(default = "code_prank")]
    code_mark_prank: String,
    #[serde(default = "code_silent")]
    code_mark_silent: String,
    #[serde(default = "prank_threshold")]
    prank_threshold: u32,
    #[serde(default = "prank_window")]
    prank_window_h: u64,
    #[serde(default = "prank_priority")]
    prank_priority: i32,
}
impl Default for RawAcd {
    fn default() -> Self {
        RawAcd {
            code_pause: code_pause(),
            code_unpause: code_unpause(),
            code_logout: code_logout(),
            code_mark_prank: code_prank(),
            code_mark_silent: code_silent(),
            prank_threshold: prank_threshold(),
            prank_window_h: prank_window(),
            prank_priority: prank_priority(),
        }
    }
}
fn code_pause() -> String {
    "*41".into()
}
fn code_unpause() -> String {
    "*42".into()
}
fn code_logout() -> String {
    "*43".into()
}
fn code_prank() -> String {
    "*51".into()
}
fn code_silent() -> String {
    "*52".into()
}
fn prank_threshold() -> u32 {
    3
}
fn prank_window() -> u64 {
    24
}
fn prank_priority() -> i32 {
    -100
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrunk {
    name: String,
    peers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    #[serde(rename = "match")]
    matches: Vec<String>,
    queue: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    priority: i32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    name: String,
    #[serde(default = "default_ring_timeout")]
    ring_timeout_s: u64,
    #[serde(default = "default_max_wait")]
    max_wait_s: u64,
    #[serde(default)]
    overflow: Option<String>,
    #[serde(default)]
    wrapup_s: u64,
    #[serde(default = "default_aging")]
    aging_step_s: u64,
    #[serde(default = "default_strategy")]
    strategy: String,
    #[serde(default = "default_max_no_answer")]
    max_no_answer: u32,
    #[serde(default)]
    widen_to: Option<String>,
    #[serde(default)]
    overflow_after_s: Option<u64>,
}
fn default_strategy() -> String {
    "longest-idle".into()
}
fn default_max_no_answer() -> u32 {
    1
}
fn default_aging() -> u64 {
    60
}
fn default_ring_timeout() -> u64 {
    15
}
fn default_max_wait() -> u64 {
    120
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCaseLog {
    #[serde(default = "default_caselog_path")]
    path: String,
    #[serde(default = "default_commit_window")]
    commit_window_ms: u64,
}
impl Default for RawCaseLog {
    fn default() -> Self {
        RawCaseLog {
            path: default_caselog_path(),
            commit_window_ms: default_commit_window(),
        }
    }
}
fn default_caselog_path() -> String {
    "var/cases.jsonl".into()
}
fn default_commit_window() -> u64 {
    5
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text)
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Syntax(e.to_string().trim_end().replace('\n', "\n  ")))?;
        raw.validate()
    }

    /// The trunk or proxy an address belongs to: (name, is a proxy).
    pub fn trusted_peer(&self, ip: IpAddr) -> Option<(&str, bool)> {
        let hit = |t: &&TrunkConfig| t.peers.iter().any(|n| n.contains(ip));
        if let Some(t) = self.trunks.iter().find(hit) {
            return Some((&t.name, false));
        }
        self.proxies
            .iter()
            .find(hit)
            .map(|p| (p.name.as_str(), true))
    }
}

/// `[[trunk]]` or `[[proxy]]` entries: a name and the address blocks it sends from.
fn peers_of(kind: &str, raw: Vec<RawTrunk>) -> Result<Vec<TrunkConfig>, ConfigError> {
    let mut out = Vec::new();
    for (i, t) in raw.into_iter().enumerate() {
        if t.name.trim().is_empty() {
            return Err(invalid(format!("{kind}[{i}].name"), "must not be empty"));
        }
        let mut peers = Vec::new();
        for p in &t.peers {
            peers.push(IpNet::parse(p).ok_or_else(|| {
                invalid(
                    format!("{kind}[{i}].peers"),
                    format!("{p:?} is not an address or address/prefix"),
                )
            })?);
        }
        if peers.is_empty() {
            return Err(invalid(
                format!("{kind}[{i}].peers"),
                "must list at least one address",
            ));
        }
        out.push(TrunkConfig {
            name: t.name,
            peers,
        });
    }
    Ok(out)
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let sip = self.sip.validate()?;

        let mut queue_names = HashSet::new();
        let mut queues = Vec::new();
        for (i, q) in self.queues.into_iter().enumerate() {
            let key = |k: &str| format!("queue[{i}].{k}");
            if q.name.trim().is_empty() {
                return Err(invalid(key("name"), "must not be empty"));
            }
            if !queue_names.insert(q.name.clone()) {
                return Err(invalid(
                    key("name"),
                    format!("queue {:?} is defined twice", q.name),
                ));
            }
            if q.ring_timeout_s == 0 {
                return Err(invalid(key("ring_timeout_s"), "must be at least 1 second"));
            }
            if q.max_wait_s == 0 {
                return Err(invalid(key("max_wait_s"), "must be at least 1 second"));
            }
            let strategy = crate::acd::Strategy::parse(&q.strategy).ok_or_else(|| {
                invalid(
                    key("strategy"),
                    format!(
                        "{:?} is not one of longest-idle, round-robin, fewest-calls, least-talk-time, random, skill-level, ring-all",
                        q.strategy
                    ),
                )
            })?;
            if q.max_no_answer == 0 {
                return Err(invalid(key("max_no_answer"), "must be at least 1"));
            }
            if q.widen_to.is_some() != q.overflow_after_s.is_some() {
                return Err(invalid(
                    key("widen_to"),
                    "widen_to and overflow_after_s go together",
                ));
            }
            queues.push(QueueConfig {
                strategy,
                max_no_answer: q.max_no_answer,
                widen_to: q.widen_to.filter(|w| !w.trim().is_empty()),
                overflow_after: Duration::from_secs(q.overflow_after_s.unwrap_or(0)),
                name: q.name,
                ring_timeout: Duration::from_secs(q.ring_timeout_s),
                max_wait: Duration::from_secs(q.max_wait_s),
                overflow: q.overflow.filter(|o| !o.trim().is_empty()),
                wrapup: Duration::from_secs(q.wrapup_s),
                aging_step: Duration::from_secs(q.aging_step_s.max(1)),
            });
        }
        for (i, q) in queues.iter().enumerate() {
            if let Some(w) = &q.widen_to {
                if !queue_names.contains(w) || w == &q.name {
                    return Err(invalid(
                        format!("queue[{i}].widen_to"),
                        format!("{w:?} is not another queue"),
                    ));
                }
            }
            if let Some(o) = &q.overflow {
                let is_uri = o.starts_with("sip:") || o.starts_with("sips:");
                if !is_uri && !queue_names.contains(o) {
                    return Err(invalid(
                        format!("queue[{i}].overflow"),
                        format!("{o:?} is neither a sip: URI nor the name of a queue"),
                    ));
                }
                if is_uri && rsipstack::sip::Uri::try_from(o.as_str()).is_err() {
                    return Err(invalid(
                        format!("queue[{i}].overflow"),
                        format!("{o:?} is not a valid SIP URI"),
                    ));
                }
                if o == &q.name {
                    return Err(invalid(
                        format!("queue[{i}].overflow"),
                        "a queue cannot overflow to itself",
                    ));
                }
            }
        }

        let mut seat_names = HashSet::new();
        let mut seats = Vec::new();
        for (i, s) in self.seats.into_iter().enumerate() {
            let key = |k: &str| format!("seat[{i}].{k}");
            if !is_sip_user(&s.user) {
                return Err(invalid(
                    key("user"),
                    format!("{:?} is not a valid SIP user name", s.user),
                ));
            }
            if !seat_names.insert(s.user.clone()) {
                return Err(invalid(
                    key("user"),
                    format!("seat {:?} is defined twice", s.user),
                ));
            }
            if s.password.is_empty() {
                return Err(invalid(key("password"), "must not be empty"));
            }
            for q in &s.queues {
                if !queue_names.contains(q) {
                    return Err(invalid(key("queues"), format!("no queue is named {q:?}")));
                }
            }
            for q in s.levels.keys() {
                if !s.queues.contains(q) {
                    return Err(invalid(
                        key("levels"),
                        format!("{q:?} is not one of the seat's queues"),
                    ));
                }
            }
            seats.push(SeatConfig {
                user: s.user,
                password: s.password,
                queues: s.queues,
                levels: s.levels,
            });
        }

        let trunks = peers_of("trunk", self.trunks)?;
        let proxies = peers_of("proxy", self.proxies)?;
        let mut names = HashSet::new();
        for (kind, list) in [("trunk", &trunks), ("proxy", &proxies)] {
            for (i, t) in list.iter().enumerate() {
                if !names.insert(t.name.as_str()) {
                    return Err(invalid(
                        format!("{kind}[{i}].name"),
                        format!("{:?} names another trunk or proxy too", t.name),
                    ));
                }
            }
        }

        let mut routes = Vec::new();
        for (i, r) in self.routes.into_iter().enumerate() {
            if !queue_names.contains(&r.queue) {
                return Err(invalid(
                    format!("route[{i}].queue"),
                    format!("no queue is named {:?}", r.queue),
                ));
            }
            if r.matches.is_empty() || r.matches.iter().any(|m| m.trim().is_empty()) {
                return Err(invalid(
                    format!("route[{i}].match"),
                    "must list non-empty numbers or service URNs",
                ));
            }
            routes.push(RouteConfig {
                matches: r.matches,
                queue: r.queue,
                service: r.service,
                priority: r.priority,
            });
        }

        if self.caselog.path.trim().is_empty() {
            return Err(invalid("caselog.path", "must not be empty"));
        }
        if self.caselog.commit_window_ms > 1000 {
            return Err(invalid(
                "caselog.commit_window_ms",
                "must be at most 1000 (records wait this long for the disk)",
            ));
        }
        let a = self.acd;
        let mut codes = HashSet::new();
        for (k, c) in [
            ("acd.code_pause", &a.code_pause),
            ("acd.code_unpause", &a.code_unpause),
            ("acd.code_logout", &a.code_logout),
            ("acd.code_mark_prank", &a.code_mark_prank),
            ("acd.code_mark_silent", &a.code_mark_silent),
        ] {
            if c.is_empty()
                || !c
                    .chars()
                    .all(|ch| ch.is_ascii_digit() || ch == '*' || ch == '#')
            {
                return Err(invalid(
                    k,
                    format!("{c:?} is not a dialable code of digits, * and #"),
                ));
            }
            if !codes.insert(c.clone()) {
                return Err(invalid(k, format!("{c:?} is used for two things")));
            }
        }
        if a.prank_threshold == 0 {
            return Err(invalid("acd.prank_threshold", "must be at least 1"));
        }
        let acd = AcdConfig {
            code_pause: a.code_pause,
            code_unpause: a.code_unpause,
            code_logout: a.code_logout,
            mark_codes: vec![
                (a.code_mark_prank, "prank".into()),
                (a.code_mark_silent, "silent".into()),
            ],
            prank_threshold: a.prank_threshold,
            prank_window: Duration::from_secs(a.prank_window_h * 3600),
            prank_priority: a.prank_priority,
        };
        Ok(Config {
            sip,
            acd,
            seats,
            trunks,
            proxies,
            routes,
            queues,
            caselog: CaseLogConfig {
                path: PathBuf::from(self.caselog.path),
                commit_window: Duration::from_millis(self.caselog.commit_window_ms),
            },
        })
    }
}

impl RawSip {
    fn validate(self) -> Result<SipConfig, ConfigError> {
        if self.listen.is_empty() {
            return Err(invalid("sip.listen", "must list at least one socket"));
        }
        let mut listen = Vec::new();
        for l in &self.listen {
            listen.push(parse_listen(l).ok_or_else(|| {
                invalid(
                    "sip.listen",
                    format!("{l:?} is not of the form udp:ADDR:PORT or tcp:ADDR:PORT"),
                )
            })?);
        }
        if self.realm.trim().is_empty() || self.realm.contains('"') {
            return Err(invalid(
                "sip.realm",
                "must be a non-empty name without quotes",
            ));
        }
        let mut digest_algorithms = Vec::new();
        for a in &self.digest_algorithms {
            let alg = DigestAlgorithm::parse(a).ok_or_else(|| {
                invalid(
                    "sip.digest_algorithms",
                    format!("{a:?} is not supported (use \"SHA-256\" and/or \"MD5\")"),
                )
            })?;
            if !digest_algorithms.contains(&alg) {
                digest_algorithms.push(alg);
            }
        }
        if digest_algorithms.is_empty() {
            return Err(invalid(
                "sip.digest_algorithms",
                "must name at least one algorithm",
            ));
        }
        if self.nonce_ttl_s == 0 {
            return Err(invalid("sip.nonce_ttl_s", "must be at least 1 second"));
        }
        if self.min_expires_s == 0 || self.min_expires_s > self.max_expires_s {
            return Err(invalid(
                "sip.min_expires_s",
                "must be at least 1 and not above sip.max_expires_s",
            ));
        }
        if self.default_expires_s < self.min_expires_s
            || self.default_expires_s > self.max_expires_s
        {
            return Err(invalid(
                "sip.default_expires_s",
                "must lie between sip.min_expires_s and sip.max_expires_s",
            ));
        }
        if !(1024..=65536).contains(&self.max_message_bytes) {
            return Err(invalid(
                "sip.max_message_bytes",
                "must be between 1024 and 65536",
            ));
        }
        if self.t1_ms == 0 || self.t2_ms < self.t1_ms || self.t4_ms == 0 {
            return Err(invalid(
                "sip.t1_ms",
                "timers need 0 < t1_ms <= t2_ms and t4_ms > 0",
            ));
        }
        let nat = match self.nat.as_str() {
            "auto" => NatMode::Auto,
            "never" => NatMode::Never,
            other => {
                return Err(invalid(
                    "sip.nat",
                    format!("{other:?} is not \"auto\" or \"never\""),
                ))
            }
        };
        Ok(SipConfig {
            nat,
            keepalive: Duration::from_secs(self.keepalive_s),
            listen,
            realm: self.realm,
            digest_algorithms,
            nonce_ttl: Duration::from_secs(self.nonce_ttl_s),
            min_expires: self.min_expires_s,
            max_expires: self.max_expires_s,
            default_expires: self.default_expires_s,
            max_message_bytes: self.max_message_bytes,
            t1: Duration::from_millis(self.t1_ms),
            t2: Duration::from_millis(self.t2_ms),
            t4: Duration::from_millis(self.t4_ms),
            user_agent: self.user_agent,
            no_response: Duration::from_millis(self.no_response_ms.max(1)),
            retry: Duration::from_secs(self.retry_s),
        })
    }
}

fn parse_listen(s: &str) -> Option<Listen> {
    let (t, addr) = s.split_once(':')?;
    let transport = match t.to_ascii_lowercase().as_str() {
        "udp" => ListenTransport::Udp,
        "tcp" => ListenTransport::Tcp,
        _ => return None,
    };
    let addr: SocketAddr = addr.parse().ok()?;
    Some(Listen { transport, addr })
}

fn is_sip_user(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[sip]
listen = ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]
realm = "siaga112"

[[seat]]
user = "op1"
password = "secret1"
"#;

    #[test]
    fn the_public_contract_parses() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.sip.listen.len(), 2);
        assert_eq!(c.sip.listen[1].transport, ListenTransport::Tcp);
        assert_eq!(c.seats[0].user, "op1");
        assert_eq!(c.caselog.path, PathBuf::from("var/cases.jsonl"));
    }

    #[test]
    fn the_shipped_config_is_valid() {
        let text = include_str!("../config/siaga112.toml");
        let c = Config::parse(text).unwrap();
        assert!(!c.seats.is_empty());
        assert!(c.sip.listen.iter().all(|l| l.addr.ip().is_loopback()));
    }

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_key() {
        let bad = MINIMAL.replace("udp:127.0.0.1:5060", "udp:nowhere");
        assert!(err(&bad).starts_with("sip.listen:"), "{}", err(&bad));
        let bad = MINIMAL.replace("secret1", "");
        assert!(err(&bad).starts_with("seat[0].password:"));
        let bad = format!("{MINIMAL}\n[[seat]]\nuser = \"op1\"\npassword = \"x\"\n");
        assert!(err(&bad).contains("seat[1].user"));
        let bad = MINIMAL.replace("realm", "relm");
        assert!(err(&bad).contains("relm"), "{}", err(&bad));
        let bad = format!("{MINIMAL}\n[[route]]\nmatch = [\"112\"]\nqueue = \"nope\"\n");
        assert!(err(&bad).starts_with("route[0].queue:"));
        let bad = format!("{MINIMAL}\n[[trunk]]\nname = \"t\"\npeers = [\"1.2.3.4/40\"]\n");
        assert!(err(&bad).starts_with("trunk[0].peers:"));
        let bad = format!("{MINIMAL}\n[[queue]]\nname = \"q\"\noverflow = \"elsewhere\"\n");
        assert!(err(&bad).starts_with("queue[0].overflow:"));
    }

    #[test]
    fn ip_nets_match() {
        let n = IpNet::parse("127.0.0.0/8").unwrap();
        assert!(n.contains("127.1.2.3".parse().unwrap()));
        assert!(!n.contains("10.0.0.1".parse().unwrap()));
        let all = IpNet::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6 = IpNet::parse("::1").unwrap();
        assert!(v6.contains("::1".parse().unwrap()));
        assert!(!v6.contains("127.0.0.1".parse().unwrap()));
    }
}
