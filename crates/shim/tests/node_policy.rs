//! The node's trust policy under a real containerd: images signed by real
//! cosign in a real docker-registry run, and every other image is refused
//! at Create with a message naming the image, the rule and the reason,
//! before anything of it is compiled. The policy is the file
//! `WASMPOD_NODE_POLICY` names in containerd's environment, read at each
//! container's creation (changes need no restart).

use std::path::PathBuf;
use std::process::{Output, Stdio};

use wasmpod_test_guests as guests;
use wasmpod_testkit::cosign::KeyPair;
use wasmpod_testkit::image::{compat_image, push_image, wasm_layer_image};
use wasmpod_testkit::{Containerd, Registry, Release};

mod common;
use common::shim_bin_dir;

const RUNTIME: &str = "io.containerd.wasmpod.v1";

/// containerd with our shim, a node policy file and a state folder of its
/// own, and a registry.
struct Node {
    ctd: Containerd,
    registry: Registry,
    policy: PathBuf,
    home: tempfile::TempDir,
    _policy_dir: tempfile::TempDir,
    _bin: tempfile::TempDir,
}

impl Node {
    fn start(release: Release) -> Self {
        let registry = Registry::start();
        let bin = shim_bin_dir();
        let home = tempfile::tempdir().expect("tmp");
        let policy_dir = tempfile::tempdir().expect("tmp");
        let policy = policy_dir.path().join("policy.toml");
        let ctd = Containerd::start_release(
            release,
            bin.path(),
            &[
                ("WASMPOD_HOME", &home.path().display().to_string()),
                ("WASMPOD_NODE_POLICY", &policy.display().to_string()),
                ("RUST_LOG", "info"),
            ],
            "",
        );
        Self {
            ctd,
            registry,
            policy,
            home,
            _policy_dir: policy_dir,
            _bin: bin,
        }
    }

    fn reference(&self, name: &str) -> String {
        format!("{}/{name}", self.registry.addr())
    }

    /// Writes the policy, with `key` as `keys/trusted.pub` beside it.
    fn set_policy(&self, key: &KeyPair, text: &str) {
        let keys = self.policy.parent().expect("folder").join("keys");
        std::fs::create_dir_all(&keys).expect("mkdir");
        std::fs::copy(&key.public, keys.join("trusted.pub")).expect("copy key");
        std::fs::write(&self.policy, text).expect("write policy");
    }

    fn ctr(&self, args: &[&str]) -> Output {
        self.ctd
            .ctr()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ctr")
    }

    #[track_caller]
    fn ctr_ok(&self, args: &[&str]) -> Output {
        let o = self.ctr(args);
        assert!(o.status.success(), "ctr {args:?}: {}", text(&o.stderr));
        o
    }

    fn pull(&self, reference: &str) {
        self.ctr_ok(&["images", "pull", "--plain-http", reference]);
    }

    fn run(&self, reference: &str, id: &str) -> Output {
        self.ctr(&["run", "--rm", "--runtime", RUNTIME, reference, id])
    }

    /// The compiled-code entries in the shim's state folder.
    fn compiled(&self) -> usize {
        std::fs::read_dir(self.home.path().join("cache/compiled"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    fn verified(&self) -> usize {
        std::fs::read_dir(self.home.path().join("trust/verified"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The digest `reference` points to in the registry.
fn digest_of(node: &Node, reference: &str) -> String {
    let o = node.ctr_ok(&["images", "ls"]);
    text(&o.stdout)
        .lines()
        .find_map(|l| {
            let mut cols = l.split_whitespace();
            (cols.next() == Some(reference)).then(|| cols.nth(1).map(str::to_string))?
        })
        .unwrap_or_else(|| panic!("{reference} not in `ctr images ls`"))
}

#[track_caller]
fn assert_ran(node: &Node, o: &Output, stdout: &str) {
    assert!(
        o.status.success(),
        "stderr: {}\ncontainerd log (tail): {}",
        text(&o.stderr),
        node.ctd
            .log()
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(text(&o.stdout), stdout);
}

#[track_caller]
fn assert_refused(node: &Node, o: &Output, needles: &[&str]) {
    assert!(!o.status.success(), "ran: {}", text(&o.stdout));
    let err = text(&o.stderr);
    let prefix = format!("node trust policy {}: ", node.policy.display());
    assert!(err.contains(&prefix), "{err}");
    for n in needles {
        assert!(err.contains(n), "no {n:?} in: {err}");
    }
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The probe ran: with no arguments it prints its usage and exits 2.
#[track_caller]
fn assert_usage(o: &Output) {
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).starts_with("usage: probe "),
        "{}",
        text(&o.stdout)
    );
}

const HELLO_OUT: &str = "Hello from WebAssembly, world!\n";

#[test]
fn signed_images_run_and_every_other_image_is_refused_at_create() {
    let keys = tempfile::tempdir().expect("tmp");
    let alice = KeyPair::generate(keys.path(), "alice");
    let mallory = KeyPair::generate(keys.path(), "mallory");
    let node = Node::start(Release::debian());
    let hello = std::fs::read(guests::HELLO).expect("hello");
    let probe = std::fs::read(guests::PROBE).expect("probe");
    // Distinct content per repository: a verified signature is one of a
    // digest, wherever that digest is found.
    let hello_as = |tag: &str| {
        compat_image(
            &[("/hello.wasm", &hello), ("/tag", tag.as_bytes())],
            "/hello.wasm",
        )
    };
    let probe_as = |tag: &str| {
        compat_image(
            &[("/probe.wasm", &probe), ("/tag", tag.as_bytes())],
            "/probe.wasm",
        )
    };
    let hello_image = hello_as("signed");
    let probe_image = probe_as("moved");

    let signed = node.reference("wasm/signed:v1");
    push_image(&signed, &hello_image);
    alice.sign(&signed);
    let unsigned = node.reference("wasm/unsigned:v1");
    push_image(&unsigned, &probe_as("unsigned"));
    let by_mallory = node.reference("wasm/mallory:v1");
    push_image(&by_mallory, &probe_as("mallory"));
    mallory.sign(&by_mallory);
    let open = node.reference("wasm/open:v1");
    push_image(&open, &hello_as("open"));
    let denied = node.reference("denied/app:v1");
    push_image(&denied, &probe_as("denied"));
    for r in [&signed, &unsigned, &by_mallory, &open, &denied] {
        node.pull(r);
    }

    // The policy containerd names is not there yet: every container is
    // refused (a missing named file is never "no policy").
    let o = node.run(&open, "missing");
    assert_refused(&node, &o, &["No such file or directory"]);

    let registry = node.registry.addr();
    node.set_policy(
        &alice,
        &format!(
            "[default]\naction = \"require-signature\"\nkeys = [\"keys/trusted.pub\"]\n\n\
             [[rule]]\nrepository = \"{registry}/wasm/open\"\naction = \"allow-unsigned\"\n\n\
             [[rule]]\nprefix = \"{registry}/denied\"\naction = \"deny\"\n"
        ),
    );
    // Nothing was compiled yet: everything so far was refused.
    assert_eq!(node.compiled(), 0);

    // Signed by the policy's key: runs, and the verification is cached.
    assert_ran(&node, &node.run(&signed, "signed"), HELLO_OUT);
    assert_eq!(node.verified(), 1, "one verified (digest, key) entry");
    // The chain ID of the checked digest's layers is remembered: the next
    // container of the image reads no manifest.
    let signed_hex = digest_of(&node, &signed)
        .trim_start_matches("sha256:")
        .to_string();
    let chain = std::fs::read_to_string(node.home.path().join("trust/chains").join(&signed_hex))
        .expect("remembered chain ID");
    assert!(
        chain.starts_with("sha256:") && chain.len() == 71,
        "{chain:?}"
    );
    assert_ran(&node, &node.run(&signed, "signed-again"), HELLO_OUT);
    let compiled = node.compiled();
    assert_eq!(compiled, 1, "hello, once");

    // Unsigned, or signed by another key: refused before anything is
    // compiled, naming the image and its digest, the rule and the reason.
    let unsigned_digest = digest_of(&node, &unsigned);
    let o = node.run(&unsigned, "unsigned");
    assert_refused(
        &node,
        &o,
        &[
            &format!(
                "{unsigned} ({unsigned_digest}): refused by the default rule (require-signature): "
            ),
            "it is not signed (no cosign signature for its digest)",
        ],
    );
    let o = node.run(&by_mallory, "mallory");
    assert_refused(
        &node,
        &o,
        &[
            &format!("{by_mallory} ("),
            "refused by the default rule (require-signature)",
        ],
    );
    // A rule for the repository lets an unsigned image run; a deny rule
    // refuses even a signed one.
    assert_ran(&node, &node.run(&open, "open"), HELLO_OUT);
    let o = node.run(&denied, "denied");
    assert_refused(&node, &o, &["(prefix ", "deny): the policy denies it"]);
    assert_eq!(
        node.compiled(),
        compiled,
        "the probe of the refused images was compiled"
    );

    // The tag moves to unsigned content: after the node pulls it again,
    // the new digest is refused.
    let signed_digest = digest_of(&node, &signed);
    push_image(&signed, &probe_image);
    node.pull(&signed);
    let moved = digest_of(&node, &signed);
    assert_ne!(moved, signed_digest);
    let o = node.run(&signed, "moved");
    assert_refused(
        &node,
        &o,
        &[&format!("{signed} ({moved}): refused by the default rule")],
    );

    // A container made from unsigned content whose name is then pointed
    // back at signed content: its rootfs is not what was checked.
    node.ctr_ok(&[
        "containers",
        "create",
        "--runtime",
        RUNTIME,
        &signed,
        "swapped",
    ]);
    let v2 = node.reference("wasm/signed:v2");
    push_image(&v2, &hello_image);
    node.pull(&v2);
    assert_eq!(digest_of(&node, &v2), signed_digest, "the signed content");
    node.ctr_ok(&["images", "tag", "--force", &v2, &signed]);
    let o = node.ctr(&["tasks", "start", "swapped"]);
    assert_refused(
        &node,
        &o,
        &["the container's rootfs is not the image that was checked"],
    );
    node.ctr_ok(&["containers", "rm", "swapped"]);
    // With its own name, the signed content runs.
    assert_ran(&node, &node.run(&v2, "v2"), HELLO_OUT);

    // A policy that cannot be used refuses everything, and a fixed one
    // applies at once: the policy is read at each container's creation.
    std::fs::write(&node.policy, "[default]\nacton = \"allow-unsigned\"\n").expect("write");
    let o = node.run(&open, "broken");
    assert_refused(&node, &o, &["invalid policy", "acton"]);
    std::fs::write(&node.policy, "[default]\naction = \"allow-unsigned\"\n").expect("write");
    assert_usage(&node.run(&unsigned, "relaxed"));
    std::fs::remove_file(&node.policy).expect("rm policy");
    let o = node.run(&by_mallory, "removed");
    assert_refused(&node, &o, &["No such file or directory"]);
    drop(keys);
}

/// An image whose module is a Wasm layer (containerd 1.7 gives it an empty
/// rootfs) signed with a cosign v3 bundle: its layers come from the digest
/// that was checked.
#[test]
fn signed_wasm_layer_images_run_on_containerd_1_7() {
    let keys = tempfile::tempdir().expect("tmp");
    let alice = KeyPair::generate(keys.path(), "alice");
    let node = Node::start(Release::v1_7());
    let hello = std::fs::read(guests::HELLO).expect("hello");
    let image = wasm_layer_image(&[("hello.wasm", &hello)], "/hello.wasm");
    let signed = node.reference("wasm/layers:v1");
    push_image(&signed, &image);
    alice.sign_bundle(&signed);
    let unsigned = node.reference("wasm/layers-unsigned:v1");
    push_image(
        &unsigned,
        &wasm_layer_image(
            &[("hello.wasm", &hello), ("other.wasm", &hello)],
            "/hello.wasm",
        ),
    );
    node.pull(&signed);
    node.pull(&unsigned);
    node.set_policy(
        &alice,
        "[default]\naction = \"require-signature\"\nkeys = [\"keys/trusted.pub\"]\n",
    );
    assert_ran(&node, &node.run(&signed, "signed"), HELLO_OUT);
    let o = node.run(&unsigned, "unsigned");
    assert_refused(
        &node,
        &o,
        &[
            &format!("{unsigned} ("),
            "refused by the default rule (require-signature)",
        ],
    );
    drop(keys);
}
