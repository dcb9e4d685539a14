//! Manifests in, plans or one-line errors out. Every honoured field has a
//! test of its resolved value; every rejected input a test of its message.

use std::path::{Path, PathBuf};

use wasmpod_kube::{
    ContainerPlan, Document, Endpoint, EnvVar, Image, KubeError, MountSource, Owner, Plan,
    PlanOptions, PodPlan, Probe, ProbeAction, PullPolicy, RestartPolicy, Source, load, plan,
};

fn text(yaml: &str) -> Source {
    Source::Text {
        name: "app.yaml".into(),
        text: yaml.into(),
        dir: PathBuf::from("/manifests"),
    }
}

fn docs(yaml: &str) -> Vec<Document> {
    load(&[text(yaml)]).expect("load")
}

fn plan_of(yaml: &str) -> Plan {
    plan(&docs(yaml), &PlanOptions::default()).expect("plan")
}

fn lenient_plan(yaml: &str) -> Plan {
    plan(&docs(yaml), &PlanOptions { lenient: true }).expect("lenient plan")
}

/// The error from loading or planning, as the CLI would print it.
fn error(yaml: &str) -> String {
    let err = match load(&[text(yaml)]) {
        Err(e) => e,
        Ok(docs) => plan(&docs, &PlanOptions::default()).expect_err("should fail"),
    };
    // The message and its causes, as the CLI's chain reads joined.
    let mut message = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    assert!(!message.contains('\n'), "not one line: {message}");
    message
}

/// A Pod with one container; `container` and `spec` are extra YAML lines
/// indented for their place.
fn pod(container: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels: {{app: a}}\nspec:\n{spec}  containers:\n  - name: app\n    image: example.com/app:1\n{container}"
    )
}

fn only_container(p: &Plan) -> &ContainerPlan {
    assert_eq!(p.pods.len(), 1);
    &p.pods[0].containers[0]
}

fn env(c: &ContainerPlan) -> Vec<(&str, &str)> {
    c.env
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_str()))
        .collect()
}

fn argv(c: &ContainerPlan) -> Vec<String> {
    c.argv(&["<entry>".to_string()], &["<cmd>".to_string()])
}

const CONFIG: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {A: a-value, B: b-value, conf.json: '{}', bad-name: v}\nbinaryData: {blob: AAEC}\n---\n";
const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata: {name: sec}\ndata: {PASSWORD: aHVudGVyMg==}\nstringData: {TOKEN: tok}\n---\n";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

// ---- loading ----

#[test]
fn multi_document_text_skips_empty_documents() {
    let d = docs(
        "---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n# nothing\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: two, namespace: other}\n",
    );
    let names: Vec<_> = d.iter().map(|d| (d.id(), d.namespace.as_str())).collect();
    assert_eq!(
        names,
        [
            ("ConfigMap/one".to_string(), "default"),
            ("ConfigMap/two".to_string(), "other")
        ]
    );
}

#[test]
fn directory_loads_yaml_files_in_name_order() {
    let d = load(&[Source::Path(fixture("dir"))]).expect("load dir");
    let names: Vec<_> = d.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["a1", "a2", "b"]);
    assert!(d[0].file.ends_with("a.yml"), "{}", d[0].file);
    assert_eq!(d[0].dir, fixture("dir"));
}

#[test]
fn sources_load_in_order() {
    let d = load(&[
        text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n"),
        Source::Path(fixture("dir").join("b.yaml")),
    ])
    .expect("load");
    let names: Vec<_> = d.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["first", "b"]);
}

#[test]
fn missing_file_names_the_path() {
    let err = load(&[Source::Path("/nonexistent/app.yaml".into())]).expect_err("missing");
    assert_eq!(err.to_string(), "cannot read /nonexistent/app.yaml");
    // The operating system's reason is the cause, not repeated on top.
    match err {
        KubeError::Read { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_yaml_names_file_line_and_column() {
    let e = error("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n    labels: x: y\n");
    assert_eq!(
        e,
        "app.yaml:5:11: mapping values are not allowed in this context"
    );
}

#[test]
fn invalid_yaml_in_a_later_document_counts_lines_from_the_file_start() {
    let e = error("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\ndata: [unclosed\n");
    assert!(e.starts_with("app.yaml:6:1: "), "{e}");
}

#[test]
fn invalid_yaml_in_a_file_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "a: b: c\n").expect("write");
    let err = load(&[Source::Path(path.clone())]).expect_err("bad yaml");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1:5: mapping values are not allowed in this context",
            path.display()
        )
    );
}

#[test]
fn unknown_kind_is_one_line_naming_the_object() {
    assert_eq!(
        error("apiVersion: example.com/v1\nkind: Foo\nmetadata: {name: bar}\n"),
        "Foo/bar: kind Foo is not supported (supported: Pod, Deployment, Job, ConfigMap, Secret, Service)"
    );
}

#[test]
fn wrong_api_version_is_an_error() {
    assert_eq!(
        error("apiVersion: v1\nkind: Deployment\nmetadata: {name: web}\n"),
        "Deployment/web: apiVersion v1 does not match kind Deployment (expected apps/v1)"
    );
    assert_eq!(
        error("apiVersion: batch/v1beta1\nkind: Job\nmetadata: {name: j}\n"),
        "Job/j: apiVersion batch/v1beta1 does not match kind Job (expected batch/v1)"
    );
    assert_eq!(
        error("kind: Pod\nmetadata: {name: p}\n"),
        "Pod/p: apiVersion is missing (expected v1)"
    );
}

#[test]
fn objects_need_a_kind_and_a_name() {
    assert_eq!(
        error("apiVersion: v1\nmetadata: {name: a}\n"),
        "app.yaml: document 1: kind is missing"
    );
    assert_eq!(
        error(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {generateName: a-}\n"
        ),
        "app.yaml: document 2: Pod: metadata.name is required"
    );
    assert_eq!(
        error("- a\n- b\n"),
        "app.yaml: document 1: expected a mapping (a Kubernetes object)"
    );
}

#[test]
fn duplicate_objects_are_an_error() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n";
    assert_eq!(
        error(&format!("{cm}{cm}")),
        "ConfigMap/a: defined twice (in app.yaml and app.yaml)"
    );
}

// ---- the allow-list ----

#[test]
fn unsupported_container_field_names_the_path() {
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: app\n        image: x\n        securityContext: {runAsUser: 1}\n";
    assert_eq!(
        error(yaml),
        "Deployment/web: spec.template.spec.containers[0].securityContext is not supported"
    );
}

#[test]
fn unsupported_pod_spec_and_volume_fields_name_the_path() {
    assert_eq!(
        error(&pod("", "  hostNetwork: true\n")),
        "Pod/a: spec.hostNetwork is not supported"
    );
    assert_eq!(
        error(&pod(
            "    volumeMounts: [{name: d, mountPath: /d, subPath: x}]\n",
            "  volumes: [{name: d, emptyDir: {}}]\n"
        )),
        "Pod/a: spec.containers[0].volumeMounts[0].subPath is not supported"
    );
    assert_eq!(
        error(&pod(
            "",
            "  volumes: [{name: d, persistentVolumeClaim: {claimName: c}}]\n"
        )),
        "Pod/a: spec.volumes[0].persistentVolumeClaim is not supported"
    );
    assert_eq!(
        error(&pod("    livenessProbe: {grpc: {port: 1}}\n", "")),
        "Pod/a: spec.containers[0].livenessProbe.grpc is not supported"
    );
    assert_eq!(
        error("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, finalizers: [x]}\n"),
        "ConfigMap/c: metadata.finalizers is not supported"
    );
}

#[test]
fn lenient_turns_unsupported_fields_into_warnings() {
    let p = lenient_plan(&pod(
        "    securityContext: {runAsUser: 1}\n    volumeMounts: [{name: d, mountPath: /d}]\n",
        "  nodeSelector: {disk: ssd}\n  volumes: [{name: d, persistentVolumeClaim: {claimName: c}}]\n",
    ));
    assert_eq!(
        p.warnings,
        [
            "Pod/a: spec.nodeSelector is not supported (ignored)",
            "Pod/a: spec.volumes[0].persistentVolumeClaim is not supported (ignored)",
            "Pod/a: spec.containers[0].securityContext is not supported (ignored)",
            "Pod/a: spec.volumes[0]: volume d has no supported source (used as an empty directory)",
        ]
    );
    assert_eq!(only_container(&p).mounts[0].source, MountSource::EmptyDir);
    assert!(
        p.render()
            .contains("warning: Pod/a: spec.nodeSelector is not supported (ignored)\n")
    );
}

#[test]
fn wrong_value_types_are_errors_even_when_lenient() {
    let yaml = pod("    env: [{name: PORT, value: 8080}]\n", "");
    assert_eq!(
        error(&yaml),
        "Pod/a: spec.containers[0].env[0].value: expected a string"
    );
    let err = plan(&docs(&yaml), &PlanOptions { lenient: true }).expect_err("type error");
    assert_eq!(
        err.to_string(),
        "Pod/a: spec.containers[0].env[0].value: expected a string"
    );
}

#[test]
fn status_and_runtime_class_are_ignored() {
    let p = plan_of(&pod("", "  runtimeClassName: wasmpod\n").replace(
        "kind: Pod\n",
        "kind: Pod\nstatus: {phase: Running, anything: [1]}\n",
    ));
    assert!(p.warnings.is_empty());
    assert_eq!(p.pods[0].name, "a");
}

// ---- pods and containers ----

#[test]
fn pod_defaults() {
    let p = plan_of(&pod("", ""));
    let pod = &p.pods[0];
    assert_eq!(pod.name, "a");
    assert_eq!(pod.namespace, "default");
    assert_eq!(pod.owner, Owner::Pod);
    assert_eq!(pod.restart_policy, RestartPolicy::Always);
    assert_eq!(pod.termination_grace_period_seconds, 30);
    assert_eq!(pod.labels.get("app").map(String::as_str), Some("a"));
    let c = &pod.containers[0];
    assert_eq!(c.name, "app");
    assert_eq!(c.image, Image::Oci("example.com/app:1".into()));
    assert_eq!(c.pull_policy, PullPolicy::IfNotPresent);
    assert!(c.command.is_empty() && c.args.is_empty() && c.env.is_empty());
    assert_eq!(argv(c), ["<entry>", "<cmd>"]);
    assert_eq!(c.working_dir, None);
    assert_eq!((c.memory_limit, c.cpu_limit), (None, None));
    assert!(!p.runs_to_completion());
}

#[test]
fn restart_policy_and_grace_period() {
    let p = plan_of(&pod(
        "",
        "  restartPolicy: Never\n  terminationGracePeriodSeconds: 5\n",
    ));
    assert_eq!(p.pods[0].restart_policy, RestartPolicy::Never);
    assert_eq!(p.pods[0].termination_grace_period_seconds, 5);
    assert!(p.runs_to_completion());
    let p = plan_of(&pod("", "  restartPolicy: OnFailure\n"));
    assert_eq!(p.pods[0].restart_policy, RestartPolicy::OnFailure);
    assert_eq!(
        error(&pod("", "  restartPolicy: Sometimes\n")),
        "Pod/a: spec.restartPolicy: \"Sometimes\" is not Always, OnFailure or Never"
    );
    assert_eq!(
        error(&pod("", "  terminationGracePeriodSeconds: -1\n")),
        "Pod/a: spec.terminationGracePeriodSeconds: -1 must not be negative"
    );
}

#[test]
fn file_images_resolve_against_the_manifest_directory() {
    let p = plan_of(&pod("", "").replace("example.com/app:1", "file://app.wasm"));
    let c = only_container(&p);
    assert_eq!(c.image, Image::File("/manifests/app.wasm".into()));
    assert_eq!(c.pull_policy, PullPolicy::Never);
    let p = plan_of(&pod("", "").replace("example.com/app:1", "file:///abs/app.wasm"));
    assert_eq!(
        only_container(&p).image,
        Image::File("/abs/app.wasm".into())
    );
    assert_eq!(
        error(&pod("", "").replace("    image: example.com/app:1\n", "")),
        "Pod/a: spec.containers[0].image is required"
    );
}

#[test]
fn image_pull_policy_defaults_and_overrides() {
    let policy = |image: &str, extra: &str| {
        let p = plan_of(&pod(extra, "").replace("example.com/app:1", image));
        only_container(&p).pull_policy
    };
    assert_eq!(policy("example.com/app", ""), PullPolicy::Always);
    assert_eq!(policy("example.com/app:latest", ""), PullPolicy::Always);
    assert_eq!(policy("localhost:5000/app", ""), PullPolicy::Always);
    assert_eq!(
        policy("localhost:5000/app:v2", ""),
        PullPolicy::IfNotPresent
    );
    assert_eq!(
        policy("example.com/app@sha256:abcd", ""),
        PullPolicy::IfNotPresent
    );
    assert_eq!(
        policy("example.com/app", "    imagePullPolicy: Never\n"),
        PullPolicy::Never
    );
}

#[test]
fn command_args_and_working_dir() {
    let p = plan_of(&pod(
        "    command: [serve]\n    args: [--port, '8080']\n    workingDir: /srv\n",
        "",
    ));
    let c = only_container(&p);
    assert_eq!(argv(c), ["serve", "--port", "8080"]);
    assert_eq!(c.working_dir.as_deref(), Some("/srv"));
    // args alone keep the image's entrypoint; command alone drops its cmd.
    let p = plan_of(&pod("    args: [x]\n", ""));
    assert_eq!(argv(only_container(&p)), ["<entry>", "x"]);
    let p = plan_of(&pod("    command: [y]\n", ""));
    assert_eq!(argv(only_container(&p)), ["y"]);
}

#[test]
fn env_values_are_expanded_against_earlier_variables() {
    let p = plan_of(&pod(
        "    env:\n    - {name: A, value: one}\n    - {name: B, value: '$(A)-two-$(C)'}\n    - {name: C, value: three}\n    - {name: D, value: '$$(A)'}\n    - {name: E}\n",
        "",
    ));
    assert_eq!(
        env(only_container(&p)),
        [
            ("A", "one"),
            ("B", "one-two-$(C)"),
            ("C", "three"),
            ("D", "$(A)"),
            ("E", "")
        ]
    );
}

#[test]
fn command_and_args_are_expanded_against_the_whole_environment() {
    let p = plan_of(&pod(
        "    command: ['$(BIN)']\n    args: ['--a=$(A)', '$$(A)', '$(NOPE)', '$(A', 'x$$y']\n    env:\n    - {name: BIN, value: /app.wasm}\n    - {name: A, value: '1'}\n",
        "",
    ));
    assert_eq!(
        argv(only_container(&p)),
        ["/app.wasm", "--a=1", "$(A)", "$(NOPE)", "$(A", "x$y"]
    );
}

#[test]
fn env_from_config_maps_and_secrets_then_env_wins() {
    let yaml = format!(
        "{CONFIG}{SECRET}{}",
        pod(
            "    envFrom:\n    - configMapRef: {name: cfg}\n    - secretRef: {name: sec}\n      prefix: S_\n    env:\n    - {name: B, value: override}\n",
            ""
        )
    );
    let p = plan_of(&yaml);
    let c = only_container(&p);
    assert_eq!(
        env(c),
        [
            ("A", "a-value"),
            ("B", "override"),
            ("bad-name", "v"),
            ("conf.json", "{}"),
            ("S_PASSWORD", "hunter2"),
            ("S_TOKEN", "tok"),
        ]
    );
    assert!(
        c.env
            .iter()
            .filter(|e| e.secret)
            .map(|e| &e.name)
            .eq(["S_PASSWORD", "S_TOKEN"])
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);

    // Keys are valid names (the key rule sees to it); a prefix may not be.
    let yaml = format!(
        "{CONFIG}{}",
        pod(
            "    envFrom:\n    - configMapRef: {name: cfg}\n      prefix: X=\n",
            ""
        )
    );
    let p = plan_of(&yaml);
    assert!(only_container(&p).env.is_empty());
    assert_eq!(
        p.warnings,
        [
            "Pod/a: spec.containers[0].envFrom[0].configMapRef: skipped keys that are not valid variable names: X=A, X=B, X=bad-name, X=conf.json"
        ]
    );
}

#[test]
fn env_value_from_config_map_secret_and_field_ref() {
    let yaml = format!(
        "{CONFIG}{SECRET}{}",
        pod(
            "    env:\n    - name: FROM_CM\n      valueFrom: {configMapKeyRef: {name: cfg, key: A}}\n    - name: FROM_SECRET\n      valueFrom: {secretKeyRef: {name: sec, key: PASSWORD}}\n    - name: POD\n      valueFrom: {fieldRef: {apiVersion: v1, fieldPath: metadata.name}}\n    - name: NS\n      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}\n    - name: OPT\n      valueFrom: {configMapKeyRef: {name: cfg, key: nope, optional: true}}\n    - name: OPT2\n      valueFrom: {secretKeyRef: {name: missing, key: x, optional: true}}\n",
            ""
        )
    );
    let p = plan_of(&yaml);
    let c = only_container(&p);
    assert_eq!(
        c.env,
        [
            EnvVar {
                name: "FROM_CM".into(),
                value: "a-value".into(),
                secret: false
            },
            EnvVar {
                name: "FROM_SECRET".into(),
                value: "hunter2".into(),
                secret: true
            },
            EnvVar {
                name: "POD".into(),
                value: "a".into(),
                secret: false
            },
            EnvVar {
                name: "NS".into(),
                value: "default".into(),
                secret: false
            },
        ]
    );
}

#[test]
fn missing_references_name_the_field() {
    let e = |container: &str| error(&format!("{CONFIG}{SECRET}{}", pod(container, "")));
    assert_eq!(
        e("    env:\n    - name: X\n      valueFrom: {configMapKeyRef: {name: cfg, key: nope}}\n"),
        "Pod/a: spec.containers[0].env[0].valueFrom.configMapKeyRef: key nope not found in ConfigMap cfg"
    );
    assert_eq!(
        e("    env:\n    - name: X\n      valueFrom: {secretKeyRef: {name: other, key: k}}\n"),
        "Pod/a: spec.containers[0].env[0].valueFrom.secretKeyRef: Secret other not found"
    );
    assert_eq!(
        e("    envFrom: [{configMapRef: {name: missing}}]\n"),
        "Pod/a: spec.containers[0].envFrom[0].configMapRef: ConfigMap missing not found"
    );
    assert_eq!(
        e("    env:\n    - name: X\n      valueFrom: {fieldRef: {fieldPath: status.podIP}}\n"),
        "Pod/a: spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: status.podIP is not supported (only metadata.name and metadata.namespace)"
    );
    assert_eq!(
        e(
            "    env:\n    - name: X\n      value: v\n      valueFrom: {fieldRef: {fieldPath: metadata.name}}\n"
        ),
        "Pod/a: spec.containers[0].env[0]: value and valueFrom must not both be set"
    );
    // envFrom with optional: a missing object is skipped.
    let p = plan_of(&pod(
        "    envFrom: [{secretRef: {name: missing, optional: true}}]\n",
        "",
    ));
    assert!(only_container(&p).env.is_empty());
}

#[test]
fn references_stay_in_their_namespace() {
    let yaml = format!(
        "{CONFIG}{}",
        pod("    envFrom: [{configMapRef: {name: cfg}}]\n", "")
            .replace("  name: a\n", "  name: a\n  namespace: other\n")
    );
    assert_eq!(
        error(&yaml),
        "Pod/a: spec.containers[0].envFrom[0].configMapRef: ConfigMap cfg not found"
    );
}

#[test]
fn secret_data_must_be_base64() {
    assert_eq!(
        error(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {good: aGk=, password: 'not base64!'}\n"
        ),
        "Secret/s: data.password: invalid base64 (Invalid symbol 32, offset 3.)"
    );
}

#[test]
fn volumes_become_mounts() {
    let yaml = format!(
        "{CONFIG}{SECRET}{}",
        pod(
            "    volumeMounts:\n    - {name: scratch, mountPath: /tmp}\n    - {name: host, mountPath: /data, readOnly: true}\n    - {name: host2, mountPath: /made}\n    - {name: cfg, mountPath: /etc/cfg}\n    - {name: picked, mountPath: /etc/picked}\n    - {name: sec, mountPath: /run/secrets}\n",
            "  volumes:\n  - {name: scratch, emptyDir: {}}\n  - {name: host, hostPath: {path: data}}\n  - {name: host2, hostPath: {path: /var/made, type: DirectoryOrCreate}}\n  - {name: cfg, configMap: {name: cfg, defaultMode: 0644}}\n  - name: picked\n    configMap:\n      name: cfg\n      items: [{key: conf.json, path: sub/app.json}, {key: blob, path: blob.bin}]\n  - {name: sec, secret: {secretName: sec, items: [{key: PASSWORD, path: pw}]}}\n"
        )
    );
    let p = plan_of(&yaml);
    let m = &only_container(&p).mounts;
    let summary: Vec<_> = m
        .iter()
        .map(|m| (m.volume.as_str(), m.guest_path.as_str(), m.read_only))
        .collect();
    assert_eq!(
        summary,
        [
            ("scratch", "/tmp", false),
            ("host", "/data", true),
            ("host2", "/made", false),
            ("cfg", "/etc/cfg", true),
            ("picked", "/etc/picked", true),
            ("sec", "/run/secrets", true),
        ]
    );
    assert_eq!(m[0].source, MountSource::EmptyDir);
    assert_eq!(
        m[1].source,
        MountSource::HostPath {
            path: "/manifests/data".into(),
            create: false
        }
    );
    assert_eq!(
        m[2].source,
        MountSource::HostPath {
            path: "/var/made".into(),
            create: true
        }
    );
    let files = |s: &MountSource| match s {
        MountSource::Files { files, secret } => (
            files
                .iter()
                .map(|(p, b)| (p.display().to_string(), b.clone()))
                .collect::<Vec<_>>(),
            *secret,
        ),
        other => panic!("not files: {other:?}"),
    };
    let bytes = |s: &str| s.as_bytes().to_vec();
    assert_eq!(
        files(&m[3].source),
        (
            vec![
                ("A".into(), bytes("a-value")),
                ("B".into(), bytes("b-value")),
                ("bad-name".into(), bytes("v")),
                ("blob".into(), vec![0, 1, 2]),
                ("conf.json".into(), bytes("{}")),
            ],
            false
        )
    );
    assert_eq!(
        files(&m[4].source),
        (
            vec![
                ("sub/app.json".into(), bytes("{}")),
                ("blob.bin".into(), vec![0, 1, 2])
            ],
            false
        )
    );
    assert_eq!(
        files(&m[5].source),
        (vec![("pw".into(), bytes("hunter2"))], true)
    );
}

#[test]
fn bad_volumes_and_mounts_are_errors() {
    let e = |container: &str, spec: &str| error(&format!("{CONFIG}{}", pod(container, spec)));
    assert_eq!(
        e("    volumeMounts: [{name: nope, mountPath: /x}]\n", ""),
        "Pod/a: spec.containers[0].volumeMounts[0].name: volume \"nope\" is not defined in the pod's volumes"
    );
    assert_eq!(
        e(
            "    volumeMounts: [{name: d, mountPath: relative}]\n",
            "  volumes: [{name: d, emptyDir: {}}]\n"
        ),
        "Pod/a: spec.containers[0].volumeMounts[0].mountPath: \"relative\" must be an absolute path without .."
    );
    assert_eq!(
        e(
            "",
            "  volumes: [{name: c, configMap: {name: cfg, items: [{key: nope, path: x}]}}]\n"
        ),
        "Pod/a: spec.volumes[0].configMap.items[0].key: key nope not found in ConfigMap cfg"
    );
    assert_eq!(
        e(
            "",
            "  volumes: [{name: c, configMap: {name: cfg, items: [{key: A, path: ../x}]}}]\n"
        ),
        "Pod/a: spec.volumes[0].configMap.items[0].path: \"../x\" is not valid (must not start with '..')"
    );
    assert_eq!(
        e("", "  volumes: [{name: s, secret: {secretName: nope}}]\n"),
        "Pod/a: spec.volumes[0].secret: Secret nope not found"
    );
    assert_eq!(
        e(
            "",
            "  volumes: [{name: h, hostPath: {path: /x, type: File}}]\n"
        ),
        "Pod/a: spec.volumes[0].hostPath.type: File is not supported (use Directory or DirectoryOrCreate)"
    );
    assert_eq!(
        e(
            "",
            "  volumes: [{name: h, emptyDir: {}, hostPath: {path: /x}}]\n"
        ),
        "Pod/a: spec.volumes[0]: volume h has more than one source"
    );
    assert_eq!(
        e("", "  volumes: [{name: h}]\n"),
        "Pod/a: spec.volumes[0]: volume h has no source"
    );
    // optional and missing: an empty directory of files.
    let p = plan_of(&pod(
        "    volumeMounts: [{name: s, mountPath: /s}]\n",
        "  volumes: [{name: s, secret: {secretName: nope, optional: true}}]\n",
    ));
    assert_eq!(
        only_container(&p).mounts[0].source,
        MountSource::Files {
            files: vec![],
            secret: true
        }
    );
}

#[test]
fn resource_limits_parse_as_quantities() {
    let p = plan_of(&pod(
        "    resources:\n      limits: {memory: 64Mi, cpu: 500m}\n      requests: {memory: 1G, cpu: 0.1}\n",
        "",
    ));
    let c = only_container(&p);
    assert_eq!(c.memory_limit, Some(64 << 20));
    assert_eq!(c.cpu_limit, Some(500));
    let p = plan_of(&pod(
        "    resources: {limits: {memory: 1000000, cpu: 2}}\n",
        "",
    ));
    let c = only_container(&p);
    assert_eq!((c.memory_limit, c.cpu_limit), (Some(1_000_000), Some(2000)));
    let p = plan_of(&pod("    resources: {limits: {cpu: 0.25}}\n", ""));
    assert_eq!(only_container(&p).cpu_limit, Some(250));
}

#[test]
fn invalid_quantity_names_the_field() {
    let yaml = pod("    resources: {limits: {memory: 12Q}}\n", "");
    let err = plan(
        &load(&[text(&yaml)]).expect("load"),
        &PlanOptions::default(),
    )
    .expect_err("bad quantity");
    assert_eq!(
        err.to_string(),
        "Pod/a: spec.containers[0].resources.limits.memory"
    );
    assert_eq!(
        error(&pod("    resources: {limits: {memory: 12Q}}\n", "")),
        "Pod/a: spec.containers[0].resources.limits.memory: invalid quantity \"12Q\": unknown suffix (use Ki, Mi, Gi, Ti, k, M, G, T or m)"
    );
    assert!(
        error(&pod("    resources: {requests: {cpu: lots}}\n", "")).starts_with(
            "Pod/a: spec.containers[0].resources.requests.cpu: invalid quantity \"lots\""
        )
    );
    assert_eq!(
        error(&pod(
            "    resources: {limits: {ephemeral-storage: 1Gi}}\n",
            ""
        )),
        "Pod/a: spec.containers[0].resources.limits.ephemeral-storage is not supported"
    );
}

#[test]
fn ports_and_probes() {
    let p = plan_of(&pod(
        "    ports: [{name: http, containerPort: 8080, protocol: TCP}, {containerPort: 9090}]\n    livenessProbe:\n      httpGet: {path: /healthz, port: http}\n      initialDelaySeconds: 3\n      periodSeconds: 7\n      timeoutSeconds: 2\n      failureThreshold: 5\n    readinessProbe:\n      tcpSocket: {port: 9090}\n      successThreshold: 2\n",
        "",
    ));
    let c = only_container(&p);
    let ports: Vec<_> = c
        .ports
        .iter()
        .map(|p| (p.name.as_deref(), p.container_port))
        .collect();
    assert_eq!(ports, [(Some("http"), 8080), (None, 9090)]);
    assert_eq!(
        c.liveness_probe,
        Some(Probe {
            action: ProbeAction::HttpGet {
                path: "/healthz".into(),
                port: 8080
            },
            initial_delay_seconds: 3,
            period_seconds: 7,
            timeout_seconds: 2,
            failure_threshold: 5,
            success_threshold: 1,
        })
    );
    assert_eq!(
        c.readiness_probe,
        Some(Probe {
            action: ProbeAction::TcpSocket { port: 9090 },
            initial_delay_seconds: 0,
            period_seconds: 10,
            timeout_seconds: 1,
            failure_threshold: 3,
            success_threshold: 2,
        })
    );
    let p = plan_of(&pod(
        "    livenessProbe: {exec: {command: [check, --fast]}, periodSeconds: 0, httpGet: null}\n",
        "",
    ));
    let probe = only_container(&p).liveness_probe.clone().expect("probe");
    assert_eq!(
        probe.action,
        ProbeAction::Exec {
            command: vec!["check".into(), "--fast".into()]
        }
    );
    assert_eq!(probe.period_seconds, 10);
    let p = plan_of(&pod("    readinessProbe: {httpGet: {port: 80}}\n", ""));
    let probe = only_container(&p).readiness_probe.clone().expect("probe");
    assert_eq!(
        probe.action,
        ProbeAction::HttpGet {
            path: "/".into(),
            port: 80
        }
    );
}

#[test]
fn bad_ports_and_probes_are_errors() {
    assert_eq!(
        error(&pod(
            "    ports: [{containerPort: 53, protocol: UDP}]\n",
            ""
        )),
        "Pod/a: spec.containers[0].ports[0].protocol: UDP is not supported (only TCP)"
    );
    assert_eq!(
        error(&pod("    ports: [{containerPort: 70000}]\n", "")),
        "Pod/a: spec.containers[0].ports[0].containerPort: port 70000 is not between 1 and 65535"
    );
    assert_eq!(
        error(&pod("    livenessProbe: {httpGet: {port: web}}\n", "")),
        "Pod/a: spec.containers[0].livenessProbe.httpGet.port: no container port is named web"
    );
    assert_eq!(
        error(&pod(
            "    livenessProbe: {tcpSocket: {port: 1}, successThreshold: 2}\n",
            ""
        )),
        "Pod/a: spec.containers[0].livenessProbe.successThreshold must be 1 for a liveness probe"
    );
    assert_eq!(
        error(&pod("    readinessProbe: {periodSeconds: 3}\n", "")),
        "Pod/a: spec.containers[0].readinessProbe: exactly one of httpGet, tcpSocket and exec is required"
    );
}

#[test]
fn containers_are_required_and_named_once() {
    assert_eq!(
        error("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n"),
        "Pod/a: spec.containers: at least one container is required"
    );
    assert_eq!(
        error(&pod("  - name: app\n    image: x\n", "")),
        "Pod/a: spec.containers[1].name: container app is defined twice"
    );
}

// ---- Deployments, Jobs, Services ----

fn deployment(replicas: &str, selector: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n{replicas}  selector: {{matchLabels: {selector}}}\n  template:\n    metadata: {{labels: {{app: web, tier: front}}}}\n    spec:\n{extra_spec}      containers:\n      - name: app\n        image: example.com/web:1\n        env: [{{name: ME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}]\n        ports: [{{name: http, containerPort: 8080}}]\n"
    )
}

#[test]
fn deployment_replicas_are_named_name_dash_index() {
    let p = plan_of(&deployment("  replicas: 3\n", "{app: web}", ""));
    let names: Vec<_> = p.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["web-0", "web-1", "web-2"]);
    assert_eq!(
        p.pods[2].owner,
        Owner::Deployment {
            name: "web".into(),
            replica: 2
        }
    );
    assert_eq!(env(&p.pods[1].containers[0]), [("ME", "web-1")]);
    assert_eq!(p.pods[0].labels.len(), 2);
    assert_eq!(p.pods[0].restart_policy, RestartPolicy::Always);
    // Default one replica; zero is allowed.
    assert_eq!(plan_of(&deployment("", "{app: web}", "")).pods.len(), 1);
    assert!(
        plan_of(&deployment("  replicas: 0\n", "{app: web}", ""))
            .pods
            .is_empty()
    );
}

#[test]
fn deployment_selector_must_match_template_labels() {
    assert_eq!(
        error(&deployment("", "{app: api}", "")),
        "Deployment/web: spec.selector.matchLabels app=api does not match spec.template.metadata.labels"
    );
    assert_eq!(
        error(&deployment("", "{}", "")),
        "Deployment/web: spec.selector.matchLabels must not be empty"
    );
    assert_eq!(
        error(&deployment(
            "",
            "{app: web}",
            "      restartPolicy: Never\n"
        )),
        "Deployment/web: spec.template.spec.restartPolicy must be Always for a Deployment"
    );
    assert_eq!(
        error(&deployment("  replicas: -1\n", "{app: web}", "")),
        "Deployment/web: spec.replicas: -1 is out of range (0 to 4294967295)"
    );
}

fn job(spec: &str, restart: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: once}}\nspec:\n{spec}  template:\n    spec:\n{restart}      containers: [{{name: run, image: 'file://job.wasm'}}]\n"
    )
}

#[test]
fn jobs_have_kubernetes_defaults() {
    let p = plan_of(&job("", "      restartPolicy: Never\n"));
    assert!(p.pods.is_empty());
    let j = &p.jobs[0];
    assert_eq!(
        (
            j.name.as_str(),
            j.completions,
            j.parallelism,
            j.backoff_limit
        ),
        ("once", 1, 1, 6)
    );
    assert_eq!(j.template.name, "once");
    assert_eq!(
        j.template.owner,
        Owner::Job {
            name: "once".into()
        }
    );
    assert_eq!(j.template.restart_policy, RestartPolicy::Never);
    assert!(p.runs_to_completion());
    let p = plan_of(&job(
        "  completions: 5\n  parallelism: 2\n  backoffLimit: 0\n",
        "      restartPolicy: OnFailure\n",
    ));
    let j = &p.jobs[0];
    assert_eq!((j.completions, j.parallelism, j.backoff_limit), (5, 2, 0));
    assert_eq!(j.template.restart_policy, RestartPolicy::OnFailure);
}

#[test]
fn job_restart_policy_must_be_on_failure_or_never() {
    let expected =
        "Job/once: spec.template.spec.restartPolicy must be OnFailure or Never for a Job";
    assert_eq!(error(&job("", "      restartPolicy: Always\n")), expected);
    assert_eq!(error(&job("", "")), expected);
}

#[test]
fn runs_to_completion_only_without_long_running_pods() {
    let yaml = format!(
        "{}---\n{}",
        job("", "      restartPolicy: Never\n"),
        pod("", "")
    );
    assert!(!plan_of(&yaml).runs_to_completion());
    assert!(Plan::default().runs_to_completion());
}

#[test]
fn services_resolve_target_ports_per_pod() {
    let yaml = format!(
        "{}---\n{}---\napiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  selector: {{app: web}}\n  ports:\n  - {{name: http, port: 80, targetPort: http}}\n  - {{port: 8080}}\n  - {{port: 81, targetPort: 9000}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: none}}\nspec:\n  ports: [{{port: 1}}]\n",
        deployment("  replicas: 2\n", "{app: web}", ""),
        pod("", "").replace("labels: {app: a}", "labels: {app: web}")
    );
    let p = plan_of(&yaml);
    let s = &p.services[0];
    assert_eq!(s.name, "web");
    let ep = |pod: &str, port| Endpoint {
        pod: pod.into(),
        port,
    };
    assert_eq!(s.ports[0].port, 80);
    assert_eq!(s.ports[0].endpoints, [ep("web-0", 8080), ep("web-1", 8080)]);
    assert_eq!(
        p.warnings,
        [
            "Service/web: spec.ports[0].targetPort: pod a has no container port named http (not an endpoint)"
        ]
    );
    assert_eq!(
        s.ports[1].endpoints,
        [ep("web-0", 8080), ep("web-1", 8080), ep("a", 8080)]
    );
    assert_eq!(
        s.ports[2].endpoints,
        [ep("web-0", 9000), ep("web-1", 9000), ep("a", 9000)]
    );
    assert!(p.services[1].ports[0].endpoints.is_empty());
}

#[test]
fn pod_names_must_not_collide() {
    let yaml = format!(
        "{}---\n{}",
        deployment("", "{app: web}", ""),
        pod("", "").replace("name: a\n", "name: web-0\n")
    );
    assert_eq!(
        error(&yaml),
        "Pod/web-0: two objects make a pod with this name"
    );
}

// ---- the fixture and rendering ----

fn fixture_plan() -> Plan {
    let docs = load(&[Source::Path(fixture("app.yaml"))]).expect("load fixture");
    plan(&docs, &PlanOptions::default()).expect("plan fixture")
}

#[test]
fn fixture_app_resolves() {
    let p = fixture_plan();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let names: Vec<_> = p.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["web-0", "web-1"]);
    let web: &PodPlan = &p.pods[1];
    assert_eq!(web.termination_grace_period_seconds, 10);
    let c = &web.containers[0];
    assert_eq!(
        argv(c),
        [
            "<entry>",
            "--greeting",
            "hello",
            "--pod",
            "web-1",
            "--token=s3cr3t"
        ]
    );
    assert!(c.args[4].secret && !c.args[3].secret);
    assert_eq!(
        env(c),
        [
            ("GREETING", "hello"),
            ("LOG_LEVEL", "info"),
            ("config.toml", "[server]\ngreeting = \"hello\"\n"),
            ("POD_NAME", "web-1"),
            ("API_TOKEN", "s3cr3t"),
            ("LISTEN", "0.0.0.0:8080"),
        ]
    );
    assert_eq!(c.memory_limit, Some(64 << 20));
    assert_eq!(c.cpu_limit, Some(500));
    assert_eq!(
        c.mounts[0].source,
        MountSource::Files {
            files: vec![(
                "web.toml".into(),
                b"[server]\ngreeting = \"hello\"\n".to_vec()
            )],
            secret: false
        }
    );
    let job = &p.jobs[0];
    assert_eq!(job.backoff_limit, 2);
    let m = &job.template.containers[0];
    assert_eq!(
        m.image,
        Image::File(fixture("").join("../wasm/migrate.wasm"))
    );
    assert_eq!(argv(m), ["migrate", "--password", "hunter2"]);
    assert_eq!(p.services[0].ports[0].endpoints.len(), 2);
    assert!(!p.runs_to_completion());
}

#[test]
fn render_is_stable_and_hides_secrets() {
    let p = fixture_plan();
    let text = p.render();
    let dir = fixture("app.yaml")
        .parent()
        .expect("fixtures")
        .display()
        .to_string();
    let expected = format!(
        r#"pod web-0 (Deployment/web replica 0) restart=Always grace=10s labels={{app=web,tier=frontend}}
  container http image=ghcr.io/wasmpod/http-hello:0.1.0 pull=IfNotPresent argv=[<entrypoint>, "--greeting", "hello", "--pod", "web-0", <secret>] env=[GREETING="hello", LOG_LEVEL="info", config.toml="[server]\ngreeting = \"hello\"\n", POD_NAME="web-0", API_TOKEN=<secret>, LISTEN="0.0.0.0:8080"] mount=config:/etc/web (ro, configMap files [web.toml]) mount=cache:/cache (rw, emptyDir) memory=64Mi cpu=500m ports=[http:8080] liveness=(tcpSocket port 8080, delay=2s period=10s timeout=1s failure=3 success=1) readiness=(httpGet /healthz port 8080, delay=0s period=5s timeout=1s failure=3 success=1)
pod web-1 (Deployment/web replica 1) restart=Always grace=10s labels={{app=web,tier=frontend}}
  container http image=ghcr.io/wasmpod/http-hello:0.1.0 pull=IfNotPresent argv=[<entrypoint>, "--greeting", "hello", "--pod", "web-1", <secret>] env=[GREETING="hello", LOG_LEVEL="info", config.toml="[server]\ngreeting = \"hello\"\n", POD_NAME="web-1", API_TOKEN=<secret>, LISTEN="0.0.0.0:8080"] mount=config:/etc/web (ro, configMap files [web.toml]) mount=cache:/cache (rw, emptyDir) memory=64Mi cpu=500m ports=[http:8080] liveness=(tcpSocket port 8080, delay=2s period=10s timeout=1s failure=3 success=1) readiness=(httpGet /healthz port 8080, delay=0s period=5s timeout=1s failure=3 success=1)
job migrate completions=1 parallelism=1 backoffLimit=2 restart=Never grace=30s labels={{app=migrate}}
  container migrate image=file://{dir}/../wasm/migrate.wasm pull=Never argv=["migrate", "--password", <secret>] env=[DB_PASSWORD=<secret>] mount=secrets:/run/secrets (ro, secret files [API_TOKEN, db-password])
service web http 80 -> web-0:8080, web-1:8080
"#
    );
    assert_eq!(text, expected);
    assert!(!text.contains("s3cr3t") && !text.contains("hunter2"));
    assert_eq!(p.to_string(), text);
}

#[test]
fn duplicate_keys_are_yaml_errors_with_a_position() {
    // The position is the second key's.
    let e =
        error("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  k: one\n  k: two\n");
    assert_eq!(e, "app.yaml:6:3: duplicate entry with key \"k\"");
    // Keys compare by value: `1` and `0x1` are the same integer.
    let e = error("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nx: {1: a, 0x1: b}\n");
    assert_eq!(e, "app.yaml:4:11: duplicate entry with key 1");
}

#[test]
fn syntax_errors_name_their_line_and_column() {
    // An unclosed flow sequence: found where the stream ends.
    let e = error("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [a\n");
    assert_eq!(
        e,
        "app.yaml:5:1: while parsing a flow sequence, expected ',' or ']'"
    );
    // A tab where indentation is expected.
    let e = error("apiVersion: v1\nkind: ConfigMap\ndata:\n\tk: v\n");
    assert_eq!(
        e,
        "app.yaml:4:2: tabs disallowed within this context (block indentation)"
    );
    // An unknown tag names itself and its position.
    let e = error("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: !shell a}\n");
    assert_eq!(e, "app.yaml:3:18: tag !shell is not supported");
    // So does a core tag whose text does not fit it.
    let e = error("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nx: !!int ten\n");
    assert_eq!(e, "app.yaml:4:4: \"ten\" is not a valid !!int");
}

#[test]
fn nesting_is_bounded_even_through_aliases() {
    let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
    let e = error(&deep);
    assert_eq!(e, "app.yaml:1:129: nested more than 128 levels deep");
    // 100 levels behind an anchor, used 30 levels down: 130.
    let yaml = format!(
        "a: &a {}{}\nb: {}*a{}\n",
        "[".repeat(100),
        "]".repeat(100),
        "[".repeat(30),
        "]".repeat(30)
    );
    let e = error(&yaml);
    assert!(e.ends_with("nested more than 128 levels deep"), "{e}");
}
