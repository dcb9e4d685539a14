//! `wasmpod-oci`: a low-level OCI runtime, in the place of runc or crun,
//! that runs WebAssembly. See docs/oci-runtime.md.
//!
//! Exit codes: 0 on success; 1 when a command fails (one line on stderr,
//! and in `--log`); 2 for a command line that cannot be read. A foreground
//! `exec` exits with the guest's code (125 if it could not start).

mod args;
mod cgroups;
mod console;
mod create;
mod delete;
mod exec;
mod features;
mod granted;
mod hooks;
mod kill;
mod launch;
mod log;
mod native;
mod pause;
mod proc;
mod query;
mod ready;
mod start;
mod state;
mod update;
mod user;

use tracing::{debug, error};

const USAGE: &str = "\
wasmpod-oci: an OCI runtime that runs WebAssembly (in the place of runc or crun)

usage: wasmpod-oci [--root DIR] [--log FILE] [--log-format text|json]
                   [--systemd-cgroup] [--debug] COMMAND [FLAGS] ID

commands:
  create --bundle DIR [--pid-file F] [--console-socket S] ID
  start ID                  run the process create prepared
  state ID                  the container's state as JSON
  kill [--all] ID [SIGNAL]  signal it (SIGTERM by default)
  delete [--force] ID       remove it
  list [--format table|json] [--quiet]
  ps [--format table|json] ID
  exec [--process F | COMMAND ARGS...] [--detach] [--pid-file F]
       [--tty --console-socket S] [--env K=V] [--cwd DIR] [--user UID[:GID]] ID
  pause ID / resume ID
  update [--resources F|-] [--memory N] [--cpu-quota N] [--cpu-period N] ID
  features                  what this runtime implements, as JSON
";

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let args = match args::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("wasmpod-oci: {e}");
            return 2;
        }
    };
    let to_file = log::init(&args.global);
    for flag in &args.global.ignored {
        debug!(flag, "ignoring a global flag wasmpod-oci does not need");
    }
    if args.version {
        println!(
            "wasmpod-oci version {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            state::OCI_VERSION
        );
        return 0;
    }
    let Some(sub) = args.sub else {
        print!("{USAGE}");
        return 0;
    };
    if args.help {
        print!("{USAGE}");
        return 0;
    }
    let g = &args.global;
    debug!(command = %sub.name, operands = ?sub.operands, "wasmpod-oci");
    // A container the native runtime made is the native runtime's.
    let per_id = [
        "start", "state", "kill", "delete", "ps", "exec", "pause", "resume", "update",
    ];
    if per_id.contains(&sub.name.as_str())
        && let Some(id) = sub.operands.first()
    {
        match native::runtime_of(g, id) {
            Ok(None) => {}
            Ok(Some(native)) => {
                return report(Err(native::hand_over(g, &native, &sub.raw)), to_file);
            }
            Err(e) => return report(Err(e), to_file),
        }
    }
    let result = match sub.name.as_str() {
        "create" => create::create(g, &sub).map(|()| 0),
        "init" => Ok(create::init(g, &sub)),
        "start" => start::start(g, &sub).map(|()| 0),
        "state" => query::state(g, &sub).map(|()| 0),
        "list" => query::list(g, &sub).map(|()| 0),
        "ps" => query::ps(g, &sub).map(|()| 0),
        "kill" => kill::kill(g, &sub).map(|()| 0),
        "delete" => delete::delete(g, &sub).map(|()| 0),
        "exec" => exec::exec(g, &sub),
        "pause" => pause::pause(g, &sub).map(|()| 0),
        "resume" => pause::resume(g, &sub).map(|()| 0),
        "update" => update::update(g, &sub).map(|()| 0),
        "features" => features::features().map(|()| 0),
        "run" => Err(anyhow::anyhow!(
            "run is not supported by wasmpod-oci: use create, then start"
        )),
        "spec" => Err(anyhow::anyhow!(
            "spec is not supported by wasmpod-oci: write config.json with your caller or runc spec"
        )),
        other => Err(anyhow::anyhow!(
            "{other} is not supported by wasmpod-oci (a Wasm guest has no checkpoint, and events come from the caller)"
        )),
    };
    report(result, to_file)
}

/// The exit code for `result`; an error is one line on stderr, and in the
/// log file when there is one.
fn report(result: anyhow::Result<i32>, to_file: bool) -> i32 {
    match result {
        Ok(code) => code,
        Err(e) => {
            let line = format!("{e:#}");
            if to_file {
                error!("{line}");
            }
            eprintln!("wasmpod-oci: {line}");
            1
        }
    }
}
