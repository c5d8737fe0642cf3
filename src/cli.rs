//! What the command line does, kept out of `main.rs`.

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
    let result = rt.block_on(async {
        let bound = engine::Bound::bind(&cfg).await?;
        for (t, a) in bound.local_addrs() {
            tracing::info!(transport = t.via_name(), addr = %a, "listening");
        }
        engine::run(cfg.clone(), bound, 1, shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "siaga112 failed");
            eprintln!("siaga112: {e}");
            ExitCode::FAILURE
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
