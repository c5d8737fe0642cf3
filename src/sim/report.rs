//! What a run measured: per class and per hour of the day, answer times
//! (share within 10 / 15 / 20 s, mean, p90, p95), abandons, the share
//! that waited at all, seat occupancy, and NENA's target for emergencies;
//! as a table or JSON.

use super::drive::{Arrival, CallResult, Outcome, Run, NS, QUEUE_BINS, QUEUE_BIN_S};
use super::scenario::Scenario;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// NENA-STA-020.1: 90 % of calls answered within 15 s, 95 % within 20 s.
pub const NENA: [(u64, f64); 2] = [(15, 0.90), (20, 0.95)];

/// The figures of a set of calls (a class, an hour, a shift).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    /// Calls that arrived (after the warm-up).
    pub offered: u64,
    /// Answered by a seat.
    pub answered: u64,
    /// The caller hung up before an answer.
    pub abandoned: u64,
    /// Sent to the queue's overflow.
    pub overflowed: u64,
    /// Ended otherwise (a failure), or still open when the run stopped.
    pub other: u64,
    /// Share of calls that waited at all: not offered to a seat at once
    /// (with `answer_delay_s` > 0 every caller also hears the seat ring).
    pub p_wait: f64,
    /// Mean wait of all calls: to the answer, or to hanging up, or to the
    /// overflow (seconds).
    pub mean_wait_s: f64,
    /// Mean, median, p90 and p95 of the answered calls' answer times (s).
    pub mean_answer_s: f64,
    pub p50_answer_s: f64,
    pub p90_answer_s: f64,
    pub p95_answer_s: f64,
    /// Shares of the calls offered answered within 10, 15, 20 s (an
    /// abandoned call counts as not answered in time).
    pub within_10s: f64,
    pub within_15s: f64,
    pub within_20s: f64,
    /// Share of the calls offered that were abandoned.
    pub abandoned_share: f64,
    /// Calls queued behind everyone else as known pranksters' (prank-aware
    /// queueing on).
    pub deprioritized: u64,
}

impl Stats {
    pub fn of<'a>(calls: impl Iterator<Item = (&'a Arrival, &'a CallResult)>) -> Stats {
        let mut s = Stats::default();
        let mut answers: Vec<u64> = Vec::new();
        let (mut waited, mut wait_sum, mut w10, mut w15, mut w20) = (0u64, 0u64, 0u64, 0u64, 0u64);
        for (_, r) in calls {
            s.offered += 1;
            s.deprioritized += u64::from(r.deprioritized);
            if r.waited {
                waited += 1;
            }
            match r.outcome {
                Outcome::Answered => {
                    s.answered += 1;
                    answers.push(r.wait_ms);
                    w10 += u64::from(r.wait_ms <= 10_000);
                    w15 += u64::from(r.wait_ms <= 15_000);
                    w20 += u64::from(r.wait_ms <= 20_000);
                }
                Outcome::Abandoned => s.abandoned += 1,
                Outcome::Overflowed => s.overflowed += 1,
                Outcome::Failed | Outcome::Open => s.other += 1,
            }
            wait_sum += r.wait_ms;
        }
        if s.offered == 0 {
            return s;
        }
        let n = s.offered as f64;
        s.p_wait = waited as f64 / n;
        s.mean_wait_s = wait_sum as f64 / n / 1000.0;
        s.within_10s = w10 as f64 / n;
        s.within_15s = w15 as f64 / n;
        s.within_20s = w20 as f64 / n;
        s.abandoned_share = s.abandoned as f64 / n;
        if !answers.is_empty() {
            answers.sort_unstable();
            let pct = |q: f64| {
                let k = ((q * answers.len() as f64).ceil() as usize).clamp(1, answers.len());
                answers[k - 1] as f64 / 1000.0
            };
            s.mean_answer_s = answers.iter().sum::<u64>() as f64 / answers.len() as f64 / 1000.0;
            s.p50_answer_s = pct(0.50);
            s.p90_answer_s = pct(0.90);
            s.p95_answer_s = pct(0.95);
        }
        s
    }

    /// NENA's target met: 90 % within 15 s and 95 % within 20 s (of the
    /// calls offered). Nothing offered: met.
    pub fn meets_nena(&self) -> bool {
        self.offered == 0 || (self.within_15s >= NENA[0].1 && self.within_20s >= NENA[1].1)
    }
}

/// One hour of the day, over all the days simulated.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hour {
    pub hour: u32,
    /// Every class together.
    pub all: Stats,
    /// The NENA classes together.
    pub nena: Stats,
    /// Each class in this hour.
    pub classes: BTreeMap<String, Stats>,
    /// Seats logged in, on average over the hour.
    pub seats_on: f64,
    /// Seats paused, on average.
    pub seats_paused: f64,
    /// Share of the logged-in, unpaused seat time spent ringing, talking
    /// or in wrap-up.
    pub occupancy: f64,
    /// Mean and most calls waiting (ringing ones included).
    pub queue_mean: f64,
    pub queue_max: u32,
}

/// NENA's target for the NENA classes together.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Nena {
    pub classes: Vec<String>,
    pub offered: u64,
    pub within_15s: f64,
    pub within_20s: f64,
    /// 90 % within 15 s and 95 % within 20 s.
    pub met: bool,
}

/// A whole run's report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub hours: f64,
    pub warmup_h: f64,
    pub answer_delay_s: f64,
    pub prank_aware: bool,
    pub strategy: String,
    /// Seats logged in per shift, as simulated.
    pub shifts: Vec<ShiftOut>,
    /// Seats of the engine config (the most logged in at once).
    pub seats: u32,
    pub calls: u64,
    pub classes: BTreeMap<String, Stats>,
    pub all: Stats,
    pub nena: Nena,
    pub occupancy: f64,
    pub hours_of_day: Vec<Hour>,
    /// SIP messages the simulated peers sent the core.
    pub messages: u64,
    /// Seat commands the engine refused (expected 0).
    pub command_errors: u64,
    /// Answered calls per second of answer time (0..=120; the last bin
    /// holds the rest), per class, for the plot.
    #[serde(skip)]
    pub answer_hist: BTreeMap<String, Vec<u64>>,
    /// Mean and most calls waiting per 5-minute bin of the day, for the plot.
    #[serde(skip)]
    pub queue_bins: Vec<(f64, u32)>,
    /// Seats logged in per 5-minute bin of the day, for the plot.
    #[serde(skip)]
    pub seat_bins: Vec<u32>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ShiftOut {
    pub from_h: f64,
    pub to_h: f64,
    pub seats: u32,
}

pub const HIST_BINS: usize = 121;

/// The calls a report counts: those that arrived after the warm-up.
pub fn counted<'a>(run: &'a Run) -> impl Iterator<Item = (&'a Arrival, &'a CallResult)> + 'a {
    run.arrivals
        .iter()
        .zip(run.results.iter())
        .filter(move |(a, _)| a.t >= run.warmup_ns)
}

fn hour_of(a: &Arrival) -> u32 {
    ((a.t / (3600 * NS)) % 24) as u32
}

impl Report {
    pub fn new(s: &Scenario, run: &Run) -> Report {
        let mut classes = BTreeMap::new();
        let mut answer_hist = BTreeMap::new();
        for (ci, c) in s.classes.iter().enumerate() {
            let st = Stats::of(counted(run).filter(|(a, _)| a.class as usize == ci));
            classes.insert(c.name.clone(), st);
            let mut h = vec![0u64; HIST_BINS];
            for (_, r) in counted(run)
                .filter(|(a, r)| a.class as usize == ci && r.outcome == Outcome::Answered)
            {
                h[((r.wait_ms / 1000) as usize).min(HIST_BINS - 1)] += 1;
            }
            answer_hist.insert(c.name.clone(), h);
        }
        let nena_set = s.nena_classes();
        let is_nena = |a: &Arrival| nena_set.contains(&(a.class as usize));
        let nena_stats = Stats::of(counted(run).filter(|(a, _)| is_nena(a)));
        let days = |h: usize| -> f64 {
            // Hours of the day h observed after the warm-up.
            let st = &run.seat_time;
            let _ = st;
            let mut seen = 0u64;
            let day = 24 * 3600 * NS;
            let (from, to) = (run.warmup_ns, run.end_ns.max(run.warmup_ns));
            let mut d = from / day;
            while d * day < to {
                let a = (d * day + h as u64 * 3600 * NS).max(from);
                let b = (d * day + (h as u64 + 1) * 3600 * NS).min(to);
                if b > a {
                    seen += b - a;
                }
                d += 1;
            }
            seen as f64
        };
        // Calls by hour of the day and class, in one pass.
        let nc = s.classes.len();
        let mut by_hour_class: Vec<Vec<(&Arrival, &CallResult)>> = vec![Vec::new(); 24 * nc];
        for (a, r) in counted(run) {
            by_hour_class[hour_of(a) as usize * nc + a.class as usize].push((a, r));
        }
        let mut hours_of_day = Vec::new();
        let (mut busy_all, mut avail_all) = (0u64, 0u64);
        for h in 0..24usize {
            let st = &run.seat_time;
            let seen = days(h);
            let avail = st.logged[h].saturating_sub(st.paused[h]);
            busy_all += st.busy[h];
            avail_all += avail;
            let (area, max, obs) = (0..QUEUE_BINS)
                .filter(|b| b * QUEUE_BIN_S as usize / 3600 == h)
                .fold((0.0, 0u32, 0u64), |(a, m, o), b| {
                    (
                        a + run.queue_area[b],
                        m.max(run.queue_max[b]),
                        o + run.queue_seen[b],
                    )
                });
            hours_of_day.push(Hour {
                hour: h as u32,
                all: Stats::of(counted(run).filter(|(a, _)| hour_of(a) as usize == h)),
                nena: Stats::of(
                    counted(run).filter(|(a, _)| hour_of(a) as usize == h && is_nena(a)),
                ),
                classes: s
                    .classes
                    .iter()
                    .enumerate()
                    .map(|(ci, c)| {
                        let calls = &by_hour_class[h * nc + ci];
                        (
                            c.name.clone(),
                            Stats::of(calls.iter().map(|(a, r)| (*a, *r))),
                        )
                    })
                    .collect(),
                seats_on: if seen > 0.0 {
                    st.logged[h] as f64 / seen
                } else {
                    0.0
                },
                seats_paused: if seen > 0.0 {
                    st.paused[h] as f64 / seen
                } else {
                    0.0
                },
                occupancy: if avail > 0 {
                    st.busy[h] as f64 / avail as f64
                } else {
                    0.0
                },
                queue_mean: if obs > 0 { area / obs as f64 } else { 0.0 },
                queue_max: max,
            });
        }
        let queue_bins = (0..QUEUE_BINS)
            .map(|b| {
                let o = run.queue_seen[b];
                (
                    if o > 0 {
                        run.queue_area[b] / o as f64
                    } else {
                        0.0
                    },
                    run.queue_max[b],
                )
            })
            .collect();
        let seat_bins = (0..QUEUE_BINS)
            .map(|b| s.seats_at((b as u64 * QUEUE_BIN_S) as f64 / 3600.0))
            .collect();
        let strategy = match s.engine.get("queue") {
            Some(toml::Value::Array(q)) => q
                .iter()
                .map(|q| {
                    q.get("strategy")
                        .and_then(|v| v.as_str())
                        .unwrap_or("longest-idle")
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join(","),
            _ => "longest-idle".into(),
        };
        Report {
            scenario: s.name.clone(),
            seed: s.seed,
            hours: s.hours,
            warmup_h: s.warmup_h,
            answer_delay_s: s.answer_delay_s,
            prank_aware: s.prank_aware,
            strategy,
            shifts: s
                .shifts
                .iter()
                .map(|x| ShiftOut {
                    from_h: x.from_h,
                    to_h: x.to_h,
                    seats: x.seats,
                })
                .collect(),
            seats: run.seats,
            calls: counted(run).count() as u64,
            all: Stats::of(counted(run)),
            classes,
            nena: Nena {
                classes: nena_set
                    .iter()
                    .map(|&i| s.classes[i].name.clone())
                    .collect(),
                offered: nena_stats.offered,
                within_15s: nena_stats.within_15s,
                within_20s: nena_stats.within_20s,
                met: nena_stats.meets_nena(),
            },
            occupancy: if avail_all > 0 {
                busy_all as f64 / avail_all as f64
            } else {
                0.0
            },
            hours_of_day,
            messages: run.messages,
            command_errors: run.command_errors,
            answer_hist,
            queue_bins,
            seat_bins,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The report as text tables.
    pub fn to_table(&self) -> String {
        let mut o = String::new();
        let shifts: Vec<String> = self
            .shifts
            .iter()
            .map(|s| format!("{:02}-{:02} h: {}", s.from_h, s.to_h, s.seats))
            .collect();
        let _ = writeln!(
            o,
            "{}: {} h simulated (seed {}, warm-up {} h), {} calls, seats {} ({}), answer delay {} s, {}, queue strategy {}",
            self.scenario,
            self.hours,
            self.seed,
            self.warmup_h,
            self.calls,
            self.seats,
            shifts.join(", "),
            self.answer_delay_s,
            if self.prank_aware { "prank-aware queueing" } else { "FIFO (prank-aware off)" },
            self.strategy,
        );
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:<14} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "class",
            "offered",
            "answered",
            "aband%",
            "wait%",
            "mean_s",
            "p90_s",
            "p95_s",
            "<=10s",
            "<=15s",
            "<=20s",
            "lowpri%",
            "NENA"
        );
        let row = |o: &mut String, name: &str, s: &Stats, nena: Option<bool>| {
            let _ = writeln!(
                o,
                "{:<14} {:>8} {:>8} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7}",
                name,
                s.offered,
                s.answered,
                100.0 * s.abandoned_share,
                100.0 * s.p_wait,
                s.mean_answer_s,
                s.p90_answer_s,
                s.p95_answer_s,
                100.0 * s.within_10s,
                100.0 * s.within_15s,
                100.0 * s.within_20s,
                if s.offered > 0 { 100.0 * s.deprioritized as f64 / s.offered as f64 } else { 0.0 },
                match nena {
                    Some(true) => "met",
                    Some(false) => "NOT MET",
                    None => "",
                }
            );
        };
        for (name, s) in &self.classes {
            let nena = self.nena.classes.contains(name).then(|| s.meets_nena());
            row(&mut o, name, s, nena);
        }
        row(&mut o, "all", &self.all, None);
        let _ = writeln!(
            o,
            "\nNENA (90 % within 15 s, 95 % within 20 s) for {}: {:.1} % / {:.1} % of {} calls: {}",
            if self.nena.classes.is_empty() {
                "no class".to_string()
            } else {
                self.nena.classes.join(", ")
            },
            100.0 * self.nena.within_15s,
            100.0 * self.nena.within_20s,
            self.nena.offered,
            if self.nena.met { "MET" } else { "NOT MET" }
        );
        let _ = writeln!(o, "seat occupancy {:.1} %\n", 100.0 * self.occupancy);
        let _ = writeln!(
            o,
            "{:>4} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>7} {:>7} {:>7} {:>6} {:>6}",
            "hour",
            "offered",
            "aband%",
            "<=15s",
            "mean_s",
            "nena",
            "nena15",
            "seats",
            "paused",
            "occup%",
            "queue",
            "q_max"
        );
        for h in &self.hours_of_day {
            let _ = writeln!(
                o,
                "{:>4} {:>7} {:>7.1} {:>7.1} {:>7.1} {:>8} {:>8} {:>7.1} {:>7.1} {:>7.1} {:>6.2} {:>6}",
                h.hour,
                h.all.offered,
                100.0 * h.all.abandoned_share,
                100.0 * h.all.within_15s,
                h.all.mean_answer_s,
                h.nena.offered,
                if h.nena.offered > 0 { format!("{:.1}", 100.0 * h.nena.within_15s) } else { "-".into() },
                h.seats_on,
                h.seats_paused,
                100.0 * h.occupancy,
                h.queue_mean,
                h.queue_max
            );
        }
        o
    }
}
