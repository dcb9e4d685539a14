//! A guest reaches only what it was granted: random sequences of
//! filesystem operations (create, write, rename, symlinks with `..` and
//! absolute targets, hard links, unlink, `..` in paths, absolute host
//! paths) run inside a read-write and a read-only volume, and afterwards
//! nothing outside the read-write volume has changed, nothing was created
//! outside it, and the guest printed nothing it was not granted.
//!
//! Each case builds a fresh tree
//!
//! ```text
//! P/                  UNGRANTED-P-MARK
//! P/t/                UNGRANTED-T-MARK
//! P/t/outside/        secret.txt, UNGRANTED-OUT-MARK
//! P/t/sibling/        f, UNGRANTED-SIB-MARK
//! P/t/vol-rw/         x, sub/y             (granted read-write at /rw)
//! P/t/vol-ro/         z, ro-sub/w          (granted read-only at /ro)
//! ```
//!
//! and runs the probe's `fsops` with it, as a WASI preview 1 module or as
//! a 0.2 component, with or without a working directory. Paths in the
//! generated operations are templates: `{T}` stands for the real host path
//! of `P/t`. One engine compiles the probe once per test; 128 cases take a
//! few seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use wasmpod_engine::{
    EngineOptions, ExitStatus, OutputSpec, Preopen, Program, RunSpec, Runtime, StopHandle,
};
use wasmpod_test_guests as guests;

/// Contents of the files the guest may never read.
const SECRETS: &[&str] = &["SECRET-OUTSIDE", "SECRET-SIBLING", "SECRET-T", "SECRET-P"];

/// Names the guest may never list.
const UNGRANTED: &str = "UNGRANTED";

/// Every name the guest creates starts with this, so a stray one can be
/// looked for anywhere on the host.
const MARK: &str = "fsesc-";

/// Files in the volumes, with their contents.
const RW_FILES: &[(&str, &str)] = &[("x", "rw-x"), ("sub/y", "rw-sub-y")];
const RO_FILES: &[(&str, &str)] = &[("z", "ro-z"), ("ro-sub/w", "ro-sub-w")];

/// What the guest writes.
const TEXTS: &[&str] = &["t0", "t1", "t2"];

/// Paths the operations use, in groups (see [`path`]): inside the grants,
/// through links the guest may have made, out of the grants by `..`,
/// absolute guest paths outside every volume, the real host paths, and
/// relative paths (which mean something when the case has a working
/// directory).
const GRANTED: &[&str] = &[
    "/rw/x",
    "/rw/sub/y",
    "/rw/sub",
    "/rw",
    "/rw/fsesc-a",
    "/rw/fsesc-b",
    "/rw/sub/fsesc-b",
    "/rw/fsesc-d",
    "/rw/fsesc-d/fsesc-a",
    "/rw/fsesc-l",
    "/rw/sub/fsesc-l",
    "/ro/z",
    "/ro/fsesc-a",
    "/ro/ro-sub",
    "/ro/ro-sub/w",
    "/ro",
];
const THROUGH_LINKS: &[&str] = &[
    "/rw/fsesc-l/secret.txt",
    "/rw/fsesc-l/f",
    "/rw/fsesc-l/fsesc-a",
    "/rw/fsesc-l/x",
    "/rw/fsesc-l/y",
    "/rw/fsesc-l/z",
    "/rw/fsesc-l/outside/secret.txt",
    "/rw/fsesc-l/sibling/f",
    "/rw/fsesc-l/t/outside/secret.txt",
    "/rw/sub/fsesc-l/passwd",
    "/rw/sub/fsesc-l/fsesc-a",
    "/rw/sub/fsesc-l/secret.txt",
    "/rw/sub/fsesc-l/x",
    "/rw/sub/fsesc-l/y",
    "/rw/sub/fsesc-l/sub/y",
];
const ESCAPES: &[&str] = &[
    "/rw/../outside/secret.txt",
    "/rw/sub/../../sibling/f",
    "/rw/sub/../../outside",
    "/rw/../fsesc-a",
    "/rw/sub/../../fsesc-a",
    "/rw/..",
    "/ro/..",
    "/ro/../vol-rw/x",
    "/ro/../outside/fsesc-a",
    "/",
    "/fsesc-a",
    "/etc/fsesc-a",
    "/etc/passwd",
    "{T}/outside/secret.txt",
    "{T}/outside",
    "{T}/fsesc-a",
    "{T}/sibling/f",
    "{T}/vol-rw/x",
];
const RELATIVE: &[&str] = &[
    "x",
    "y",
    "fsesc-a",
    "fsesc-l",
    "fsesc-l/secret.txt",
    "fsesc-l/fsesc-a",
    "../outside/secret.txt",
    "../../outside/secret.txt",
    "../fsesc-a",
    "../../sibling/f",
    "..",
    ".",
];

/// Targets of the symlinks the guest makes.
const TARGETS: &[&str] = &[
    "..",
    "../..",
    "../../..",
    "../outside",
    "../../outside",
    "../../sibling",
    "/",
    "/etc",
    "/rw/../outside",
    "{T}/outside",
    "{T}/outside/secret.txt",
    "{T}",
    "x",
    "sub",
    "/ro/z",
    "../vol-ro",
    "secret.txt",
    ".",
    "fsesc-l",
];

/// Where most symlinks are made: the paths above look through these.
const LINKS: &[&str] = &["/rw/fsesc-l", "/rw/sub/fsesc-l", "fsesc-l"];

/// Working directories a case may start in.
const CWDS: &[Option<&str>] = &[None, Some("/rw"), Some("/rw/sub"), Some("/ro")];

/// One engine and the probe compiled once (as a module and as a component),
/// shared by every case of a test.
struct Harness {
    _cache: tempfile::TempDir,
    rt: Runtime,
    module: Program,
    component: Program,
    tokio: tokio::runtime::Runtime,
}

impl Harness {
    fn new() -> Self {
        let cache = tempfile::tempdir().expect("cache tempdir");
        let rt = Runtime::new(EngineOptions {
            cache_dir: Some(cache.path().join("cache")),
            ..EngineOptions::default()
        })
        .expect("runtime");
        let load = |path: &str| {
            rt.load(&std::fs::read(path).expect("read guest"))
                .expect("load")
        };
        let module = load(guests::PROBE);
        let component = load(guests::PROBE_COMPONENT);
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio");
        Self {
            _cache: cache,
            rt,
            module,
            component,
            tokio,
        }
    }

    /// Runs `probe fsops OPS...` in `tree` and returns how it ended and
    /// what it printed.
    fn run(
        &self,
        tree: &Tree,
        case: &Case,
        ops: &[String],
        ro_writable: bool,
    ) -> (ExitStatus, String) {
        let out = tempfile::NamedTempFile::new().expect("stdout file");
        let mut args = vec!["probe".to_string(), "fsops".to_string()];
        args.extend(ops.iter().cloned());
        let mut spec = RunSpec::new(args);
        spec.preopens = tree.preopens(ro_writable);
        spec.cwd = case.cwd.map(str::to_string);
        spec.stdio.stdout = OutputSpec::File(out.reopen().expect("reopen"));
        let program = if case.component {
            &self.component
        } else {
            &self.module
        };
        let status = self
            .tokio
            .block_on(self.rt.run(program, spec, &StopHandle::new()))
            .expect("run");
        let stdout = std::fs::read_to_string(out.path()).expect("read stdout");
        (status, stdout)
    }
}

/// The host tree of one case.
struct Tree {
    top: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        let top = tempfile::tempdir().expect("tempdir");
        let p = top.path();
        let t = p.join("t");
        let write = |rel: &Path, text: &str| {
            std::fs::create_dir_all(rel.parent().expect("parent")).expect("mkdir");
            std::fs::write(rel, text).expect("write");
        };
        write(&p.join("UNGRANTED-P-MARK"), "SECRET-P");
        write(&t.join("UNGRANTED-T-MARK"), "SECRET-T");
        write(&t.join("outside/secret.txt"), "SECRET-OUTSIDE");
        write(&t.join("outside/UNGRANTED-OUT-MARK"), "SECRET-OUTSIDE");
        write(&t.join("sibling/f"), "SECRET-SIBLING");
        write(&t.join("sibling/UNGRANTED-SIB-MARK"), "SECRET-SIBLING");
        for (rel, text) in RW_FILES {
            write(&t.join("vol-rw").join(rel), text);
        }
        for (rel, text) in RO_FILES {
            write(&t.join("vol-ro").join(rel), text);
        }
        Self { top }
    }

    fn top(&self) -> &Path {
        self.top.path()
    }

    fn t(&self) -> PathBuf {
        self.top.path().join("t")
    }

    /// The grants: vol-rw read-write at /rw, vol-ro read-only at /ro
    /// (read-write too with `ro_writable`, a sandbox that does not hold).
    fn preopens(&self, ro_writable: bool) -> Vec<Preopen> {
        vec![
            Preopen::open(self.t().join("vol-rw"), "/rw", false).expect("rw volume"),
            Preopen::open(self.t().join("vol-ro"), "/ro", !ro_writable).expect("ro volume"),
        ]
    }

    /// `template` with `{T}` replaced by the host path of `P/t`.
    fn expand(&self, template: &str) -> String {
        template.replace("{T}", &self.t().display().to_string())
    }
}

/// What a host entry is, for comparing before and after. Everything but
/// the access time: reading is allowed, and reading moves it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// The read-write volume itself, by inode: the guest may change
    /// anything in it, only not replace or remove it.
    Granted {
        ino: u64,
    },
    File {
        content: Vec<u8>,
        meta: Meta,
    },
    Dir {
        meta: Meta,
    },
    Symlink {
        target: PathBuf,
        meta: Meta,
    },
    Other {
        meta: Meta,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Meta {
    fn of(m: &std::fs::Metadata) -> Self {
        Self {
            ino: m.ino(),
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            nlink: m.nlink(),
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        }
    }
}

/// Every entry under `root` (paths relative to it, `root` itself as ""),
/// without following symlinks and without looking inside `granted`.
fn snapshot(root: &Path, granted: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    // Bounded: the trees here hold a few dozen entries.
    while let Some(path) = todo.pop() {
        assert!(out.len() < 10_000, "runaway tree under {}", root.display());
        let rel = path.strip_prefix(root).expect("under root").to_path_buf();
        let m = std::fs::symlink_metadata(&path).expect("lstat");
        let meta = Meta::of(&m);
        let entry = if path == granted && m.is_dir() {
            Entry::Granted { ino: m.ino() }
        } else if m.is_symlink() {
            Entry::Symlink {
                target: std::fs::read_link(&path).expect("readlink"),
                meta,
            }
        } else if m.is_file() {
            Entry::File {
                content: std::fs::read(&path).expect("read"),
                meta,
            }
        } else if m.is_dir() {
            for e in std::fs::read_dir(&path).expect("read_dir") {
                todo.push(e.expect("dir entry").path());
            }
            Entry::Dir { meta }
        } else {
            Entry::Other { meta }
        };
        out.insert(rel, entry);
    }
    out
}

/// How `after` differs from `before`: one line per entry changed, created
/// or removed. Empty when nothing differs.
fn diff(before: &BTreeMap<PathBuf, Entry>, after: &BTreeMap<PathBuf, Entry>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, b) in before {
        match after.get(path) {
            None => out.push(format!("removed {}", path.display())),
            Some(a) if a != b => out.push(format!("changed {}: {b:?} -> {a:?}", path.display())),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        out.push(format!("created {}", path.display()));
    }
    out
}

/// Entries named like the ones the guest creates, directly in `dirs`
/// (where an escape out of the tree would have put them).
fn strays(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(MARK) {
                out.push(e.path());
            }
        }
    }
    out
}

/// Host directories outside the case's tree where a path that escaped
/// would land: the root, /etc, the temp dir holding the tree, and this
/// process's working directory.
fn escape_dirs(tree: &Tree) -> Vec<PathBuf> {
    let mut dirs = vec![
        PathBuf::from("/"),
        PathBuf::from("/etc"),
        std::env::temp_dir(),
    ];
    dirs.extend(tree.top().parent().map(Path::to_path_buf));
    dirs.extend(std::env::current_dir().ok());
    dirs
}

/// Checks the probe's output for `ops`: one line per op, in order, each
/// `OP ok`, `OP ok: DATA` or `OP err: ...`; what `read` printed is content
/// the volumes held or the guest wrote, what `ls` printed are names the
/// volumes held or the guest made; no secret appears anywhere.
fn check_output(ops: &[String], out: &str) -> Result<(), String> {
    for s in SECRETS.iter().chain([&UNGRANTED]) {
        if out.contains(s) {
            return Err(format!("output holds {s:?}:\n{out}"));
        }
    }
    let contents: BTreeSet<&str> = RW_FILES
        .iter()
        .chain(RO_FILES)
        .map(|(_, c)| *c)
        .chain(TEXTS.iter().copied())
        .chain([""])
        .collect();
    let names: BTreeSet<&str> = RW_FILES
        .iter()
        .chain(RO_FILES)
        .flat_map(|(rel, _)| rel.split('/'))
        .chain([".", ".."])
        .collect();
    let lines: Vec<&str> = out.lines().collect();
    if lines.len() != ops.len() {
        return Err(format!("{} ops, {} lines:\n{out}", ops.len(), lines.len()));
    }
    for (op, line) in ops.iter().zip(&lines) {
        let rest = line
            .strip_prefix(op.as_str())
            .ok_or_else(|| format!("line {line:?} is not for op {op:?}"))?;
        if rest.starts_with(" err: ") || rest == " ok" {
            continue;
        }
        let data = rest
            .strip_prefix(" ok: ")
            .ok_or_else(|| format!("line {line:?}: neither ok nor err"))?;
        if op.starts_with("read:") && !contents.contains(data) {
            return Err(format!("{op} read {data:?}, which no volume held"));
        }
        if op.starts_with("ls:") {
            for name in data.split(' ').filter(|n| !n.is_empty()) {
                if !names.contains(name) && !name.starts_with(MARK) {
                    return Err(format!("{op} listed {name:?}, which no volume held"));
                }
            }
        }
    }
    Ok(())
}

/// One generated case.
#[derive(Debug, Clone)]
struct Case {
    component: bool,
    cwd: Option<&'static str>,
    ops: Vec<String>,
}

/// A path: half of them inside the grants, so that enough operations
/// work to build up links and directories for the others to go through.
fn path() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => proptest::sample::select(GRANTED),
        3 => proptest::sample::select(THROUGH_LINKS),
        1 => proptest::sample::select(ESCAPES),
        1 => proptest::sample::select(RELATIVE),
    ]
}

fn op() -> impl Strategy<Value = String> {
    let target = proptest::sample::select(TARGETS);
    let text = proptest::sample::select(TEXTS);
    prop_oneof![
        1 => path().prop_map(|p| format!("mkdir:{p}")),
        1 => (path(), text).prop_map(|(p, t)| format!("write:{p}:{t}")),
        2 => path().prop_map(|p| format!("read:{p}")),
        1 => (path(), path()).prop_map(|(a, b)| format!("rename:{a}:{b}")),
        3 => (target, prop_oneof![proptest::sample::select(LINKS), path()])
            .prop_map(|(t, l)| format!("symlink:{t}:{l}")),
        1 => (path(), path()).prop_map(|(a, b)| format!("link:{a}:{b}")),
        1 => path().prop_map(|p| format!("unlink:{p}")),
        1 => path().prop_map(|p| format!("rmdir:{p}")),
        1 => path().prop_map(|p| format!("ls:{p}")),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        proptest::sample::select(CWDS),
        proptest::collection::vec(op(), 1..=12),
    )
        .prop_map(|(component, cwd, ops)| Case {
            component,
            cwd,
            ops,
        })
}

/// Runs `case` in a fresh tree and checks every property; the error says
/// which one failed and how. Returns the ops as run (`{T}` expanded) and
/// the output. `ro_writable` grants the read-only volume read-write, for
/// the test that the properties catch a sandbox that does not hold.
fn check_case(
    h: &Harness,
    case: &Case,
    ro_writable: bool,
) -> Result<(Vec<String>, String), String> {
    let tree = Tree::new();
    let granted = tree.t().join("vol-rw");
    let escapes = escape_dirs(&tree);
    let strays_before = strays(&escapes);
    let before = snapshot(tree.top(), &granted);
    let ops: Vec<String> = case.ops.iter().map(|o| tree.expand(o)).collect();

    let (status, out) = h.run(&tree, case, &ops, ro_writable);

    if status != ExitStatus::Exited(0) {
        return Err(format!("probe ended with {status:?}:\n{out}"));
    }
    let changes = diff(&before, &snapshot(tree.top(), &granted));
    if !changes.is_empty() {
        return Err(format!(
            "outside the read-write volume:\n{}\noutput:\n{out}",
            changes.join("\n")
        ));
    }
    let new_strays: Vec<_> = strays(&escapes)
        .into_iter()
        .filter(|p| !strays_before.contains(p))
        .collect();
    if !new_strays.is_empty() {
        return Err(format!("created outside the tree: {new_strays:?}\n{out}"));
    }
    check_output(&ops, &out)?;
    Ok((ops, out))
}

fn config(cases: u32, max_shrink_iters: u32) -> Config {
    Config {
        cases,
        max_shrink_iters,
        // The failing case is printed; there is no source file to keep it
        // next to for a runner built by hand.
        failure_persistence: None,
        ..Config::default()
    }
}

#[test]
fn random_filesystem_operations_stay_inside_the_grants() {
    let h = Harness::new();
    let started = Instant::now();
    // Shrinking reruns the guest; a few hundred runs are enough to get a
    // short sequence.
    let mut runner = TestRunner::new(config(128, 256));
    let result = runner.run(&case(), |case| {
        check_case(&h, &case, false)
            .map(drop)
            .map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!("128 cases in {:?}", started.elapsed());
}

/// The whole harness against a sandbox that does not hold what the checker
/// assumes: the volume at /ro is granted read-write, so a guest's change
/// there is a change outside the grants as the checker sees them. The
/// same generator (with a fixed seed) must find such a case.
#[test]
fn the_properties_catch_a_grant_wider_than_promised() {
    let h = Harness::new();
    let mut runner = TestRunner::new_with_rng(
        config(128, 64),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let result = runner.run(&case(), |case| {
        check_case(&h, &case, true)
            .map(drop)
            .map_err(TestCaseError::fail)
    });
    match result {
        Err(TestError::Fail(reason, case)) => {
            let reason = reason.to_string();
            assert!(
                reason.contains("outside the read-write volume") && reason.contains("t/vol-ro"),
                "{case:?}: {reason}"
            );
        }
        other => panic!("a writable /ro went unnoticed: {other:?}"),
    }
}

/// Sequences checked by hand, each run in a fresh tree as a module and as
/// a component. Besides the properties, every line is compared with what
/// the op should do: `ok`, `ok: DATA`, `ok: *` (any listing) or `err`.
#[test]
fn known_escape_attempts_fail_and_granted_work_succeeds() {
    let h = Harness::new();
    type Expected = &'static [(&'static str, &'static str)];
    let cases: &[(Option<&str>, Expected)] = &[
        (
            None,
            &[
                // Granted: create, read back, read the ro volume.
                ("write:/rw/fsesc-a:t0", "ok"),
                ("read:/rw/fsesc-a", "ok: t0"),
                ("read:/ro/z", "ok: ro-z"),
                // `..` out of a volume, the host path, a path no volume holds.
                ("read:/rw/../outside/secret.txt", "err"),
                ("read:/rw/sub/../../sibling/f", "err"),
                ("read:{T}/outside/secret.txt", "err"),
                ("write:/rw/../fsesc-a:t1", "err"),
                ("write:/fsesc-a:t1", "err"),
                ("ls:/ro/..", "err"),
                ("ls:/", "err"),
                // `:ro` denies every change.
                ("write:/ro/fsesc-a:t1", "err"),
                ("write:/ro/z:t1", "err"),
                ("mkdir:/ro/fsesc-d", "err"),
                ("unlink:/ro/z", "err"),
                ("rmdir:/ro/ro-sub", "err"),
                ("rename:/ro/z:/ro/fsesc-z", "err"),
                ("rename:/ro/z:/rw/fsesc-z", "err"),
                ("symlink:z:/ro/fsesc-l", "err"),
                ("read:/ro/z", "ok: ro-z"),
            ],
        ),
        (
            None,
            &[
                // A symlink out may be made (it is only data in the
                // volume) but never followed out.
                ("symlink:../outside:/rw/fsesc-l", "ok"),
                ("read:/rw/fsesc-l/secret.txt", "err"),
                ("write:/rw/fsesc-l/fsesc-a:t0", "err"),
                ("ls:/rw/fsesc-l", "err"),
                // Absolute targets are refused outright.
                ("symlink:/etc:/rw/sub/fsesc-l", "err"),
                ("symlink:{T}/outside/secret.txt:/rw/fsesc-s", "err"),
                ("read:/rw/sub/fsesc-l/passwd", "err"),
                // Nor does writing through a link out create its target.
                ("symlink:../../outside/fsesc-a:/rw/sub/fsesc-s", "ok"),
                ("write:/rw/sub/fsesc-s:t0", "err"),
                ("read:/rw/sub/fsesc-s", "err"),
                // A symlink that stays inside is followed.
                ("symlink:sub:/rw/fsesc-in", "ok"),
                ("read:/rw/fsesc-in/y", "ok: rw-sub-y"),
                // Moving a link elsewhere does not make it reach out.
                ("rename:/rw/fsesc-l:/rw/sub/fsesc-m", "ok"),
                ("read:/rw/sub/fsesc-m/secret.txt", "err"),
            ],
        ),
        (
            None,
            &[
                // Hard links: not from the ro volume (a writable second name
                // for a read-only file), not from outside.
                ("link:/ro/z:/rw/fsesc-h", "err"),
                ("link:/rw/../outside/secret.txt:/rw/fsesc-h", "err"),
                ("link:{T}/sibling/f:/rw/fsesc-h", "err"),
                ("link:/rw/x:/rw/../fsesc-h", "err"),
                ("link:/rw/x:/rw/sub/fsesc-h", "ok"),
                ("read:/rw/sub/fsesc-h", "ok: rw-x"),
                // rename, unlink, rmdir and mkdir out of the volume.
                ("rename:/rw/x:/rw/../fsesc-x", "err"),
                ("rename:/rw/../outside/secret.txt:/rw/fsesc-s", "err"),
                ("unlink:/rw/../outside/secret.txt", "err"),
                ("rmdir:/rw/sub/../../sibling", "err"),
                ("mkdir:/rw/../fsesc-d", "err"),
                ("mkdir:/rw/sub/fsesc-d", "ok"),
                ("rename:/rw/sub:/rw/fsesc-moved", "ok"),
                ("ls:/rw/fsesc-moved", "ok: *"),
            ],
        ),
        (
            Some("/rw/sub"),
            &[
                // Relative paths start at the working directory, which is
                // a preopen of its own (WASI preview 1 has no other): `..`
                // stops there, even where the volume goes on above it.
                ("read:y", "ok: rw-sub-y"),
                ("read:../x", "err"),
                ("read:../../outside/secret.txt", "err"),
                ("write:../../fsesc-a:t0", "err"),
                ("write:fsesc-a:t0", "ok"),
                ("read:/rw/sub/fsesc-a", "ok: t0"),
            ],
        ),
    ];
    for (cwd, expected) in cases {
        for component in [false, true] {
            let case = Case {
                component,
                cwd: *cwd,
                ops: expected.iter().map(|(op, _)| op.to_string()).collect(),
            };
            let (ops, out) = check_case(&h, &case, false).unwrap_or_else(|e| panic!("{e}"));
            for ((op, (_, want)), line) in ops.iter().zip(*expected).zip(out.lines()) {
                let got = line.strip_prefix(op.as_str()).unwrap_or(line);
                let fine = match *want {
                    "err" => got.starts_with(" err: "),
                    "ok: *" => got.starts_with(" ok: "),
                    _ => got == format!(" {want}"),
                };
                assert!(
                    fine,
                    "component {component}, cwd {cwd:?}: {line:?}, want {want:?}\n{out}"
                );
            }
        }
    }
}

/// The checker itself: a change made from the host outside the read-write
/// volume, of each kind an escape would make, is reported, and changes
/// inside the volume are not.
#[test]
fn the_checker_reports_changes_outside_the_read_write_volume() {
    type Change = fn(&Path);
    let changes: &[(&str, Change)] = &[
        ("append to a file outside", |t| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(t.join("outside/secret.txt"))
                .expect("open");
            f.write_all(b"!").expect("append");
        }),
        ("create a file in a sibling", |t| {
            std::fs::write(t.join("sibling/fsesc-new"), "x").expect("write");
        }),
        ("create a directory next to the volumes", |t| {
            std::fs::create_dir(t.join("fsesc-d")).expect("mkdir");
        }),
        ("create a file above the tree", |t| {
            std::fs::write(t.parent().expect("P").join("fsesc-p"), "x").expect("write");
        }),
        ("remove a file outside", |t| {
            std::fs::remove_file(t.join("sibling/f")).expect("rm");
        }),
        ("rewrite the ro volume with the same bytes", |t| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            std::fs::write(t.join("vol-ro/z"), "ro-z").expect("write");
        }),
        ("hard-link a read-only file into the rw volume", |t| {
            std::fs::hard_link(t.join("vol-ro/z"), t.join("vol-rw/fsesc-h")).expect("link");
        }),
        ("swap the rw volume for a symlink", |t| {
            std::fs::rename(t.join("vol-rw"), t.join("vol-rw.old")).expect("mv");
            std::os::unix::fs::symlink("outside", t.join("vol-rw")).expect("ln");
        }),
        ("replace a file outside by a rename", |t| {
            std::fs::write(t.join("outside/fsesc-tmp"), "SECRET-OUTSIDE").expect("write");
            std::fs::rename(t.join("outside/fsesc-tmp"), t.join("outside/secret.txt")).expect("mv");
        }),
    ];
    for (what, change) in changes {
        let tree = Tree::new();
        let granted = tree.t().join("vol-rw");
        let before = snapshot(tree.top(), &granted);
        change(&tree.t());
        let found = diff(&before, &snapshot(tree.top(), &granted));
        assert!(!found.is_empty(), "{what}: not reported");
    }

    // Work inside the read-write volume is not a change.
    let tree = Tree::new();
    let rw = tree.t().join("vol-rw");
    let before = snapshot(tree.top(), &rw);
    std::fs::write(rw.join("x"), "changed").expect("write");
    std::fs::create_dir(rw.join("fsesc-d")).expect("mkdir");
    std::os::unix::fs::symlink("../outside", rw.join("fsesc-l")).expect("ln");
    std::fs::remove_dir_all(rw.join("sub")).expect("rm");
    assert_eq!(
        diff(&before, &snapshot(tree.top(), &rw)),
        Vec::<String>::new()
    );

    // A marked name in a directory an escape would reach is found.
    let dir = tempfile::tempdir().expect("tmp");
    assert!(strays(&[dir.path().to_path_buf()]).is_empty());
    std::fs::write(dir.path().join("fsesc-a"), "").expect("write");
    assert_eq!(
        strays(&[dir.path().to_path_buf()]),
        [dir.path().join("fsesc-a")]
    );

    // Output that shows a secret, a host file or a host listing fails.
    let ops = |o: &[&str]| o.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let bad: &[(&[&str], &str)] = &[
        (
            &["read:/rw/fsesc-l/secret.txt"],
            "read:/rw/fsesc-l/secret.txt ok: SECRET-OUTSIDE\n",
        ),
        (
            &["read:/rw/fsesc-l/passwd"],
            "read:/rw/fsesc-l/passwd ok: root:x:0:0:root:/root\n",
        ),
        (&["ls:/rw/fsesc-l"], "ls:/rw/fsesc-l ok: . .. bin etc usr\n"),
        (
            &["ls:/rw/.."],
            "ls:/rw/.. ok: . .. outside sibling vol-ro vol-rw\n",
        ),
        (&["read:/rw/x", "read:/ro/z"], "read:/rw/x ok: rw-x\n"),
        (&["read:/rw/x"], "read:/rw/x maybe\n"),
    ];
    for (o, out) in bad {
        assert!(check_output(&ops(o), out).is_err(), "accepted {out:?}");
    }
    let good = "read:/rw/x ok: rw-x\nls:/rw ok: . .. x sub fsesc-a\nread:/rw/../outside/secret.txt err: Operation not permitted\n";
    check_output(
        &ops(&["read:/rw/x", "ls:/rw", "read:/rw/../outside/secret.txt"]),
        good,
    )
    .expect("good output");
}
