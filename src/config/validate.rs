//! Checks of the raw file, section by section: each error names the key
//! at fault and says why.

use super::raw::*;
use super::*;
use std::collections::HashSet;

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
    pub(super) fn validate(self) -> Result<Config, ConfigError> {
        let sip = self.sip.validate()?;
        let (queues, queue_names) = queues(self.queues)?;
        let seats = seats(self.seats, &queue_names)?;
        let (trunks, proxies) = trunks_and_proxies(self.trunks, self.proxies)?;
        let routes = routes(self.routes, &queue_names)?;
        let caselog = caselog(self.caselog)?;
        let media = media(self.media)?;
        if self.recording.dir.trim().is_empty() {
            return Err(invalid("recording.dir", "must not be empty"));
        }
        let recording = RecordingConfig {
            dir: PathBuf::from(self.recording.dir),
        };
        if !is_name(&self.prompts.language) {
            return Err(invalid(
                "prompts.language",
                "must be a folder name such as \"id\" or \"en\"",
            ));
        }
        let prompts = PromptsConfig {
            dir: PathBuf::from(self.prompts.dir),
            language: self.prompts.language,
        };
        let categories = categories(self.categories)?;
        let http = http(self.http)?;
        let agencies = agencies(self.agencies, &categories)?;
        let users = users(self.users, &seats, &agencies)?;
        let acd = acd(self.acd)?;
        let store = StoreConfig {
            path: match self.store.path {
                Some(p) if p.trim().is_empty() => {
                    return Err(invalid("store.path", "must not be empty"))
                }
                Some(p) => PathBuf::from(p),
                None => caselog.path.with_extension("sqlite"),
            },
        };
        let security = super::security::validate(self.security)?;
        let tls = tls(self.tls, &sip, &http)?;
        Ok(Config {
            sip,
            acd,
            seats,
            trunks,
            proxies,
            routes,
            queues,
            caselog,
            media,
            recording,
            prompts,
            categories,
            http,
            users,
            agencies,
            store,
            security,
            tls,
        })
    }
}

/// `[tls]`: needed by `tls:` listeners and `http.https`; the files are
/// read when the sockets are bound.
fn tls(
    raw: Option<RawTls>,
    sip: &SipConfig,
    http: &HttpConfig,
) -> Result<Option<TlsConfig>, ConfigError> {
    let wanted = sip
        .listen
        .iter()
        .any(|l| l.transport == ListenTransport::Tls);
    let Some(t) = raw else {
        if wanted {
            return Err(invalid(
                "sip.listen",
                "a tls: entry needs [tls] certificate and key",
            ));
        }
        if http.https {
            return Err(invalid("http.https", "needs [tls] certificate and key"));
        }
        return Ok(None);
    };
    let path = |key: &str, v: &str| {
        if v.trim().is_empty() {
            Err(invalid(key, "must name a PEM file"))
        } else {
            Ok(PathBuf::from(v))
        }
    };
    Ok(Some(TlsConfig {
        certificate: path("tls.certificate", &t.certificate)?,
        key: path("tls.key", &t.key)?,
        ca: t.ca.as_deref().map(|c| path("tls.ca", c)).transpose()?,
    }))
}

/// `[[agency]]`: ids unique names, categories configured ones.
fn agencies(
    raw: Vec<RawAgency>,
    categories: &[CategoryConfig],
) -> Result<Vec<AgencyConfig>, ConfigError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, a) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("agency[{i}].{k}");
        if !is_name(&a.id) || !seen.insert(a.id.clone()) {
            return Err(invalid(
                key("id"),
                format!("{:?} must be a unique name of a-z, 0-9, - and _", a.id),
            ));
        }
        if a.name.trim().is_empty() {
            return Err(invalid(key("name"), "must not be empty"));
        }
        for c in &a.categories {
            if !categories.iter().any(|k| &k.id == c) {
                return Err(invalid(
                    key("categories"),
                    format!("{c:?} is not a configured category"),
                ));
            }
        }
        out.push(AgencyConfig {
            id: a.id,
            name: a.name,
            categories: a.categories,
            number: a.number.filter(|n| !n.trim().is_empty()),
        });
    }
    Ok(out)
}

/// `[[queue]]`: the queues, and their names for the other sections to check.
fn queues(raw: Vec<RawQueue>) -> Result<(Vec<QueueConfig>, HashSet<String>), ConfigError> {
    let mut queue_names = HashSet::new();
    let mut queues = Vec::new();
    for (i, q) in raw.into_iter().enumerate() {
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
        if q.max_length == Some(0) {
            return Err(invalid(
                key("max_length"),
                "must be at least 1 (or left out)",
            ));
        }
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
            max_length: q.max_length,
            overflow: q.overflow.filter(|o| !o.trim().is_empty()),
            wrapup: Duration::from_secs(q.wrapup_s),
            aging_step: Duration::from_secs(q.aging_step_s.max(1)),
            announce: prompt_names(&key("announce"), q.announce)?,
            early_media: q.early_media,
            record: q.record,
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
    Ok((queues, queue_names))
}

/// `[[seat]]`.
fn seats(raw: Vec<RawSeat>, queue_names: &HashSet<String>) -> Result<Vec<SeatConfig>, ConfigError> {
    let mut seat_names = HashSet::new();
    let mut seats = Vec::new();
    for (i, s) in raw.into_iter().enumerate() {
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
    Ok(seats)
}

/// `[[trunk]]` and `[[proxy]]`: names unique across both.
fn trunks_and_proxies(
    trunks: Vec<RawTrunk>,
    proxies: Vec<RawTrunk>,
) -> Result<(Vec<TrunkConfig>, Vec<TrunkConfig>), ConfigError> {
    let trunks = peers_of("trunk", trunks)?;
    let proxies = peers_of("proxy", proxies)?;
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
    Ok((trunks, proxies))
}

/// `[[route]]`.
fn routes(
    raw: Vec<RawRoute>,
    queue_names: &HashSet<String>,
) -> Result<Vec<RouteConfig>, ConfigError> {
    let mut routes = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
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
    Ok(routes)
}

/// Prompt names: a file name without its extension (`welcome` is
/// `<prompts.dir>/<language>/welcome.wav`).
fn prompt_names(key: &str, names: Vec<String>) -> Result<Vec<String>, ConfigError> {
    for n in &names {
        if !is_name(n) {
            return Err(invalid(
                key,
                format!("{n:?} is not a prompt name (a-z, 0-9, - and _)"),
            ));
        }
    }
    Ok(names)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The categories of Indonesian 112 practice, used when none are configured.
const DEFAULT_CATEGORIES: &[(&str, &str, &str)] = &[
    ("kebakaran", "Kebakaran", "Fire"),
    ("kriminal", "Kriminal", "Crime"),
    ("kecelakaan", "Kecelakaan", "Traffic accident"),
    ("ambulans", "Ambulans", "Ambulance"),
    ("medis", "Kedaruratan medis", "Medical emergency"),
    ("bencana", "Bencana alam", "Natural disaster"),
    ("banjir", "Banjir", "Flood"),
    ("kdrt", "KDRT", "Domestic violence"),
    ("pohon-tumbang", "Pohon tumbang", "Fallen tree"),
    ("hewan-liar", "Hewan liar", "Wild animal"),
    ("orang-hilang", "Orang hilang", "Missing person"),
    ("ketertiban", "Gangguan ketertiban", "Public disorder"),
    ("lainnya", "Lainnya", "Other"),
];

/// `[[category]]`, or the defaults.
fn categories(raw: Vec<RawCategory>) -> Result<Vec<CategoryConfig>, ConfigError> {
    if raw.is_empty() {
        return Ok(DEFAULT_CATEGORIES
            .iter()
            .map(|(id, l, e)| CategoryConfig {
                id: id.to_string(),
                id_label: l.to_string(),
                en_label: e.to_string(),
            })
            .collect());
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, c) in raw.into_iter().enumerate() {
        if !is_name(&c.id) || !seen.insert(c.id.clone()) {
            return Err(invalid(
                format!("category[{i}].id"),
                format!("{:?} must be a unique name of a-z, 0-9, - and _", c.id),
            ));
        }
        if c.id_label.trim().is_empty() || c.en_label.trim().is_empty() {
            return Err(invalid(
                format!("category[{i}].id_label"),
                "labels must not be empty",
            ));
        }
        out.push(CategoryConfig {
            id: c.id,
            id_label: c.id_label,
            en_label: c.en_label,
        });
    }
    Ok(out)
}

/// `[http]`: absent, no console.
fn http(raw: Option<RawHttp>) -> Result<HttpConfig, ConfigError> {
    let Some(h) = raw else {
        return Ok(HttpConfig {
            listen: None,
            metrics_listen: None,
            session_key: PathBuf::from(super::raw::default_session_key()),
            session_hours: 12,
            lang: "id".into(),
            utc_offset_h: super::raw::default_utc_offset(),
            pause_reasons: super::raw::default_pause_reasons(),
            https: false,
        });
    };
    let addr = |key: &str, v: &str| {
        v.trim()
            .parse::<SocketAddr>()
            .map_err(|_| invalid(key, format!("{v:?} is not ADDRESS:PORT")))
    };
    let listen = addr("http.listen", &h.listen)?;
    let metrics_listen = h
        .metrics_listen
        .as_deref()
        .map(|m| addr("http.metrics_listen", m))
        .transpose()?;
    if !(1..=72).contains(&h.session_hours) {
        return Err(invalid("http.session_hours", "must be 1 to 72"));
    }
    if h.lang != "id" && h.lang != "en" {
        return Err(invalid("http.lang", "must be \"id\" or \"en\""));
    }
    if !(-12..=14).contains(&h.utc_offset_h) {
        return Err(invalid("http.utc_offset_h", "must be -12 to 14"));
    }
    if h.pause_reasons.is_empty()
        || !h.pause_reasons.iter().all(|r| {
            (1..=32).contains(&r.len())
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
    {
        return Err(invalid(
            "http.pause_reasons",
            "one or more reasons of 1-32 of a-z, 0-9 and -",
        ));
    }
    Ok(HttpConfig {
        listen: Some(listen),
        metrics_listen,
        session_key: PathBuf::from(h.session_key),
        session_hours: h.session_hours,
        lang: h.lang,
        utc_offset_h: h.utc_offset_h,
        https: h.https,
        pause_reasons: h.pause_reasons,
    })
}

/// `[[user]]`: names unique, and no seat's.
fn users(
    raw: Vec<RawUser>,
    seats: &[SeatConfig],
    agencies: &[AgencyConfig],
) -> Result<Vec<UserConfig>, ConfigError> {
    let mut seen: HashSet<String> = seats.iter().map(|s| s.user.clone()).collect();
    let mut out = Vec::new();
    for (i, u) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("user[{i}].{k}");
        if !is_sip_user(&u.name) || !seen.insert(u.name.clone()) {
            return Err(invalid(
                key("name"),
                format!(
                    "{:?} must be a unique user name (seats' names are taken)",
                    u.name
                ),
            ));
        }
        let role = match u.role.as_str() {
            "supervisor" => UserRole::Supervisor,
            "agency" => UserRole::Agency,
            other => {
                return Err(invalid(
                    key("role"),
                    format!("{other:?} is not \"supervisor\" or \"agency\""),
                ))
            }
        };
        let phc = argon2::password_hash::PasswordHash::new(&u.password_hash);
        if !phc.is_ok_and(|h| h.algorithm.as_str().starts_with("argon2")) {
            return Err(invalid(
                key("password_hash"),
                "must be an argon2 hash (siaga112 hash-password)",
            ));
        }
        if role == UserRole::Agency && u.agency.as_deref().is_none_or(|a| a.trim().is_empty()) {
            return Err(invalid(key("agency"), "an agency user needs its agency"));
        }
        if let Some(a) = &u.agency {
            if !agencies.iter().any(|x| &x.id == a) {
                return Err(invalid(
                    key("agency"),
                    format!("{a:?} is not an [[agency]] id"),
                ));
            }
        }
        out.push(UserConfig {
            name: u.name,
            role,
            password_hash: u.password_hash,
            agency: u.agency,
        });
    }
    Ok(out)
}

/// `[media]`.
fn media(raw: RawMedia) -> Result<MediaConfig, ConfigError> {
    let ports = raw
        .ports
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?)))
        .filter(|(a, b)| a < b && *a >= 1024)
        .ok_or_else(|| {
            invalid(
                "media.ports",
                format!("{:?} is not a range LOW-HIGH of ports from 1024", raw.ports),
            )
        })?;
    if ports.1 - ports.0 < 3 {
        return Err(invalid("media.ports", "must hold at least two port pairs"));
    }
    let advertise: IpAddr = raw.advertise.trim().parse().map_err(|_| {
        invalid(
            "media.advertise",
            format!("{:?} is not an IP address", raw.advertise),
        )
    })?;
    let bind = match &raw.bind {
        None => advertise,
        Some(b) => b
            .trim()
            .parse()
            .map_err(|_| invalid("media.bind", format!("{b:?} is not an IP address")))?,
    };
    if raw.timeout_s == 0 || raw.hold_timeout_s < raw.timeout_s {
        return Err(invalid(
            "media.timeout_s",
            "must be at least 1 and not above media.hold_timeout_s",
        ));
    }
    if !(-96.0..=0.0).contains(&raw.silence_threshold_dbov) {
        return Err(invalid(
            "media.silence_threshold_dbov",
            "must lie between -96 and 0",
        ));
    }
    Ok(MediaConfig {
        enabled: raw.enabled,
        ports,
        advertise,
        bind,
        timeout: Duration::from_secs(raw.timeout_s),
        hold_timeout: Duration::from_secs(raw.hold_timeout_s),
        silent_after: Duration::from_secs(raw.silent_after_s.max(1)),
        silence_threshold_dbov: raw.silence_threshold_dbov,
    })
}

/// `[caselog]`.
fn caselog(raw: RawCaseLog) -> Result<CaseLogConfig, ConfigError> {
    if raw.path.trim().is_empty() {
        return Err(invalid("caselog.path", "must not be empty"));
    }
    if raw.commit_window_ms > 1000 {
        return Err(invalid(
            "caselog.commit_window_ms",
            "must be at most 1000 (records wait this long for the disk)",
        ));
    }
    Ok(CaseLogConfig {
        path: PathBuf::from(raw.path),
        commit_window: Duration::from_millis(raw.commit_window_ms),
        buffer_records: raw.buffer_records.max(1),
    })
}

/// `[acd]`: feature codes (dialable, each for one thing) and prank handling.
fn acd(raw: RawAcd) -> Result<AcdConfig, ConfigError> {
    let a = raw;
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
    Ok(AcdConfig {
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
        resource_priority: a
            .resource_priority
            .into_iter()
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v))
            .collect(),
        text_idle: Duration::from_secs(a.text_idle_s.max(10)),
    })
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
                    format!("{l:?} is not of the form udp:, tcp: or tls:ADDR:PORT"),
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
        "tls" => ListenTransport::Tls,
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
