//! wasmpod-oci under containerd's runc shim: `ctr run --runtime
//! io.containerd.runc.v2 --runc-binary wasmpod-oci` against a containerd of
//! its own (Debian's 1.6), which calls the runtime as runc
//! (docs/oci-callers.md), with `--runc-root` in the daemon's folder. The
//! image, `common::image()`, is imported from an archive: the probe module
//! as entrypoint, and the probe as a WASI 0.2 component beside it.
//!
//! Daemon tier (`--features daemon`): root and containerd, or a loud
//! failure naming the fix.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use wasmpod_testkit::{Containerd, KillOnDrop, lines_of, output_within, wait_until};

mod common;
use common::{COMPONENT, IMAGE, PROBE, text};

const RUNC_SHIM: &str = "io.containerd.runc.v2";

/// How long one `ctr` command, or a state a test waits for, may take.
const LIMIT: Duration = Duration::from_secs(60);

/// containerd with the image imported.
struct Setup {
    ctd: Containerd,
    _bin: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        // Nothing of ours goes on containerd's PATH: the runc shim is
        // Debian's, and it finds the runtime by --runc-binary.
        let bin = tempfile::tempdir().expect("tmp");
        let ctd = Containerd::start(bin.path(), &[], "");
        let archive = ctd.dir().join("image.tar");
        common::image().write_archive(&archive);
        let mut import = ctd.ctr();
        import.args(["images", "import"]).arg(&archive);
        let out = output_within(import, None, LIMIT);
        assert!(
            out.status.success(),
            "ctr images import: {}",
            text(&out.stderr)
        );
        Self { ctd, _bin: bin }
    }

    /// `ctr run --rm FLAGS... IMAGE ID ARGS...` with the runc shim and
    /// wasmpod-oci as its runc.
    fn run_command(&self, flags: &[&str], id: &str, args: &[&str]) -> Command {
        let mut c = self.ctd.ctr();
        c.args(["run", "--rm", "--runtime", RUNC_SHIM, "--runc-binary"])
            .arg(env!("CARGO_BIN_EXE_wasmpod-oci"))
            .arg("--runc-root")
            .arg(self.ctd.dir().join("runc"))
            .args(flags)
            .args([IMAGE, id])
            .args(args);
        c
    }

    fn run(&self, id: &str, args: &[&str]) -> Output {
        output_within(self.run_command(&[], id, args), None, LIMIT)
    }

    /// `ctr ARGS...`, which must succeed; its stdout.
    fn ctr_ok(&self, args: &[&str]) -> String {
        let mut c = self.ctd.ctr();
        c.args(args);
        let out = output_within(c, None, LIMIT);
        assert!(
            out.status.success(),
            "ctr {args:?}: {}\ncontainerd's log:\n{}",
            text(&out.stderr),
            self.ctd.log()
        );
        text(&out.stdout)
    }

    /// The task's pid and status from `ctr task ls`.
    fn task(&self, id: &str) -> Option<(String, String)> {
        self.ctr_ok(&["task", "ls"]).lines().find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.first() == Some(&id) && cols.len() == 3)
                .then(|| (cols[1].to_string(), cols[2].to_string()))
        })
    }
}

#[track_caller]
fn assert_exit(out: &Output, code: i32, stdout: &str, ctd: &Containerd) {
    assert_eq!(
        (out.status.code(), text(&out.stdout).as_str()),
        (Some(code), stdout),
        "stderr:\n{}\ncontainerd's log:\n{}",
        text(&out.stderr),
        ctd.log()
    );
}

#[test]
fn ctr_run_passes_output_and_exit_codes_of_modules_and_components() {
    let s = Setup::new();
    let out = s.run("args", &[PROBE, "args", "a b"]);
    assert_exit(
        &out,
        0,
        "argv[0]=/probe.wasm\nargv[1]=args\nargv[2]=a b\n",
        &s.ctd,
    );
    let out = s.run("exit3", &[PROBE, "exit", "3"]);
    assert_exit(&out, 3, "exiting with 3\n", &s.ctd);
    let out = s.run("component", &[COMPONENT, "args", "c"]);
    assert_exit(
        &out,
        0,
        "argv[0]=/component.wasm\nargv[1]=args\nargv[2]=c\n",
        &s.ctd,
    );
    // WASI 0.2's `exit` carries success or failure only.
    let out = s.run("component-exit", &[COMPONENT, "exit", "7"]);
    assert_exit(&out, 1, "exiting with 7\n", &s.ctd);
    let env = s.run_command(&["--env", "GREETING=hi"], "env", &[PROBE, "env"]);
    let out = output_within(env, None, LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = text(&out.stdout);
    assert!(lines.lines().any(|l| l == "GREETING=hi"), "{lines}");
    // --rm removed them all.
    assert_eq!(s.ctr_ok(&["containers", "ls", "--quiet"]), "");
    assert!(
        !s.ctd.dir().join("runc/wasmpod/args").exists(),
        "the runtime's state is gone"
    );
}

#[test]
fn ctr_task_ps_exec_and_kill_reach_the_running_guest() {
    let s = Setup::new();
    let id = "sleeper";
    let mut run = s.run_command(&[], id, &[PROBE, "sleep", "600"]);
    run.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut run = KillOnDrop::spawn(&mut run);
    let lines = lines_of(run.0.stdout.take().expect("stdout"));
    assert_eq!(
        lines.recv_timeout(LIMIT).expect("the guest's first line"),
        "sleeping"
    );
    let (pid, status) = s.task(id).expect("the task");
    assert_eq!(status, "RUNNING");

    // `ctr task ps` asks the runtime for the pids (`ps --format json`).
    let ps = s.ctr_ok(&["task", "ps", id]);
    assert!(
        ps.lines()
            .skip(1)
            .any(|l| l.split_whitespace().next() == Some(pid.as_str())),
        "pid {pid} in:\n{ps}"
    );

    let mut exec = s.ctd.ctr();
    exec.args(["task", "exec", "--exec-id", "e1", id, PROBE, "exit", "4"]);
    let out = output_within(exec, None, LIMIT);
    assert_exit(&out, 4, "exiting with 4\n", &s.ctd);
    let mut exec = s.ctd.ctr();
    exec.args([
        "task",
        "exec",
        "--exec-id",
        "e2",
        id,
        COMPONENT,
        "args",
        "x",
    ]);
    let out = output_within(exec, None, LIMIT);
    assert_exit(
        &out,
        0,
        "argv[0]=/component.wasm\nargv[1]=args\nargv[2]=x\n",
        &s.ctd,
    );

    s.ctr_ok(&["task", "kill", id]);
    let status = run.wait_within(LIMIT).expect("ctr run to end");
    assert_eq!(status.code(), Some(143), "SIGTERM: 128 + 15");
    wait_until(LIMIT, "the container to be removed", || {
        s.ctr_ok(&["containers", "ls", "--quiet"]).is_empty()
    });
}
