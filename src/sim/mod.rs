//! `siaga112 simulate`: the capacity planner. How many seats a centre
//! needs, answered by the engine's own core on a simulated clock.
//!
//! A scenario (`config/scenarios/*.toml`) says who calls (classes of
//! callers with their hourly arrivals, handling times and patience), who
//! answers (seats per shift, pauses) and the queue under test (the engine's
//! own `[[queue]]` and `[acd]`). The simulator draws the calls up front
//! (so two configs can be compared on the very same calls), builds the
//! engine configuration around the scenario's sections, and drives the
//! real [`crate::core::Core`] with SIP text from a simulated trunk and
//! simulated softphones, shifts applied with supervisor commands and
//! pranks marked as operators mark them. The engine's case records (its
//! `ended` record's wait, its offers) are what gets measured.
//!
//! - `scenario`: the file, its validation, the engine config made of it
//! - `dist`: random streams and distributions
//! - `replay`: a case-log export's calls, replayed
//! - `drive`: the simulated world around the core
//! - `report`: figures per class and hour, NENA's target, table and JSON
//! - `plot`: the SVG (answer-time distribution, queue over the day)
//! - `search`: `--find-seats` and `--compare`
//! - `cli`: the `simulate` subcommand

pub mod cli;
pub mod dist;
pub mod drive;
pub mod plot;
pub mod replay;
pub mod report;
pub mod scenario;
pub mod search;

pub use drive::{arrivals, run, run_with, Arrival, CallResult, Outcome, Run};
pub use report::{Report, Stats};
pub use scenario::{Scenario, ScenarioError};

/// Runs a scenario and reports on it.
pub fn simulate(s: &Scenario) -> Result<Report, ScenarioError> {
    let r = run(s)?;
    Ok(Report::new(s, &r))
}
