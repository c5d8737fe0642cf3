//! A scenario file: the `[sim]` section (callers, their classes, shifts)
//! beside the engine's own `[[queue]]`, `[acd]` and `[[route]]` sections,
//! and the engine configuration the simulator makes of it (seats, trunk,
//! routes, SIP on an address nothing binds).
//!
//! Every error names the key at fault, like the engine's own config errors.

use super::dist::Dist;
use crate::config::Config;
use serde::Deserialize;
use std::fmt;
use toml::{Table, Value};

/// Where the simulated trunk sends from (never bound: no socket is opened).
pub const TRUNK_ADDR: &str = "127.0.0.2:5080";
/// The engine's own (never bound) address.
pub const ENGINE_ADDR: &str = "127.0.0.1:5060";
/// Seat `i` (0-based) is `s{i+1}` at 127.0.0.1:(SEAT_PORT + i).
pub const SEAT_PORT: u16 = 20_000;
/// The queue made when the scenario names none.
pub const DEFAULT_QUEUE: &str = "112";

/// A bad scenario: the key and why, or a syntax error with its line.
#[derive(Debug, Clone, PartialEq)]
pub enum ScenarioError {
    Syntax(String),
    Invalid { key: String, why: String },
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Syntax(s) => f.write_str(s),
            ScenarioError::Invalid { key, why } => write!(f, "{key}: {why}"),
        }
    }
}

impl std::error::Error for ScenarioError {}

fn invalid(key: impl Into<String>, why: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        key: key.into(),
        why: why.into(),
    }
}

/// A class of callers: what they dial, how many call, how long they take.
#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    pub name: String,
    pub dial: String,
    /// Calls per hour, for each hour of the day.
    pub per_hour: [f64; 24],
    pub handle: Dist,
    pub patience: Dist,
    /// Distinct callers the calls come from (0: every call a new caller).
    pub callers: u64,
    /// Zipf exponent of how often each of those callers calls (0: evenly).
    pub caller_skew: f64,
    /// What the operator marks an answered call of this class as
    /// (`prank`: the engine's prank history sees it).
    pub mark: Option<String>,
    /// The share of answered calls the operator marks.
    pub mark_share: f64,
    /// Measured against NENA's target (default: the class `emergency`).
    pub nena: bool,
}

/// Seats logged in from `from_h` to `to_h` every day (wrapping midnight
/// when `to_h < from_h`). Overlapping shifts add up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    pub from_h: f64,
    pub to_h: f64,
    pub seats: u32,
}

/// `seats` of the logged-in seats on a pause from `from_h` to `to_h` every
/// day (each finishes its call first).
#[derive(Debug, Clone, PartialEq)]
pub struct Pause {
    pub from_h: f64,
    pub to_h: f64,
    pub seats: u32,
    pub reason: String,
}

/// Whether hour-of-day `h` lies in `[from, to)`, wrapping midnight.
pub fn covers(from: f64, to: f64, h: f64) -> bool {
    if from < to {
        h >= from && h < to
    } else {
        h >= from || h < to
    }
}

/// A whole scenario, validated.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub hours: f64,
    pub seed: u64,
    /// Calls arriving before this are simulated but not counted.
    pub warmup_h: f64,
    /// How long a seat rings before its operator answers (counted in the wait).
    pub answer_delay_s: f64,
    /// The engine's prank-aware queueing on (its `[acd]` prank settings) or
    /// off (FIFO whatever the callers' history).
    pub prank_aware: bool,
    pub classes: Vec<Class>,
    pub shifts: Vec<Shift>,
    pub pauses: Vec<Pause>,
    /// Calls of day `d` are scaled by `day_factor[d % 7]` (empty: all 1).
    pub day_factor: Vec<f64>,
    /// The engine's own sections, as given.
    pub engine: Table,
    /// The calls of `sim.replay`'s case log, within `hours`, in order.
    pub replay: Vec<ReplayCall>,
}

/// A call of a replayed case log.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayCall {
    /// Nanoseconds from hour 0 (midnight WIB of the log's first day).
    pub t_ns: u64,
    pub class: u16,
    /// The caller, the same for all of a number's calls in the log.
    pub caller: u64,
    /// Talk time in the log (answered), else drawn from the class.
    pub handle_s: Option<f64>,
    /// How long its caller waited before hanging up (abandoned), else drawn.
    pub patience_s: Option<f64>,
    /// The operator gave it the class's mark.
    pub marked: bool,
}

#[derive(Deserialize)]
struct SimDoc {
    sim: Option<RawSim>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSim {
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "default_hours")]
    hours: f64,
    #[serde(default = "default_seed")]
    seed: u64,
    #[serde(default)]
    warmup_h: f64,
    #[serde(default = "default_answer_delay")]
    answer_delay_s: f64,
    #[serde(default)]
    prank_aware: bool,
    #[serde(default)]
    profile: Option<Vec<f64>>,
    #[serde(default)]
    day_factor: Option<Vec<f64>>,
    #[serde(default)]
    class: Vec<RawClass>,
    #[serde(default)]
    shift: Vec<RawShift>,
    #[serde(default)]
    pause: Vec<RawPause>,
    /// A case-log export (the engine's `cases.jsonl`) to replay.
    #[serde(default)]
    replay: Option<String>,
}

fn default_hours() -> f64 {
    24.0
}
fn default_seed() -> u64 {
    1
}
/// A couple of seconds of ringing before the operator picks up.
pub const DEFAULT_ANSWER_DELAY_S: f64 = 2.0;
fn default_answer_delay() -> f64 {
    DEFAULT_ANSWER_DELAY_S
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRate {
    One(f64),
    Hours(Vec<f64>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    name: String,
    dial: String,
    #[serde(default)]
    calls_per_hour: Option<RawRate>,
    #[serde(default)]
    calls_per_day: Option<f64>,
    handle_s: RawDist,
    #[serde(default)]
    patience_s: Option<RawDist>,
    #[serde(default)]
    callers: u64,
    #[serde(default)]
    caller_skew: f64,
    #[serde(default)]
    mark: Option<String>,
    #[serde(default)]
    mark_share: Option<f64>,
    #[serde(default)]
    nena: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDist {
    dist: String,
    #[serde(default)]
    mean: Option<f64>,
    #[serde(default)]
    sd: Option<f64>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    values: Option<Vec<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShift {
    from_h: f64,
    to_h: f64,
    seats: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPause {
    from_h: f64,
    to_h: f64,
    seats: u32,
    #[serde(default = "default_pause_reason")]
    reason: String,
}

fn default_pause_reason() -> String {
    "break".into()
}

/// The engine sections a scenario may hold; the rest the simulator makes.
const ENGINE_SECTIONS: &[&str] = &["queue", "acd", "route", "category"];
const MADE_SECTIONS: &[&str] = &[
    "sip",
    "seat",
    "trunk",
    "proxy",
    "media",
    "recording",
    "prompts",
    "caselog",
    "http",
    "user",
];

/// The most seats a scenario may log in at once.
pub const MAX_SEATS: u32 = 5_000;
/// The longest simulated time: a leap year.
pub const MAX_HOURS: f64 = 24.0 * 366.0;
/// The most calls a scenario may expect over its hours (a year of DKI
/// Jakarta is 637,292): the calls are drawn up front, in memory.
pub const MAX_CALLS: f64 = 20_000_000.0;

impl RawDist {
    fn build(self, key: &str, patience: bool) -> Result<Dist, ScenarioError> {
        let positive = |k: &str, v: Option<f64>| -> Result<f64, ScenarioError> {
            let k = format!("{key}.{k}");
            match v {
                None => Err(invalid(
                    k,
                    format!("missing (dist = {:?} needs it)", self.dist),
                )),
                Some(v) if !v.is_finite() || v <= 0.0 => {
                    Err(invalid(k, "must be a positive number of seconds"))
                }
                Some(v) => Ok(v),
            }
        };
        let unused = |names: &[(&str, bool)]| -> Result<(), ScenarioError> {
            match names.iter().find(|n| n.1) {
                Some((n, _)) => Err(invalid(
                    format!("{key}.{n}"),
                    format!("not used by dist = {:?}", self.dist),
                )),
                None => Ok(()),
            }
        };
        let (m, s, v, vs) = (
            self.mean.is_some(),
            self.sd.is_some(),
            self.value.is_some(),
            self.values.is_some(),
        );
        match self.dist.as_str() {
            "none" if patience => {
                unused(&[("mean", m), ("sd", s), ("value", v), ("values", vs)])?;
                Ok(Dist::None)
            }
            "fixed" => {
                unused(&[("mean", m), ("sd", s), ("values", vs)])?;
                let value = match self.value {
                    Some(x) if x.is_finite() && (x > 0.0 || patience && x >= 0.0) => x,
                    Some(_) => {
                        return Err(invalid(
                            format!("{key}.value"),
                            "must be a positive number of seconds",
                        ))
                    }
                    None => {
                        return Err(invalid(
                            format!("{key}.value"),
                            "missing (dist = \"fixed\" needs it)",
                        ))
                    }
                };
                Ok(Dist::Fixed(value))
            }
            "exponential" => {
                unused(&[("sd", s), ("value", v), ("values", vs)])?;
                Ok(Dist::Exponential {
                    mean: positive("mean", self.mean)?,
                })
            }
            "lognormal" => {
                unused(&[("value", v), ("values", vs)])?;
                let mean = positive("mean", self.mean)?;
                let sd = positive("sd", self.sd)?;
                Ok(Dist::lognormal(mean, sd))
            }
            "empirical" => {
                unused(&[("mean", m), ("sd", s), ("value", v)])?;
                let values = self.values.unwrap_or_default();
                if values.is_empty() {
                    return Err(invalid(
                        format!("{key}.values"),
                        "must list at least one observed number of seconds",
                    ));
                }
                if let Some(i) = values.iter().position(|x| !x.is_finite() || *x < 0.0) {
                    return Err(invalid(
                        format!("{key}.values[{i}]"),
                        "must be a number of seconds, not negative",
                    ));
                }
                Ok(Dist::Empirical(values))
            }
            other => Err(invalid(
                format!("{key}.dist"),
                format!(
                    "{other:?} is not one of {}",
                    if patience {
                        "none, fixed, exponential, lognormal, empirical"
                    } else {
                        "fixed, exponential, lognormal, empirical"
                    }
                ),
            )),
        }
    }
}

fn hours_of(key: &str, v: &[f64]) -> Result<(), ScenarioError> {
    if let Some(i) = v.iter().position(|x| !x.is_finite() || *x < 0.0) {
        return Err(invalid(
            format!("{key}[{i}]"),
            "must be a number, not negative",
        ));
    }
    Ok(())
}

fn hour_key(key: &str, v: f64, upto: bool) -> Result<f64, ScenarioError> {
    let ok = if upto {
        v > 0.0 && v <= 24.0
    } else {
        (0.0..24.0).contains(&v)
    };
    if !v.is_finite() || !ok {
        return Err(invalid(
            key,
            if upto {
                "must be an hour of the day above 0 and up to 24"
            } else {
                "must be an hour of the day from 0 to below 24"
            },
        ));
    }
    Ok(v)
}

impl Scenario {
    /// Parses and validates a scenario, after `sets` (`key=value`, as
    /// `--set` gives them).
    pub fn parse(text: &str, name: &str, sets: &[String]) -> Result<Scenario, ScenarioError> {
        let mut doc: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ScenarioError::Syntax(one_line(&e.to_string())))?;
        let text = if sets.is_empty() {
            text.to_string()
        } else {
            for s in sets {
                apply_set(&mut doc, s)?;
            }
            toml::to_string(&doc).map_err(|e| ScenarioError::Syntax(e.to_string()))?
        };
        let sim = toml::from_str::<SimDoc>(&text)
            .map_err(|e| ScenarioError::Syntax(one_line(&e.to_string())))?
            .sim
            .ok_or_else(|| invalid("sim", "missing: a scenario needs a [sim] section"))?;
        doc.remove("sim");
        for k in doc.keys() {
            if MADE_SECTIONS.contains(&k.as_str()) {
                return Err(invalid(
                    k,
                    "the simulator makes this section itself (seats from [[sim.shift]], a trunk, SIP on an unbound address); remove it",
                ));
            }
            if !ENGINE_SECTIONS.contains(&k.as_str()) {
                return Err(invalid(
                    k,
                    format!(
                        "not a section of a scenario (sim, {})",
                        ENGINE_SECTIONS.join(", ")
                    ),
                ));
            }
        }
        let s = Scenario::build(sim, name, doc)?;
        // The engine must accept what we make of it.
        s.engine_config(s.max_seats())?;
        Ok(s)
    }

    fn build(raw: RawSim, name: &str, engine: Table) -> Result<Scenario, ScenarioError> {
        if !raw.hours.is_finite() || raw.hours <= 0.0 || raw.hours > MAX_HOURS {
            return Err(invalid(
                "sim.hours",
                "must be above 0 and at most 8784 (a year)",
            ));
        }
        if !raw.warmup_h.is_finite() || raw.warmup_h < 0.0 || raw.warmup_h >= raw.hours {
            return Err(invalid(
                "sim.warmup_h",
                "must be at least 0 and below sim.hours",
            ));
        }
        if !raw.answer_delay_s.is_finite() || raw.answer_delay_s < 0.0 {
            return Err(invalid(
                "sim.answer_delay_s",
                "must be a number of seconds, not negative",
            ));
        }
        let profile = match raw.profile {
            None => None,
            Some(p) => {
                if p.len() != 24 {
                    return Err(invalid(
                        "sim.profile",
                        format!("must list 24 numbers (one per hour), not {}", p.len()),
                    ));
                }
                hours_of("sim.profile", &p)?;
                let sum: f64 = p.iter().sum();
                if sum <= 0.0 {
                    return Err(invalid("sim.profile", "must have a positive sum"));
                }
                Some(p.iter().map(|x| x / sum).collect::<Vec<f64>>())
            }
        };
        let day_factor = raw.day_factor.unwrap_or_default();
        if !day_factor.is_empty() && day_factor.len() != 7 {
            return Err(invalid(
                "sim.day_factor",
                format!(
                    "must list 7 numbers (Monday first), not {}",
                    day_factor.len()
                ),
            ));
        }
        hours_of("sim.day_factor", &day_factor)?;
        if raw.class.is_empty() {
            return Err(invalid(
                "sim.class",
                "missing: a scenario needs at least one [[sim.class]]",
            ));
        }
        let mut classes = Vec::new();
        // Classes whose handling times come from the replayed log.
        let mut from_log: Vec<usize> = Vec::new();
        for (i, c) in raw.class.into_iter().enumerate() {
            let key = |k: &str| format!("sim.class[{i}].{k}");
            if c.name.trim().is_empty() {
                return Err(invalid(key("name"), "must not be empty"));
            }
            if classes.iter().any(|o: &Class| o.name == c.name) {
                return Err(invalid(
                    key("name"),
                    format!("class {:?} is defined twice", c.name),
                ));
            }
            if c.dial.trim().is_empty()
                || c.dial
                    .contains(|ch: char| ch.is_whitespace() || "<>@;\"".contains(ch))
            {
                return Err(invalid(
                    key("dial"),
                    "must be a number or service URN to dial (112, urn:service:sos...)",
                ));
            }
            let per_hour: [f64; 24] = match (c.calls_per_hour, c.calls_per_day) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        key("calls_per_day"),
                        "give calls_per_hour or calls_per_day, not both",
                    ))
                }
                (None, None) if raw.replay.is_some() => [0.0; 24],
                (None, None) => {
                    return Err(invalid(
                        key("calls_per_hour"),
                        "missing (or calls_per_day, or sim.replay)",
                    ))
                }
                (Some(RawRate::One(x)), None) => {
                    if !x.is_finite() || x < 0.0 {
                        return Err(invalid(
                            key("calls_per_hour"),
                            "must be a number, not negative",
                        ));
                    }
                    [x; 24]
                }
                (Some(RawRate::Hours(v)), None) => {
                    if v.len() != 24 {
                        return Err(invalid(
                            key("calls_per_hour"),
                            format!("must be one number or a list of 24, not {}", v.len()),
                        ));
                    }
                    hours_of(&key("calls_per_hour"), &v)?;
                    std::array::from_fn(|h| v[h])
                }
                (None, Some(d)) => {
                    if !d.is_finite() || d < 0.0 {
                        return Err(invalid(
                            key("calls_per_day"),
                            "must be a number, not negative",
                        ));
                    }
                    match &profile {
                        Some(p) => std::array::from_fn(|h| d * p[h]),
                        None => [d / 24.0; 24],
                    }
                }
            };
            let handle = if c.handle_s.dist == "caselog" {
                if raw.replay.is_none() {
                    return Err(invalid(
                        key("handle_s.dist"),
                        "\"caselog\" takes the talk times of sim.replay's log: set sim.replay",
                    ));
                }
                let h = &c.handle_s;
                for (k, set) in [
                    ("mean", h.mean.is_some()),
                    ("sd", h.sd.is_some()),
                    ("value", h.value.is_some()),
                    ("values", h.values.is_some()),
                ] {
                    if set {
                        return Err(invalid(
                            key(&format!("handle_s.{k}")),
                            "not used by dist = \"caselog\"",
                        ));
                    }
                }
                from_log.push(i);
                Dist::Empirical(Vec::new())
            } else {
                c.handle_s.build(&key("handle_s"), false)?
            };
            let patience = match c.patience_s {
                Some(p) => p.build(&key("patience_s"), true)?,
                None => Dist::None,
            };
            if !c.caller_skew.is_finite() || c.caller_skew < 0.0 || c.caller_skew > 5.0 {
                return Err(invalid(
                    key("caller_skew"),
                    "must be a Zipf exponent from 0 (even) to 5",
                ));
            }
            if c.caller_skew > 0.0 && c.callers == 0 {
                return Err(invalid(
                    key("caller_skew"),
                    "needs callers (how many distinct callers)",
                ));
            }
            if c.callers > 10_000_000 {
                return Err(invalid(key("callers"), "must be at most 10,000,000"));
            }
            if let Some(m) = &c.mark {
                if m.trim().is_empty()
                    || !m
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
                {
                    return Err(invalid(
                        key("mark"),
                        "must be a mark's name (prank, silent...)",
                    ));
                }
            }
            let mark_share = match (c.mark_share, &c.mark) {
                (Some(_), None) => return Err(invalid(key("mark_share"), "needs mark")),
                (Some(x), Some(_)) if !(0.0..=1.0).contains(&x) => {
                    return Err(invalid(key("mark_share"), "must be a share from 0 to 1"))
                }
                (Some(x), Some(_)) => x,
                (None, Some(_)) => 1.0,
                (None, None) => 0.0,
            };
            classes.push(Class {
                nena: c.nena.unwrap_or(c.name == "emergency"),
                name: c.name,
                dial: c.dial,
                per_hour,
                handle,
                patience,
                callers: c.callers,
                caller_skew: c.caller_skew,
                mark: c.mark,
                mark_share,
            });
        }
        if raw.shift.is_empty() {
            return Err(invalid(
                "sim.shift",
                "missing: a scenario needs at least one [[sim.shift]]",
            ));
        }
        let mut shifts = Vec::new();
        for (i, s) in raw.shift.into_iter().enumerate() {
            let key = |k: &str| format!("sim.shift[{i}].{k}");
            let from_h = hour_key(&key("from_h"), s.from_h, false)?;
            let to_h = hour_key(&key("to_h"), s.to_h, true)?;
            if from_h == to_h {
                return Err(invalid(
                    key("to_h"),
                    "must differ from from_h (0 to 24 is the whole day)",
                ));
            }
            shifts.push(Shift {
                from_h,
                to_h,
                seats: s.seats,
            });
        }
        let mut pauses = Vec::new();
        for (i, p) in raw.pause.into_iter().enumerate() {
            let key = |k: &str| format!("sim.pause[{i}].{k}");
            let from_h = hour_key(&key("from_h"), p.from_h, false)?;
            let to_h = hour_key(&key("to_h"), p.to_h, true)?;
            if from_h == to_h {
                return Err(invalid(key("to_h"), "must differ from from_h"));
            }
            if p.seats == 0 {
                return Err(invalid(key("seats"), "must be at least 1"));
            }
            if p.reason.trim().is_empty() {
                return Err(invalid(key("reason"), "must not be empty"));
            }
            pauses.push(Pause {
                from_h,
                to_h,
                seats: p.seats,
                reason: p.reason,
            });
        }
        let busiest_day = day_factor.iter().copied().fold(1.0_f64, f64::max);
        let expected: Vec<f64> = classes
            .iter()
            .map(|c| c.per_hour.iter().sum::<f64>() / 24.0 * raw.hours * busiest_day)
            .collect();
        if expected.iter().sum::<f64>() > MAX_CALLS {
            let (i, _) =
                expected
                    .iter()
                    .enumerate()
                    .fold((0, 0.0), |b, (i, &x)| if x > b.1 { (i, x) } else { b });
            return Err(invalid(
                format!("sim.class[{i}].calls_per_hour"),
                format!(
                    "about {:.0} calls over sim.hours: at most {MAX_CALLS:.0} in one run",
                    expected.iter().sum::<f64>()
                ),
            ));
        }
        let replay = match &raw.replay {
            None => Vec::new(),
            Some(path) => replay_calls(path, raw.hours, &mut classes, &from_log)?,
        };
        let s = Scenario {
            replay,
            name: raw.name.unwrap_or_else(|| name.to_string()),
            hours: raw.hours,
            seed: raw.seed,
            warmup_h: raw.warmup_h,
            answer_delay_s: raw.answer_delay_s,
            prank_aware: raw.prank_aware,
            classes,
            shifts,
            pauses,
            day_factor,
            engine,
        };
        let max = s.max_seats();
        if max == 0 {
            return Err(invalid("sim.shift", "no seat is ever logged in"));
        }
        if max > MAX_SEATS {
            return Err(invalid(
                "sim.shift",
                format!("{max} seats at once: at most {MAX_SEATS}"),
            ));
        }
        Ok(s)
    }

    /// The hours of the day where shifts or pauses change.
    pub fn breakpoints(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .shifts
            .iter()
            .flat_map(|s| [s.from_h, s.to_h % 24.0])
            .chain(self.pauses.iter().flat_map(|p| [p.from_h, p.to_h % 24.0]))
            .chain([0.0])
            .collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    }

    /// Seats logged in at hour-of-day `h`.
    pub fn seats_at(&self, h: f64) -> u32 {
        self.shifts
            .iter()
            .filter(|s| covers(s.from_h, s.to_h, h))
            .map(|s| s.seats)
            .sum()
    }

    /// Seats paused at hour-of-day `h` (and the reason of the first pause).
    pub fn paused_at(&self, h: f64) -> (u32, &str) {
        let mut n = 0;
        let mut why = "break";
        for p in self.pauses.iter().filter(|p| covers(p.from_h, p.to_h, h)) {
            if n == 0 {
                why = &p.reason;
            }
            n += p.seats;
        }
        (n, why)
    }

    /// The most seats logged in at once: how many `[[seat]]`s the engine gets.
    pub fn max_seats(&self) -> u32 {
        self.breakpoints()
            .into_iter()
            .map(|h| self.seats_at(h))
            .max()
            .unwrap_or(0)
    }

    /// The NENA classes (measured against 90 % in 15 s, 95 % in 20 s).
    pub fn nena_classes(&self) -> Vec<usize> {
        (0..self.classes.len())
            .filter(|&i| self.classes[i].nena)
            .collect()
    }

    /// The engine configuration for this scenario with `seats` seats.
    pub fn engine_config(&self, seats: u32) -> Result<Config, ScenarioError> {
        let text = self.engine_text(seats);
        let cfg = Config::parse(&text).map_err(|e| ScenarioError::Invalid {
            key: "engine".into(),
            why: format!("the engine refuses the scenario's sections: {e}"),
        })?;
        for (i, c) in self.classes.iter().enumerate() {
            let routed = cfg.routes.iter().any(|r| {
                r.matches.iter().any(|m| match m.strip_suffix('*') {
                    Some(p) => c.dial.len() > p.len() && c.dial.starts_with(p),
                    None => *m == c.dial,
                })
            });
            if !routed {
                return Err(invalid(
                    format!("sim.class[{i}].dial"),
                    format!("{:?} matches no [[route]]", c.dial),
                ));
            }
        }
        for q in &cfg.queues {
            if self.answer_delay_s >= q.ring_timeout.as_secs_f64() {
                return Err(invalid(
                    "sim.answer_delay_s",
                    format!(
                        "{} s: seats would ring out before answering (queue {:?} rings {} s)",
                        self.answer_delay_s,
                        q.name,
                        q.ring_timeout.as_secs()
                    ),
                ));
            }
        }
        Ok(cfg)
    }

    /// The engine configuration text: the scenario's own sections plus what
    /// the simulator makes (SIP on an address nothing binds, no media, the
    /// simulated trunk, one route for every dial, `seats` seats).
    pub fn engine_text(&self, seats: u32) -> String {
        let mut t = self.engine.clone();
        let mut sip = Table::new();
        sip.insert(
            "listen".into(),
            Value::Array(vec![Value::String(format!("udp:{ENGINE_ADDR}"))]),
        );
        sip.insert("realm".into(), "siaga112".into());
        // No OPTIONS keep-alives to answer; registrations last the whole run.
        sip.insert("keepalive_s".into(), Value::Integer(0));
        sip.insert("max_expires_s".into(), Value::Integer(31_622_400));
        t.insert("sip".into(), Value::Table(sip));
        let mut media = Table::new();
        media.insert("enabled".into(), Value::Boolean(false));
        t.insert("media".into(), Value::Table(media));
        let mut trunk = Table::new();
        trunk.insert("name".into(), "sim".into());
        let ip = TRUNK_ADDR.split(':').next().unwrap_or("127.0.0.2");
        trunk.insert(
            "peers".into(),
            Value::Array(vec![Value::String(format!("{ip}/32"))]),
        );
        t.insert("trunk".into(), Value::Array(vec![Value::Table(trunk)]));
        if !t.contains_key("queue") {
            let mut q = Table::new();
            q.insert("name".into(), DEFAULT_QUEUE.into());
            q.insert("wrapup_s".into(), Value::Integer(0));
            t.insert("queue".into(), Value::Array(vec![Value::Table(q)]));
        }
        let queue_names: Vec<Value> = match t.get("queue") {
            Some(Value::Array(a)) => a.iter().filter_map(|q| q.get("name").cloned()).collect(),
            _ => Vec::new(),
        };
        if !t.contains_key("route") {
            let mut dials: Vec<Value> = Vec::new();
            for c in &self.classes {
                let d = Value::String(c.dial.clone());
                if !dials.contains(&d) {
                    dials.push(d);
                }
            }
            let mut r = Table::new();
            r.insert("match".into(), Value::Array(dials));
            r.insert(
                "queue".into(),
                queue_names
                    .first()
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_QUEUE.into()),
            );
            t.insert("route".into(), Value::Array(vec![Value::Table(r)]));
        }
        if !self.prank_aware {
            // FIFO whatever a caller's history: no caller reaches the threshold.
            let acd = t.entry("acd").or_insert_with(|| Value::Table(Table::new()));
            if let Value::Table(a) = acd {
                a.insert(
                    "prank_threshold".into(),
                    Value::Integer(i64::from(u32::MAX)),
                );
            }
        }
        let seat_list = (0..seats)
            .map(|i| {
                let mut s = Table::new();
                s.insert("user".into(), Value::String(seat_name(i as usize)));
                s.insert("password".into(), Value::String(seat_password(i as usize)));
                s.insert("queues".into(), Value::Array(queue_names.clone()));
                Value::Table(s)
            })
            .collect();
        t.insert("seat".into(), Value::Array(seat_list));
        toml::to_string(&t).unwrap_or_default()
    }
}

/// Reads `sim.replay`'s case log: its calls within `hours`, each in the
/// class named by the case's class (or mark); fills the handling times of
/// the `from_log` classes with the log's talk times.
fn replay_calls(
    path: &str,
    hours: f64,
    classes: &mut [Class],
    from_log: &[usize],
) -> Result<Vec<ReplayCall>, ScenarioError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid("sim.replay", format!("cannot read {path}: {e}")))?;
    let cases =
        super::replay::cases(&text).map_err(|e| invalid("sim.replay", format!("{path}: {e}")))?;
    let end_ns = hours * 3600e9;
    let mut calls = Vec::new();
    for c in &cases {
        let Some(ci) = classes.iter().position(|k| k.name == c.class) else {
            let n = cases.iter().filter(|o| o.class == c.class).count();
            return Err(invalid(
                "sim.replay",
                format!(
                    "{path} has {n} calls of class {:?}: add a [[sim.class]] named so",
                    c.class
                ),
            ));
        };
        let t_ns = c.t_ms.saturating_mul(1_000_000);
        if t_ns as f64 >= end_ns {
            continue;
        }
        let class = &classes[ci];
        calls.push(ReplayCall {
            t_ns: t_ns.max(1),
            class: ci as u16,
            caller: c.caller,
            handle_s: c.talk_s.filter(|t| *t > 0.0),
            patience_s: c.gave_up_s,
            marked: class.mark.as_ref().is_some_and(|m| c.marks.contains(m)),
        });
    }
    for &i in from_log {
        let talks: Vec<f64> = cases
            .iter()
            .filter(|c| c.class == classes[i].name)
            .filter_map(|c| c.talk_s.filter(|t| *t > 0.0))
            .collect();
        if talks.is_empty() {
            return Err(invalid(
                format!("sim.class[{i}].handle_s.dist"),
                format!(
                    "\"caselog\": {path} has no answered call of class {:?}",
                    classes[i].name
                ),
            ));
        }
        classes[i].handle = Dist::Empirical(talks);
    }
    Ok(calls)
}

/// Seat `i`'s user name (`s1`, `s2`...).
pub fn seat_name(i: usize) -> String {
    format!("s{}", i + 1)
}

pub fn seat_password(i: usize) -> String {
    format!("sim-{}", i + 1)
}

fn one_line(s: &str) -> String {
    s.trim_end().replace('\n', "\n  ")
}

/// Applies `key.path=value` to a TOML document (numbers in the path index
/// arrays); the value is read as TOML, or else taken as a string.
pub fn apply_set(doc: &mut Table, set: &str) -> Result<(), ScenarioError> {
    let Some((path, value)) = set.split_once('=') else {
        return Err(invalid(
            format!("--set {set}"),
            "must be KEY=VALUE (e.g. acd.prank_threshold=2)",
        ));
    };
    let (path, value) = (path.trim(), value.trim());
    let parsed = format!("v = {value}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(value.to_string()));
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(invalid(format!("--set {path}"), "is not a dotted key"));
    }
    fn walk(
        v: &mut Value,
        parts: &[&str],
        done: usize,
        value: Value,
        all: &[&str],
    ) -> Result<(), ScenarioError> {
        let here = all[..=done].join(".");
        let p = parts[0];
        let last = parts.len() == 1;
        match v {
            Value::Table(t) => {
                if last {
                    t.insert(p.to_string(), value);
                    return Ok(());
                }
                let next = t
                    .entry(p.to_string())
                    .or_insert_with(|| Value::Table(Table::new()));
                walk(next, &parts[1..], done + 1, value, all)
            }
            Value::Array(a) => {
                let n: usize = p.parse().map_err(|_| {
                    invalid(format!("--set {here}"), "an array: index it with a number")
                })?;
                let len = a.len();
                let slot = a.get_mut(n).ok_or_else(|| {
                    invalid(
                        format!("--set {here}"),
                        format!("the array has {len} entries"),
                    )
                })?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                walk(slot, &parts[1..], done + 1, value, all)
            }
            _ => Err(invalid(
                format!("--set {here}"),
                "is a value, not a table or array",
            )),
        }
    }
    let mut root = Value::Table(std::mem::take(doc));
    let r = walk(&mut root, &parts, 0, parsed, &parts);
    if let Value::Table(t) = root {
        *doc = t;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"
[sim]
hours = 24
[[sim.class]]
name = "emergency"
dial = "112"
calls_per_hour = 30
handle_s = { dist = "exponential", mean = 120 }
[[sim.shift]]
from_h = 0
to_h = 24
seats = 5
"#;

    fn err(text: &str) -> String {
        Scenario::parse(text, "t", &[]).unwrap_err().to_string()
    }

    #[test]
    fn the_contract_parses_with_its_defaults() {
        let s = Scenario::parse(MIN, "t", &[]).unwrap();
        assert_eq!(s.seed, 1);
        assert_eq!(s.classes[0].per_hour, [30.0; 24]);
        assert!(s.classes[0].nena);
        assert_eq!(s.classes[0].patience, Dist::None);
        assert_eq!(s.max_seats(), 5);
        let cfg = s.engine_config(5).unwrap();
        assert_eq!(cfg.seats.len(), 5);
        assert_eq!(cfg.queues[0].name, DEFAULT_QUEUE);
        assert_eq!(cfg.queues[0].wrapup.as_secs(), 0);
        assert_eq!(cfg.acd.prank_threshold, u32::MAX, "FIFO unless prank_aware");
        assert!(!cfg.media.enabled);
    }

    #[test]
    fn errors_name_the_key() {
        let e = err(&MIN.replace("mean = 120", "mean = -1"));
        assert!(e.starts_with("sim.class[0].handle_s.mean:"), "{e}");
        let e = err(&MIN.replace("\"exponential\"", "\"expo\""));
        assert!(e.starts_with("sim.class[0].handle_s.dist:"), "{e}");
        let e = err(&MIN.replace("calls_per_hour = 30", "calls_per_hour = [1, 2]"));
        assert!(e.starts_with("sim.class[0].calls_per_hour:"), "{e}");
        let e = err(&MIN.replace("calls_per_hour = 30", "calls_per_hr = 30"));
        assert!(e.contains("calls_per_hr"), "{e}");
        let e = err(&MIN.replace("to_h = 24", "to_h = 25"));
        assert!(e.starts_with("sim.shift[0].to_h:"), "{e}");
        let e = err(&format!(
            "{MIN}\n[[seat]]\nuser = \"x\"\npassword = \"y\"\n"
        ));
        assert!(e.starts_with("seat:"), "{e}");
        let e = err(&format!(
            "{MIN}\n[[queue]]\nname = \"q\"\nstrategy = \"fastest\"\n"
        ));
        assert!(e.contains("queue[0].strategy"), "{e}");
        let e = err(&format!(
            "{MIN}\n[[queue]]\nname = \"q\"\n[[route]]\nmatch = [\"110\"]\nqueue = \"q\"\n"
        ));
        assert!(e.starts_with("sim.class[0].dial:"), "{e}");
        let e = err(&MIN.replace("hours = 24", "hours = 24\nanswer_delay_s = 20"));
        assert!(e.starts_with("sim.answer_delay_s:"), "{e}");
        let e = err("[sim\n");
        assert!(e.contains("line 1"), "{e}");
        let e = err(&MIN.replace("calls_per_hour = 30", "calls_per_hour = 1e12"));
        assert!(e.starts_with("sim.class[0].calls_per_hour:"), "{e}");
    }

    #[test]
    fn sets_change_any_key() {
        let s = Scenario::parse(
            MIN,
            "t",
            &[
                "sim.prank_aware=true".into(),
                "sim.shift.0.seats=7".into(),
                "acd.prank_threshold=2".into(),
            ],
        )
        .unwrap();
        assert!(s.prank_aware);
        assert_eq!(s.max_seats(), 7);
        assert_eq!(s.engine_config(7).unwrap().acd.prank_threshold, 2);
        let e = Scenario::parse(MIN, "t", &["sim.shift.3.seats=1".into()]).unwrap_err();
        assert!(e.to_string().contains("sim.shift.3"), "{e}");
    }

    #[test]
    fn shifts_add_up_and_wrap_midnight() {
        let text = MIN.replace(
            "from_h = 0\nto_h = 24\nseats = 5",
            "from_h = 22\nto_h = 6\nseats = 2\n[[sim.shift]]\nfrom_h = 6\nto_h = 22\nseats = 3\n[[sim.shift]]\nfrom_h = 9\nto_h = 17\nseats = 4",
        );
        let s = Scenario::parse(&text, "t", &[]).unwrap();
        assert_eq!(s.seats_at(23.0), 2);
        assert_eq!(s.seats_at(3.0), 2);
        assert_eq!(s.seats_at(8.0), 3);
        assert_eq!(s.seats_at(12.0), 7);
        assert_eq!(s.max_seats(), 7);
    }
}
