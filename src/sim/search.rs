//! `--find-seats`: the fewest seats per shift that meet NENA's target for
//! the NENA classes, by runs on the same calls; `--compare`: two configs
//! side by side on the same calls.

use super::drive::{run_with, Arrival, Run, NS};
use super::report::{counted, Report, Stats};
use super::scenario::{covers, Scenario, ScenarioError, MAX_SEATS};
use serde::Serialize;
use std::fmt::Write as _;

/// One shift's result in a search.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ShiftFound {
    pub from_h: f64,
    pub to_h: f64,
    pub seats: u32,
    /// The NENA classes' calls that arrived in the shift's hours.
    pub nena_offered: u64,
    pub within_15s: f64,
    pub within_20s: f64,
    /// No seat count meets NENA's target here: with enough seats no call
    /// waits, yet too many callers are gone before the seat has rung
    /// `answer_delay_s` (or the sample is too small to absorb them). The
    /// seats are then the fewest that do as well as unlimited seats.
    pub unreachable: bool,
}

/// What `--find-seats` found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Found {
    /// The fewest seats per shift found that meet the target in every shift.
    pub shifts: Vec<ShiftFound>,
    /// Whether the target is met (false: not even with the most seats tried).
    pub met: bool,
    /// Runs of the whole scenario the search took.
    pub runs: u32,
    /// The run with the seats found.
    pub report: Report,
}

/// Per shift: (calls, within 15, within 20, meets NENA) for the NENA
/// classes' calls that arrived in its hours.
fn per_shift(s: &Scenario, run: &Run) -> Vec<Stats> {
    let nena = s.nena_classes();
    s.shifts
        .iter()
        .map(|sh| {
            Stats::of(counted(run).filter(|(a, _)| {
                let h = (a.t % (24 * 3600 * NS)) as f64 / (3600 * NS) as f64;
                nena.contains(&(a.class as usize)) && covers(sh.from_h, sh.to_h, h)
            }))
        })
        .collect()
}

fn with_seats(s: &Scenario, seats: &[u32]) -> Scenario {
    let mut t = s.clone();
    for (sh, n) in t.shifts.iter_mut().zip(seats) {
        sh.seats = *n;
    }
    t
}

/// The fewest seats per shift (at least one each) that meet NENA's target
/// in every shift, on `arrivals`. Grows the failing shifts until all pass,
/// then takes seats away one at a time, shift by shift, while all still pass.
///
/// A shift that fails although none of its NENA calls waited (every one
/// offered to a seat at once) cannot be helped by more seats: its callers
/// hung up while the seat rang. It stops growing and counts as passing
/// while it does as well as that (reported `unreachable`, `met` false).
pub fn find_seats(s: &Scenario, arrivals: &[Arrival]) -> Result<Found, ScenarioError> {
    if s.nena_classes().is_empty() {
        return Err(ScenarioError::Invalid {
            key: "sim.class".into(),
            why: "--find-seats needs a NENA class (a class named emergency, or nena = true)".into(),
        });
    }
    let mut runs = 0u32;
    let mut eval = |seats: &[u32]| -> Result<(Vec<Stats>, Scenario, Run), ScenarioError> {
        runs += 1;
        let t = with_seats(s, seats);
        let run = run_with(&t, arrivals.to_vec())?;
        Ok((per_shift(&t, &run), t, run))
    };
    let n = s.shifts.len();
    let mut seats = vec![1u32; n];
    let (mut stats, mut scen, mut run) = eval(&seats)?;
    let cap = MAX_SEATS / n as u32;
    // Per shift, once more seats cannot help: the best it can do.
    let mut best: Vec<Option<(f64, f64)>> = vec![None; n];
    let ok = |best: &[Option<(f64, f64)>], st: &[Stats]| {
        st.iter().zip(best).all(|(s, b)| {
            s.meets_nena()
                || b.is_some_and(|(w15, w20)| {
                    s.within_15s >= w15 - 1e-12 && s.within_20s >= w20 - 1e-12
                })
        })
    };
    loop {
        let mut grew = false;
        for i in 0..n {
            if stats[i].meets_nena() || best[i].is_some() {
                continue;
            }
            if stats[i].p_wait == 0.0 {
                best[i] = Some((stats[i].within_15s, stats[i].within_20s));
            } else if seats[i] < cap {
                seats[i] = (seats[i] + (seats[i] / 4).max(1)).min(cap);
                grew = true;
            }
        }
        if !grew {
            break;
        }
        (stats, scen, run) = eval(&seats)?;
    }
    let reached = ok(&best, &stats);
    if reached {
        for i in 0..n {
            while seats[i] > 1 {
                let mut fewer = seats.clone();
                fewer[i] -= 1;
                let (st, sc, r) = eval(&fewer)?;
                if !ok(&best, &st) {
                    break;
                }
                seats = fewer;
                (stats, scen, run) = (st, sc, r);
            }
        }
    }
    let met = stats.iter().all(Stats::meets_nena);
    let report = Report::new(&scen, &run);
    Ok(Found {
        shifts: s
            .shifts
            .iter()
            .zip(&seats)
            .zip(&stats)
            .enumerate()
            .map(|(i, ((sh, &seats), st))| ShiftFound {
                from_h: sh.from_h,
                to_h: sh.to_h,
                seats,
                nena_offered: st.offered,
                within_15s: st.within_15s,
                within_20s: st.within_20s,
                unreachable: !st.meets_nena() && best[i].is_some(),
            })
            .collect(),
        met,
        runs,
        report,
    })
}

impl Found {
    pub fn to_table(&self, label: &str) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{label}: fewest seats per shift for NENA (90 % within 15 s, 95 % within 20 s) for {}: {} ({} runs)",
            self.report.nena.classes.join(", "),
            if self.met {
                "found"
            } else if self.shifts.iter().any(|s| s.unreachable) {
                "NOT reachable"
            } else {
                "NOT met even with the most seats tried"
            },
            self.runs
        );
        let _ = writeln!(
            o,
            "{:>6} {:>6} {:>6} {:>10} {:>8} {:>8}",
            "from_h", "to_h", "seats", "nena_calls", "<=15s", "<=20s"
        );
        for s in &self.shifts {
            let _ = writeln!(
                o,
                "{:>6} {:>6} {:>6} {:>10} {:>8.1} {:>8.1}",
                s.from_h,
                s.to_h,
                s.seats,
                s.nena_offered,
                100.0 * s.within_15s,
                100.0 * s.within_20s
            );
        }
        if self.shifts.iter().any(|s| s.unreachable) {
            let _ = writeln!(
                o,
                "NOT reachable in {}: with enough seats none of those calls waits, yet too many \
                 callers hang up while the seat rings (answer_delay_s; or too few calls measured: \
                 simulate longer). The seats shown do as well as unlimited seats.",
                self.shifts
                    .iter()
                    .filter(|s| s.unreachable)
                    .map(|s| format!("{}-{} h", s.from_h, s.to_h))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        o
    }
}

fn share(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

/// Two reports side by side, class by class.
pub fn compare_table(a: &Report, b: &Report, la: &str, lb: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "A: {la}\nB: {lb}\n");
    let _ = writeln!(
        o,
        "{:<14} {:>8} | {:>7} {:>7} | {:>7} {:>7} | {:>7} {:>7} | {:>7} {:>7} | {:>7} {:>7} | {:>7} {:>7}",
        "class",
        "offered",
        "A mean",
        "B mean",
        "A p95",
        "B p95",
        "A<=15s",
        "B<=15s",
        "A<=20s",
        "B<=20s",
        "A abd%",
        "B abd%",
        "A lowp%",
        "B lowp%"
    );
    let mut names: Vec<&String> = a.classes.keys().collect();
    for k in b.classes.keys() {
        if !names.contains(&k) {
            names.push(k);
        }
    }
    let empty = Stats::default();
    let mut rows: Vec<(&str, &Stats, &Stats)> = names
        .iter()
        .map(|n| {
            (
                n.as_str(),
                a.classes.get(*n).unwrap_or(&empty),
                b.classes.get(*n).unwrap_or(&empty),
            )
        })
        .collect();
    rows.push(("all", &a.all, &b.all));
    for (n, x, y) in rows {
        let _ = writeln!(
            o,
            "{:<14} {:>8} | {:>7.1} {:>7.1} | {:>7.1} {:>7.1} | {:>7.1} {:>7.1} | {:>7.1} {:>7.1} | {:>7.1} {:>7.1} | {:>7.1} {:>7.1}",
            n,
            x.offered,
            x.mean_answer_s,
            y.mean_answer_s,
            x.p95_answer_s,
            y.p95_answer_s,
            100.0 * x.within_15s,
            100.0 * y.within_15s,
            100.0 * x.within_20s,
            100.0 * y.within_20s,
            100.0 * x.abandoned_share,
            100.0 * y.abandoned_share,
            share(x.deprioritized, x.offered),
            share(y.deprioritized, y.offered)
        );
    }
    let _ = writeln!(
        o,
        "\nNENA for {}: A {} ({:.1} % / {:.1} %), B {} ({:.1} % / {:.1} %); occupancy A {:.1} %, B {:.1} %",
        a.nena.classes.join(", "),
        if a.nena.met { "met" } else { "NOT met" },
        100.0 * a.nena.within_15s,
        100.0 * a.nena.within_20s,
        if b.nena.met { "met" } else { "NOT met" },
        100.0 * b.nena.within_15s,
        100.0 * b.nena.within_20s,
        100.0 * a.occupancy,
        100.0 * b.occupancy
    );
    o
}
