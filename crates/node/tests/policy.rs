//! `wasmpod node install --policy` into a temp host root: the policy and
//! the key files it names land under `/etc/wasmpod/`, a bad policy writes
//! nothing, paths that leave the policy's folder are refused (a
//! ConfigMap's own `..data` symlinks are not), and uninstall removes what
//! install wrote and nothing else. No root, no containerd.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wasmpod_node::install::{CLI, SHIM};
use wasmpod_node::{Flavor, Host, InstallOptions, NodeError, install, status, uninstall};

/// A containerd that must not be asked anything: every config here
/// declares its version, and no test restarts.
struct NoContainerd;

impl Host for NoContainerd {
    fn containerd_version(&self) -> Result<String, NodeError> {
        panic!("the config declares its version")
    }
    fn restart_containerd(&self, _: Flavor, _: &Path) -> Result<String, NodeError> {
        panic!("no restart without --restart")
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy");
    std::fs::read(path.join(name)).expect("fixture")
}

/// A temp folder holding a host root (`root/`, with a containerd config)
/// and the folders policies are written to.
struct Node {
    tmp: tempfile::TempDir,
}

impl Node {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tmp");
        let node = Self { tmp };
        write(
            &node.root().join("etc/containerd/config.toml"),
            "version = 2\n",
        );
        let src = node.tmp.path().join("src");
        write(&src.join(SHIM), "shim");
        write(&src.join(CLI), "cli");
        node
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }

    /// `/etc/wasmpod` on the host.
    fn etc(&self) -> PathBuf {
        self.root().join("etc/wasmpod")
    }

    fn options(&self, policy: Option<&Path>) -> InstallOptions {
        let src = self.tmp.path().join("src");
        InstallOptions {
            containerd_config: None,
            bin_dir: self.root().join("usr/local/bin"),
            source_dir: src.clone(),
            source_cli: src.join(CLI),
            host_root: self.root(),
            cri_socket: Some(self.tmp.path().join("no-cri.sock")),
            restart: false,
            dry_run: false,
            timeout: Duration::from_secs(1),
            policy: policy.map(Path::to_path_buf),
        }
    }

    /// A policy folder `name` with `policy.toml` and the given files.
    fn policy(&self, name: &str, policy: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let dir = self.tmp.path().join(name);
        write(&dir.join("policy.toml"), policy);
        for (file, bytes) in files {
            write(&dir.join(file), bytes);
        }
        dir.join("policy.toml")
    }

    fn install(&self, policy: Option<&Path>) -> Result<String, NodeError> {
        install(&self.options(policy), &NoContainerd).map(|plan| plan.to_string())
    }

    fn uninstall(&self) -> String {
        uninstall(&self.options(None), &NoContainerd)
            .expect("uninstall")
            .to_string()
    }
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

/// Every file and folder beneath `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let path = e.expect("entry").path();
            let rel = path
                .strip_prefix(dir)
                .expect("beneath")
                .display()
                .to_string();
            if path.is_dir() {
                out.push(format!("{rel}/"));
                dirs.push(path);
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

const TWO_KEYS: &str = r#"[default]
action = "require-signature"
keys = ["release.pub"]

[[rule]]
prefix = "ghcr.io/acme"
action = "require-signature"
keys = ["keys/acme.pub", { path = "./release.pub", expires = 2999-01-01 }]

[[rule]]
registry = "docker.io"
action = "deny"
"#;

#[test]
fn the_policy_and_its_relative_keys_are_installed_and_a_rerun_changes_nothing() {
    let node = Node::new();
    let release = fixture("release.pub");
    let acme = fixture("acme.pub");
    let policy = node.policy(
        "cfg",
        TWO_KEYS,
        &[("release.pub", &release), ("keys/acme.pub", &acme)],
    );
    let out = node.install(Some(&policy)).expect("install");
    assert!(
        out.contains(&format!(
            "policy /etc/wasmpod/policy.toml installed (from {}): 2 rules, default require-signature, 2 key files beside it",
            policy.display()
        )),
        "{out}"
    );
    let etc = node.etc();
    assert_eq!(
        tree(&etc),
        [
            "keys/",
            "keys/acme.pub",
            "policy.toml",
            "policy.toml.wasmpod-installed",
            "release.pub"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(etc.join("policy.toml")).expect("read"),
        TWO_KEYS
    );
    assert_eq!(
        std::fs::read(etc.join("release.pub")).expect("read"),
        release
    );
    assert_eq!(
        std::fs::read(etc.join("keys/acme.pub")).expect("read"),
        acme
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(etc.join("policy.toml"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);

    // The shim reads it from its own folder, with keys relative to it.
    let read = wasmpod_oci::trust::read_policy(&etc.join("policy.toml")).expect("read_policy");
    wasmpod_oci::trust::Trust::new(Some(read), vec![], None).expect("Trust::new");

    let again = node.install(Some(&policy)).expect("again");
    assert!(
        again.contains("policy /etc/wasmpod/policy.toml unchanged"),
        "{again}"
    );
    assert!(again.starts_with("nothing to change"), "{again}");
}

#[test]
fn a_different_policy_replaces_the_old_one_and_its_keys_go() {
    let node = Node::new();
    let (release, acme) = (fixture("release.pub"), fixture("acme.pub"));
    let first = node.policy(
        "v1",
        TWO_KEYS,
        &[("release.pub", &release), ("keys/acme.pub", &acme)],
    );
    node.install(Some(&first)).expect("install v1");

    let second_text = "[default]\naction = \"require-signature\"\nkeys = [\"signing/new.pub\"]\n";
    let second = node.policy("v2", second_text, &[("signing/new.pub", &acme)]);
    let mut opts = node.options(Some(&second));
    opts.dry_run = true;
    let plan = install(&opts, &NoContainerd).expect("dry run");
    let lines: Vec<String> = plan.to_string().lines().map(String::from).collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not in {lines:#?}"))
    };
    // Keys first, then the policy, then what the old one needed goes.
    assert!(at("create ") < at("edit "), "{lines:#?}");
    assert!(at("signing/new.pub") < at("policy.toml ("), "{lines:#?}");
    assert!(at("policy.toml (") < at("remove "), "{lines:#?}");
    assert!(plan.changes.is_empty(), "only the policy changes: {plan}");
    assert_eq!(tree(&node.etc()).len(), 5, "a dry run writes nothing");

    let out = node.install(Some(&second)).expect("install v2");
    assert!(
        out.contains("policy /etc/wasmpod/policy.toml installed"),
        "{out}"
    );
    assert_eq!(
        tree(&node.etc()),
        [
            "policy.toml",
            "policy.toml.wasmpod-installed",
            "signing/",
            "signing/new.pub"
        ],
        "no temp file, no stale key, no stale folder"
    );
    assert_eq!(
        std::fs::read_to_string(node.etc().join("policy.toml")).expect("read"),
        second_text
    );
}

/// Files beside a policy: name and bytes.
type Files<'a> = &'a [(&'a str, &'a [u8])];

#[test]
fn a_policy_the_shim_would_refuse_writes_nothing() {
    let release = fixture("release.pub");
    let expired = "[default]\naction = \"require-signature\"\nkeys = [{ path = \"release.pub\", expires = 2020-01-01 }]\n";
    let cases: &[(&str, &str, Files<'_>, &str)] = &[
        (
            "unknown field",
            "[default]\nacton = \"deny\"\n",
            &[],
            "invalid policy",
        ),
        (
            "contradiction",
            "[default]\naction = \"deny\"\n[[rule]]\nregistry = \"ghcr.io\"\naction = \"deny\"\n[[rule]]\nregistry = \"ghcr.io\"\naction = \"allow-unsigned\"\n",
            &[],
            "invalid policy",
        ),
        (
            "missing key",
            "[default]\naction = \"require-signature\"\nkeys = [\"gone.pub\"]\n",
            &[],
            "read key file",
        ),
        (
            "malformed key",
            "[default]\naction = \"require-signature\"\nkeys = [\"bad.pub\"]\n",
            &[("bad.pub", b"-----BEGIN PUBLIC KEY-----\nAAAA\n")],
            "invalid key file",
        ),
        (
            "expired key",
            expired,
            &[("release.pub", &release)],
            "the default rule: every key has expired (release.pub on 2020-01-01)",
        ),
        (
            "dot-dot",
            "[default]\naction = \"require-signature\"\nkeys = [\"../release.pub\"]\n",
            &[],
            "key ../release.pub leaves the policy's folder",
        ),
        (
            "over the policy",
            "[default]\naction = \"require-signature\"\nkeys = [\"policy.toml\"]\n",
            &[],
            "would be installed over /etc/wasmpod/policy.toml",
        ),
        (
            "absolute key not on the host",
            "[default]\naction = \"require-signature\"\nkeys = [\"/etc/keys/host.pub\"]\n",
            &[],
            "read the host's key file /etc/keys/host.pub",
        ),
    ];
    for (what, text, files, message) in cases {
        let node = Node::new();
        // The escaping key exists, so only the path refuses it.
        write(&node.tmp.path().join("release.pub"), &release);
        let policy = node.policy("cfg", text, files);
        let err = node.install(Some(&policy)).expect_err(what);
        let shown = chain(&err);
        assert!(shown.contains(message), "{what}: {shown}");
        assert!(!node.etc().exists(), "{what}: {:?}", tree(&node.etc()));
        assert!(
            !node.root().join("usr/local/bin").exists(),
            "{what}: nothing else is installed either"
        );
    }
}

/// The error and its causes, as the CLI prints them.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        out.push_str(&format!("\ncaused by: {c}"));
        cause = c.source();
    }
    out
}

#[test]
fn symlinks_out_of_the_policy_folder_are_refused() {
    let release = fixture("release.pub");
    let one_key = "[default]\naction = \"require-signature\"\nkeys = [\"release.pub\"]\n";
    let node = Node::new();
    let outside = node.tmp.path().join("outside/release.pub");
    write(&outside, &release);
    for target in [
        PathBuf::from("../outside/release.pub"),
        outside.clone(),
        PathBuf::from("sub/../../outside/release.pub"),
    ] {
        let policy = node.policy("cfg", one_key, &[]);
        let link = policy.with_file_name("release.pub");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        std::fs::create_dir_all(policy.with_file_name("sub")).expect("mkdir");
        let err = node.install(Some(&policy)).expect_err("escape");
        assert!(
            err.to_string()
                .contains("a symlink leads out of the policy's folder"),
            "{target:?}: {err}"
        );
        assert!(!node.etc().exists());
    }

    // The policy file itself, too.
    let dir = node.tmp.path().join("linked");
    std::fs::create_dir_all(&dir).expect("mkdir");
    write(&node.tmp.path().join("outside/policy.toml"), one_key);
    std::os::unix::fs::symlink("../outside/policy.toml", dir.join("policy.toml")).expect("ln");
    let err = node
        .install(Some(&dir.join("policy.toml")))
        .expect_err("escape");
    assert!(
        err.to_string()
            .contains("it is a symlink out of its folder"),
        "{err}"
    );
    assert!(!node.etc().exists());
}

/// A ConfigMap volume as the kubelet writes it: the files in a timestamped
/// folder, `..data` a symlink to it, and each key a symlink through
/// `..data`.
#[test]
fn a_config_map_volume_layout_is_accepted() {
    let node = Node::new();
    let (release, acme) = (fixture("release.pub"), fixture("acme.pub"));
    let mount = node.tmp.path().join("etc/wasmpod-policy");
    let data = mount.join("..2025_01_01_00_00_00.123456789");
    let text = "[default]\naction = \"require-signature\"\nkeys = [\"release.pub\"]\n\n[[rule]]\nprefix = \"ghcr.io/acme\"\naction = \"require-signature\"\nkeys = [\"acme.pub\"]\n";
    write(&data.join("policy.toml"), text);
    write(&data.join("release.pub"), &release);
    write(&data.join("acme.pub"), &acme);
    std::os::unix::fs::symlink("..2025_01_01_00_00_00.123456789", mount.join("..data"))
        .expect("ln");
    for name in ["policy.toml", "release.pub", "acme.pub"] {
        std::os::unix::fs::symlink(format!("..data/{name}"), mount.join(name)).expect("ln");
    }
    let out = node
        .install(Some(&mount.join("policy.toml")))
        .expect("install");
    assert!(
        out.contains("1 rule, default require-signature, 2 key files beside it"),
        "{out}"
    );
    let etc = node.etc();
    assert!(
        !std::fs::symlink_metadata(etc.join("release.pub"))
            .expect("stat")
            .is_symlink(),
        "the key's bytes are copied, not the link"
    );
    assert_eq!(std::fs::read(etc.join("acme.pub")).expect("read"), acme);
    assert_eq!(
        std::fs::read_to_string(etc.join("policy.toml")).expect("read"),
        text
    );
}

#[test]
fn a_key_named_by_an_absolute_path_must_be_on_the_host_and_stays_there() {
    let node = Node::new();
    let text = "[default]\naction = \"require-signature\"\nkeys = [\"/etc/keys/host.pub\"]\n";
    let policy = node.policy("cfg", text, &[]);
    // In the installer's own /etc it would not count: the host's is read.
    let err = node.install(Some(&policy)).expect_err("not on the host");
    assert!(err.to_string().contains("/etc/keys/host.pub"), "{err}");

    write(
        &node.root().join("etc/keys/host.pub"),
        fixture("release.pub"),
    );
    let out = node.install(Some(&policy)).expect("install");
    assert!(out.contains("0 key files beside it"), "{out}");
    assert_eq!(
        tree(&node.etc()),
        ["policy.toml", "policy.toml.wasmpod-installed"]
    );
}

#[test]
fn uninstall_removes_what_install_wrote_and_nothing_else() {
    let node = Node::new();
    let etc = node.etc();
    write(&etc.join("oci.toml"), "native-runtime = \"runc\"\n");
    write(&etc.join("keys/mine.pub"), fixture("acme.pub"));
    let policy = node.policy(
        "cfg",
        TWO_KEYS,
        &[
            ("release.pub", &fixture("release.pub")),
            ("keys/acme.pub", &fixture("acme.pub")),
        ],
    );
    node.install(Some(&policy)).expect("install");
    // Install without --policy leaves the policy alone.
    node.install(None).expect("install again");
    assert!(etc.join("policy.toml").is_file());

    let out = node.uninstall();
    assert!(out.contains("remove "), "{out}");
    assert_eq!(tree(&etc), ["keys/", "keys/mine.pub", "oci.toml"]);
}

#[test]
fn a_policy_put_there_by_hand_is_neither_replaced_nor_removed() {
    let node = Node::new();
    let mine = "[default]\naction = \"deny\"\n";
    write(&node.etc().join("policy.toml"), mine);
    let policy = node.policy("cfg", "[default]\naction = \"allow-unsigned\"\n", &[]);
    let err = node.install(Some(&policy)).expect_err("not ours");
    assert!(
        err.to_string()
            .contains("`wasmpod node install` did not write it"),
        "{err}"
    );
    node.install(None).expect("install without --policy");
    node.uninstall();
    assert_eq!(
        std::fs::read_to_string(node.etc().join("policy.toml")).expect("read"),
        mine
    );
}

#[test]
fn status_says_whether_the_given_policy_is_installed() {
    let node = Node::new();
    let policy = node.policy(
        "cfg",
        "[default]\naction = \"require-signature\"\nkeys = [\"release.pub\"]\n",
        &[("release.pub", &fixture("release.pub"))],
    );
    let opts = node.options(Some(&policy));
    let report = status(&opts, &NoContainerd);
    assert!(matches!(report.policy, Some((_, Ok(false)))), "{report}");
    assert!(!report.ready());
    node.install(Some(&policy)).expect("install");
    let report = status(&opts, &NoContainerd);
    assert!(matches!(report.policy, Some((_, Ok(true)))), "{report}");
    assert!(
        report
            .to_string()
            .contains("policy:  /etc/wasmpod/policy.toml is the given policy"),
        "{report}"
    );
    // A key changed on the host is a difference.
    write(&node.etc().join("release.pub"), fixture("acme.pub"));
    let report = status(&opts, &NoContainerd);
    assert!(matches!(report.policy, Some((_, Ok(false)))), "{report}");
}
