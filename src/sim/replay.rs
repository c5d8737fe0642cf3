//! `sim.replay`: the calls of a case-log export (the engine's own
//! `cases.jsonl`), replayed at their time of day instead of (or on top of)
//! the classes' Poisson arrivals; and `handle_s = { dist = "caselog" }`,
//! a class's handling times taken from the talk times in that log.
//!
//! Each case a trunk brought in becomes one call, `t` from midnight (WIB)
//! of the first case's day, in the class the operator gave it (its
//! `classified` record, else its `outcome` mark, else `unclassified`),
//! which must be a `[[sim.class]]` of the scenario. An answered case
//! keeps its talk time as its handling time; an abandoned one its wait as
//! its caller's patience; what the log cannot say (how long an abandoned
//! call would have taken, how long an answered caller would have waited)
//! is drawn from the class's distributions. Calls keep their caller's
//! number, so the engine's prank history sees repeat callers as they were.

use crate::caselog::{EndReason, Kind, Record};
use std::collections::HashMap;

/// The class of a case with no class or mark.
pub const UNCLASSIFIED: &str = "unclassified";
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
/// WIB, UTC+7: the day starts at midnight local time.
const WIB_MS: u64 = 7 * HOUR_MS;

/// One case of the log, as a call to replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Milliseconds from midnight (WIB) of the first case's day.
    pub t_ms: u64,
    /// The case's class or mark (`unclassified` without either).
    pub class: String,
    /// The caller's number, as a small index shared by all the caller's cases.
    pub caller: u64,
    /// Talk time, when a seat answered it.
    pub talk_s: Option<f64>,
    /// The wait before its caller hung up, when abandoned.
    pub gave_up_s: Option<f64>,
    /// The marks operators gave it.
    pub marks: Vec<String>,
}

#[derive(Default)]
struct Partial {
    opened_ms: u64,
    caller: String,
    class: Option<String>,
    marks: Vec<String>,
    talk_ms: Option<u64>,
    gave_up_ms: Option<u64>,
}

/// Reads a case log's text: the cases trunks brought in, in order of
/// arrival. `Err` says which line is not a case-log record.
pub fn cases(text: &str) -> Result<Vec<Case>, String> {
    let mut open: HashMap<String, Partial> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r = Record::from_line(line)
            .ok_or_else(|| format!("line {}: not a case-log record", n + 1))?;
        let Some(case) = r.case.as_ref().map(|c| c.as_str().to_string()) else {
            continue;
        };
        match r.kind {
            Kind::Opened {
                caller,
                trunk,
                from_seat,
                ..
            } => {
                if from_seat.is_some() || trunk.is_empty() {
                    continue;
                }
                if !open.contains_key(&case) {
                    order.push(case.clone());
                }
                open.insert(
                    case,
                    Partial {
                        opened_ms: r.time_ms,
                        caller,
                        ..Partial::default()
                    },
                );
            }
            Kind::Classified { class, .. } => {
                if let Some(p) = open.get_mut(&case) {
                    p.class = Some(class);
                }
            }
            Kind::Outcome { mark, .. } => {
                if let Some(p) = open.get_mut(&case) {
                    p.marks.push(mark);
                }
            }
            Kind::Ended {
                reason,
                wait_ms,
                talk_ms,
                seat,
                ..
            } => {
                if let Some(p) = open.get_mut(&case) {
                    if seat.is_some() {
                        p.talk_ms = Some(talk_ms);
                    } else if reason == EndReason::Abandoned {
                        p.gave_up_ms = Some(wait_ms);
                    }
                }
            }
            _ => {}
        }
    }
    let mut parts: Vec<Partial> = order.into_iter().filter_map(|c| open.remove(&c)).collect();
    parts.sort_by_key(|p| p.opened_ms);
    let Some(first) = parts.first().map(|p| p.opened_ms) else {
        return Ok(Vec::new());
    };
    let day0 = (first + WIB_MS) / DAY_MS * DAY_MS;
    let mut callers: HashMap<String, u64> = HashMap::new();
    Ok(parts
        .into_iter()
        .map(|p| {
            let next = callers.len() as u64;
            let caller = *callers.entry(p.caller).or_insert(next);
            Case {
                t_ms: p.opened_ms + WIB_MS - day0,
                class: p
                    .class
                    .or_else(|| p.marks.first().cloned())
                    .unwrap_or_else(|| UNCLASSIFIED.to_string()),
                caller,
                talk_s: p.talk_ms.map(|ms| ms as f64 / 1000.0),
                gave_up_s: p.gave_up_ms.map(|ms| ms as f64 / 1000.0),
                marks: p.marks,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caselog::CaseId;

    fn line(t: u64, case: u64, kind: Kind) -> String {
        Record {
            time_ms: t,
            case: Some(CaseId::new(1, case)),
            kind,
        }
        .to_line()
    }

    #[test]
    fn a_log_becomes_calls_with_their_class_caller_talk_and_patience() {
        // 2024-01-01T10:00:00+07:00
        let t0 = 1_704_078_000_000;
        let opened = |caller: &str| Kind::Opened {
            caller: caller.into(),
            called: "112".into(),
            service: "112".into(),
            trunk: "t".into(),
            from_seat: None,
        };
        let ended = |reason, wait_ms, talk_ms, seat: Option<&str>| Kind::Ended {
            reason,
            wait_ms,
            talk_ms,
            seat: seat.map(String::from),
            queue: None,
        };
        let log = [
            line(t0, 1, opened("+62811")),
            line(
                t0 + 1_000,
                2,
                Kind::Opened {
                    caller: "op1".into(),
                    called: "112".into(),
                    service: "112".into(),
                    trunk: String::new(),
                    from_seat: Some("op1".into()),
                },
            ),
            line(t0 + 5_000, 3, opened("+62899")),
            line(t0 + 9_000, 3, ended(EndReason::Abandoned, 4_000, 0, None)),
            line(
                t0 + 60_000,
                1,
                Kind::Classified {
                    class: "emergency".into(),
                    category: None,
                    by: "op1".into(),
                },
            ),
            line(
                t0 + 90_000,
                1,
                ended(EndReason::Completed, 2_000, 88_000, Some("op1")),
            ),
            line(t0 + 100_000, 4, opened("+62811")),
            line(
                t0 + 130_000,
                4,
                ended(EndReason::Completed, 2_000, 28_000, Some("op2")),
            ),
            line(
                t0 + 131_000,
                4,
                Kind::Outcome {
                    mark: "prank".into(),
                    by: None,
                },
            ),
        ]
        .join("\n");
        let c = cases(&log).unwrap();
        assert_eq!(c.len(), 3, "the seat's own call is not replayed");
        assert_eq!(c[0].t_ms, 10 * HOUR_MS);
        assert_eq!(c[0].class, "emergency");
        assert_eq!(c[0].talk_s, Some(88.0));
        assert_eq!(c[1].t_ms, 10 * HOUR_MS + 5_000);
        assert_eq!(c[1].class, UNCLASSIFIED);
        assert_eq!((c[1].talk_s, c[1].gave_up_s), (None, Some(4.0)));
        assert_eq!(c[2].class, "prank");
        assert_eq!(c[2].caller, c[0].caller, "the same number, the same caller");
        assert_ne!(c[1].caller, c[0].caller);
        assert_eq!(c[2].marks, ["prank"]);
        let e = cases(&format!("{log}\nnot json")).unwrap_err();
        assert!(e.starts_with("line 10:"), "{e}");
        assert!(cases("").unwrap().is_empty());
    }
}
