//! `siaga112 simulate`: the command line of the capacity planner.

use super::drive::{arrivals, run_with};
use super::plot::{svg, svg_many};
use super::report::Report;
use super::scenario::Scenario;
use super::search::{compare_table, find_seats};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `simulate` subcommand's arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The scenario: `[sim]` plus the engine's `[[queue]]`/`[acd]`/`[[route]]`.
    #[arg(long)]
    pub scenario: PathBuf,
    /// One JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also write the plot (answer times, queue over the day) to this SVG.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Change a key of the scenario, e.g. `--set sim.hours=168` or
    /// `--set queue.0.strategy=ring-all` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// The seed (same as `--set sim.seed=N`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Simulated hours (same as `--set sim.hours=H`).
    #[arg(long)]
    pub hours: Option<f64>,
    /// Find the fewest seats per shift that meet NENA's target for the
    /// NENA classes (90 % within 15 s, 95 % within 20 s).
    #[arg(long)]
    pub find_seats: bool,
    /// Compare with another scenario file on the same calls.
    #[arg(long, conflicts_with = "compare_set")]
    pub compare: Option<PathBuf>,
    /// Compare with this scenario changed by KEY=VALUE (repeatable), e.g.
    /// `--compare-set sim.prank_aware=true`.
    #[arg(long = "compare-set", value_name = "KEY=VALUE")]
    pub compare_set: Vec<String>,
}

fn cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return 0.0;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn load(path: &Path, sets: &[String]) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenario");
    Scenario::parse(&text, name, sets).map_err(|e| format!("{}: {e}", path.display()))
}

fn sets_of(a: &Args, extra: &[String]) -> Vec<String> {
    let mut v = a.sets.clone();
    if let Some(s) = a.seed {
        v.push(format!("sim.seed={s}"));
    }
    if let Some(h) = a.hours {
        v.push(format!("sim.hours={h}"));
    }
    v.extend(extra.iter().cloned());
    v
}

/// What one side of the output is.
enum Outcome {
    Report(Report),
    Found(super::search::Found),
}

impl Outcome {
    fn report(&self) -> &Report {
        match self {
            Outcome::Report(r) => r,
            Outcome::Found(f) => &f.report,
        }
    }
    fn json(&self) -> serde_json::Value {
        match self {
            Outcome::Report(r) => serde_json::to_value(r).unwrap_or_default(),
            Outcome::Found(f) => serde_json::json!({ "find_seats": f }),
        }
    }
}

fn one(s: &Scenario, find: bool) -> Result<Outcome, String> {
    let calls = arrivals(s);
    if find {
        return find_seats(s, &calls)
            .map(Outcome::Found)
            .map_err(|e| e.to_string());
    }
    let run = run_with(s, calls).map_err(|e| e.to_string())?;
    Ok(Outcome::Report(Report::new(s, &run)))
}

/// `siaga112 simulate`.
pub fn main(a: &Args) -> ExitCode {
    match simulate(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("siaga112 simulate: {e}");
            ExitCode::from(2)
        }
    }
}

fn simulate(a: &Args) -> Result<(), String> {
    let started = cpu_seconds();
    let s = load(&a.scenario, &sets_of(a, &[]))?;
    let other = match (&a.compare, a.compare_set.is_empty()) {
        (Some(p), _) => {
            // The other file's own [sim], or this one's when it has none.
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let name = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("other")
                .to_string();
            let b = if text
                .parse::<toml::Table>()
                .map(|t| t.contains_key("sim"))
                .unwrap_or(false)
            {
                load(p, &sets_of(a, &[]))?
            } else {
                let mut doc: toml::Table =
                    text.parse().map_err(|e| format!("{}: {e}", p.display()))?;
                let base: toml::Table = std::fs::read_to_string(&a.scenario)
                    .map_err(|e| e.to_string())?
                    .parse()
                    .map_err(|e| format!("{}: {e}", a.scenario.display()))?;
                if let Some(sim) = base.get("sim") {
                    doc.insert("sim".into(), sim.clone());
                }
                let text = toml::to_string(&doc).map_err(|e| e.to_string())?;
                Scenario::parse(&text, &name, &sets_of(a, &[]))
                    .map_err(|e| format!("{}: {e}", p.display()))?
            };
            Some((b, p.display().to_string()))
        }
        (None, false) => {
            let b = load(&a.scenario, &sets_of(a, &a.compare_set))?;
            Some((
                b,
                format!("{} with {}", a.scenario.display(), a.compare_set.join(" ")),
            ))
        }
        (None, true) => None,
    };
    let first = one(&s, a.find_seats)?;
    let second = match &other {
        Some((b, _)) => Some(one(b, a.find_seats)?),
        None => None,
    };
    let cpu = cpu_seconds() - started;
    if let Some(path) = &a.svg {
        let text = match &second {
            None => svg(first.report()),
            Some(sec) => svg_many(&[first.report(), sec.report()]),
        };
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if a.json {
        let v = match &second {
            None => first.json(),
            Some(sec) => serde_json::json!({ "a": first.json(), "b": sec.json() }),
        };
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        let label_a = a.scenario.display().to_string();
        match (&first, &second) {
            (Outcome::Report(r), None) => print!("{}", r.to_table()),
            (Outcome::Found(f), None) => {
                print!("{}", f.to_table(&label_a));
                println!();
                print!("{}", f.report.to_table());
            }
            (x, Some(y)) => {
                let lb = other.as_ref().map(|o| o.1.clone()).unwrap_or_default();
                if let (Outcome::Found(f), Outcome::Found(g)) = (x, y) {
                    print!("{}", f.to_table(&format!("A ({label_a})")));
                    println!();
                    print!("{}", g.to_table(&format!("B ({lb})")));
                    println!();
                }
                print!("{}", compare_table(x.report(), y.report(), &label_a, &lb));
            }
        }
    }
    let calls = first.report().calls + second.as_ref().map_or(0, |s| s.report().calls);
    eprintln!("simulated in {cpu:.2} s of CPU ({calls} calls counted)");
    Ok(())
}
