//! deploy/ is valid Kubernetes: every YAML document parses into the
//! k8s-openapi type of its kind, and serialising that type gives the
//! document back, so a misspelt or misplaced field (which the types
//! ignore) fails too.

use std::path::{Path, PathBuf};

use k8s_openapi::api::{admissionregistration, apps, batch, core, node, rbac};
use serde::Deserialize as _;
use serde::de::DeserializeOwned;
use wasmpod_kube::{MAX_NODES, MAX_SCALAR_BYTES, yaml};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn round_trip<T: DeserializeOwned + serde::Serialize>(doc: &serde_json::Value, what: &str) {
    let typed: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let back = serde_json::to_value(&typed).expect("serialise");
    assert_eq!(
        &back, doc,
        "{what}: fields the type does not know were dropped"
    );
}

/// Every document of every YAML file under deploy/, with its kind.
fn documents() -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    let mut dirs = vec![deploy()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read deploy/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).expect("read");
                let mut budget = yaml::Budget::new(MAX_NODES, MAX_SCALAR_BYTES);
                for doc in yaml::documents(&text, &mut budget) {
                    let (i, doc) = doc.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    let value = serde_json::Value::deserialize(doc)
                        .unwrap_or_else(|e| panic!("{}: document {i}: {e}", path.display()));
                    out.push((format!("{} #{i}", path.display()), value));
                }
            }
        }
    }
    out
}

#[test]
fn every_document_is_a_valid_kubernetes_object() {
    let docs = documents();
    let mut kinds: Vec<&str> = Vec::new();
    for (what, doc) in &docs {
        let kind = doc["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no kind"));
        kinds.push(kind);
        match kind {
            "RuntimeClass" => round_trip::<node::v1::RuntimeClass>(doc, what),
            "Namespace" => round_trip::<core::v1::Namespace>(doc, what),
            "ServiceAccount" => round_trip::<core::v1::ServiceAccount>(doc, what),
            "ClusterRole" => round_trip::<rbac::v1::ClusterRole>(doc, what),
            "ClusterRoleBinding" => round_trip::<rbac::v1::ClusterRoleBinding>(doc, what),
            "ValidatingAdmissionPolicy" => {
                round_trip::<admissionregistration::v1::ValidatingAdmissionPolicy>(doc, what)
            }
            "ValidatingAdmissionPolicyBinding" => {
                round_trip::<admissionregistration::v1::ValidatingAdmissionPolicyBinding>(doc, what)
            }
            "DaemonSet" => round_trip::<apps::v1::DaemonSet>(doc, what),
            "Deployment" => round_trip::<apps::v1::Deployment>(doc, what),
            "Service" => round_trip::<core::v1::Service>(doc, what),
            "Job" => round_trip::<batch::v1::Job>(doc, what),
            other => panic!("{what}: unexpected kind {other}"),
        }
    }
    for kind in [
        "RuntimeClass",
        "DaemonSet",
        "ClusterRole",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "Job",
        "Deployment",
        "Service",
    ] {
        assert!(kinds.contains(&kind), "deploy/ has no {kind}");
    }
}

#[test]
fn the_runtime_class_and_installer_agree() {
    let docs = documents();
    let find = |kind: &str| {
        docs.iter()
            .filter(|(_, d)| d["kind"] == kind)
            .map(|(_, d)| d.clone())
            .collect::<Vec<_>>()
    };
    let rc: node::v1::RuntimeClass =
        serde_json::from_value(find("RuntimeClass")[0].clone()).expect("RuntimeClass");
    assert_eq!(rc.metadata.name.as_deref(), Some("wasmpod"));
    assert_eq!(rc.handler, "wasmpod");
    let selector = rc
        .scheduling
        .and_then(|s| s.node_selector)
        .expect("nodeSelector");
    assert_eq!(
        selector.get("wasmpod.dev/ready").map(String::as_str),
        Some("true")
    );

    let ds: apps::v1::DaemonSet =
        serde_json::from_value(find("DaemonSet")[0].clone()).expect("DaemonSet");
    let pod = ds.spec.and_then(|s| s.template.spec).expect("pod spec");
    assert_eq!(pod.host_pid, Some(true));
    let c = &pod.containers[0];
    assert_eq!(
        c.security_context.as_ref().and_then(|s| s.privileged),
        Some(true)
    );
    let script = c.args.as_ref().map(|a| a.join(" ")).unwrap_or_default();
    assert!(
        script.contains("wasmpod node install --restart"),
        "{script}"
    );
    assert!(script.contains("wasmpod.dev/ready=true"), "{script}");

    let role: rbac::v1::ClusterRole =
        serde_json::from_value(find("ClusterRole")[0].clone()).expect("ClusterRole");
    let rules = role.rules.expect("rules");
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0].resources.as_deref(),
        Some(&["nodes".to_string()][..])
    );
    assert_eq!(rules[0].verbs, ["get", "patch"]);

    // The optional policy ConfigMap: every key a file in one folder, and
    // the host's /etc/wasmpod where the installer writes the policy.
    let volumes = pod.volumes.as_deref().unwrap_or_default();
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    let mount = |name: &str| {
        c.volume_mounts
            .iter()
            .flatten()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no mount of {name}"))
    };
    let cm = volume("policy").config_map.as_ref().expect("configMap");
    assert_eq!(cm.name, "wasmpod-policy");
    assert_eq!(cm.optional, Some(true));
    assert!(cm.items.is_none(), "every key of the ConfigMap is mounted");
    let policy_mount = mount("policy");
    assert_eq!(policy_mount.read_only, Some(true));
    assert!(
        policy_mount.sub_path.is_none(),
        "a subPath never sees updates"
    );
    let etc = volume("wasmpod-etc").host_path.as_ref().expect("hostPath");
    assert_eq!(etc.path, "/etc/wasmpod");
    assert_eq!(mount("wasmpod-etc").mount_path, "/host/etc/wasmpod");
    let policy_file = format!("{}/policy.toml", policy_mount.mount_path);
    assert!(
        script.contains(&format!("policy_file={policy_file}")),
        "{script}"
    );
    assert!(script.contains("[ -f \"$policy_file\" ]"), "{script}");

    for kind in ["Job", "Deployment"] {
        let doc = &find(kind)[0];
        assert_eq!(
            doc["spec"]["template"]["spec"]["runtimeClassName"], "wasmpod",
            "{kind}"
        );
    }
}

/// The installer's script, run with stand-ins for `wasmpod` (a log of
/// its arguments; `status` fails, so install runs) and `sleep` (ends the
/// loop): `--policy` is passed exactly when the ConfigMap has a
/// policy.toml.
#[test]
fn the_installer_passes_the_policy_only_when_the_config_map_has_one() {
    let docs = documents();
    let ds = docs
        .iter()
        .find(|(_, d)| d["kind"] == "DaemonSet")
        .map(|(_, d)| d.clone())
        .expect("DaemonSet");
    let ds: apps::v1::DaemonSet = serde_json::from_value(ds).expect("DaemonSet");
    let pod = ds.spec.and_then(|s| s.template.spec).expect("pod spec");
    let c = &pod.containers[0];
    assert_eq!(
        c.command.as_deref(),
        Some(&["/bin/sh".into(), "-c".into()][..])
    );
    let script = c.args.as_ref().expect("args")[0].clone();

    for with_policy in [false, true] {
        let tmp = tempfile::tempdir().expect("tmp");
        let mount = tmp.path().join("etc/wasmpod-policy");
        std::fs::create_dir_all(&mount).expect("mkdir");
        if with_policy {
            std::fs::write(mount.join("policy.toml"), "").expect("write");
        }
        let script = script.replace("/etc/wasmpod-policy/", &format!("{}/", mount.display()));
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let log = tmp.path().join("log");
        let stub = |name: &str, body: String| {
            use std::os::unix::fs::PermissionsExt as _;
            let path = bin.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        };
        stub(
            "wasmpod",
            format!("echo \"$*\" >> '{}'\n[ \"$2\" != status ]", log.display()),
        );
        stub("sleep", "kill -KILL $PPID".into());
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(&script)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("NODE_NAME", "node-1");
        let out = wasmpod_testkit::output_within(cmd, None, std::time::Duration::from_secs(30));
        assert!(!out.status.success(), "the loop ends only when killed");
        let calls = std::fs::read_to_string(&log).expect("log");
        let flags = "--host-root /host --bin-dir /host/usr/local/bin --cri-socket /host/run/containerd/containerd.sock";
        let policy = if with_policy {
            format!(" --policy {}/policy.toml", mount.display())
        } else {
            String::new()
        };
        assert_eq!(
            calls,
            format!(
                "node status {flags}{policy}\nnode install --restart {flags}{policy}\nnode label --node node-1 wasmpod.dev/ready=true\n"
            )
        );
    }
}
