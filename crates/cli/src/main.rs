//! The `wasmpod` binary: parse arguments, set up logging, call a library.

mod commands;
mod exit;
mod parse;
mod signals;

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
    /// Run one WebAssembly workload: a file (WASI preview 1 module, WASI 0.2
    /// command component, or .wat text) or an image reference.
    #[command(after_help = exit::HELP)]
    Run(commands::run::RunArgs),
    /// Run Kubernetes manifests (Pod, Deployment, Job, Service, ConfigMap,
    /// Secret) on this machine, with no cluster.
    #[command(after_help = exit::UP_HELP)]
    Up(commands::up::UpArgs),
    /// Package a module as an OCI image and push it to a registry.
    Push(commands::push::PushArgs),
    /// Pull an image into the local store.
    Pull(commands::pull::PullArgs),
    /// List the images in the local store.
    Images(commands::images::ImagesArgs),
    /// Remove images from the local store and delete unreferenced blobs.
    Rmi(commands::images::RmiArgs),
    /// Show an image's manifest, config, run settings and signatures as
    /// JSON.
    Inspect(commands::images::InspectArgs),
    /// Save credentials for a registry.
    Login(commands::login::LoginArgs),
    /// Remove saved credentials for a registry.
    Logout(commands::login::LogoutArgs),
    /// Install wasmpod on this Kubernetes node: the shim, and runtime
    /// handler `wasmpod` in containerd's CRI config.
    Node(commands::node::NodeArgs),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => exit::usage_error(err),
    };
    init_tracing();
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Up(args) => commands::up::run(args),
        Command::Push(args) => commands::push::run(args),
        Command::Pull(args) => commands::pull::run(args),
        Command::Images(args) => commands::images::list(args),
        Command::Rmi(args) => commands::images::remove(args),
        Command::Inspect(args) => commands::images::inspect(args),
        Command::Login(args) => commands::login::login(args),
        Command::Logout(args) => commands::login::logout(args),
        Command::Node(args) => commands::node::run(args),
    };
    let code = result.unwrap_or_else(|err| exit::host_failure(&err));
    exit::exit(code)
}

/// Logs go to stderr. `RUST_LOG` picks the level; without it only warnings
/// and errors are shown.
fn init_tracing() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    if std::env::var_os("RUST_LOG").is_some() {
        builder
            .with_env_filter(EnvFilter::from_default_env())
            .init();
    } else {
        builder.with_max_level(tracing::Level::WARN).init();
    }
}
