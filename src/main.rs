//! The `siaga112` command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: per-thread free lists and no trimming back to the kernel.
/// glibc's malloc showed as ~10 % of the engine's CPU under load (malloc,
/// free, consolidation) plus about two page faults per call.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "siaga112",
    version,
    about = "Telephony engine for 112 emergency call centres"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine.
    Run {
        #[arg(long, default_value = "config/siaga112.toml")]
        config: PathBuf,
    },
    /// Print the cases of the case log, one row each, newest last.
    Cases {
        #[arg(long, default_value = "config/siaga112.toml")]
        config: PathBuf,
        /// One JSON object per case instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print an argon2 hash of a password, for a `[[user]]`'s
    /// `password_hash` (asks for it; or reads one line from a pipe).
    HashPassword,
    /// The query store (SQLite, fed from the journal).
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
    /// A period's report from the store: calls by class, NENA answer
    /// times, abandoned calls, emergencies by category, dispatch times by
    /// agency, the busiest hours.
    Report {
        #[arg(long, default_value = "config/siaga112.toml")]
        config: PathBuf,
        /// First day, YYYY-MM-DD (the centre's time zone).
        #[arg(long)]
        from: String,
        /// Last day, included.
        #[arg(long)]
        to: String,
        /// md, json or csv.
        #[arg(long, default_value = "md")]
        format: String,
    },
    /// The cases of a period, one row each (CSV or JSON lines).
    Export {
        #[arg(long, default_value = "config/siaga112.toml")]
        config: PathBuf,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: String,
    },
    /// Check a configuration file and exit (0 when valid).
    CheckConfig {
        #[arg(long, default_value = "config/siaga112.toml")]
        config: PathBuf,
    },
    /// Capacity planning: run a scenario's calls through the engine's own
    /// core on a simulated clock and report answer times per class and
    /// hour, NENA's target, occupancy; find the seats a target needs.
    Simulate(siaga112::sim::cli::Args),
}

#[derive(Subcommand)]
enum StoreAction {
    /// Delete the store and make it again from the journal (refused while
    /// an engine runs on the journal).
    Rebuild {
        #[arg(long, default_value = "config/siaga112.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => siaga112::cli::run(&config),
        Command::CheckConfig { config } => siaga112::cli::check_config(&config),
        Command::Cases { config, json } => siaga112::cli::cases(&config, json),
        Command::HashPassword => siaga112::cli::hash_password(),
        Command::Store {
            action: StoreAction::Rebuild { config },
        } => siaga112::cli::store::rebuild(&config),
        Command::Report {
            config,
            from,
            to,
            format,
        } => siaga112::cli::store::report(&config, &from, &to, &format),
        Command::Export {
            config,
            from,
            to,
            format,
        } => siaga112::cli::store::export(&config, &from, &to, &format),
        Command::Simulate(args) => siaga112::sim::cli::main(&args),
    }
}
