//! The `wasmpod` binary: parse arguments, set up logging, call a library.

mod commands;
mod exit;
mod parse;

use clap::{Parser, Subcommand};

/// Run WebAssembly workloads like containers.
#[derive(Debug, Parser)]
#[command(name = "wasmpod", version, about, long_about = None)]
#[command(after_help = exit::HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one WebAssembly workload (a WASI preview 1 module, a WASI 0.2
    /// command component, or .wat text).
    #[command(after_help = exit::HELP)]
    Run(commands::run::RunArgs),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => exit::usage_error(err),
    };
    init_tracing();
    let code = match cli.command {
        Command::Run(args) => commands::run::run(args),
    };
    exit::exit(code)
}

/// Logs go to stderr. `RUST_LOG` picks the level; without it only warnings
/// and errors are shown.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false);
    if std::env::var_os("RUST_LOG").is_some() {
        builder
            .with_env_filter(EnvFilter::from_default_env())
            .init();
    } else {
        builder.with_max_level(tracing::Level::WARN).init();
    }
}
