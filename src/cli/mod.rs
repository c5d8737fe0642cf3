//! What the command line does, kept out of `main.rs`.

pub mod store;

use crate::caselog::{self, Journal};
use crate::config::Config;
use crate::engine;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// `siaga112 check-config`.
pub fn check_config(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(c) => {
            println!(
                "{}: valid ({} listen sockets, {} seats, {} trunks, {} queues)",
                path.display(),
                c.sip.listen.len(),
                c.seats.len(),
                c.trunks.len(),
                c.queues.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            ExitCode::from(2)
        }
    }
}

/// `siaga112 run`: until SIGINT or SIGTERM.
pub fn run(path: &Path) -> ExitCode {
    init_logs();
    let cfg = match Config::load(path) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    raise_open_files();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (journal, recovery) = match Journal::open_with(
        &cfg.caselog.path,
        cfg.caselog.commit_window,
        cfg.caselog.buffer_records,
    ) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("siaga112: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        path = %cfg.caselog.path.display(),
        boot = recovery.boot,
        torn_bytes = recovery.torn_bytes,
        "case log opened"
    );
    let (startup, mut feeder) = open_store(&cfg, recovery.boot, &journal);
    let result = rt.block_on(async {
        let bound = engine::Bound::bind(&cfg).await?;
        for (t, a) in bound.local_addrs() {
            tracing::info!(transport = t.via_name(), addr = %a, "listening");
        }
        engine::run(cfg.clone(), bound, journal, startup, shutdown_signal()).await
    });
    // The journal is closed: the store takes its last records.
    if let Some(f) = feeder.as_mut() {
        f.stop();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "siaga112 failed");
            eprintln!("siaga112: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Raises the soft limit on open files to the hard one: every call's media
/// takes sockets and every TCP/TLS peer one, and systemd's default soft
/// limit (1,024) would refuse them long before the machine runs out.
fn raise_open_files() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a struct of ours.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if got != 0 || lim.rlim_cur >= lim.rlim_max {
        return;
    }
    let before = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max.min(1 << 20);
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
        tracing::info!(from = before, to = lim.rlim_cur, "open files limit raised");
    } else {
        tracing::warn!(limit = before, "cannot raise the open files limit");
    }
}

/// A journal this far ahead of the store is caught up before the engine
/// starts (a restart's few records); more (a store deleted or new beside a
/// big journal) is caught up by the feeder while calls are taken.
const CATCH_UP_FIRST: u64 = 32 << 20;

/// How long a lost emergency call stays on the call-back list.
const CALLBACK_WINDOW_MS: u64 = 24 * 3_600_000;

/// Opens the store, brings it up to the journal, and reads what the engine
/// starts from. A store that cannot be opened is logged and done without:
/// the engine takes calls all the same.
fn open_store(
    cfg: &Config,
    boot: u32,
    journal: &caselog::JournalHandle,
) -> (engine::Startup, Option<caselog::store::Feeder>) {
    use caselog::store::{read_spans, Feeder, Store};
    let mut startup = engine::Startup {
        boot,
        ..engine::Startup::default()
    };
    let path = &cfg.store.path;
    let mut store = match Store::open(path) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "ALARM: no query store: caller histories, searches and reports are unavailable");
            return (startup, None);
        }
    };
    let journal_len = std::fs::metadata(&cfg.caselog.path)
        .map(|m| m.len())
        .unwrap_or(0);
    let behind = journal_len.saturating_sub(store.offset().unwrap_or(0));
    // Whether the store now holds the whole journal (it can then tell
    // which recordings the case log names).
    let mut caught_up = false;
    if behind <= CATCH_UP_FIRST {
        let t = std::time::Instant::now();
        match store.catch_up(&cfg.caselog.path) {
            Ok(c) => {
                caught_up = true;
                tracing::info!(
                    records = c.records,
                    rebuilt = c.rebuilt,
                    ms = t.elapsed().as_millis() as u64,
                    "store caught up with the journal"
                )
            }
            Err(e) => tracing::error!(error = %e, "store: cannot catch up with the journal"),
        }
    } else {
        tracing::warn!(behind_bytes = behind, "the store is far behind the journal (new or deleted): it is rebuilt while calls are taken; caller histories and reports fill in as it goes");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    match store.reader() {
        Ok(r) => {
            let window = cfg.acd.prank_window.as_millis() as u64;
            startup.pranks = r
                .prank_marks(now.saturating_sub(window))
                .unwrap_or_default();
            startup.tickets = r.open_tickets().unwrap_or_default();
            let off = cfg.http.utc_offset_h * 3_600_000;
            let today =
                ((now as i64 + off).div_euclid(86_400_000) * 86_400_000 - off).max(0) as u64;
            // A call-back is due for a day; older lost calls stay in the
            // store (search, reports) but off the live list.
            let spans = r
                .seed_spans(today, now.saturating_sub(CALLBACK_WINDOW_MS))
                .unwrap_or_default();
            startup.seed = read_spans(&cfg.caselog.path, &spans).unwrap_or_default();
            startup.store = Some(path.clone());
            if caught_up {
                // A recording is closed by the end of its call: a day back
                // (and a little) covers every file of the last day.
                startup.recordings = r
                    .recordings_since(now.saturating_sub(CALLBACK_WINDOW_MS + 3_600_000))
                    .ok();
            }
            tracing::info!(
                pranks = startup.pranks.len(),
                open_tickets = startup.tickets.len(),
                seed_records = startup.seed.len(),
                "state from the store"
            );
        }
        Err(e) => tracing::error!(error = %e, "store: cannot read it"),
    }
    match Feeder::spawn(store, cfg.caselog.path.clone(), journal) {
        Ok(f) => (startup, Some(f)),
        Err(e) => {
            tracing::error!(error = %e, "store: cannot start its feeder");
            (startup, None)
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
    }
}

/// `siaga112 hash-password`: the PHC string for a `[[user]]`.
pub fn hash_password() -> ExitCode {
    use std::io::IsTerminal;
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ");
        let again = rpassword::prompt_password("again: ");
        match (first, again) {
            (Ok(a), Ok(b)) if a == b => a,
            (Ok(_), Ok(_)) => {
                eprintln!("siaga112: the two passwords differ");
                return ExitCode::from(2);
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("siaga112: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        let mut line = String::new();
        if let Err(e) = std::io::stdin().read_line(&mut line) {
            eprintln!("siaga112: {e}");
            return ExitCode::FAILURE;
        }
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.chars().count() < 8 {
        eprintln!("siaga112: a password is at least 8 characters");
        return ExitCode::from(2);
    }
    match engine::http::users::hash_password(&password) {
        Ok(h) => {
            println!("{h}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("siaga112: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `siaga112 cases`: every case folded from the journal, newest last.
pub fn cases(path: &Path, json: bool) -> ExitCode {
    let cfg = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let rec = match caselog::read_journal(&cfg.caselog.path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("siaga112: {e}");
            return ExitCode::FAILURE;
        }
    };
    if rec.torn_bytes > 0 || rec.bad_lines > 0 {
        eprintln!(
            "note: {} bytes of a torn last line and {} bad lines skipped",
            rec.torn_bytes, rec.bad_lines
        );
    }
    let cases = caselog::fold(rec.records);
    if json {
        for c in &cases {
            println!("{}", serde_json::to_string(c).unwrap_or_default());
        }
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<12} {:<24} {:<20} {:<14} {:<12} {:<10} {:>7} {:>8} {:>8} {:<13} {:<12}",
        "case",
        "opened",
        "caller",
        "called",
        "queue",
        "seat",
        "offers",
        "wait_s",
        "talk_s",
        "result",
        "class"
    );
    for c in &cases {
        println!(
            "{:<12} {:<24} {:<20} {:<14} {:<12} {:<10} {:>7} {:>8.1} {:>8.1} {:<13} {:<12}",
            c.id,
            c.opened.as_deref().unwrap_or("-"),
            c.caller.trim_start_matches("sip:"),
            c.called,
            c.queue.as_deref().unwrap_or("-"),
            c.seat.as_deref().unwrap_or("-"),
            c.offers,
            c.wait_ms as f64 / 1000.0,
            c.talk_ms as f64 / 1000.0,
            c.reason.map(|r| r.as_str()).unwrap_or("open"),
            c.class.as_deref().unwrap_or("-"),
        );
    }
    ExitCode::SUCCESS
}
