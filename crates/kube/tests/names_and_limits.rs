//! Names that `wasmpod up` turns into paths are checked as Kubernetes checks
//! them, and reading manifests is bounded: each refusal is one line naming
//! the object and field (or the file and the limit).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use wasmpod_kube::{
    KubeError, MAX_FILE_BYTES, MAX_FILES, MountSource, PlanOptions, Source, load, plan,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/unsafe")
        .join(name)
}

fn text(yaml: &str) -> Source {
    Source::Text {
        name: "app.yaml".into(),
        text: yaml.into(),
        dir: PathBuf::from("/manifests"),
    }
}

/// The error of loading then planning `sources`, as one line.
fn error_of(sources: &[Source]) -> String {
    let err = match load(sources) {
        Err(e) => e,
        Ok(docs) => plan(&docs, &PlanOptions::default()).expect_err("should fail"),
    };
    let message = err.to_string();
    assert!(!message.contains('\n'), "not one line: {message}");
    message
}

fn error(yaml: &str) -> String {
    error_of(&[text(yaml)])
}

fn fixture_error(name: &str) -> String {
    error_of(&[Source::Path(fixture(name))])
}

#[test]
fn names_that_would_leave_the_state_folder_are_refused() {
    let cases = [
        (
            "pod-name.yaml",
            "document 1: Pod: metadata.name \"../../victim\" is not valid (must be a DNS-1123 subdomain",
        ),
        (
            "configmap-key.yaml",
            "ConfigMap/cm: data: key \"../../../../../escaped\" is not valid (must be letters, digits",
        ),
        (
            "secret-key.yaml",
            "Secret/s: stringData: key \"/tmp/wasmpod-secret-key-escape\" is not valid",
        ),
        (
            "volume-name.yaml",
            "Pod/p: spec.volumes[0].name: \"../../../../escaped-volume\" is not valid (must be a DNS-1123 label",
        ),
        (
            "container-name.yaml",
            "Pod/p: spec.containers[0].name: \"../main\" is not valid (must be a DNS-1123 label",
        ),
        (
            "namespace.yaml",
            "Pod/p: metadata.namespace \"../..\" is not valid (must be a DNS-1123 label",
        ),
        (
            "item-path.yaml",
            "Pod/p: spec.volumes[0].configMap.items[0].path: \"..data/x\" is not valid (must not start with '..')",
        ),
        (
            "deployment-name.yaml",
            "metadata.name: replica pod name \"ddd",
        ),
    ];
    for (file, needle) in cases {
        let message = fixture_error(file);
        assert!(message.contains(needle), "{file}: {message}");
    }
}

#[test]
fn every_name_rule_is_applied_where_kubernetes_applies_it() {
    let pod = |extra: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: main\n    image: x.io/a:1\n{extra}"
        )
    };
    let cases = [
        (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: 1svc\n".to_string(),
            "Service: metadata.name \"1svc\" is not valid (must be a DNS-1035 label",
        ),
        (
            format!(
                "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {}\n",
                "j".repeat(64)
            ),
            "Job: metadata.name \"jjj",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Upper\n".to_string(),
            "ConfigMap: metadata.name \"Upper\" is not valid",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\nbinaryData:\n  ..data: eA==\n"
                .to_string(),
            "ConfigMap/cm: binaryData: key \"..data\" is not valid",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  \".\": eA==\n"
                .to_string(),
            "Secret/s: data: key \".\" is not valid",
        ),
        (
            pod("    ports: [{containerPort: 80, name: web--1}]\n"),
            "Pod/p: spec.containers[0].ports[0].name: \"web--1\" is not valid (must be an IANA service name",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports: [{port: 80, name: Web}]\n"
                .to_string(),
            "Service/s: spec.ports[0].name: \"Web\" is not valid (must be a DNS-1123 label",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"a\\nb\"\n".to_string(),
            "Pod: metadata.name \"a\\nb\" is not valid",
        ),
    ];
    for (yaml, needle) in &cases {
        let message = error(yaml);
        assert!(message.contains(needle), "{yaml}\n=> {message}");
    }
    let long = error(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {}\n",
        "a/".repeat(1000)
    ));
    assert!(long.len() < 400, "long names are cut in messages: {long}");
}

#[test]
fn valid_names_keys_and_item_paths_still_plan() {
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: my.config\n  namespace: team-1\ndata:\n  app.properties: a=1\n  .hidden: h\n  A_b-c: x\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web.example\n  namespace: team-1\nspec:\n  volumes:\n  - name: cfg\n    configMap:\n      name: my.config\n      items:\n      - {key: app.properties, path: conf/app.properties}\n      - {key: .hidden, path: a..b}\n  containers:\n  - name: web-1\n    image: x.io/a:1\n    ports: [{containerPort: 80, name: http-1}]\n    volumeMounts: [{name: cfg, mountPath: /cfg}]\n";
    let docs = load(&[text(yaml)]).expect("load");
    let p = plan(&docs, &PlanOptions::default()).expect("plan");
    let MountSource::Files { files, .. } = &p.pods[0].containers[0].mounts[0].source else {
        panic!("files")
    };
    let paths: Vec<_> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    assert_eq!(paths, ["conf/app.properties", "a..b"]);

    // A Deployment name of 250 characters with 10 replicas: NAME-9 is 252.
    let name = "d".repeat(250);
    let yaml = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 10\n  selector: {{matchLabels: {{app: d}}}}\n  template:\n    metadata: {{labels: {{app: d}}}}\n    spec:\n      containers: [{{name: main, image: x.io/a:1}}]\n"
    );
    let p = plan(
        &load(&[text(&yaml)]).expect("load"),
        &PlanOptions::default(),
    )
    .expect("plan");
    assert_eq!(p.pods.len(), 10);
    assert_eq!(p.pods[9].name, format!("{name}-9"));
}

#[test]
fn replicas_are_bounded() {
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 4000000000\n  selector: {matchLabels: {app: d}}\n  template:\n    metadata: {labels: {app: d}}\n    spec:\n      containers: [{name: main, image: x.io/a:1}]\n";
    assert_eq!(
        error(yaml),
        "Deployment/d: spec.replicas: 4000000000 is more than 1000, the most wasmpod runs"
    );
}

#[test]
fn job_parallelism_is_bounded() {
    let yaml = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec:\n  parallelism: 1000000000\n  completions: 1000000000\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: main, image: x.io/a:1}]\n";
    assert_eq!(
        error(yaml),
        "Job/j: spec.parallelism: 1000000000 is more than 1000, the most pods wasmpod runs at once"
    );
}

/// `$(VAR)` values built from values built from values: five levels of 64
/// references to a 1 KiB value would be 1 TiB. The expansion stops at
/// its limit and the plan fails naming the field, quickly.
#[test]
fn chained_var_expansion_is_refused_after_bounded_work() {
    let refs = |name: &str| format!("$({name})").repeat(64);
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: main\n    image: x.io/a:1\n    env:\n    - {{name: A, value: \"{}\"}}\n    - {{name: B, value: \"{}\"}}\n    - {{name: C, value: \"{}\"}}\n    - {{name: D, value: \"{}\"}}\n    - {{name: E, value: \"{}\"}}\n",
        "a".repeat(1024),
        refs("A"),
        refs("B"),
        refs("C"),
        refs("D"),
    );
    let start = Instant::now();
    assert_eq!(
        error(&yaml),
        "Pod/p: spec.containers[0].env[2].value: $(VAR) expansion makes it longer than 1 MiB"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // The same in args.
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: main\n    image: x.io/a:1\n    env:\n    - {{name: A, value: \"{}\"}}\n    - {{name: B, value: \"{}\"}}\n    args: [\"{}\"]\n",
        "a".repeat(1024),
        refs("A"),
        refs("B"),
    );
    assert_eq!(
        error(&yaml),
        "Pod/p: spec.containers[0].args[0]: $(VAR) expansion makes it longer than 1 MiB"
    );
}

/// A ConfigMap is copied into each replica's volume: 1000 replicas of a
/// 1 MiB ConfigMap would plan (and write) 1 GiB.
#[test]
fn what_replicas_copy_is_bounded_in_total() {
    let data = "x".repeat(1 << 20);
    let yaml = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big}}\ndata: {{f: \"{data}\"}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 1000\n  selector: {{matchLabels: {{app: d}}}}\n  template:\n    metadata: {{labels: {{app: d}}}}\n    spec:\n      volumes: [{{name: v, configMap: {{name: big}}}}]\n      containers: [{{name: main, image: x.io/a:1, volumeMounts: [{{name: v, mountPath: /v}}]}}]\n"
    );
    let message = error(&yaml);
    assert!(
        message.starts_with("Deployment/d: spec.template.spec.volumes[0].configMap: the plan would hold more than 256 MiB"),
        "{message}"
    );
    // Ten replicas of it plan.
    let ten = yaml.replace("replicas: 1000", "replicas: 10");
    let docs = load(&[text(&ten)]).expect("load");
    assert_eq!(
        plan(&docs, &PlanOptions::default())
            .expect("plan")
            .pods
            .len(),
        10
    );
}

#[test]
fn a_zero_cpu_limit_is_no_limit_and_a_tiny_one_is_a_millicore() {
    let cpu = |value: &str| {
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: main\n    image: x.io/a:1\n    resources: {{limits: {{cpu: \"{value}\"}}}}\n"
        );
        let docs = load(&[text(&yaml)]).expect("load");
        plan(&docs, &PlanOptions::default()).expect("plan").pods[0].containers[0].cpu_limit
    };
    assert_eq!(cpu("0"), None);
    assert_eq!(cpu("0m"), None);
    assert_eq!(cpu("0.0"), None);
    assert_eq!(cpu("0.0001"), Some(1));
    assert_eq!(cpu("250m"), Some(250));
}

#[test]
fn a_billion_laughs_is_refused_after_bounded_work() {
    let start = Instant::now();
    let message = fixture_error("bomb.yaml");
    assert!(
        message.ends_with(
            "bomb.yaml: document 1: expands to more than 1000000 YAML nodes (an alias counts each time it is used)"
        ),
        "{message}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_long_scalar_repeated_through_aliases_is_refused() {
    // 1 MiB of text used 100 times: few nodes, 100 MiB of strings.
    let mut yaml = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\nbig: &big \"{}\"\nmore: [",
        "x".repeat(1 << 20)
    );
    yaml.push_str(&vec!["*big"; 100].join(","));
    yaml.push_str("]\n");
    let message = error(&yaml);
    assert!(
        message.ends_with(
            "app.yaml: document 1: expands to more than 67108864 bytes of text (an alias counts each time it is used)"
        ),
        "{message}"
    );
}

#[test]
fn aliases_within_the_limits_still_work() {
    let yaml =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: &v hello\n  b: *v\n";
    let docs = load(&[text(yaml)]).expect("load");
    assert_eq!(docs.len(), 1);
    plan(&docs, &PlanOptions::default()).expect("plan");
}

#[test]
fn files_and_text_are_bounded_in_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.yaml");
    // Valid YAML (one comment) one byte over the limit.
    let mut text = "#".repeat(usize::try_from(MAX_FILE_BYTES).expect("fits"));
    text.push('\n');
    std::fs::write(&big, &text).expect("write");
    let message = error_of(&[Source::Path(big.clone())]);
    assert_eq!(
        message,
        format!(
            "{}: larger than 4194304 bytes, the most a manifest may be",
            big.display()
        )
    );
    // The same as text (stdin).
    let message = error_of(&[Source::Text {
        name: "<stdin>".into(),
        text,
        dir: PathBuf::from("."),
    }]);
    assert_eq!(
        message,
        "<stdin>: larger than 4194304 bytes, the most a manifest may be"
    );
    // A device has no useful size: it is read up to the limit only.
    let message = error_of(&[Source::Path(PathBuf::from("/dev/zero"))]);
    assert!(
        message.starts_with("/dev/zero: ") && message.contains("4194304"),
        "{message}"
    );

    // Five files of 3.5 MiB each are fine alone, not together.
    let part = "#".repeat(7 << 19) + "\n";
    let sources: Vec<Source> = (0..5)
        .map(|i| {
            let p = dir.path().join(format!("part{i}.yaml"));
            std::fs::write(&p, &part).expect("write");
            Source::Path(p)
        })
        .collect();
    load(&sources[..4]).expect("four parts load");
    let message = error_of(&sources);
    assert!(
        message.ends_with("part4.yaml: the manifests add up to more than 16777216 bytes"),
        "{message}"
    );
}

#[test]
fn directories_are_bounded_in_file_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..=MAX_FILES {
        std::fs::write(dir.path().join(format!("{i:04}.yaml")), "").expect("write");
    }
    let message = error_of(&[Source::Path(dir.path().to_path_buf())]);
    assert_eq!(
        message,
        format!(
            "{}: more than 1000 manifest files in a directory",
            dir.path().display()
        )
    );
    std::fs::remove_file(dir.path().join("0000.yaml")).expect("remove");
    assert!(
        load(&[Source::Path(dir.path().to_path_buf())])
            .expect("1000 files load")
            .is_empty()
    );
}

#[test]
fn limit_errors_are_their_own_variant() {
    let e = load(&[Source::Path(fixture("bomb.yaml"))]).expect_err("bomb");
    assert!(matches!(e, KubeError::Document { index: 1, .. }), "{e:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Any bytes: an error or documents, never a panic.
    #[test]
    fn the_loader_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Ok(docs) = load(&[text_source(text)]) {
            let _ = plan(&docs, &PlanOptions { lenient: true });
        }
    }

    /// YAML-looking text built from the pieces that matter (anchors,
    /// aliases, tags, flow and block collections, names with dots and
    /// slashes): an error or a plan, never a panic, and every accepted name
    /// is one path component.
    #[test]
    fn the_loader_never_panics_on_yaml(
        pieces in prop::collection::vec(prop::sample::select(vec![
            "apiVersion: v1\n", "kind: Pod\n", "kind: ConfigMap\n", "kind: Secret\n",
            "metadata:\n", "  name: a\n", "  name: ../a\n", "  name: a.b\n",
            "  namespace: x\n", "data:\n", "  k: &x v\n", "  ..k: v\n", "  j: *x\n",
            "stringData: {/abs: v}\n", "spec:\n", "  containers:\n",
            "  - name: c\n", "    image: x.io/a\n", "  - name: ../c\n", "  volumes:\n",
            "  - {name: v, emptyDir: {}}\n", "  - name: v\n    configMap: {name: a, items: [{key: k, path: ../p}]}\n",
            "---\n", "a: &a [1, 2, *a]\n", "b: !tag {x: 1}\n", "- x\n", "? k\n: v\n",
            "[", "]", "{", "}", "*", "&", "!", "'", "\"", ":", " ", "\n", "\t",
        ]), 0..40)
    ) {
        let text: String = pieces.concat();
        if let Ok(docs) = load(&[text_source(text)]) {
            for d in &docs {
                let p = std::path::Path::new(&d.name);
                prop_assert_eq!(p.components().count(), 1);
                prop_assert!(matches!(p.components().next(), Some(std::path::Component::Normal(_))));
            }
            let _ = plan(&docs, &PlanOptions { lenient: true });
        }
    }
}

fn text_source(text: String) -> Source {
    Source::Text {
        name: "fuzz.yaml".into(),
        text,
        dir: PathBuf::from("/manifests"),
    }
}
