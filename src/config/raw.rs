//! The configuration file as serde reads it, with every default. Only
//! `validate` turns it into the typed [`super::Config`].

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) sip: RawSip,
    #[serde(default)]
    pub(super) acd: RawAcd,
    #[serde(default, rename = "seat")]
    pub(super) seats: Vec<RawSeat>,
    #[serde(default, rename = "trunk")]
    pub(super) trunks: Vec<RawTrunk>,
    #[serde(default, rename = "proxy")]
    pub(super) proxies: Vec<RawTrunk>,
    #[serde(default, rename = "route")]
    pub(super) routes: Vec<RawRoute>,
    #[serde(default, rename = "queue")]
    pub(super) queues: Vec<RawQueue>,
    #[serde(default)]
    pub(super) caselog: RawCaseLog,
    #[serde(default)]
    pub(super) media: RawMedia,
    #[serde(default)]
    pub(super) recording: RawRecording,
    #[serde(default)]
    pub(super) prompts: RawPrompts,
    #[serde(default, rename = "category")]
    pub(super) categories: Vec<RawCategory>,
    #[serde(default)]
    pub(super) http: Option<RawHttp>,
    #[serde(default, rename = "user")]
    pub(super) users: Vec<RawUser>,
    #[serde(default, rename = "agency")]
    pub(super) agencies: Vec<RawAgency>,
    #[serde(default)]
    pub(super) store: RawStore,
    #[serde(default)]
    pub(super) security: RawSecurity,
    #[serde(default)]
    pub(super) tls: Option<RawTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub(super) certificate: String,
    pub(super) key: String,
    #[serde(default)]
    pub(super) ca: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgency {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) categories: Vec<String>,
    #[serde(default)]
    pub(super) number: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStore {
    pub(super) path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSecurity {
    pub(super) register_rate: u32,
    pub(super) invite_rate: u32,
    pub(super) options_rate: u32,
    pub(super) other_rate: u32,
    pub(super) trusted_rate: u32,
    pub(super) ban_after: u32,
    pub(super) ban_s: u64,
    pub(super) ban_max_s: u64,
    pub(super) allow: Vec<String>,
    pub(super) connections_per_source: u32,
    pub(super) first_message_s: u64,
}
impl Default for RawSecurity {
    fn default() -> Self {
        RawSecurity {
            register_rate: 20,
            invite_rate: 20,
            options_rate: 10,
            other_rate: 50,
            trusted_rate: 5000,
            ban_after: 10,
            ban_s: 600,
            ban_max_s: 86_400,
            allow: Vec::new(),
            connections_per_source: 256,
            first_message_s: 30,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCategory {
    pub(super) id: String,
    pub(super) id_label: String,
    pub(super) en_label: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub(super) listen: String,
    #[serde(default)]
    pub(super) metrics_listen: Option<String>,
    #[serde(default = "default_session_key")]
    pub(super) session_key: String,
    #[serde(default = "default_session_hours")]
    pub(super) session_hours: u64,
    #[serde(default = "default_lang")]
    pub(super) lang: String,
    #[serde(default = "default_utc_offset")]
    pub(super) utc_offset_h: i64,
    #[serde(default = "default_pause_reasons")]
    pub(super) pause_reasons: Vec<String>,
    #[serde(default)]
    pub(super) https: bool,
}
pub(super) fn default_utc_offset() -> i64 {
    7
}
pub(super) fn default_pause_reasons() -> Vec<String> {
    ["break", "meal", "training", "meeting"]
        .map(String::from)
        .to_vec()
}
pub(super) fn default_session_key() -> String {
    "var/session.key".into()
}
pub(super) fn default_session_hours() -> u64 {
    12
}
pub(super) fn default_lang() -> String {
    "id".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    pub(super) name: String,
    pub(super) role: String,
    pub(super) password_hash: String,
    #[serde(default)]
    pub(super) agency: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMedia {
    pub(super) enabled: bool,
    pub(super) ports: String,
    pub(super) advertise: String,
    pub(super) bind: Option<String>,
    pub(super) timeout_s: u64,
    pub(super) hold_timeout_s: u64,
    pub(super) silent_after_s: u64,
    pub(super) silence_threshold_dbov: f32,
}
impl Default for RawMedia {
    fn default() -> Self {
        RawMedia {
            enabled: true,
            ports: "20000-29999".into(),
            advertise: "127.0.0.1".into(),
            bind: None,
            timeout_s: 30,
            hold_timeout_s: 7200,
            silent_after_s: 20,
            silence_threshold_dbov: -50.0,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRecording {
    pub(super) dir: String,
}
impl Default for RawRecording {
    fn default() -> Self {
        RawRecording {
            dir: "var/recordings".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPrompts {
    pub(super) dir: String,
    pub(super) language: String,
}
impl Default for RawPrompts {
    fn default() -> Self {
        RawPrompts {
            dir: "config/prompts".into(),
            language: "id".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSip {
    pub(super) listen: Vec<String>,
    pub(super) realm: String,
    #[serde(default = "default_algorithms")]
    pub(super) digest_algorithms: Vec<String>,
    #[serde(default = "default_nonce_ttl")]
    pub(super) nonce_ttl_s: u64,
    #[serde(default = "default_min_expires")]
    pub(super) min_expires_s: u32,
    #[serde(default = "default_max_expires")]
    pub(super) max_expires_s: u32,
    #[serde(default = "default_expires")]
    pub(super) default_expires_s: u32,
    #[serde(default = "default_max_message")]
    pub(super) max_message_bytes: usize,
    #[serde(default = "default_t1")]
    pub(super) t1_ms: u64,
    #[serde(default = "default_t2")]
    pub(super) t2_ms: u64,
    #[serde(default = "default_t4")]
    pub(super) t4_ms: u64,
    #[serde(default = "default_user_agent")]
    pub(super) user_agent: String,
    #[serde(default = "default_no_response")]
    pub(super) no_response_ms: u64,
    #[serde(default = "default_retry")]
    pub(super) retry_s: u64,
    #[serde(default = "default_nat")]
    pub(super) nat: String,
    #[serde(default = "default_keepalive")]
    pub(super) keepalive_s: u64,
}
pub(super) fn default_nat() -> String {
    "auto".into()
}
pub(super) fn default_keepalive() -> u64 {
    30
}
pub(super) fn default_no_response() -> u64 {
    4000
}
pub(super) fn default_retry() -> u64 {
    5
}

pub(super) fn default_algorithms() -> Vec<String> {
    vec!["MD5".into()]
}
pub(super) fn default_nonce_ttl() -> u64 {
    300
}
pub(super) fn default_min_expires() -> u32 {
    60
}
pub(super) fn default_max_expires() -> u32 {
    3600
}
pub(super) fn default_expires() -> u32 {
    600
}
pub(super) fn default_max_message() -> usize {
    65536
}
pub(super) fn default_t1() -> u64 {
    500
}
pub(super) fn default_t2() -> u64 {
    4000
}
pub(super) fn default_t4() -> u64 {
    5000
}
/// No version: a scanner learns the product at most, not which bugs it has.
pub(super) fn default_user_agent() -> String {
    "siaga112".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSeat {
    pub(super) user: String,
    pub(super) password: String,
    #[serde(default)]
    pub(super) queues: Vec<String>,
    #[serde(default)]
    pub(super) levels: std::collections::HashMap<String, u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAcd {
    #[serde(default = "code_pause")]
    pub(super) code_pause: String,
    #[serde(default = "code_unpause")]
    pub(super) code_unpause: String,
    #[serde(default = "code_logout")]
    pub(super) code_logout: String,
    #[serde(default = "code_prank")]
    pub(super) code_mark_prank: String,
    #[serde(default = "code_silent")]
    pub(super) code_mark_silent: String,
    #[serde(default = "prank_threshold")]
    pub(super) prank_threshold: u32,
    #[serde(default = "prank_window")]
    pub(super) prank_window_h: u64,
    #[serde(default = "prank_priority")]
    pub(super) prank_priority: i32,
    /// `Resource-Priority` values (RFC 4412, `esnet.0`..`esnet.4`) and
    /// what each adds to a call's queue priority.
    #[serde(default)]
    pub(super) resource_priority: std::collections::BTreeMap<String, i32>,
    /// A text conversation silent this long ends.
    #[serde(default = "text_idle")]
    pub(super) text_idle_s: u64,
}
fn text_idle() -> u64 {
    600
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
            resource_priority: std::collections::BTreeMap::new(),
            text_idle_s: text_idle(),
        }
    }
}
pub(super) fn code_pause() -> String {
    "*41".into()
}
pub(super) fn code_unpause() -> String {
    "*42".into()
}
pub(super) fn code_logout() -> String {
    "*43".into()
}
pub(super) fn code_prank() -> String {
    "*51".into()
}
pub(super) fn code_silent() -> String {
    "*52".into()
}
pub(super) fn prank_threshold() -> u32 {
    3
}
pub(super) fn prank_window() -> u64 {
    24
}
pub(super) fn prank_priority() -> i32 {
    -100
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrunk {
    pub(super) name: String,
    pub(super) peers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    #[serde(rename = "match")]
    pub(super) matches: Vec<String>,
    pub(super) queue: String,
    #[serde(default)]
    pub(super) service: Option<String>,
    #[serde(default)]
    pub(super) priority: i32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQueue {
    pub(super) name: String,
    #[serde(default = "default_ring_timeout")]
    pub(super) ring_timeout_s: u64,
    #[serde(default = "default_max_wait")]
    pub(super) max_wait_s: u64,
    #[serde(default)]
    pub(super) max_length: Option<u32>,
    #[serde(default)]
    pub(super) overflow: Option<String>,
    #[serde(default)]
    pub(super) wrapup_s: u64,
    #[serde(default = "default_aging")]
    pub(super) aging_step_s: u64,
    #[serde(default = "default_strategy")]
    pub(super) strategy: String,
    #[serde(default = "default_max_no_answer")]
    pub(super) max_no_answer: u32,
    #[serde(default)]
    pub(super) widen_to: Option<String>,
    #[serde(default)]
    pub(super) overflow_after_s: Option<u64>,
    #[serde(default = "default_announce")]
    pub(super) announce: Vec<String>,
    #[serde(default = "yes")]
    pub(super) early_media: bool,
    #[serde(default = "yes")]
    pub(super) record: bool,
}
pub(super) fn default_announce() -> Vec<String> {
    vec!["welcome".into(), "hold".into()]
}
pub(super) fn yes() -> bool {
    true
}
pub(super) fn default_strategy() -> String {
    "longest-idle".into()
}
pub(super) fn default_max_no_answer() -> u32 {
    1
}
pub(super) fn default_aging() -> u64 {
    60
}
pub(super) fn default_ring_timeout() -> u64 {
    15
}
pub(super) fn default_max_wait() -> u64 {
    120
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCaseLog {
    #[serde(default = "default_caselog_path")]
    pub(super) path: String,
    #[serde(default = "default_commit_window")]
    pub(super) commit_window_ms: u64,
    #[serde(default = "default_buffer_records")]
    pub(super) buffer_records: u64,
}
fn default_buffer_records() -> u64 {
    crate::caselog::DEFAULT_BUFFER_RECORDS
}
impl Default for RawCaseLog {
    fn default() -> Self {
        RawCaseLog {
            path: default_caselog_path(),
            commit_window_ms: default_commit_window(),
            buffer_records: default_buffer_records(),
        }
    }
}
pub(super) fn default_caselog_path() -> String {
    "var/cases.jsonl".into()
}
pub(super) fn default_commit_window() -> u64 {
    5
}
