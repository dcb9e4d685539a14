//! `wasmpod up` with images from a registry (Debian's docker-registry on
//! 127.0.0.1): the `daemon` test tier.

mod common;

use common::up::*;
use common::*;
use wasmpod_test_guests as guests;

/// Pushes the probe as a compat image to `reference`, and writes
/// `manifest` (a fixture naming `IMAGE`) with it into the project.
fn push_probe_for(w: &Wasmpod, p: &Project, reference: &str, manifest: &str) -> std::path::PathBuf {
    assert_code(
        &w.exec(&["push", "-q", "--compat", guests::PROBE, reference]),
        0,
    );
    p.write("oci.yaml", &manifest.replace("IMAGE", reference))
}

/// How many times `up` said it pulled `reference`.
fn pulls(out: &[String], reference: &str) -> usize {
    out.iter()
        .filter(|l| l.starts_with(&format!("[event] {reference}: Pulled (sha256:")))
        .count()
}

#[test]
fn oci_images_are_pulled_once_and_run_with_their_entrypoint() {
    // A compat image pushed with wasmpod itself; `up` pulls it (Pulled
    // event), runs its entrypoint with the container's args, and a second
    // `up` with imagePullPolicy IfNotPresent finds it in the store.
    let registry = wasmpod_testkit::Registry::start();
    let reference = format!("{}/up/probe:v1", registry.addr());
    let w = Wasmpod::new();
    let p = Project::new();
    let file = push_probe_for(&w, &p, &reference, include_str!("fixtures/up/oci-pod.yaml"));
    let o = up_file(&w, &file);
    assert_code(&o, 0);
    let out = lines(&o);
    assert_eq!(pulls(&out, &reference), 1, "{out:?}");
    assert!(out.contains(&"oci/c | argv[1]=args".to_string()), "{out:?}");
    assert!(
        out.contains(&"oci/c | argv[2]=from-oci".to_string()),
        "{out:?}"
    );
    // In the store now: no second pull, even with the registry gone.
    drop(registry);
    let o = up_file(&w, &file);
    assert_code(&o, 0);
    let out = lines(&o);
    assert!(!out.iter().any(|l| l.contains("Pulled")), "{out:?}");
    assert!(
        out.contains(&"oci/c | argv[2]=from-oci".to_string()),
        "{out:?}"
    );
}

#[test]
fn an_image_is_pulled_once_for_pods_with_different_stacks() {
    let registry = wasmpod_testkit::Registry::start();
    let reference = format!("{}/up/stacks:v1", registry.addr());
    let w = Wasmpod::new();
    let p = Project::new();
    let file = push_probe_for(
        &w,
        &p,
        &reference,
        include_str!("fixtures/up/oci-two-stacks.yaml"),
    );
    let o = up_file(&w, &file);
    assert_code(&o, 0);
    let out = lines(&o);
    assert_eq!(pulls(&out, &reference), 1, "{out:?}");
    assert!(
        out.contains(&"default-stack/c | argv[2]=default".to_string()),
        "{out:?}"
    );
    assert!(
        out.contains(&"big-stack/c | argv[2]=big".to_string()),
        "{out:?}"
    );
}

#[test]
fn an_unsigned_image_is_refused_before_anything_runs() {
    // `up` applies the trust policy as `run` does: with `--verify-key`
    // (or a policy requiring a signature), an unsigned image stops `up`
    // with exit 126 and one line, before any pod starts.
    let registry = wasmpod_testkit::Registry::start();
    let reference = format!("{}/up/unsigned:v1", registry.addr());
    let w = Wasmpod::new();
    let p = Project::new();
    let file = push_probe_for(&w, &p, &reference, include_str!("fixtures/up/oci-pod.yaml"));
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/policy/release.pub"
    );
    let file = file.display().to_string();
    let o = up(&w, &["-f", &file, "--verify-key", key]);
    assert_code(&o, 126);
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("{reference} ("))
            && err.contains("refused by --verify-key: it is not signed"),
        "{err}"
    );
    assert!(!stdout(&o).contains("oci/c |"), "{}", stdout(&o));
    assert!(store_blobs(&w).is_empty(), "{:?}", store_blobs(&w));
}
