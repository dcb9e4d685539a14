//! Resolution: objects in, run specs out. Everything a local supervisor
//! needs is decided here (names, env values, file contents, limits, ports,
//! probes), so that it never reads YAML or looks up a ConfigMap.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use crate::quantity::Quantity;
use base64::Engine as _;
use serde::de::DeserializeOwned;

use crate::load::{Document, Kind};
use crate::{KubeError, annotations, model, names, schema};

/// Most replicas of one Deployment: 1000. Each is a pod planned (and run)
/// on this one machine.
pub const MAX_REPLICAS: u32 = 1000;
/// Longest env value or argument after `$(VAR)` expansion: 1 MiB.
pub const MAX_EXPANDED_BYTES: usize = 1 << 20;
/// Most bytes of env values, arguments and ConfigMap/Secret volume files
/// one plan holds, every pod's copy counted (a Deployment's replicas each
/// have their own): 256 MiB. Without it, a few KiB of YAML could plan
/// gigabytes (a ConfigMap mounted by 1000 replicas, chained `$(VAR)`s).
pub const MAX_PLAN_BYTES: u64 = 256 << 20;

/// How strict [`plan`] is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Turn "field is not supported" errors into warnings in
    /// [`Plan::warnings`]. Wrong values, missing references and the like
    /// stay errors.
    pub lenient: bool,
}

/// What `wasmpod up` will run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Pods to keep running (or run once, per their restart policy): one per
    /// Pod and one per Deployment replica, in manifest order.
    pub pods: Vec<PodPlan>,
    /// Jobs, each with the pod template its pods are made from.
    pub jobs: Vec<JobPlan>,
    /// Services, with the pods and ports each one reaches.
    pub services: Vec<ServicePlan>,
    /// One line each: ignored fields (with `lenient`), skipped env keys,
    /// Service ports no pod provides.
    pub warnings: Vec<String>,
}

impl Plan {
    /// True when everything in the plan finishes on its own: only Jobs and
    /// Pods whose restart policy is `Never` or `OnFailure` (an empty plan
    /// too). `up` then exits when they are done instead of serving.
    pub fn runs_to_completion(&self) -> bool {
        self.pods
            .iter()
            .all(|p| p.restart_policy != RestartPolicy::Always)
    }
}

/// Who made a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A Pod object.
    Pod,
    /// Replica `replica` (from 0) of a Deployment.
    Deployment {
        /// The Deployment's name.
        name: String,
        /// Replica index.
        replica: u32,
    },
    /// A Job's pod template.
    Job {
        /// The Job's name.
        name: String,
    },
}

/// `restartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Restart whenever a container exits (Pod and Deployment default).
    Always,
    /// Restart containers that exit non-zero.
    OnFailure,
    /// Never restart.
    Never,
}

/// One pod to run.
#[derive(Debug, Clone, PartialEq)]
pub struct PodPlan {
    /// The pod's name: the Pod's, `<deployment>-<replica>` for a Deployment
    /// (`web-0`, `web-1`, ...), the Job's name for a Job template.
    pub name: String,
    /// `metadata.namespace`, `default` when absent.
    pub namespace: String,
    /// What made it.
    pub owner: Owner,
    /// The pod's labels (a template's for Deployments and Jobs).
    pub labels: BTreeMap<String, String>,
    /// Containers, in order.
    pub containers: Vec<ContainerPlan>,
    /// The restart policy, defaulted.
    pub restart_policy: RestartPolicy,
    /// `terminationGracePeriodSeconds` (default 30): how long a stop waits
    /// after SIGTERM before killing.
    pub termination_grace_period_seconds: u64,
    /// The [`annotations::MAX_WASM_STACK`](crate::annotations::MAX_WASM_STACK)
    /// annotation, in bytes: the most stack the pod's WebAssembly may use.
    pub max_wasm_stack: Option<u64>,
    /// The reuse annotations
    /// ([`annotations::MAX_INSTANCE_REUSE_COUNT`](crate::annotations::MAX_INSTANCE_REUSE_COUNT)
    /// and its concurrent twin): how the pod's `wasi:http` instances serve
    /// requests.
    pub instance_reuse: annotations::InstanceReuse,
}

/// A Job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPlan {
    /// The Job's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Successful pods needed (default 1).
    pub completions: u32,
    /// Pods run at once (default 1).
    pub parallelism: u32,
    /// Failed pods tolerated before the Job fails (default 6).
    pub backoff_limit: u32,
    /// The pod every run is made from; its name is the Job's and its
    /// restart policy is `OnFailure` or `Never`.
    pub template: PodPlan,
}

/// Where a container's Wasm comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Image {
    /// An OCI reference, pulled as `wasmpod run IMAGE` does.
    Oci(String),
    /// `file://PATH`, resolved against the manifest's directory.
    File(PathBuf),
}

/// `imagePullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull every time (default for `:latest` or no tag).
    Always,
    /// Pull when not in the local store (default for other tags and digests).
    IfNotPresent,
    /// Never pull (default for `file://` images).
    Never,
}

/// One argument of `command` or `args`, after `$(VAR)` expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// The expanded text.
    pub value: String,
    /// It contains Secret data, so it is never printed.
    pub secret: bool,
}

/// One environment variable, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
    /// It contains Secret data, so it is never printed.
    pub secret: bool,
}

/// A directory given to a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    /// The pod volume's name.
    pub volume: String,
    /// `mountPath`: where the guest sees it (absolute).
    pub guest_path: String,
    /// No writes: `readOnly`, and always for ConfigMap and Secret volumes.
    pub read_only: bool,
    /// What is mounted.
    pub source: MountSource,
}

/// What a volume holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// An empty directory made for the pod and shared by every container in
    /// it that mounts the same volume (by [`MountPlan::volume`]).
    EmptyDir,
    /// A host directory.
    HostPath {
        /// Absolute, or resolved against the manifest's directory.
        path: PathBuf,
        /// `type: DirectoryOrCreate`: create it when missing.
        create: bool,
    },
    /// Files to write into a fresh directory: a ConfigMap or Secret volume.
    Files {
        /// `(relative path, contents)`, in key order or `items` order.
        files: Vec<(PathBuf, Vec<u8>)>,
        /// From a Secret: contents are never printed.
        secret: bool,
    },
}

/// A `containerPort`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlan {
    /// Its `name`, for probes and Services.
    pub name: Option<String>,
    /// The TCP port.
    pub container_port: u16,
}

/// A liveness or readiness probe, with Kubernetes defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// What the probe does.
    pub action: ProbeAction,
    /// Default 0.
    pub initial_delay_seconds: u32,
    /// Default 10.
    pub period_seconds: u32,
    /// Default 1.
    pub timeout_seconds: u32,
    /// Default 3.
    pub failure_threshold: u32,
    /// Default 1 (and always 1 for liveness).
    pub success_threshold: u32,
}

/// A probe's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAction {
    /// HTTP GET; 2xx and 3xx pass.
    HttpGet {
        /// Default `/`.
        path: String,
        /// Resolved from a number or a container port name.
        port: u16,
    },
    /// A TCP connect.
    TcpSocket {
        /// Resolved from a number or a container port name.
        port: u16,
    },
    /// A command run in the container; exit 0 passes. Not `$(VAR)`-expanded.
    Exec {
        /// argv.
        command: Vec<String>,
    },
}

/// One container, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerPlan {
    /// Its name.
    pub name: String,
    /// The Wasm to run.
    pub image: Image,
    /// `imagePullPolicy`, defaulted as Kubernetes does.
    pub pull_policy: PullPolicy,
    /// `command`, expanded; empty means the image's entrypoint.
    pub command: Vec<Arg>,
    /// `args`, expanded; empty means the image's default arguments.
    pub args: Vec<Arg>,
    /// The environment: `envFrom` first, then `env`, a later entry replacing
    /// an earlier one of the same name in place.
    pub env: Vec<EnvVar>,
    /// `workingDir`.
    pub working_dir: Option<String>,
    /// Volume mounts, in order.
    pub mounts: Vec<MountPlan>,
    /// `resources.limits.memory` in bytes.
    pub memory_limit: Option<u64>,
    /// `resources.limits.cpu` in millicores.
    pub cpu_limit: Option<u64>,
    /// `ports`.
    pub ports: Vec<PortPlan>,
    /// `livenessProbe`.
    pub liveness_probe: Option<Probe>,
    /// `readinessProbe`.
    pub readiness_probe: Option<Probe>,
}

impl ContainerPlan {
    /// The guest's argv, by Kubernetes' rules: `command` replaces the
    /// image's `entrypoint` and `args` replaces its `cmd`; with a `command`
    /// but no `args`, the image's `cmd` is dropped. For a `file://` image
    /// pass the path as `entrypoint` and nothing as `cmd`.
    pub fn argv(&self, entrypoint: &[String], cmd: &[String]) -> Vec<String> {
        let values = |a: &[Arg]| a.iter().map(|a| a.value.clone()).collect::<Vec<_>>();
        let mut argv = if self.command.is_empty() {
            entrypoint.to_vec()
        } else {
            values(&self.command)
        };
        if !self.args.is_empty() {
            argv.extend(values(&self.args));
        } else if self.command.is_empty() {
            argv.extend(cmd.iter().cloned());
        }
        argv
    }
}

/// A Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// `spec.selector`; empty selects nothing.
    pub selector: BTreeMap<String, String>,
    /// Its ports.
    pub ports: Vec<ServicePortPlan>,
}

/// One Service port and where it leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePortPlan {
    /// The port's `name`.
    pub name: Option<String>,
    /// `port`: what clients connect to.
    pub port: u16,
    /// Selected pods (Pods and Deployment replicas; not Job pods) with the
    /// `targetPort` resolved for each.
    pub endpoints: Vec<Endpoint>,
}

/// A pod behind a Service port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The pod's name.
    pub pod: String,
    /// The container port the traffic goes to.
    pub port: u16,
}

/// A ConfigMap's or Secret's contents.
#[derive(Debug)]
struct ConfigData {
    /// Keys usable in env (`data`, or a Secret's keys).
    env: BTreeMap<String, Vec<u8>>,
    /// Keys usable as files (also `binaryData`).
    files: BTreeMap<String, Vec<u8>>,
    secret: bool,
}

struct Ctx<'a> {
    lenient: bool,
    warnings: Vec<String>,
    config_maps: HashMap<(&'a str, &'a str), ConfigData>,
    secrets: HashMap<(&'a str, &'a str), ConfigData>,
    /// Bytes of env values, arguments and volume files planned so far.
    held: std::cell::Cell<u64>,
}

impl Ctx<'_> {
    /// Counts `bytes` more held by the plan, for the field at `path`.
    fn hold(&self, doc: &Document, path: &str, bytes: usize) -> Result<(), KubeError> {
        let held = self
            .held
            .get()
            .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
        self.held.set(held);
        if held > MAX_PLAN_BYTES {
            return Err(KubeError::invalid(
                doc.id(),
                format!(
                    "{path}: the plan would hold more than {} MiB of env values, arguments and volume files (each pod's copy counts)",
                    MAX_PLAN_BYTES >> 20
                ),
            ));
        }
        Ok(())
    }

    fn warn(&mut self, message: String) {
        if !self.warnings.contains(&message) {
            tracing::debug!("{message}");
            self.warnings.push(message);
        }
    }
}

/// Checks every object against the allow-list, resolves references and
/// returns what to run. Errors are one line naming the object and field.
pub fn plan(docs: &[Document], options: &PlanOptions) -> Result<Plan, KubeError> {
    let mut ctx = Ctx {
        lenient: options.lenient,
        warnings: Vec::new(),
        config_maps: HashMap::new(),
        secrets: HashMap::new(),
        held: std::cell::Cell::new(0),
    };
    let mut seen = HashMap::new();
    for doc in docs {
        if let Some(first) = seen.insert((doc.kind, &doc.namespace, &doc.name), &doc.file) {
            return Err(KubeError::invalid(
                doc.id(),
                format!("defined twice (in {first} and {})", doc.file),
            ));
        }
        check_fields(&mut ctx, doc)?;
    }
    for doc in docs {
        let key = (doc.namespace.as_str(), doc.name.as_str());
        match doc.kind {
            Kind::ConfigMap => {
                let cm: model::ConfigMap = typed(doc)?;
                let data = config_map(doc, cm)?;
                ctx.config_maps.insert(key, data);
            }
            Kind::Secret => {
                let s: model::Secret = typed(doc)?;
                let data = secret(doc, s)?;
                ctx.secrets.insert(key, data);
            }
            _ => {}
        }
    }

    let mut plan = Plan::default();
    for doc in docs {
        let _span = tracing::debug_span!("object", id = %doc.id()).entered();
        match doc.kind {
            Kind::Pod => {
                let pod: model::Pod = typed(doc)?;
                let restart = restart_policy(doc, "spec", &pod.spec, RestartPolicy::Always)?;
                plan.pods.push(pod_plan(
                    &mut ctx,
                    doc,
                    "spec",
                    &pod.spec,
                    PodIdentity {
                        name: doc.name.clone(),
                        owner: Owner::Pod,
                        labels: pod.metadata.labels.clone(),
                        annotations: (&pod.metadata.annotations, "metadata.annotations"),
                        restart,
                    },
                )?);
            }
            Kind::Deployment => {
                let d: model::Deployment = typed(doc)?;
                plan.pods.extend(deployment(&mut ctx, doc, &d)?);
            }
            Kind::Job => {
                let j: model::Job = typed(doc)?;
                plan.jobs.push(job(&mut ctx, doc, &j)?);
            }
            Kind::ConfigMap | Kind::Secret | Kind::Service => {}
        }
    }
    let mut names = HashSet::new();
    for pod in &plan.pods {
        if !names.insert((&pod.namespace, &pod.name)) {
            return Err(KubeError::invalid(
                format!("Pod/{}", pod.name),
                "two objects make a pod with this name",
            ));
        }
    }
    for doc in docs.iter().filter(|d| d.kind == Kind::Service) {
        let s: model::Service = typed(doc)?;
        let service = service(&mut ctx, doc, s, &plan.pods)?;
        plan.services.push(service);
    }
    plan.warnings = ctx.warnings;
    tracing::debug!(
        pods = plan.pods.len(),
        jobs = plan.jobs.len(),
        services = plan.services.len(),
        "planned"
    );
    Ok(plan)
}

fn check_fields(ctx: &mut Ctx<'_>, doc: &Document) -> Result<(), KubeError> {
    let findings = schema::check(doc.kind, &doc.value);
    if let Some((path, expected)) = findings.wrong_shape.into_iter().next() {
        return Err(KubeError::invalid(doc.id(), format!("{path}: {expected}")));
    }
    for path in findings.unsupported {
        if !ctx.lenient {
            return Err(KubeError::UnsupportedField {
                object: doc.id(),
                path,
            });
        }
        ctx.warn(format!("{}: {path} is not supported (ignored)", doc.id()));
    }
    Ok(())
}

fn typed<T: DeserializeOwned>(doc: &Document) -> Result<T, KubeError> {
    let mut value = doc.value.clone();
    model::drop_nulls(&mut value);
    crate::yaml::from_value(value).map_err(|e| KubeError::invalid(doc.id(), e.to_string()))
}

fn decode_base64(doc: &Document, path: &str, text: &str) -> Result<Vec<u8>, KubeError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim_end())
        .map_err(|e| KubeError::invalid(doc.id(), format!("{path}: invalid base64 ({e})")))
}

/// A ConfigMap or Secret key becomes a file name: Kubernetes' key rule.
fn check_key(doc: &Document, field: &str, key: &str) -> Result<(), KubeError> {
    names::config_key(key).map_err(|rule| {
        KubeError::invalid(
            doc.id(),
            format!(
                "{field}: key {} is not valid (must be {rule})",
                names::shown(key)
            ),
        )
    })
}

/// A name Kubernetes checks with `rule` (a volume, container or port name).
fn check_name(
    doc: &Document,
    path: &str,
    name: &str,
    rule: fn(&str) -> Result<(), &'static str>,
) -> Result<(), KubeError> {
    rule(name).map_err(|rule| {
        KubeError::invalid(
            doc.id(),
            format!(
                "{path}: {} is not valid (must be {rule})",
                names::shown(name)
            ),
        )
    })
}

fn config_map(doc: &Document, cm: model::ConfigMap) -> Result<ConfigData, KubeError> {
    for key in cm.data.keys() {
        check_key(doc, "data", key)?;
    }
    for key in cm.binary_data.keys() {
        check_key(doc, "binaryData", key)?;
    }
    let mut files = BTreeMap::new();
    for (key, text) in &cm.binary_data {
        let path = format!("binaryData.{key}");
        files.insert(key.clone(), decode_base64(doc, &path, text)?);
        if cm.data.contains_key(key) {
            return Err(KubeError::invalid(
                doc.id(),
                format!("key {key} is in both data and binaryData"),
            ));
        }
    }
    let env: BTreeMap<_, _> = cm
        .data
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    files.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(ConfigData {
        env,
        files,
        secret: false,
    })
}

fn secret(doc: &Document, s: model::Secret) -> Result<ConfigData, KubeError> {
    for key in s.data.keys() {
        check_key(doc, "data", key)?;
    }
    for key in s.string_data.keys() {
        check_key(doc, "stringData", key)?;
    }
    let mut data = BTreeMap::new();
    for (key, text) in &s.data {
        data.insert(
            key.clone(),
            decode_base64(doc, &format!("data.{key}"), text)?,
        );
    }
    // stringData is merged over data, as the API server does.
    for (key, text) in s.string_data {
        data.insert(key, text.into_bytes());
    }
    Ok(ConfigData {
        env: data.clone(),
        files: data,
        secret: true,
    })
}

fn restart_policy(
    doc: &Document,
    prefix: &str,
    spec: &model::PodSpec,
    default: RestartPolicy,
) -> Result<RestartPolicy, KubeError> {
    match spec.restart_policy.as_deref() {
        None => Ok(default),
        Some("Always") => Ok(RestartPolicy::Always),
        Some("OnFailure") => Ok(RestartPolicy::OnFailure),
        Some("Never") => Ok(RestartPolicy::Never),
        Some(other) => Err(KubeError::invalid(
            doc.id(),
            format!("{prefix}.restartPolicy: {other:?} is not Always, OnFailure or Never"),
        )),
    }
}

fn non_negative(
    doc: &Document,
    path: &str,
    v: Option<i64>,
    default: u32,
) -> Result<u32, KubeError> {
    match v {
        None => Ok(default),
        Some(n) => u32::try_from(n).map_err(|_| {
            KubeError::invalid(
                doc.id(),
                format!("{path}: {n} is out of range (0 to {})", u32::MAX),
            )
        }),
    }
}

fn deployment(
    ctx: &mut Ctx<'_>,
    doc: &Document,
    d: &model::Deployment,
) -> Result<Vec<PodPlan>, KubeError> {
    let replicas = non_negative(doc, "spec.replicas", d.spec.replicas, 1)?;
    if replicas > MAX_REPLICAS {
        return Err(KubeError::invalid(
            doc.id(),
            format!("spec.replicas: {replicas} is more than {MAX_REPLICAS}, the most wasmpod runs"),
        ));
    }
    // Replica pods are named NAME-N, and each name is a folder name: it
    // must still be a valid object name.
    if let Some(last) = replicas.checked_sub(1) {
        let longest = format!("{}-{last}", doc.name);
        if let Err(rule) = names::subdomain(&longest) {
            return Err(KubeError::invalid(
                doc.id(),
                format!(
                    "metadata.name: replica pod name {} is not valid (must be {rule})",
                    names::shown(&longest)
                ),
            ));
        }
    }
    let template = &d.spec.template;
    let Some(selector) = &d.spec.selector else {
        return Err(KubeError::invalid(doc.id(), "spec.selector is required"));
    };
    if selector.match_labels.is_empty() {
        return Err(KubeError::invalid(
            doc.id(),
            "spec.selector.matchLabels must not be empty",
        ));
    }
    for (k, v) in &selector.match_labels {
        if template.metadata.labels.get(k) != Some(v) {
            return Err(KubeError::invalid(
                doc.id(),
                format!(
                    "spec.selector.matchLabels {k}={v} does not match spec.template.metadata.labels"
                ),
            ));
        }
    }
    let prefix = "spec.template.spec";
    let restart = restart_policy(doc, prefix, &template.spec, RestartPolicy::Always)?;
    if restart != RestartPolicy::Always {
        return Err(KubeError::invalid(
            doc.id(),
            format!("{prefix}.restartPolicy must be Always for a Deployment"),
        ));
    }
    (0..replicas)
        .map(|replica| {
            pod_plan(
                ctx,
                doc,
                prefix,
                &template.spec,
                PodIdentity {
                    name: format!("{}-{replica}", doc.name),
                    owner: Owner::Deployment {
                        name: doc.name.clone(),
                        replica,
                    },
                    labels: template.metadata.labels.clone(),
                    annotations: (
                        &template.metadata.annotations,
                        "spec.template.metadata.annotations",
                    ),
                    restart,
                },
            )
        })
        .collect()
}

fn job(ctx: &mut Ctx<'_>, doc: &Document, j: &model::Job) -> Result<JobPlan, KubeError> {
    let prefix = "spec.template.spec";
    let spec = &j.spec.template.spec;
    let restart = match restart_policy(doc, prefix, spec, RestartPolicy::Always)? {
        RestartPolicy::Always => {
            return Err(KubeError::invalid(
                doc.id(),
                format!("{prefix}.restartPolicy must be OnFailure or Never for a Job"),
            ));
        }
        other => other,
    };
    let parallelism = non_negative(doc, "spec.parallelism", j.spec.parallelism, 1)?;
    if parallelism > MAX_REPLICAS {
        return Err(KubeError::invalid(
            doc.id(),
            format!(
                "spec.parallelism: {parallelism} is more than {MAX_REPLICAS}, the most pods wasmpod runs at once"
            ),
        ));
    }
    let held_before = ctx.held.get();
    let template = pod_plan(
        ctx,
        doc,
        prefix,
        spec,
        PodIdentity {
            name: doc.name.clone(),
            owner: Owner::Job {
                name: doc.name.clone(),
            },
            labels: j.spec.template.metadata.labels.clone(),
            annotations: (
                &j.spec.template.metadata.annotations,
                "spec.template.metadata.annotations",
            ),
            restart,
        },
    )?;
    // Up to `parallelism` pods hold the template's env and files at once.
    let per_pod = ctx.held.get().saturating_sub(held_before);
    let more = per_pod.saturating_mul(u64::from(parallelism.max(1) - 1));
    ctx.hold(
        doc,
        "spec.parallelism",
        usize::try_from(more).unwrap_or(usize::MAX),
    )?;
    Ok(JobPlan {
        name: doc.name.clone(),
        namespace: doc.namespace.clone(),
        completions: non_negative(doc, "spec.completions", j.spec.completions, 1)?,
        parallelism,
        backoff_limit: non_negative(doc, "spec.backoffLimit", j.spec.backoff_limit, 6)?,
        template,
    })
}

struct PodIdentity<'a> {
    name: String,
    owner: Owner,
    labels: BTreeMap<String, String>,
    /// The pod's annotations, and where they are in the document.
    annotations: (&'a BTreeMap<String, String>, &'static str),
    restart: RestartPolicy,
}

fn pod_plan(
    ctx: &mut Ctx<'_>,
    doc: &Document,
    prefix: &str,
    spec: &model::PodSpec,
    id: PodIdentity<'_>,
) -> Result<PodPlan, KubeError> {
    let err = |message: String| KubeError::invalid(doc.id(), message);
    let (annotations, at) = id.annotations;
    let max_wasm_stack =
        annotations::max_wasm_stack(annotations).map_err(|source| KubeError::Quantity {
            object: doc.id(),
            path: format!("{at}[{}]", annotations::MAX_WASM_STACK),
            source,
        })?;
    let instance_reuse = annotations::instance_reuse(annotations)
        .map_err(|e| err(format!("{at}[{}]: {e}", e.annotation)))?;
    if spec.containers.is_empty() {
        return Err(err(format!(
            "{prefix}.containers: at least one container is required"
        )));
    }
    let grace = match spec.termination_grace_period_seconds {
        None => 30,
        Some(n) => u64::try_from(n).map_err(|_| {
            err(format!(
                "{prefix}.terminationGracePeriodSeconds: {n} must not be negative"
            ))
        })?,
    };
    let mut volumes: BTreeMap<&str, MountSource> = BTreeMap::new();
    for (i, volume) in spec.volumes.iter().enumerate() {
        let path = format!("{prefix}.volumes[{i}]");
        if volume.name.is_empty() {
            return Err(err(format!("{path}.name is required")));
        }
        check_name(doc, &format!("{path}.name"), &volume.name, names::label)?;
        let source = volume_source(ctx, doc, &path, volume)?;
        if volumes.insert(&volume.name, source).is_some() {
            return Err(err(format!(
                "{path}: volume {} is defined twice",
                volume.name
            )));
        }
    }
    let mut containers = Vec::with_capacity(spec.containers.len());
    for (i, c) in spec.containers.iter().enumerate() {
        let path = format!("{prefix}.containers[{i}]");
        if c.name.is_empty() {
            return Err(err(format!("{path}.name is required")));
        }
        check_name(doc, &format!("{path}.name"), &c.name, names::label)?;
        if spec.containers[..i].iter().any(|o| o.name == c.name) {
            return Err(err(format!(
                "{path}.name: container {} is defined twice",
                c.name
            )));
        }
        containers.push(container_plan(ctx, doc, &path, c, &volumes, &id.name)?);
    }
    Ok(PodPlan {
        name: id.name,
        namespace: doc.namespace.clone(),
        owner: id.owner,
        labels: id.labels,
        containers,
        restart_policy: id.restart,
        termination_grace_period_seconds: grace,
        max_wasm_stack,
        instance_reuse,
    })
}

fn volume_source(
    ctx: &mut Ctx<'_>,
    doc: &Document,
    path: &str,
    v: &model::Volume,
) -> Result<MountSource, KubeError> {
    let err = |message: String| KubeError::invalid(doc.id(), message);
    let count = usize::from(v.empty_dir.is_some())
        + usize::from(v.host_path.is_some())
        + usize::from(v.config_map.is_some())
        + usize::from(v.secret.is_some());
    if count > 1 {
        return Err(err(format!(
            "{path}: volume {} has more than one source",
            v.name
        )));
    }
    if v.empty_dir.is_some() {
        return Ok(MountSource::EmptyDir);
    }
    if let Some(h) = &v.host_path {
        let create = match h.kind.as_deref() {
            None | Some("" | "Directory") => false,
            Some("DirectoryOrCreate") => true,
            Some(other) => {
                return Err(err(format!(
                    "{path}.hostPath.type: {other} is not supported (use Directory or DirectoryOrCreate)"
                )));
            }
        };
        if h.path.is_empty() {
            return Err(err(format!("{path}.hostPath.path is required")));
        }
        return Ok(MountSource::HostPath {
            path: doc.dir.join(&h.path),
            create,
        });
    }
    let (kind, name, items, optional, field) = if let Some(c) = &v.config_map {
        ("ConfigMap", &c.name, &c.items, c.optional, "configMap")
    } else if let Some(s) = &v.secret {
        ("Secret", &s.secret_name, &s.items, s.optional, "secret")
    } else if ctx.lenient {
        ctx.warn(format!(
            "{}: {path}: volume {} has no supported source (used as an empty directory)",
            doc.id(),
            v.name
        ));
        return Ok(MountSource::EmptyDir);
    } else {
        return Err(err(format!("{path}: volume {} has no source", v.name)));
    };
    let field_path = format!("{path}.{field}");
    if name.is_empty() {
        let key = if field == "secret" {
            "secretName"
        } else {
            "name"
        };
        return Err(err(format!("{field_path}.{key} is required")));
    }
    let store = if field == "secret" {
        &ctx.secrets
    } else {
        &ctx.config_maps
    };
    let secret = field == "secret";
    let Some(data) = store.get(&(doc.namespace.as_str(), name.as_str())) else {
        if optional {
            return Ok(MountSource::Files {
                files: Vec::new(),
                secret,
            });
        }
        return Err(err(format!("{field_path}: {kind} {name} not found")));
    };
    let mut files = Vec::new();
    if items.is_empty() {
        for (key, bytes) in &data.files {
            ctx.hold(doc, &field_path, bytes.len())?;
            files.push((PathBuf::from(key), bytes.clone()));
        }
    }
    for (j, item) in items.iter().enumerate() {
        let item_path = format!("{field_path}.items[{j}]");
        if let Err(why) = names::item_path(&item.path) {
            return Err(err(format!(
                "{item_path}.path: {} is not valid ({why})",
                names::shown(&item.path)
            )));
        }
        check_key(doc, &format!("{item_path}.key"), &item.key)?;
        match data.files.get(&item.key) {
            Some(bytes) => {
                ctx.hold(doc, &item_path, bytes.len())?;
                files.push((PathBuf::from(&item.path), bytes.clone()));
            }
            None if optional => {}
            None => {
                return Err(err(format!(
                    "{item_path}.key: key {} not found in {kind} {name}",
                    item.key
                )));
            }
        }
    }
    Ok(MountSource::Files { files, secret })
}

/// Whether a CPU quantity is zero (`0`, `0m`, `0.0`), not merely under a
/// millicore.
fn cpu_limit_is_zero(value: Option<&model::Scalar>) -> bool {
    value.is_some_and(|v| {
        let text = v.text();
        // The number before any suffix or exponent.
        let number: String = text
            .trim_start_matches(['+', '-'])
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        number.chars().all(|c| c == '0' || c == '.')
    })
}

fn too_long(path: &str) -> String {
    format!(
        "{path}: $(VAR) expansion makes it longer than {} MiB",
        MAX_EXPANDED_BYTES >> 20
    )
}

/// Is `name` usable as an environment variable name (printable ASCII, no `=`)?
fn valid_env_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b'=')
}

struct Env {
    vars: Vec<EnvVar>,
    index: HashMap<String, usize>,
}

impl Env {
    fn set(&mut self, name: String, value: String, secret: bool) {
        match self.index.get(&name) {
            Some(&i) => {
                self.vars[i].value = value;
                self.vars[i].secret = secret;
            }
            None => {
                self.index.insert(name.clone(), self.vars.len());
                self.vars.push(EnvVar {
                    name,
                    value,
                    secret,
                });
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<(&str, bool)> {
        self.index.get(name).map(|&i| {
            let v = &self.vars[i];
            (v.value.as_str(), v.secret)
        })
    }

    /// `input` expanded, or `None` past [`MAX_EXPANDED_BYTES`].
    fn expand(&self, input: &str) -> Option<(String, bool)> {
        crate::expand::expand(input, |n| self.lookup(n), MAX_EXPANDED_BYTES)
    }
}

fn env_text(
    doc: &Document,
    path: &str,
    kind: &str,
    name: &str,
    key: &str,
    bytes: &[u8],
) -> Result<String, KubeError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        KubeError::invalid(
            doc.id(),
            format!("{path}: key {key} of {kind} {name} is not UTF-8 text"),
        )
    })
}

fn resolve_env(
    ctx: &mut Ctx<'_>,
    doc: &Document,
    path: &str,
    c: &model::Container,
    pod_name: &str,
) -> Result<Env, KubeError> {
    let err = |message: String| KubeError::invalid(doc.id(), message);
    let mut env = Env {
        vars: Vec::new(),
        index: HashMap::new(),
    };
    for (j, from) in c.env_from.iter().enumerate() {
        let p = format!("{path}.envFrom[{j}]");
        let (kind, field, r, secret) = match (&from.config_map_ref, &from.secret_ref) {
            (Some(r), None) => ("ConfigMap", "configMapRef", r, false),
            (None, Some(r)) => ("Secret", "secretRef", r, true),
            _ => {
                return Err(err(format!(
                    "{p}: exactly one of configMapRef and secretRef is required"
                )));
            }
        };
        let p = format!("{p}.{field}");
        if r.name.is_empty() {
            return Err(err(format!("{p}.name is required")));
        }
        let store = if secret {
            &ctx.secrets
        } else {
            &ctx.config_maps
        };
        let Some(data) = store.get(&(doc.namespace.as_str(), r.name.as_str())) else {
            if r.optional {
                continue;
            }
            return Err(err(format!("{p}: {kind} {} not found", r.name)));
        };
        let mut skipped = Vec::new();
        let mut found = Vec::new();
        for (key, bytes) in &data.env {
            let name = format!("{}{key}", from.prefix);
            if !valid_env_name(&name) {
                skipped.push(name);
                continue;
            }
            found.push((name, env_text(doc, &p, kind, &r.name, key, bytes)?));
        }
        let secret = data.secret;
        for (name, value) in found {
            ctx.hold(doc, &p, value.len())?;
            env.set(name, value, secret);
        }
        if !skipped.is_empty() {
            ctx.warn(format!(
                "{}: {p}: skipped keys that are not valid variable names: {}",
                doc.id(),
                skipped.join(", ")
            ));
        }
    }
    for (j, var) in c.env.iter().enumerate() {
        let p = format!("{path}.env[{j}]");
        if !valid_env_name(&var.name) {
            return Err(err(format!(
                "{p}.name: {:?} is not a valid variable name",
                var.name
            )));
        }
        let Some(from) = &var.value_from else {
            let (value, secret) = env
                .expand(var.value.as_deref().unwrap_or(""))
                .ok_or_else(|| err(too_long(&format!("{p}.value"))))?;
            ctx.hold(doc, &p, value.len())?;
            env.set(var.name.clone(), value, secret);
            continue;
        };
        if var.value.is_some() {
            return Err(err(format!(
                "{p}: value and valueFrom must not both be set"
            )));
        }
        let p = format!("{p}.valueFrom");
        match (
            &from.config_map_key_ref,
            &from.secret_key_ref,
            &from.field_ref,
        ) {
            (Some(r), None, None) | (None, Some(r), None) => {
                let (kind, field, store) = if from.config_map_key_ref.is_some() {
                    ("ConfigMap", "configMapKeyRef", &ctx.config_maps)
                } else {
                    ("Secret", "secretKeyRef", &ctx.secrets)
                };
                let p = format!("{p}.{field}");
                if r.name.is_empty() || r.key.is_empty() {
                    return Err(err(format!("{p}: name and key are required")));
                }
                let data = store.get(&(doc.namespace.as_str(), r.name.as_str()));
                let Some(data) = data else {
                    if r.optional {
                        continue;
                    }
                    return Err(err(format!("{p}: {kind} {} not found", r.name)));
                };
                let Some(bytes) = data.env.get(&r.key) else {
                    if r.optional {
                        continue;
                    }
                    return Err(err(format!(
                        "{p}: key {} not found in {kind} {}",
                        r.key, r.name
                    )));
                };
                let value = env_text(doc, &p, kind, &r.name, &r.key, bytes)?;
                let secret = data.secret;
                ctx.hold(doc, &p, value.len())?;
                env.set(var.name.clone(), value, secret);
            }
            (None, None, Some(f)) => {
                let value = match f.field_path.as_str() {
                    "metadata.name" => pod_name.to_string(),
                    "metadata.namespace" => doc.namespace.clone(),
                    other => {
                        return Err(err(format!(
                            "{p}.fieldRef.fieldPath: {other} is not supported (only metadata.name and metadata.namespace)"
                        )));
                    }
                };
                env.set(var.name.clone(), value, false);
            }
            _ => {
                return Err(err(format!(
                    "{p}: exactly one of configMapKeyRef, secretKeyRef and fieldRef is required"
                )));
            }
        }
    }
    Ok(env)
}

fn quantity(
    doc: &Document,
    path: &str,
    value: Option<&model::Scalar>,
) -> Result<Option<Quantity>, KubeError> {
    value
        .map(|v| {
            Quantity::parse(&v.text()).map_err(|source| KubeError::Quantity {
                object: doc.id(),
                path: path.to_string(),
                source,
            })
        })
        .transpose()
}

fn image(
    doc: &Document,
    path: &str,
    c: &model::Container,
) -> Result<(Image, PullPolicy), KubeError> {
    let text = c.image.as_deref().unwrap_or("").trim();
    if text.is_empty() {
        return Err(KubeError::invalid(
            doc.id(),
            format!("{path}.image is required"),
        ));
    }
    let image = match text.strip_prefix("file://") {
        Some("") => {
            return Err(KubeError::invalid(
                doc.id(),
                format!("{path}.image: file:// needs a path"),
            ));
        }
        Some(file) => Image::File(doc.dir.join(file)),
        None => Image::Oci(text.to_string()),
    };
    let pull = match c.image_pull_policy.as_deref() {
        Some("Always") => PullPolicy::Always,
        Some("IfNotPresent") => PullPolicy::IfNotPresent,
        Some("Never") => PullPolicy::Never,
        Some(other) => {
            return Err(KubeError::invalid(
                doc.id(),
                format!("{path}.imagePullPolicy: {other:?} is not Always, IfNotPresent or Never"),
            ));
        }
        None => match &image {
            Image::File(_) => PullPolicy::Never,
            Image::Oci(r) => default_pull_policy(r),
        },
    };
    Ok((image, pull))
}

/// Kubernetes' default: `Always` for `:latest` or no tag, `IfNotPresent`
/// for any other tag or a digest.
fn default_pull_policy(reference: &str) -> PullPolicy {
    if reference.contains('@') {
        return PullPolicy::IfNotPresent;
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => PullPolicy::IfNotPresent,
        _ => PullPolicy::Always,
    }
}

fn port_number(doc: &Document, path: &str, n: i64) -> Result<u16, KubeError> {
    u16::try_from(n).ok().filter(|p| *p != 0).ok_or_else(|| {
        KubeError::invalid(
            doc.id(),
            format!("{path}: port {n} is not between 1 and 65535"),
        )
    })
}

fn container_plan(
    ctx: &mut Ctx<'_>,
    doc: &Document,
    path: &str,
    c: &model::Container,
    volumes: &BTreeMap<&str, MountSource>,
    pod_name: &str,
) -> Result<ContainerPlan, KubeError> {
    let err = |message: String| KubeError::invalid(doc.id(), message);
    let (image, pull_policy) = image(doc, path, c)?;

    let mut ports: Vec<PortPlan> = Vec::new();
    for (j, p) in c.ports.iter().enumerate() {
        let pp = format!("{path}.ports[{j}]");
        if let Some(proto) = p.protocol.as_deref().filter(|p| *p != "TCP") {
            return Err(err(format!(
                "{pp}.protocol: {proto} is not supported (only TCP)"
            )));
        }
        let number = port_number(doc, &format!("{pp}.containerPort"), p.container_port)?;
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            check_name(doc, &format!("{pp}.name"), name, names::port_name)?;
        }
        if let Some(name) = &p.name
            && ports.iter().any(|o| o.name.as_ref() == Some(name))
        {
            return Err(err(format!("{pp}.name: port name {name} is used twice")));
        }
        ports.push(PortPlan {
            name: p.name.clone(),
            container_port: number,
        });
    }

    let env = resolve_env(ctx, doc, path, c, pod_name)?;
    let expand_all = |field: &str, args: &[String]| -> Result<Vec<Arg>, KubeError> {
        args.iter()
            .enumerate()
            .map(|(i, a)| {
                let at = format!("{path}.{field}[{i}]");
                let (value, secret) = env.expand(a).ok_or_else(|| err(too_long(&at)))?;
                ctx.hold(doc, &at, value.len())?;
                Ok(Arg { value, secret })
            })
            .collect()
    };
    let command = expand_all("command", &c.command)?;
    let args = expand_all("args", &c.args)?;

    let mut mounts: Vec<MountPlan> = Vec::new();
    for (j, m) in c.volume_mounts.iter().enumerate() {
        let mp = format!("{path}.volumeMounts[{j}]");
        let Some(source) = volumes.get(m.name.as_str()) else {
            return Err(err(format!(
                "{mp}.name: volume {:?} is not defined in the pod's volumes",
                m.name
            )));
        };
        if !m.mount_path.starts_with('/')
            || Path::new(&m.mount_path)
                .components()
                .any(|c| c == Component::ParentDir)
        {
            return Err(err(format!(
                "{mp}.mountPath: {:?} must be an absolute path without ..",
                m.mount_path
            )));
        }
        if mounts.iter().any(|o| o.guest_path == m.mount_path) {
            return Err(err(format!(
                "{mp}.mountPath: {} is mounted twice",
                m.mount_path
            )));
        }
        mounts.push(MountPlan {
            volume: m.name.clone(),
            guest_path: m.mount_path.clone(),
            read_only: m.read_only || matches!(source, MountSource::Files { .. }),
            source: source.clone(),
        });
    }

    let limits = &c.resources.limits;
    let memory_path = format!("{path}.resources.limits.memory");
    let memory_limit = quantity(doc, &memory_path, limits.memory.as_ref())?
        .map(|q| {
            q.bytes().map_err(|source| KubeError::Quantity {
                object: doc.id(),
                path: memory_path.clone(),
                source,
            })
        })
        .transpose()?;
    let cpu_limit = quantity(
        doc,
        &format!("{path}.resources.limits.cpu"),
        limits.cpu.as_ref(),
    )?
    .map(|q| u64::try_from(q.millis()).unwrap_or(u64::MAX))
    // As the kubelet reads it: a limit of 0 is no limit, and anything
    // under a millicore is one.
    .filter(|&m| m > 0 || !cpu_limit_is_zero(limits.cpu.as_ref()))
    .map(|m| m.max(1));
    // Requests are checked but not used: one machine has nothing to schedule.
    let requests = &c.resources.requests;
    quantity(
        doc,
        &format!("{path}.resources.requests.memory"),
        requests.memory.as_ref(),
    )?;
    quantity(
        doc,
        &format!("{path}.resources.requests.cpu"),
        requests.cpu.as_ref(),
    )?;

    let liveness_probe = c
        .liveness_probe
        .as_ref()
        .map(|p| probe(doc, &format!("{path}.livenessProbe"), p, &ports, true))
        .transpose()?;
    let readiness_probe = c
        .readiness_probe
        .as_ref()
        .map(|p| probe(doc, &format!("{path}.readinessProbe"), p, &ports, false))
        .transpose()?;

    Ok(ContainerPlan {
        name: c.name.clone(),
        image,
        pull_policy,
        command,
        args,
        env: env.vars,
        working_dir: c.working_dir.clone().filter(|w| !w.is_empty()),
        mounts,
        memory_limit,
        cpu_limit,
        ports,
        liveness_probe,
        readiness_probe,
    })
}

fn probe_port(
    doc: &Document,
    path: &str,
    port: Option<&model::IntOrStr>,
    ports: &[PortPlan],
) -> Result<u16, KubeError> {
    match port {
        None => Err(KubeError::invalid(doc.id(), format!("{path} is required"))),
        Some(model::IntOrStr::Int(n)) => port_number(doc, path, *n),
        Some(model::IntOrStr::Str(name)) => ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port)
            .ok_or_else(|| {
                KubeError::invalid(
                    doc.id(),
                    format!("{path}: no container port is named {name}"),
                )
            }),
    }
}

fn probe(
    doc: &Document,
    path: &str,
    p: &model::Probe,
    ports: &[PortPlan],
    liveness: bool,
) -> Result<Probe, KubeError> {
    let err = |message: String| KubeError::invalid(doc.id(), message);
    let action = match (&p.http_get, &p.tcp_socket, &p.exec) {
        (Some(h), None, None) => ProbeAction::HttpGet {
            path: h
                .path
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/".into()),
            port: probe_port(doc, &format!("{path}.httpGet.port"), h.port.as_ref(), ports)?,
        },
        (None, Some(t), None) => ProbeAction::TcpSocket {
            port: probe_port(
                doc,
                &format!("{path}.tcpSocket.port"),
                t.port.as_ref(),
                ports,
            )?,
        },
        (None, None, Some(e)) => {
            if e.command.is_empty() {
                return Err(err(format!("{path}.exec.command must not be empty")));
            }
            ProbeAction::Exec {
                command: e.command.clone(),
            }
        }
        _ => {
            return Err(err(format!(
                "{path}: exactly one of httpGet, tcpSocket and exec is required"
            )));
        }
    };
    // Kubernetes treats 0 (and absent) as "use the default".
    let positive = |field: &str, v: Option<i64>, default: u32| -> Result<u32, KubeError> {
        match v {
            None | Some(0) => Ok(default),
            Some(n) => {
                u32::try_from(n).map_err(|_| err(format!("{path}.{field}: {n} must be positive")))
            }
        }
    };
    let initial_delay_seconds = non_negative(
        doc,
        &format!("{path}.initialDelaySeconds"),
        p.initial_delay_seconds,
        0,
    )?;
    let success_threshold = positive("successThreshold", p.success_threshold, 1)?;
    if liveness && success_threshold != 1 {
        return Err(err(format!(
            "{path}.successThreshold must be 1 for a liveness probe"
        )));
    }
    Ok(Probe {
        action,
        initial_delay_seconds,
        period_seconds: positive("periodSeconds", p.period_seconds, 10)?,
        timeout_seconds: positive("timeoutSeconds", p.timeout_seconds, 1)?,
        failure_threshold: positive("failureThreshold", p.failure_threshold, 3)?,
        success_threshold,
    })
}

fn service(
    ctx: &mut Ctx<'_>,
    doc: &Document,
    s: model::Service,
    pods: &[PodPlan],
) -> Result<ServicePlan, KubeError> {
    let selected: Vec<&PodPlan> = if s.spec.selector.is_empty() {
        Vec::new()
    } else {
        pods.iter()
            .filter(|p| p.namespace == doc.namespace)
            .filter(|p| {
                s.spec
                    .selector
                    .iter()
                    .all(|(k, v)| p.labels.get(k) == Some(v))
            })
            .collect()
    };
    let mut ports = Vec::new();
    for (i, sp) in s.spec.ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        if let Some(proto) = sp.protocol.as_deref().filter(|p| *p != "TCP") {
            return Err(KubeError::invalid(
                doc.id(),
                format!("{path}.protocol: {proto} is not supported (only TCP)"),
            ));
        }
        let port = port_number(doc, &format!("{path}.port"), sp.port)?;
        if let Some(name) = sp.name.as_deref().filter(|n| !n.is_empty()) {
            check_name(doc, &format!("{path}.name"), name, names::label)?;
        }
        let mut endpoints = Vec::new();
        for pod in &selected {
            let target = match &sp.target_port {
                None => Some(port),
                Some(model::IntOrStr::Int(n)) => {
                    Some(port_number(doc, &format!("{path}.targetPort"), *n)?)
                }
                Some(model::IntOrStr::Str(name)) => pod
                    .containers
                    .iter()
                    .flat_map(|c| &c.ports)
                    .find(|p| p.name.as_deref() == Some(name.as_str()))
                    .map(|p| p.container_port),
            };
            match target {
                Some(port) => endpoints.push(Endpoint {
                    pod: pod.name.clone(),
                    port,
                }),
                None => ctx.warn(format!(
                    "{}: {path}.targetPort: pod {} has no container port named {} (not an endpoint)",
                    doc.id(),
                    pod.name,
                    match &sp.target_port {
                        Some(model::IntOrStr::Str(n)) => n.as_str(),
                        _ => "",
                    }
                )),
            }
        }
        ports.push(ServicePortPlan {
            name: sp.name.clone(),
            port,
            endpoints,
        });
    }
    Ok(ServicePlan {
        name: doc.name.clone(),
        namespace: doc.namespace.clone(),
        selector: s.spec.selector,
        ports,
    })
}
