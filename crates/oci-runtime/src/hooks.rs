//! The spec's hooks: programs the caller asks the runtime to run at points
//! of a container's life, each with the container's state as JSON on its
//! stdin (Docker's `libnetwork-setkey` prestart hook learns the network
//! namespace that way). A Wasm container has no mount namespace, so the
//! hooks the spec runs "in the container namespace" run here too.
//!
//! `prestart`, `createRuntime` and `createContainer` run in `create`, once
//! the process is ready; a failure fails `create`. `startContainer` and
//! `poststart` run in `start`, and `poststop` in `delete`; their failures
//! are logged.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// How long a hook without a timeout may run.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Deserialize)]
pub struct Hook {
    pub path: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    /// Seconds.
    #[serde(default)]
    pub timeout: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(default)]
    pub prestart: Vec<Hook>,
    #[serde(default)]
    pub create_runtime: Vec<Hook>,
    #[serde(default)]
    pub create_container: Vec<Hook>,
    #[serde(default)]
    pub start_container: Vec<Hook>,
    #[serde(default)]
    pub poststart: Vec<Hook>,
    #[serde(default)]
    pub poststop: Vec<Hook>,
}

/// The hooks of the bundle at `bundle` (none if it has none, or is gone).
pub fn of_bundle(bundle: &std::path::Path) -> Hooks {
    #[derive(Deserialize)]
    struct WithHooks {
        #[serde(default)]
        hooks: Option<Hooks>,
    }
    wasmpod_bundle::read_json::<WithHooks>(&bundle.join("config.json"))
        .ok()
        .and_then(|w| w.hooks)
        .unwrap_or_default()
}

/// Runs `hooks` in order, each with `state` on stdin; the first failure
/// stops the rest.
pub fn run(kind: &str, hooks: &[Hook], state: &serde_json::Value) -> anyhow::Result<()> {
    for hook in hooks {
        run_one(hook, state).with_context(|| format!("{kind} hook {}", hook.path))?;
    }
    Ok(())
}

fn run_one(hook: &Hook, state: &serde_json::Value) -> anyhow::Result<()> {
    let mut command = Command::new(&hook.path);
    // args[0] is the program's name, as in execve.
    if let Some((first, rest)) = hook.args.split_first() {
        std::os::unix::process::CommandExt::arg0(&mut command, first);
        command.args(rest);
    }
    command
        .env_clear()
        .envs(wasmpod_engine::env_pairs(&hook.env))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().context("start")?;
    if let Some(mut stdin) = child.stdin.take() {
        // From a thread of its own: a hook that does not read its stdin
        // is fine, and one that reads none of a state larger than a pipe
        // holds must not block us past its timeout (killing it ends the
        // write with EPIPE).
        let bytes = state.to_string().into_bytes();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    // At most a day: a deadline is `now +` it.
    let limit = hook
        .timeout
        .map_or(DEFAULT_TIMEOUT, |s| Duration::from_secs(s.min(24 * 3600)));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().context("wait")? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("timed out after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ =
                std::io::Read::read_to_string(&mut std::io::Read::take(&mut e, 4096), &mut stderr);
        }
        bail!("{status}: {}", stderr.trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(script: &str, timeout: Option<u64>) -> Hook {
        Hook {
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["X=from-env".into()],
            timeout,
        }
    }

    #[test]
    fn hooks_get_the_state_on_stdin_and_their_env() {
        let tmp = tempfile::tempdir().expect("tmp");
        let out = tmp.path().join("out");
        let script = format!("cat > {0}; echo \" $X\" >> {0}", out.display());
        run(
            "prestart",
            &[hook(&script, None)],
            &serde_json::json!({"id": "c1"}),
        )
        .expect("hook");
        assert_eq!(
            std::fs::read_to_string(&out).expect("out"),
            "{\"id\":\"c1\"} from-env\n"
        );
    }

    #[test]
    fn a_failing_or_slow_hook_is_an_error_that_names_it() {
        let err = run(
            "prestart",
            &[hook("echo nope >&2; exit 3", None)],
            &serde_json::json!({}),
        )
        .expect_err("fails");
        let line = format!("{err:#}");
        assert!(
            line.starts_with("prestart hook /bin/sh: exit status: 3: nope"),
            "{line}"
        );
        let started = Instant::now();
        let err = run(
            "poststart",
            &[hook("sleep 30", Some(1))],
            &serde_json::json!({}),
        )
        .expect_err("slow");
        assert!(format!("{err:#}").contains("timed out after 1s"), "{err:#}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
