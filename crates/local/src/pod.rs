//! Pods, containers, restarts, probes and Jobs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use wasmpod_engine::{
    ExitStatus, HostDir, HttpStats, InputSpec, Limits, OutputSpec, Preopen, Program, RunSpec,
    StopHandle, StopReason, Usage,
};
use wasmpod_kube::{
    ContainerPlan, JobPlan, MountSource, Plan, PodPlan, Probe, ProbeAction, RestartPolicy,
};

use crate::{ImageKey, LoadedImage, LocalError, Outcome, Shutdown, UpOptions, probe, service};
use wasmpod_engine::one_line;

/// The kubelet's restart backoff: 10 s, doubling, at most 5 min.
const BACKOFF_BASE: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

pub(crate) struct Supervisor {
    plan: Plan,
    images: HashMap<ImageKey, LoadedImage>,
    options: UpOptions,
    shutdown: Shutdown,
    /// Running pods (Pods and Deployment replicas, not Job pods) by
    /// namespace and name, for Services.
    pods: Mutex<HashMap<(String, String), Arc<PodState>>>,
}

/// A running pod's containers, as Services and probes see them.
struct PodState {
    containers: Vec<Arc<ContainerState>>,
}

impl PodState {
    fn ready(&self) -> bool {
        self.containers
            .iter()
            .all(|c| c.ready.load(Ordering::Relaxed))
    }

    /// Where `container_port` of this pod is served now.
    fn address(&self, container_port: u16) -> SocketAddr {
        self.containers
            .iter()
            .find_map(|c| c.mapped(container_port))
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], container_port)))
    }
}

#[derive(Default)]
struct ContainerState {
    ready: AtomicBool,
    /// containerPort -> where it is served (a wasi:http component's own
    /// loopback port).
    ports: Mutex<HashMap<u16, SocketAddr>>,
}

impl ContainerState {
    fn mapped(&self, port: u16) -> Option<SocketAddr> {
        self.ports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&port)
            .copied()
    }

    fn address(&self, port: u16) -> SocketAddr {
        self.mapped(port)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], port)))
    }
}

fn human(d: Duration) -> String {
    if d >= Duration::from_secs(1) && d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d >= Duration::from_secs(1) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl Supervisor {
    pub(crate) fn new(
        plan: Plan,
        images: HashMap<ImageKey, LoadedImage>,
        options: UpOptions,
        shutdown: Shutdown,
    ) -> Result<Arc<Self>, LocalError> {
        let templates = plan
            .pods
            .iter()
            .chain(plan.jobs.iter().map(|j| &j.template));
        for pod in templates {
            for c in &pod.containers {
                if !images.contains_key(&ImageKey::of(pod, c)) {
                    return Err(LocalError::MissingImage {
                        pod: pod.name.clone(),
                        container: c.name.clone(),
                        image: format!("{:?}", c.image),
                    });
                }
            }
        }
        Ok(Arc::new(Self {
            plan,
            images,
            options,
            shutdown,
            pods: Mutex::new(HashMap::new()),
        }))
    }

    fn backoff(&self, failures: u32) -> Duration {
        let d = BACKOFF_BASE
            .saturating_mul(1u32.checked_shl(failures.min(16)).unwrap_or(u32::MAX))
            .min(BACKOFF_MAX);
        // Bounded whatever the scale (`up` takes at most 1000): a deadline
        // is `now +` it, which must not overflow.
        Duration::try_from_secs_f64(d.as_secs_f64() * self.options.backoff_scale.max(0.0))
            .unwrap_or(BACKOFF_MAX)
            .min(BACKOFF_MAX.saturating_mul(1000))
    }

    pub(crate) async fn run(self: Arc<Self>) -> Result<Outcome, LocalError> {
        let console = self.options.console.clone();
        // Services first: a port that is taken is an error before anything
        // runs.
        let mut services = JoinSet::new();
        for svc in &self.plan.services {
            for port in &svc.ports {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.port))
                    .await
                    .map_err(|source| LocalError::ServicePort {
                        service: svc.name.clone(),
                        port: port.port,
                        source,
                    })?;
                let endpoints: Vec<(String, u16)> = port
                    .endpoints
                    .iter()
                    .map(|e| (e.pod.clone(), e.port))
                    .collect();
                let this = self.clone();
                let namespace = svc.namespace.clone();
                let resolve: service::Resolve = Arc::new(move |pod: &str, port: u16| {
                    let pods = this.pods.lock().unwrap_or_else(PoisonError::into_inner);
                    let p = pods.get(&(namespace.clone(), pod.to_string()))?;
                    p.ready().then(|| p.address(port))
                });
                console.event(
                    &format!("service/{}", svc.name),
                    &format!(
                        "Listening on http://127.0.0.1:{} ({} endpoints)",
                        port.port,
                        endpoints.len()
                    ),
                );
                services.spawn(service::serve(
                    listener,
                    svc.name.clone(),
                    endpoints,
                    resolve,
                ));
            }
        }

        let mut work: JoinSet<bool> = JoinSet::new();
        for pod in self.plan.pods.clone() {
            let name = pod.name.clone();
            work.spawn(
                self.clone()
                    .run_pod(pod, name, Place::Served, self.shutdown.clone()),
            );
        }
        for job in self.plan.jobs.clone() {
            work.spawn(self.clone().run_job(job));
        }

        let mut rx = self.shutdown.subscribe();
        let completes = self.plan.runs_to_completion();
        let mut all_ok = true;
        let outcome = loop {
            let stopped = tokio::select! {
                next = work.join_next() => match next {
                    Some(result) => {
                        all_ok &= result.unwrap_or(false);
                        continue;
                    }
                    None => false,
                },
                _ = rx.wait_for(|l| *l > 0) => true,
            };
            if stopped {
                // Every task sees the stop itself; wait for them.
                while work.join_next().await.is_some() {}
                break Outcome::Stopped;
            }
            if completes {
                break if all_ok {
                    Outcome::Succeeded
                } else {
                    Outcome::Failed
                };
            }
            // Long-running workloads cannot end unless stopped; a plan of
            // only Services waits for the stop too.
            let _ = rx.wait_for(|l| *l > 0).await;
            break Outcome::Stopped;
        };
        services.abort_all();
        Ok(outcome)
    }

    /// Runs a pod until its containers are done (never, for restart policy
    /// Always) or `stop` (`up`'s, or its Job's) stops it. True when every
    /// container's last exit was 0.
    async fn run_pod(
        self: Arc<Self>,
        pod: PodPlan,
        name: String,
        place: Place,
        stop: Shutdown,
    ) -> bool {
        let console = self.options.console.clone();
        let dir = match place.folder(&self.options.state_dir, &pod.namespace, &name) {
            Ok(dir) => dir,
            Err(e) => {
                console.event(&name, &format!("Failed: {e}"));
                return false;
            }
        };
        let volumes = match self.make_volumes(&pod, &name, &dir) {
            Ok(v) => v,
            Err(e) => {
                console.event(&name, &format!("Failed: {}", one_line(&e)));
                return false;
            }
        };
        let states: Vec<Arc<ContainerState>> =
            pod.containers.iter().map(|_| Arc::default()).collect();
        let key = (pod.namespace.clone(), name.clone());
        if place == Place::Served {
            self.pods
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(
                    key.clone(),
                    Arc::new(PodState {
                        containers: states.clone(),
                    }),
                );
        }
        let pod = Arc::new(pod);
        let mut containers = JoinSet::new();
        for (i, state) in states.into_iter().enumerate() {
            let preopens = volumes[i].clone();
            containers.spawn(self.clone().run_container(
                pod.clone(),
                name.clone(),
                i,
                state,
                preopens,
                stop.clone(),
            ));
        }
        let mut ok = true;
        while let Some(r) = containers.join_next().await {
            ok &= r.unwrap_or(false);
        }
        if place == Place::Served {
            self.pods
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
        }
        let _ = std::fs::remove_dir_all(&dir);
        ok
    }

    /// The pod's volumes, per container as preopens: emptyDir and
    /// ConfigMap/Secret folders under the pod's state folder, hostPath as
    /// given.
    fn make_volumes(
        &self,
        pod: &PodPlan,
        name: &str,
        dir: &Path,
    ) -> Result<Vec<Result<Vec<Preopen>, String>>, LocalError> {
        let mut made: HashMap<String, PathBuf> = HashMap::new();
        let mut all = Vec::new();
        for c in &pod.containers {
            let mut preopens = Ok(Vec::new());
            for m in &c.mounts {
                let err = |path: &Path, source| LocalError::Volume {
                    pod: name.to_string(),
                    volume: m.volume.clone(),
                    path: path.to_path_buf(),
                    source,
                };
                let host = match &m.source {
                    MountSource::HostPath { path, create } => {
                        if *create {
                            std::fs::create_dir_all(path).map_err(|e| err(path, e))?;
                        }
                        path.clone()
                    }
                    MountSource::EmptyDir | MountSource::Files { .. } => {
                        if let Some(p) = made.get(&m.volume) {
                            p.clone()
                        } else {
                            let path =
                                beneath(dir, ["volumes", &m.volume]).map_err(|e| err(dir, e))?;
                            std::fs::create_dir_all(&path).map_err(|e| err(&path, e))?;
                            if let MountSource::Files { files, .. } = &m.source {
                                for (rel, data) in files {
                                    let file = beneath(&path, [rel]).map_err(|e| err(&path, e))?;
                                    if let Some(parent) = file.parent() {
                                        std::fs::create_dir_all(parent)
                                            .map_err(|e| err(parent, e))?;
                                    }
                                    std::fs::write(&file, data).map_err(|e| err(&file, e))?;
                                }
                            }
                            made.insert(m.volume.clone(), path.clone());
                            path
                        }
                    }
                };
                // Opened once per pod: restarts and probes get descriptors
                // for these directories, never a fresh lookup of a path the
                // guest may have changed meanwhile.
                let dir = match HostDir::open(&host) {
                    Ok(dir) => dir,
                    Err(e) => {
                        preopens = Err(format!("volume {}: {e}", host.display()));
                        break;
                    }
                };
                if let Ok(p) = &mut preopens {
                    p.push(Preopen {
                        dir,
                        guest: m.guest_path.clone(),
                        read_only: m.read_only,
                    });
                }
            }
            all.push(preopens);
        }
        Ok(all)
    }

    fn spec(
        &self,
        c: &ContainerPlan,
        image: &LoadedImage,
        argv: Vec<String>,
        preopens: &[Preopen],
        output: Option<std::fs::File>,
        usage: Arc<Usage>,
    ) -> RunSpec {
        let env = container_env(c, image);
        let (stdout, stderr) = match output {
            Some(f) => match f.try_clone() {
                Ok(g) => (OutputSpec::File(f), OutputSpec::File(g)),
                Err(_) => (OutputSpec::File(f), OutputSpec::Null),
            },
            None => (OutputSpec::Null, OutputSpec::Null),
        };
        RunSpec {
            args: argv,
            env,
            preopens: preopens.to_vec(),
            cwd: c.working_dir.clone().or_else(|| image.working_dir.clone()),
            limits: container_limits(c),
            stdio: wasmpod_engine::Stdio {
                stdin: InputSpec::Null,
                stdout,
                stderr,
            },
            // A pod has a network; in local mode it is the host's.
            network: true,
            usage,
        }
    }

    /// Runs one container, restarting it per the pod's policy. True when
    /// its last exit was 0.
    async fn run_container(
        self: Arc<Self>,
        pod: Arc<PodPlan>,
        pod_name: String,
        index: usize,
        state: Arc<ContainerState>,
        volumes: Result<Vec<Preopen>, String>,
        pod_stop: Shutdown,
    ) -> bool {
        let console = self.options.console.clone();
        let c = &pod.containers[index];
        let name = format!("{pod_name}/{}", c.name);
        let Some(image) = self.images.get(&ImageKey::of(&pod, c)) else {
            return false;
        };
        let argv = c.argv(&image.entrypoint, &image.cmd);
        let runtime = image.runtime.clone();
        let http = runtime.is_http_handler(&image.program);
        let grace = Duration::from_secs(pod.termination_grace_period_seconds);
        let mut shutdown = pod_stop.subscribe();
        let mut restarts: u32 = 0;
        loop {
            if *shutdown.borrow() > 0 {
                return false;
            }
            let stop = StopHandle::new();
            let (output, pump) = match std::io::pipe() {
                Ok((reader, writer)) => (
                    Some(std::fs::File::from(std::os::fd::OwnedFd::from(writer))),
                    console.pump(name.clone(), reader),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "no pipe for the container's output");
                    (None, None)
                }
            };
            // A container whose volume could not be opened starts and
            // fails at once, as a runtime's failed bind mount does.
            let preopens = volumes.as_deref().unwrap_or_default();
            // The container's instances and its exec probes' count as one,
            // as a kubelet's exec runs in the container's cgroup: they share
            // the CPU quota.
            let usage = Arc::new(Usage::default());
            let spec = self.spec(c, image, argv.clone(), preopens, output, usage.clone());
            let started = Instant::now();
            let mut helpers = JoinSet::new();

            // A wasi:http component gets a loopback port of its own, standing
            // for its first containerPort.
            let listener = if http {
                match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(l) => Some(l),
                    Err(e) => {
                        console.event(&name, &format!("Failed: cannot listen: {e}"));
                        return false;
                    }
                }
            } else {
                None
            };
            let local = listener.as_ref().and_then(|l| l.local_addr().ok());
            let port = c.ports.first().map(|p| p.container_port);
            if let (Some(port), Some(local)) = (port, local) {
                state
                    .ports
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(port, local);
            }
            let event = match (port, local) {
                (Some(port), Some(local)) => {
                    format!("Started (containerPort {port} served at http://{local}/)")
                }
                (None, Some(local)) => format!("Started (served at http://{local}/)"),
                _ => "Started".to_string(),
            };
            // Without a readiness probe a container is ready once started,
            // and anyone who saw "Started" may rely on it.
            if c.readiness_probe.is_none() {
                state.ready.store(true, Ordering::Relaxed);
            }
            console.event(&name, &event);
            self.watch_probes(
                &mut helpers,
                c,
                image,
                preopens,
                &state,
                &usage,
                &stop,
                &name,
                grace,
            );
            Self::watch_shutdown(&mut helpers, &pod_stop, &stop, grace);
            let status = match (&volumes, listener) {
                (Err(e), _) => Err(e.clone()),
                (Ok(_), Some(listener)) => runtime
                    .serve_http(
                        &image.program,
                        spec,
                        listener,
                        self.options
                            .http
                            .clone()
                            .with_reuse(pod.instance_reuse.count, pod.instance_reuse.concurrent),
                        Arc::new(HttpStats::default()),
                        &stop,
                    )
                    .await
                    .map_err(|e| one_line(&e)),
                (Ok(_), None) => runtime
                    .run(&image.program, spec, &stop)
                    .await
                    .map_err(|e| one_line(&e)),
            };
            helpers.abort_all();
            // The instance and its output pipe are gone: let the last lines
            // out before the exit event (bounded: a stray copy of the pipe
            // must not hang the container's loop).
            if let Some(pump) = pump {
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    tokio::task::spawn_blocking(move || pump.join()),
                )
                .await;
            }
            state.ready.store(false, Ordering::Relaxed);
            state
                .ports
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();

            let code = match &status {
                Ok(s) => {
                    if let ExitStatus::Trapped { message, .. } = s {
                        console.event(&name, &format!("Trapped: {message}"));
                    }
                    s.code()
                }
                Err(e) => {
                    console.event(&name, &format!("Failed: {e}"));
                    125
                }
            };
            console.event(&name, &format!("Exited with code {code}"));
            let ok = code == 0;
            if *shutdown.borrow() > 0 {
                return ok;
            }
            let restart = match pod.restart_policy {
                RestartPolicy::Always => true,
                RestartPolicy::OnFailure => !ok,
                RestartPolicy::Never => false,
            };
            if !restart {
                return ok;
            }
            // A container that ran well past the longest backoff starts
            // over, as the kubelet's does.
            if started.elapsed() > BACKOFF_MAX.mul_f64(2.0 * self.options.backoff_scale) {
                restarts = 0;
            }
            let delay = self.backoff(restarts);
            restarts = restarts.saturating_add(1);
            console.event(&name, &format!("Restarting in {}", human(delay)));
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.wait_for(|l| *l > 0) => return ok,
            }
        }
    }

    /// On the pod's stop: SIGTERM, then SIGKILL after the grace period (or
    /// at once on a forced stop).
    fn watch_shutdown(
        helpers: &mut JoinSet<()>,
        pod_stop: &Shutdown,
        stop: &StopHandle,
        grace: Duration,
    ) {
        let mut rx = pod_stop.subscribe();
        let stop = stop.clone();
        helpers.spawn(async move {
            if rx.wait_for(|l| *l > 0).await.is_err() {
                return;
            }
            if *rx.borrow() >= 2 {
                stop.stop(StopReason::Signal(libc::SIGKILL));
                return;
            }
            stop.stop(StopReason::Signal(libc::SIGTERM));
            let _ = tokio::time::timeout(grace, rx.wait_for(|l| *l >= 2)).await;
            stop.stop(StopReason::Signal(libc::SIGKILL));
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn watch_probes(
        &self,
        helpers: &mut JoinSet<()>,
        c: &ContainerPlan,
        image: &LoadedImage,
        preopens: &[Preopen],
        state: &Arc<ContainerState>,
        usage: &Arc<Usage>,
        stop: &StopHandle,
        name: &str,
        grace: Duration,
    ) {
        let checker = |probe: &Probe| Checker {
            action: probe.action.clone(),
            timeout: Duration::from_secs(u64::from(probe.timeout_seconds.max(1))),
            limits: container_limits(c),
            usage: usage.clone(),
            state: state.clone(),
            runtime: image.runtime.clone(),
            program: image.program.clone(),
            spec_env: container_env(c, image),
            preopens: preopens.to_vec(),
        };
        match &c.readiness_probe {
            None => {}
            Some(probe) => {
                let check = checker(probe);
                let (state, console, name) = (
                    state.clone(),
                    self.options.console.clone(),
                    name.to_string(),
                );
                let probe = probe.clone();
                helpers.spawn(async move {
                    tokio::time::sleep(Duration::from_secs(u64::from(probe.initial_delay_seconds)))
                        .await;
                    let (mut ok_run, mut fail_run) = (0u32, 0u32);
                    loop {
                        if check.run().await {
                            ok_run += 1;
                            fail_run = 0;
                        } else {
                            fail_run += 1;
                            ok_run = 0;
                        }
                        let ready = state.ready.load(Ordering::Relaxed);
                        if !ready && ok_run >= probe.success_threshold.max(1) {
                            state.ready.store(true, Ordering::Relaxed);
                            console.event(&name, "Ready");
                        } else if ready && fail_run >= probe.failure_threshold.max(1) {
                            state.ready.store(false, Ordering::Relaxed);
                            console.event(&name, "Not ready (readiness probe failed)");
                        }
                        tokio::time::sleep(Duration::from_secs(u64::from(
                            probe.period_seconds.max(1),
                        )))
                        .await;
                    }
                });
            }
        }
        if let Some(probe) = &c.liveness_probe {
            let check = checker(probe);
            let (console, name, stop) =
                (self.options.console.clone(), name.to_string(), stop.clone());
            let probe = probe.clone();
            helpers.spawn(async move {
                tokio::time::sleep(Duration::from_secs(u64::from(probe.initial_delay_seconds)))
                    .await;
                let mut fail_run = 0u32;
                loop {
                    if check.run().await {
                        fail_run = 0;
                    } else {
                        fail_run += 1;
                        if fail_run >= probe.failure_threshold.max(1) {
                            console.event(&name, "Liveness probe failed; restarting");
                            stop.stop(StopReason::Signal(libc::SIGTERM));
                            tokio::time::sleep(grace).await;
                            stop.stop(StopReason::Signal(libc::SIGKILL));
                            return;
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(u64::from(probe.period_seconds.max(1))))
                        .await;
                }
            });
        }
    }

    /// Runs a Job: pods from its template (named `<job>-<n>`, each run once)
    /// until `completions` succeeded, `parallelism` at a time; more than
    /// `backoffLimit` failed pods fail it. True when it completed.
    async fn run_job(self: Arc<Self>, job: JobPlan) -> bool {
        let console = self.options.console.clone();
        let label = format!("job/{}", job.name);
        let mut shutdown = self.shutdown.subscribe();
        // The Job's pods stop with `up`, and when the Job fails.
        let pods_stop = Shutdown::new();
        let mut forward = JoinSet::new();
        {
            let (mut global, pods_stop) = (self.shutdown.subscribe(), pods_stop.clone());
            forward.spawn(async move {
                loop {
                    let level = *global.borrow_and_update();
                    match level {
                        0 => {}
                        1 => pods_stop.graceful(),
                        _ => pods_stop.force(),
                    }
                    if global.changed().await.is_err() {
                        return;
                    }
                }
            });
        }
        let (mut succeeded, mut failed, mut index) = (0u32, 0u32, 0u32);
        let mut running: JoinSet<bool> = JoinSet::new();
        let mut wait_until: Option<Instant> = None;
        loop {
            if succeeded >= job.completions {
                console.event(
                    &label,
                    &format!("Complete ({succeeded}/{} succeeded)", job.completions),
                );
                return true;
            }
            let stopping = *shutdown.borrow() > 0;
            let may_start = wait_until.is_none_or(|t| Instant::now() >= t);
            while !stopping
                && may_start
                && (running.len() as u32) < job.parallelism.max(1)
                && succeeded + (running.len() as u32) < job.completions
            {
                let mut pod = job.template.clone();
                // Each failure is a new pod, counted against backoffLimit.
                pod.restart_policy = RestartPolicy::Never;
                let name = format!("{}-{index}", job.name);
                let place = Place::Job {
                    job: job.name.clone(),
                    index,
                };
                index += 1;
                running.spawn(self.clone().run_pod(pod, name, place, pods_stop.clone()));
            }
            if running.is_empty() {
                if stopping {
                    return false;
                }
                // Waiting out a retry backoff.
                let delay = wait_until.map_or(Duration::ZERO, |t| {
                    t.saturating_duration_since(Instant::now())
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => { wait_until = None; }
                    _ = shutdown.wait_for(|l| *l > 0) => return false,
                }
                continue;
            }
            match running.join_next().await {
                Some(Ok(true)) => succeeded += 1,
                Some(_) => {
                    failed += 1;
                    if failed > job.backoff_limit {
                        console.event(
                            &label,
                            &format!(
                                "Failed: backoffLimit {} reached ({failed} failed pods)",
                                job.backoff_limit
                            ),
                        );
                        // Stop what still runs.
                        pods_stop.graceful();
                        while running.join_next().await.is_some() {}
                        return false;
                    }
                    if *shutdown.borrow() == 0 {
                        let delay = self.backoff(failed - 1);
                        console.event(&label, &format!("Pod failed; retrying in {}", human(delay)));
                        wait_until = Some(Instant::now() + delay);
                    }
                }
                None => {}
            }
        }
    }
}

/// `base` with `parts` joined on, refusing (with `InvalidInput`) any part
/// that is empty or holds anything but normal components: no `..`, no root,
/// no prefix. Every path `up` makes under its state folder is built here, so
/// a name that got past `wasmpod-kube`'s checks still cannot leave it.
/// Which kind of pod a run is, which says where its state folder is:
/// `NAMESPACE/pods/NAME` for Pods and Deployment replicas (names the Plan
/// keeps apart) and `NAMESPACE/jobs/JOB/N` for a Job's N-th pod, whose
/// `<job>-<n>` name may be a replica's too. No two pods ever share a
/// folder, so nothing one leaves in a volume (a symlink) is another's.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    /// Selectable by Services.
    Served,
    Job {
        job: String,
        index: u32,
    },
}

impl Place {
    /// Makes the pod's state folder, which must not exist yet.
    fn folder(&self, state: &Path, namespace: &str, name: &str) -> std::io::Result<PathBuf> {
        let dir = match self {
            Place::Served => beneath(state, [namespace, "pods", name])?,
            Place::Job { job, index } => {
                beneath(state, [namespace, "jobs", job, &index.to_string()])?
            }
        };
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::create_dir(&dir).map_err(|e| {
            std::io::Error::new(e.kind(), format!("state folder {}: {e}", dir.display()))
        })?;
        Ok(dir)
    }
}

fn beneath<P: AsRef<Path>>(
    base: &Path,
    parts: impl IntoIterator<Item = P>,
) -> std::io::Result<PathBuf> {
    let mut path = base.to_path_buf();
    for part in parts {
        let part = part.as_ref();
        let refuse = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{part:?} is not a relative path of plain names"),
            )
        };
        let mut any = false;
        for c in part.components() {
            let std::path::Component::Normal(name) = c else {
                return Err(refuse());
            };
            path.push(name);
            any = true;
        }
        if !any {
            return Err(refuse());
        }
    }
    Ok(path)
}

/// The container's environment over its image's: a variable the container
/// sets replaces the image's.
fn container_env(c: &ContainerPlan, image: &LoadedImage) -> Vec<(String, String)> {
    let mut env = image.env.clone();
    for var in &c.env {
        env.retain(|(k, _)| *k != var.name);
        env.push((var.name.clone(), var.value.clone()));
    }
    env
}

/// The container's `resources.limits`, for its instances and its exec
/// probes'.
fn container_limits(c: &ContainerPlan) -> Limits {
    Limits {
        memory: c.memory_limit,
        timeout: None,
        cpu_millis: c.cpu_limit,
    }
}

/// One probe's check, with what an `exec` probe needs to run.
struct Checker {
    action: ProbeAction,
    timeout: Duration,
    /// The container's limits: an exec probe runs the container's code (or
    /// a module from its volumes) and gets no more than the container.
    limits: Limits,
    /// The container's usage, shared by the probe's instances.
    usage: Arc<Usage>,
    state: Arc<ContainerState>,
    runtime: Arc<wasmpod_engine::Runtime>,
    program: Program,
    spec_env: Vec<(String, String)>,
    preopens: Vec<Preopen>,
}

impl Checker {
    async fn run(&self) -> bool {
        match &self.action {
            ProbeAction::HttpGet { path, port } => {
                probe::http_get(self.state.address(*port), path, self.timeout).await
            }
            ProbeAction::TcpSocket { port } => {
                probe::tcp(self.state.address(*port), self.timeout).await
            }
            ProbeAction::Exec { command } => self.exec(command).await,
        }
    }

    /// `exec`: a new instance, as the shim's Exec makes one. `command[0]`
    /// is a Wasm file in one of the container's volumes, or else the
    /// container's own module is run with `command` as its argv.
    ///
    /// A module from a volume is read and compiled on a blocking thread,
    /// within the probe's timeout, and never cached: the guest may rewrite
    /// it before every period, and neither its size (up to 512 MiB) nor
    /// its versions may stall the supervisor or fill the compile cache.
    async fn exec(&self, command: &[String]) -> bool {
        let program = match command.first() {
            Some(first) => {
                let (runtime, preopens) = (self.runtime.clone(), self.preopens.clone());
                let first = first.clone();
                let loading = tokio::task::spawn_blocking(move || {
                    file_in_volume(&preopens, &first)
                        .map(|bytes| runtime.load_uncached(&bytes?).map_err(drop))
                });
                match tokio::time::timeout(self.timeout, loading).await {
                    Ok(Ok(Some(Ok(p)))) => p,
                    Ok(Ok(None)) => self.program.clone(),
                    _ => return false,
                }
            }
            None => self.program.clone(),
        };
        let spec = RunSpec {
            args: command.to_vec(),
            env: self.spec_env.clone(),
            preopens: self.preopens.clone(),
            limits: Limits {
                timeout: Some(self.timeout),
                ..self.limits.clone()
            },
            network: true,
            usage: self.usage.clone(),
            ..RunSpec::default()
        };
        matches!(
            self.runtime.run(&program, spec, &StopHandle::new()).await,
            Ok(ExitStatus::Exited(0))
        )
    }
}

/// The bytes of the file at guest path `guest`, if it lies in a volume
/// (the one with the longest guest path that holds it), read beneath that
/// volume's open directory: no `..` or symlink leads out of it. `None`
/// when no volume holds the path, or it is not a file there.
fn file_in_volume(preopens: &[Preopen], guest: &str) -> Option<Result<Vec<u8>, ()>> {
    let (p, rest) = preopens
        .iter()
        .filter_map(|p| Some((p, Path::new(guest).strip_prefix(&p.guest).ok()?)))
        .max_by_key(|(p, _)| p.guest.len())?;
    let rest = rest.to_str()?;
    match p.dir.read_file_in_root(rest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => None,
        other => Some(other.map_err(drop)),
    }
}

#[cfg(test)]
mod tests {
    use super::{Place, beneath};
    use std::path::{Path, PathBuf};

    /// A Job's pod `web-1` and Deployment `web`'s replica `web-1` (or a
    /// Pod of that name) never share a state folder, nor do two pods of
    /// one name in two namespaces, and a folder that exists already is
    /// never taken over.
    #[test]
    fn pods_of_one_name_get_folders_of_their_own() {
        let state = tempfile::tempdir().expect("tmp");
        let replica = Place::Served
            .folder(state.path(), "default", "web-1")
            .expect("replica");
        let job = Place::Job {
            job: "web".into(),
            index: 1,
        }
        .folder(state.path(), "default", "web-1")
        .expect("job pod");
        let other = Place::Served
            .folder(state.path(), "other", "web-1")
            .expect("other namespace");
        assert_ne!(replica, job);
        assert_ne!(replica, other);
        assert!(replica.starts_with(state.path()) && job.starts_with(state.path()));
        let again = Place::Served.folder(state.path(), "default", "web-1");
        assert_eq!(
            again.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::AlreadyExists)
        );
    }

    #[test]
    fn beneath_joins_only_plain_names() {
        let base = Path::new("/state");
        assert_eq!(
            beneath(base, ["default", "web-0"]).expect("plain names"),
            PathBuf::from("/state/default/web-0")
        );
        assert_eq!(
            beneath(base, [Path::new("volumes"), Path::new("a/b.txt")]).expect("a relative path"),
            PathBuf::from("/state/volumes/a/b.txt")
        );
        for bad in ["", ".", "..", "../x", "a/../b", "/etc", "/", "./a"] {
            let e = beneath(base, ["ok", bad]).expect_err(bad);
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad}");
        }
    }
}
