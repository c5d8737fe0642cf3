//! `siaga112 store rebuild`, `siaga112 report`, `siaga112 export`: the
//! query store from the command line.

use crate::caselog::store::{day_range, CaseSearch, Reader, Store};
use crate::config::Config;
use std::fs::File;
use std::path::Path;
use std::process::ExitCode;

fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("{}: {e}", path.display());
        ExitCode::from(2)
    })
}

/// Whether an engine holds the journal (its lock) right now.
fn engine_running(journal: &Path) -> bool {
    match File::open(journal) {
        Ok(f) => matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// `siaga112 store rebuild`: deletes the store and makes it again from the
/// journal. Refused while an engine runs on that journal (its feeder owns
/// the store then; delete the store and restart instead).
pub fn rebuild(path: &Path) -> ExitCode {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if engine_running(&cfg.caselog.path) {
        eprintln!(
            "siaga112: an engine is running on {}: stop it first (or delete {} and restart the engine, which rebuilds it while taking calls)",
            cfg.caselog.path.display(),
            cfg.store.path.display()
        );
        return ExitCode::from(3);
    }
    let t = std::time::Instant::now();
    match Store::rebuild(&cfg.store.path, &cfg.caselog.path) {
        Ok((_, c)) => {
            let s = t.elapsed().as_secs_f64();
            println!(
                "{}: {} records ({} MB of journal) in {s:.2} s, {:.0} records/s; {} bad lines skipped",
                cfg.store.path.display(),
                c.records,
                c.bytes >> 20,
                c.records as f64 / s.max(1e-9),
                c.bad_lines
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("siaga112: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A reader on a store that is up to date: caught up first when no engine
/// runs (one that runs keeps it current itself).
fn current_reader(cfg: &Config) -> Result<Reader, ExitCode> {
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("siaga112: {e}");
        ExitCode::FAILURE
    };
    if !engine_running(&cfg.caselog.path) && cfg.caselog.path.exists() {
        let mut s = Store::open(&cfg.store.path).map_err(|e| fail(&e))?;
        s.catch_up(&cfg.caselog.path).map_err(|e| fail(&e))?;
    }
    Reader::open(&cfg.store.path).map_err(|e| fail(&e))
}

/// `siaga112 report --from --to --format`.
pub fn report(path: &Path, from: &str, to: &str, format: &str) -> ExitCode {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !matches!(format, "md" | "json" | "csv") {
        eprintln!("siaga112: format {format:?}: md, json or csv");
        return ExitCode::from(2);
    }
    let (start, end) = match day_range(from, to, cfg.http.utc_offset_h) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("siaga112: {e}");
            return ExitCode::from(2);
        }
    };
    let r = match current_reader(&cfg) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let rep = match r.report(start, end, cfg.http.utc_offset_h) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("siaga112: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = match format {
        "json" => serde_json::to_string_pretty(&rep)
            .map(String::into_bytes)
            .map_err(|e| e.to_string()),
        "csv" => rep.to_csv().map_err(|e| e.to_string()),
        _ => Ok(rep.to_markdown().into_bytes()),
    };
    write_out(out)
}

/// `siaga112 export --from --to --format`: the cases, one row each.
pub fn export(path: &Path, from: &str, to: &str, format: &str) -> ExitCode {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !matches!(format, "json" | "csv") {
        eprintln!("siaga112: format {format:?}: csv or json");
        return ExitCode::from(2);
    }
    let (from_ms, to_ms) = match day_range(from, to, cfg.http.utc_offset_h) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("siaga112: {e}");
            return ExitCode::from(2);
        }
    };
    let r = match current_reader(&cfg) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let q = CaseSearch {
        from_ms,
        to_ms,
        limit: 50_000_000,
        ..CaseSearch::default()
    };
    let rows = match r.search(&q) {
        Ok((rows, _)) => rows,
        Err(e) => {
            eprintln!("siaga112: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = if format == "csv" {
        crate::caselog::store::cases_csv(&rows).map_err(|e| e.to_string())
    } else {
        let mut b = Vec::new();
        for c in &rows {
            if let Ok(line) = serde_json::to_string(c) {
                b.extend_from_slice(line.as_bytes());
                b.push(b'\n');
            }
        }
        Ok(b)
    };
    write_out(out)
}

fn write_out(out: Result<Vec<u8>, String>) -> ExitCode {
    use std::io::Write;
    match out {
        Ok(b) => {
            let mut so = std::io::stdout().lock();
            if so.write_all(&b).and_then(|()| so.flush()).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("siaga112: {e}");
            ExitCode::FAILURE
        }
    }
}
