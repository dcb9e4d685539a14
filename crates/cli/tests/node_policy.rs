//! `wasmpod node install --policy` as a user runs it, into a temp host
//! root: the line it prints, its exit codes, and that a bad policy leaves
//! the node untouched. No root, no containerd (`crates/node/tests/` has
//! the file-level cases).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy")
}

/// A host root with a containerd config, and `wasmpod` with a shim beside
/// it (install copies both): a hard link of the built binary, so the
/// running `wasmpod` finds the shim in its own folder.
struct Node {
    tmp: tempfile::TempDir,
    wasmpod: PathBuf,
}

impl Node {
    fn new() -> Self {
        let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tmp");
        let config = tmp.path().join("root/etc/containerd/config.toml");
        std::fs::create_dir_all(config.parent().expect("dir")).expect("mkdir");
        std::fs::write(&config, "version = 2\n").expect("write");
        let bin = tmp.path().join("dist");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let wasmpod = bin.join("wasmpod");
        if std::fs::hard_link(env!("CARGO_BIN_EXE_wasmpod"), &wasmpod).is_err() {
            std::fs::copy(env!("CARGO_BIN_EXE_wasmpod"), &wasmpod).expect("copy wasmpod");
        }
        std::fs::write(bin.join("containerd-shim-wasmpod-v1"), "shim").expect("write");
        Self { tmp, wasmpod }
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }

    fn node(&self, args: &[&str]) -> Output {
        let root = self.root();
        let bin = root.join("usr/local/bin");
        let socket = self.tmp.path().join("no-cri.sock");
        Command::new(&self.wasmpod)
            .arg("node")
            .args(args)
            .arg("--host-root")
            .arg(&root)
            .arg("--bin-dir")
            .arg(&bin)
            .arg("--cri-socket")
            .arg(&socket)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("run wasmpod")
    }

    /// A policy folder with `policy.toml` and `release.pub`.
    fn policy(&self, text: &str) -> String {
        let dir = self.tmp.path().join("cfg");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::copy(fixtures().join("release.pub"), dir.join("release.pub")).expect("copy");
        std::fs::write(dir.join("policy.toml"), text).expect("write");
        dir.join("policy.toml").display().to_string()
    }
}

const SIGNED: &str = r#"[default]
action = "require-signature"
keys = ["release.pub"]

[[rule]]
registry = "localhost:5000"
action = "allow-unsigned"
"#;

#[test]
fn install_policy_says_where_it_went_and_a_rerun_changes_nothing() {
    let node = Node::new();
    let policy = node.policy(SIGNED);
    let o = node.node(&["install", "--policy", &policy]);
    assert_code(&o, 0);
    let line = format!(
        "policy /etc/wasmpod/policy.toml installed (from {policy}): 1 rule, default require-signature, 1 key file beside it"
    );
    assert!(stdout(&o).lines().any(|l| l == line), "{}", stdout(&o));
    let etc = node.root().join("etc/wasmpod");
    assert_eq!(
        std::fs::read_to_string(etc.join("policy.toml")).expect("policy"),
        SIGNED
    );
    assert!(etc.join("release.pub").is_file());

    let o = node.node(&["install", "--policy", &policy]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("policy /etc/wasmpod/policy.toml unchanged"),
        "{}",
        stdout(&o)
    );

    // status: everything but CRI (there is none) holds, so exit 1, and the
    // policy is the one given.
    let o = node.node(&["status", "--policy", &policy]);
    assert_code(&o, 1);
    assert!(
        stdout(&o).contains("policy:  /etc/wasmpod/policy.toml is the given policy"),
        "{}",
        stdout(&o)
    );

    let o = node.node(&["uninstall"]);
    assert_code(&o, 0);
    assert!(!etc.join("policy.toml").exists());
    assert!(!etc.join("release.pub").exists());
}

#[test]
fn a_policy_the_shim_would_refuse_fails_install_with_125_and_changes_nothing() {
    for (text, needle) in [
        (
            "[default]\naction = \"require-signature\"\nkeys = [\"../release.pub\"]\n",
            "the default rule: key ../release.pub leaves the policy's folder",
        ),
        (
            "[default]\naction = \"require-signature\"\nkeys = [\"missing.pub\"]\n",
            "missing.pub: No such file or directory",
        ),
        ("[default]\nacton = \"deny\"\n", "unknown field `acton`"),
    ] {
        let node = Node::new();
        let policy = node.policy(text);
        let o = node.node(&["install", "--policy", &policy]);
        assert_host_failure(&o, needle);
        let folder = Path::new(&policy).parent().expect("folder");
        assert!(
            error_lines(&stderr(&o))[0].contains(&folder.display().to_string()),
            "the first line names the policy or its key: {}",
            stderr(&o)
        );
        assert!(!node.root().join("etc/wasmpod").exists());
        assert!(!node.root().join("usr/local/bin").exists());
        assert_eq!(
            std::fs::read_to_string(node.root().join("etc/containerd/config.toml"))
                .expect("config"),
            "version = 2\n"
        );
    }
}
