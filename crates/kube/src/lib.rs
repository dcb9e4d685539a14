//! Kubernetes manifests for local mode: `wasmpod up -f app.yaml`.
//!
//! This crate reads ordinary Kubernetes YAML and turns it into a [`Plan`]:
//! the pods to run, each container's image, argv, environment, mounts,
//! limits, ports and probes fully resolved, plus Services and Jobs. It does
//! no I/O beyond reading the manifests, and it never runs anything: the
//! local supervisor runs the plan, and the CLI prints it for `--dry-run`.
//!
//! ```no_run
//! use wasmpod_kube::{PlanOptions, Source, load, plan};
//!
//! let docs = load(&[Source::Path("app.yaml".into())])?;
//! let plan = plan(&docs, &PlanOptions { lenient: false })?;
//! print!("{plan}");
//! # Ok::<(), wasmpod_kube::KubeError>(())
//! ```
//!
//! # Kinds
//!
//! `v1` Pod, ConfigMap, Secret, Service; `apps/v1` Deployment; `batch/v1`
//! Job. Any other kind, or a kind with the wrong `apiVersion`, is an error.
//! `metadata.name` is required (`generateName` is not supported);
//! `namespace` defaults to `default` and references (ConfigMaps, Secrets,
//! Service selectors) stay inside a namespace. `status` is ignored.
//!
//! # What is honoured
//!
//! Every field is checked against an allow-list. Anything not listed here is
//! an error naming the object and the exact path
//! (`Deployment/web: spec.template.spec.containers[0].securityContext is not
//! supported`), or with [`PlanOptions::lenient`] a warning in
//! [`Plan::warnings`]. A value of the wrong type is always an error.
//!
//! - metadata: `name`, `namespace`, `labels`, `annotations`
//!   (`creationTimestamp` is ignored). A pod's (or template's)
//!   `wasmpod.dev/max-wasm-stack` annotation, a quantity, is the most stack
//!   its WebAssembly may use ([`annotations::MAX_WASM_STACK`]).
//! - Pod spec: `containers`, `volumes`, `restartPolicy` (Pod default
//!   `Always`; Deployments must be `Always`; Jobs must say `OnFailure` or
//!   `Never`), `terminationGracePeriodSeconds` (default 30),
//!   `runtimeClassName` (ignored, so the same YAML can name the `wasmpod`
//!   RuntimeClass on a cluster).
//! - Container: `name`, `image` (an OCI reference, or `file://PATH` to a
//!   local `.wasm`/`.wat`, relative to the manifest's directory),
//!   `imagePullPolicy` (defaulted as Kubernetes does), `command`, `args`,
//!   `env` (`value`, `valueFrom.configMapKeyRef`, `secretKeyRef`,
//!   `fieldRef` for `metadata.name` and `metadata.namespace`), `envFrom`
//!   (`configMapRef`, `secretRef`, `prefix`), `workingDir`, `volumeMounts`
//!   (`name`, `mountPath`, `readOnly`; no `subPath`), `resources.limits`
//!   `memory` and `cpu` (`requests` are checked and ignored), `ports`
//!   (`containerPort`, `name`, `protocol: TCP`), `livenessProbe` and
//!   `readinessProbe` (`httpGet` `path`/`port`, `tcpSocket`, `exec`, and the
//!   timing fields with Kubernetes defaults 0/10/1/3/1).
//! - Volumes: `emptyDir: {}`, `hostPath` (`path`, relative paths against the
//!   manifest's directory; `type` `Directory` or `DirectoryOrCreate`),
//!   `configMap` and `secret` (`items` with `key`/`path`, `optional`;
//!   `defaultMode` and `mode` are ignored: WASI has no file modes). They
//!   become files, always mounted read-only.
//! - Deployment: `replicas` (default 1), `selector.matchLabels` (must match
//!   the template's labels), `template`; `strategy`, `revisionHistoryLimit`
//!   and `progressDeadlineSeconds` are ignored.
//! - Job: `completions` (default 1), `parallelism` (default 1),
//!   `backoffLimit` (default 6), `template`.
//! - ConfigMap: `data`, `binaryData` (files only, like Kubernetes),
//!   `immutable`. Secret: `data` (base64), `stringData` (wins over `data`),
//!   `type`, `immutable`.
//! - Service: `selector`, `ports` (`name`, `port`, `targetPort` as a number
//!   or a container port name, `protocol: TCP`), `type` (ignored).
//!
//! # Resolution
//!
//! - Deployment replicas are pods named `<deployment>-<n>` (`web-0`,
//!   `web-1`, ...): stable across runs, so logs and `fieldRef` names are too.
//!   A Job's template pod is named after the Job; the supervisor names the
//!   runs.
//! - Env: `envFrom` first, then `env`, a later name replacing an earlier one
//!   in place. `env[].value` is `$(VAR)`-expanded against the variables
//!   before it; `command` and `args` against the whole environment, as the
//!   kubelet does (`$$` is a literal `$`, unknown references stay as
//!   written). `envFrom` keys that are not valid names are skipped with a
//!   warning. No Service environment variables are injected.
//! - A missing ConfigMap, Secret or key is an error naming the referencing
//!   field, unless `optional: true`.
//! - Services list, per port, the selected pods (Pods and Deployment
//!   replicas, not Job pods) with `targetPort` resolved for each pod.
//! - Secret values never appear in [`Plan`]'s `Display`: env values and
//!   arguments that contain Secret data print as `<secret>`.
//!
//! # Names and limits
//!
//! The local supervisor makes folders and files named after objects,
//! volumes and keys, so names are checked as the API server checks them
//! before anything else looks at them: `metadata.name` a DNS-1123 subdomain
//! (a Service's a DNS-1035 label, a Job's at most 63 characters), and a
//! Deployment's replica pod names `NAME-N` too; `metadata.namespace`,
//! volume and container names DNS-1123 labels; container port names IANA
//! service names and Service port names DNS-1123 labels; ConfigMap and
//! Secret keys `[-._a-zA-Z0-9]+` of at most 253 characters, not `.` and not
//! starting with `..`; `items[].path` relative, made of plain names (no
//! `.`, `..` or empty component) and not starting with `..`. Every name
//! accepted is therefore one plain path component. `replicas` is at most
//! [`MAX_REPLICAS`].
//!
//! [`load`] is bounded: a file or text at most [`MAX_FILE_BYTES`] (4 MiB),
//! all of them at most [`MAX_TOTAL_BYTES`] (16 MiB), at most [`MAX_FILES`]
//! files, and at most [`MAX_DIR_ENTRIES`] entries looked at in a directory.
//! YAML anchors and aliases work, but each use of an alias counts against
//! [`MAX_NODES`] nodes and [`MAX_SCALAR_BYTES`] bytes of text for the whole
//! load, so a "billion laughs" document is refused after bounded work.

pub mod annotations;
mod error;
mod expand;
mod load;
mod model;
mod names;
mod plan;
pub mod quantity;
mod render;
mod schema;
pub mod yaml;

pub use error::KubeError;
pub use load::{
    Document, Kind, MAX_DIR_ENTRIES, MAX_FILE_BYTES, MAX_FILES, MAX_NODES, MAX_SCALAR_BYTES,
    MAX_TOTAL_BYTES, Source, load,
};
pub use plan::{
    Arg, ContainerPlan, Endpoint, EnvVar, Image, JobPlan, MAX_REPLICAS, MountPlan, MountSource,
    Owner, Plan, PlanOptions, PodPlan, PortPlan, Probe, ProbeAction, PullPolicy, RestartPolicy,
    ServicePlan, ServicePortPlan, plan,
};
