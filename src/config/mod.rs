//! The TOML configuration as typed structs, validated once at start-up.
//!
//! Every error names the key at fault and says why, so `siaga112 check-config`
//! can point an operator at the line to fix.

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
    pub media: MediaConfig,
    pub recording: RecordingConfig,
    pub prompts: PromptsConfig,
    /// The kinds of emergency an operator picks from.
    pub categories: Vec<CategoryConfig>,
    pub http: HttpConfig,
    /// Console users besides the seats' operators.
    pub users: Vec<UserConfig>,
    /// The agencies cases are handed to.
    pub agencies: Vec<AgencyConfig>,
    pub store: StoreConfig,
    /// Rate limits, password-guessing bans, addresses never limited.
    pub security: SecurityConfig,
    /// The certificate for `tls:` listeners and the HTTPS console.
    pub tls: Option<TlsConfig>,
}

/// `[tls]`: the engine's certificate (SIP over TLS, HTTPS console).
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// PEM: the certificate, then its chain.
    pub certificate: PathBuf,
    /// PEM: its private key.
    pub key: PathBuf,
    /// PEM: the authorities a peer's certificate is checked against when
    /// the engine opens a TLS connection itself (a seat or trunk whose own
    /// connection is gone). None: only connections peers opened carry TLS.
    pub ca: Option<PathBuf>,
}

/// An agency that acts on cases (`[[agency]]`): the fire brigade, the
/// police, BPBD...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyConfig {
    pub id: String,
    pub name: String,
    /// The categories it is suggested for.
    pub categories: Vec<String>,
    /// Where a voice hand-off would ring (later).
    pub number: Option<String>,
}

/// The query store (`[store]`): a SQLite projection of the journal.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Default: beside the journal, `<journal stem>.sqlite`.
    pub path: PathBuf,
}

/// A kind of emergency (`kebakaran`...), with its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryConfig {
    pub id: String,
    pub id_label: String,
    pub en_label: String,
}

/// The console and /metrics.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// None: no console.
    pub listen: Option<SocketAddr>,
    /// /metrics on a socket of its own (where only the monitoring host
    /// reaches it); None: on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// The key that signs session cookies (made on first start).
    pub session_key: PathBuf,
    pub session_hours: u64,
    /// The console's default language.
    pub lang: String,
    /// The centre's time zone, hours east of UTC (7: WIB, 8: WITA, 9:
    /// WIT): when "today" starts for the figures.
    pub utc_offset_h: i64,
    /// The reasons an operator picks from to pause.
    pub pause_reasons: Vec<String>,
    /// The console on HTTPS with `[tls]`'s certificate.
    pub https: bool,
}

/// A console user that is no seat: a supervisor or agency staff.
#[derive(Debug, Clone)]
pub struct UserConfig {
    pub name: String,
    pub role: UserRole,
    /// An argon2 PHC string (`siaga112 hash-password`).
    pub password_hash: String,
    pub agency: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRole {
    Supervisor,
    Agency,
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
    /// What a `Resource-Priority` value (lowercase, `esnet.1`) adds to a
    /// call's priority; the best of those a call names counts.
    pub resource_priority: std::collections::HashMap<String, i32>,
    /// A text call's conversation ends after this long without a message.
    pub text_idle: Duration,
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
    Tls,
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
    /// Calls waiting at most; a new call to a full queue goes to the
    /// overflow at once, or is refused `486` without one (so the network
    /// routes it elsewhere). Never silently: each is a case.
    pub max_length: Option<u32>,
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
    /// Prompts a waiting caller hears, in order; the last one repeats.
    pub announce: Vec<String>,
    /// Prompts go out as early media (183 with SDP); false: the engine
    /// answers the caller (200) and plays them then.
    pub early_media: bool,
    /// Answered calls of this queue are recorded.
    pub record: bool,
}

/// The media plane: the engine relays every bridged call's RTP.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// False: media flows between trunk and seat directly, as before.
    pub enabled: bool,
    /// RTP port range (even ports; RTCP on the odd one above each).
    pub ports: (u16, u16),
    /// The address written into our SDP.
    pub advertise: IpAddr,
    /// The address the media sockets bind to.
    pub bind: IpAddr,
    pub timeout: Duration,
    pub hold_timeout: Duration,
    pub silent_after: Duration,
    pub silence_threshold_dbov: f32,
}

/// Where the recordings go.
#[derive(Debug, Clone)]
pub struct RecordingConfig {
    pub dir: PathBuf,
}

/// The prompts, loaded once at start.
#[derive(Debug, Clone)]
pub struct PromptsConfig {
    pub dir: PathBuf,
    /// The language folder under `dir` (`id`, `en`).
    pub language: String,
}

#[derive(Debug, Clone)]
pub struct CaseLogConfig {
    pub path: PathBuf,
    pub commit_window: Duration,
    /// Records kept in memory at most while the disk cannot be written.
    pub buffer_records: u64,
}

/// `[security]`: per-source rate limits (requests per second, bursts of
/// twice that; 0 turns one off) and bans after failed digest attempts.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    pub register_rate: u32,
    pub invite_rate: u32,
    pub options_rate: u32,
    /// Every other request (BYE, CANCEL, ACK, INFO... and what matches
    /// nothing), and responses that match no transaction.
    pub other_rate: u32,
    /// REGISTER and OPTIONS from a trunk, a proxy or an `allow` address
    /// (their INVITEs and in-dialog requests are never limited).
    pub trusted_rate: u32,
    /// Failed digest attempts from one source, or for one user, before a ban.
    pub ban_after: u32,
    /// The first ban; each later ban of the same source or user doubles it.
    pub ban: Duration,
    pub ban_max: Duration,
    /// Addresses treated like trunks for limits and never banned (the
    /// centre's own network, seats behind one NAT).
    pub allow: Vec<IpNet>,
    /// TCP and TLS connections from one address at once (handshakes
    /// included); trunks, proxies and `allow` addresses have no limit.
    pub connections_per_source: u32,
    /// A connection that has not sent one whole SIP message in this long
    /// after it was accepted is closed (a slow or silent client holds no
    /// slot for long).
    pub first_message: Duration,
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

    /// A trunk's, a proxy's or an `[security] allow` address: limited at
    /// the trusted rate and never banned.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_peer(ip).is_some() || self.security.allow.iter().any(|n| n.contains(ip))
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
mod raw;
use raw::RawConfig;
mod security;
#[cfg(test)]
mod tests;
mod validate;
