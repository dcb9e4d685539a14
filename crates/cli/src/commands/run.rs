//! `wasmpod run`: one workload from a file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use wasmpod_engine::{
    EngineOptions, ExitStatus, HttpOptions, Limits, Preopen, ProgramKind, RunSpec, Runtime, Stdio,
    StopHandle, StopReason,
};
use wasmpod_kube::annotations::{MAX_CONCURRENT_REUSE_COUNT, MAX_REUSE_COUNT, parse_reuse_count};
use wasmpod_kube::quantity::Quantity;

use wasmpod_oci::{ImageRecord, ImageRef};

use super::oci::{self as images, RegistryArgs};
use super::trust::TrustArgs;
use crate::parse;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Set an environment variable in the guest (KEY=VALUE; a bare KEY copies
    /// the host's value). Nothing else from the host environment is visible.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,

    /// Read environment variables from a file of KEY=VALUE lines.
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<PathBuf>,

    /// Give the guest a host directory: HOST:GUEST[:ro]. `ro` denies every
    /// write. Nothing outside the volumes can be reached. `--dir` is an alias
    /// (a bare HOST is seen at the same path, and HOST::GUEST works too).
    #[arg(
        short = 'v',
        long = "volume",
        visible_alias = "dir",
        value_name = "HOST:GUEST[:ro]"
    )]
    volume: Vec<String>,

    /// Cap the guest's linear memory (Kubernetes quantity: 64Mi, 1G, 512M).
    /// Growing past it fails inside the guest, as malloc returning NULL.
    #[arg(long, value_name = "QUANTITY", allow_hyphen_values = true)]
    memory: Option<String>,

    /// Limit the guest's CPU: a number of CPUs (0.5, 2) or a Kubernetes
    /// quantity (500m). Enforced per 100ms period, as docker's --cpus.
    #[arg(long, value_name = "CPUS", allow_hyphen_values = true)]
    cpus: Option<String>,

    /// Most stack the guest's WebAssembly may use (Kubernetes quantity:
    /// 512Ki, 16Mi), from 64Ki to 1Gi; deeper recursion traps. Default 8Mi,
    /// what Go's wasip1 runner gives, so Go-built modules run unchanged.
    #[arg(long, value_name = "QUANTITY", allow_hyphen_values = true)]
    max_wasm_stack: Option<String>,

    /// Stop the guest after this long (500ms, 2s, 1m) and exit 124.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    timeout: Option<String>,

    /// Allow network sockets (TCP, UDP, name lookups) and outgoing
    /// wasi:http requests for WASI 0.2 and 0.3 guests. Without it the guest
    /// has no network.
    #[arg(long)]
    net: bool,

    /// Where to serve a wasi:http component (one that exports
    /// `wasi:http/incoming-handler@0.2` or `wasi:http/handler@0.3`):
    /// HOST:PORT, or a bare PORT on 127.0.0.1. Each request gets a fresh
    /// instance, unless --max-instance-reuse-count says otherwise.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,

    /// Most requests one instance of a served wasi:http component handles
    /// before it is dropped (1 to 1000000). Default 1: a fresh instance per
    /// request, so no request sees another's state. More reuses instances
    /// as `wasmtime serve` does for WASI 0.3 (its default is 128): faster,
    /// but requests served by one instance share its memory.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    max_instance_reuse_count: Option<String>,

    /// Most requests one reused WASI 0.3 instance handles at once (1 to
    /// 100; default 16). A WASI 0.2 instance handles one at a time.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    max_instance_concurrent_reuse_count: Option<String>,

    /// Print what wasmpod does (module kind, digest, compile cache hit or
    /// miss, timings) to stderr.
    #[arg(long)]
    verbose: bool,

    /// When to pull an image reference: `always`, `missing` (only if it is
    /// not in the local store) or `never`.
    #[arg(long, value_name = "POLICY", default_value = "missing")]
    pull: images::PullPolicy,

    #[command(flatten)]
    registry: RegistryArgs,

    #[command(flatten)]
    trust: TrustArgs,

    /// The guest: a .wasm module or component, a .wat file, or an image
    /// reference (localhost:5000/app:v1). An existing path, or one that
    /// starts with / or . or ends in .wasm or .wat, is a file.
    #[arg(value_name = "FILE|IMAGE")]
    file: String,

    /// Arguments for the guest (after FILE, or after `--`).
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<String>,
}

/// Whether FILE names a file or an image.
fn is_file(arg: &str) -> bool {
    std::path::Path::new(arg).exists()
        || arg.starts_with('/')
        || arg.starts_with('.')
        || arg.ends_with(".wasm")
        || arg.ends_with(".wat")
}

/// Finds (pulling if the policy says so) the image and its module.
/// The image is checked against the trust policy before its module is
/// read, let alone compiled.
fn resolve_image(args: &RunArgs, reference: &ImageRef) -> anyhow::Result<(ImageRecord, Vec<u8>)> {
    let started = Instant::now();
    let trust = args.trust.load()?;
    let found = images::find_or_pull(reference, args.pull, &args.registry, &trust, false)?;
    let (record, verdict) = match found {
        images::Found::Local(r, v) | images::Found::Pulled(r, v) => (r, v),
        images::Found::Missing => {
            anyhow::bail!("{reference} is not in the local store and --pull=never was given")
        }
    };
    if args.verbose {
        eprintln!(
            "wasmpod: {reference} is {}; {}; trust check {}",
            record.digest,
            verdict.describe(),
            ms(started.elapsed())
        );
    }
    let wasm = images::store()?.read_blob(&record.wasm)?;
    Ok((record, wasm))
}

pub fn run(args: RunArgs) -> anyhow::Result<i32> {
    let started = Instant::now();
    let verbose = args.verbose;
    let (bytes, image) = if is_file(&args.file) {
        if !args.trust.verify_key.is_empty() || args.trust.policy.is_some() {
            anyhow::bail!(
                "--verify-key and --policy check images; {} is a file (push it, signed, and run the image)",
                args.file
            );
        }
        let bytes =
            std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file))?;
        (bytes, None)
    } else {
        let reference = ImageRef::parse(&args.file)?;
        let (record, bytes) = resolve_image(&args, &reference)?;
        (bytes, Some(record))
    };
    let spec = build_spec(&args, image.as_ref())?;
    let http_options = http_options(&args)?;

    let mut options = EngineOptions::default();
    if let Some(q) = &args.max_wasm_stack {
        options.max_wasm_stack = Quantity::parse(q)
            .and_then(|q| q.bytes())
            .context("--max-wasm-stack")?;
    }
    match wasmpod_engine::home::default_home() {
        Some(home) => options.cache_dir = Some(home.join("cache").join("compiled")),
        None => tracing::warn!("no state folder (set WASMPOD_HOME); compiling without a cache"),
    }
    let binary =
        wasmpod_engine::to_binary(&bytes).with_context(|| format!("cannot load {}", args.file))?;
    // A preview 1 module is a command: it runs to completion in this
    // process, and a signal ends the process. With no timeout and no CPU
    // quota nothing has to interrupt it from inside, so it is compiled
    // without epoch checks, as `wasmtime run` does (a quarter of a first
    // run's compile time). Components keep them: one may be a server.
    options.interruptible = ProgramKind::of(&binary).ok() != Some(ProgramKind::Module)
        || spec.limits.timeout.is_some()
        || spec.limits.cpu_millis.is_some();
    let mut runtime = Runtime::new(options.clone())?;
    let engine_ready = started.elapsed();
    let mut program = runtime
        .load(&binary)
        .with_context(|| format!("cannot load {}", args.file))?;
    if runtime.is_http_handler(&program) {
        // A server makes an instance per request: take them from a pool
        // (compiled code is the same, so the cache still serves it).
        options.pooling = true;
        runtime = Runtime::new(options)?;
        program = runtime
            .load(&binary)
            .with_context(|| format!("cannot load {}", args.file))?;
    }
    let loaded = started.elapsed();
    if verbose {
        eprintln!(
            "wasmpod: {} is a {}, {}; compile cache {}; engine {}, load {}",
            args.file,
            program.describe(),
            program.digest(),
            program.cache_outcome().as_str(),
            ms(engine_ready),
            ms(loaded - engine_ready),
        );
    }

    let http = runtime.is_http_handler(&program);
    if http
        && program.wasi() != wasmpod_engine::WasiVersion::P3
        && args.max_instance_concurrent_reuse_count.is_some()
    {
        eprintln!(
            "wasmpod: --max-instance-concurrent-reuse-count is ignored: {} is a {}, whose instances take one request at a time",
            args.file,
            program.describe()
        );
    }
    if !http {
        for (flag, given) in [
            ("--max-instance-reuse-count", &args.max_instance_reuse_count),
            (
                "--max-instance-concurrent-reuse-count",
                &args.max_instance_concurrent_reuse_count,
            ),
        ] {
            if given.is_some() {
                eprintln!(
                    "wasmpod: {flag} is ignored: {} is a {}, not a served wasi:http component",
                    args.file,
                    program.describe()
                );
            }
        }
    }
    let tokio = if http {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build()
    .context("cannot start the async runtime")?;
    let stop = StopHandle::new();
    let status = if http {
        tokio.block_on(serve(
            &runtime,
            &program,
            spec,
            &args.listen,
            http_options,
            &stop,
        ))?
    } else {
        tokio.block_on(runtime.run(&program, spec, &stop))?
    };
    if verbose {
        eprintln!("wasmpod: {status:?} after {}", ms(started.elapsed()));
    }
    match &status {
        ExitStatus::Exited(_) => {}
        ExitStatus::Trapped { message, backtrace } => {
            eprintln!("wasmpod: guest trapped: {message}");
            if let Some(bt) = backtrace {
                eprintln!("{}", bt.trim_end());
            }
        }
        ExitStatus::Stopped(StopReason::Timeout(after)) => {
            eprintln!("wasmpod: guest timed out after {after:?} (--timeout)");
        }
        ExitStatus::Stopped(StopReason::Signal(n)) => {
            eprintln!("wasmpod: guest stopped by signal {n}");
        }
    }
    // Keep the runtime (and any blocked stdin reader) alive until exit.
    std::mem::forget(tokio);
    Ok(status.code())
}

/// Serves a wasi:http component until Ctrl-C or SIGTERM, which drain the
/// requests in flight and then exit 0, as `wasmtime serve` does; a second
/// one during the drain stops at once, as that signal (128+N).
async fn serve(
    runtime: &Runtime,
    program: &wasmpod_engine::Program,
    spec: RunSpec,
    listen: &str,
    options: HttpOptions,
    stop: &StopHandle,
) -> anyhow::Result<ExitStatus> {
    let addr = parse::listen_addr(listen).context("--listen")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr().context("--listen")?;
    let (graceful, forced) = (stop.clone(), stop.clone());
    let forced_by = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    let forced_by_signal = forced_by.clone();
    crate::signals::on_stop(
        move |n| {
            eprintln!("wasmpod: draining requests in flight (again to stop at once)");
            graceful.stop(StopReason::Signal(n));
        },
        move |n| {
            forced_by_signal.store(n, std::sync::atomic::Ordering::Relaxed);
            forced.stop(StopReason::Signal(libc::SIGKILL));
        },
    );
    eprintln!("wasmpod: serving HTTP on http://{local}/");
    let status = runtime
        .serve_http(program, spec, listener, options, Default::default(), stop)
        .await?;
    let forced_by = forced_by.load(std::sync::atomic::Ordering::Relaxed);
    Ok(after_serving(status, forced_by))
}

/// How a wasi:http component is served: the reuse flags.
fn http_options(args: &RunArgs) -> anyhow::Result<HttpOptions> {
    let count = |flag: &'static str, value: &Option<String>, max: usize| {
        value
            .as_deref()
            .map(|v| parse_reuse_count(flag, v, max).context(flag))
            .transpose()
    };
    Ok(HttpOptions::default().with_reuse(
        count(
            "--max-instance-reuse-count",
            &args.max_instance_reuse_count,
            MAX_REUSE_COUNT,
        )?,
        count(
            "--max-instance-concurrent-reuse-count",
            &args.max_instance_concurrent_reuse_count,
            MAX_CONCURRENT_REUSE_COUNT,
        )?,
    ))
}

/// What a server's stop means for `wasmpod run`: a drain that ended is a
/// clean exit; one cut short by signal `forced_by` (0 for none) is a stop
/// by that signal.
fn after_serving(status: ExitStatus, forced_by: i32) -> ExitStatus {
    match status {
        ExitStatus::Stopped(StopReason::Signal(libc::SIGKILL)) if forced_by != 0 => {
            ExitStatus::Stopped(StopReason::Signal(forced_by))
        }
        ExitStatus::Stopped(StopReason::Signal(n)) if n != libc::SIGKILL => {
            tracing::debug!(signal = n, "drained");
            ExitStatus::Exited(0)
        }
        other => other,
    }
}

fn build_spec(args: &RunArgs, image: Option<&ImageRecord>) -> anyhow::Result<RunSpec> {
    let host_env = |k: &str| std::env::var(k).ok();
    // The image's own environment comes first; the user's flags override it.
    let mut env = wasmpod_engine::env_pairs(image.map(|i| i.env.as_slice()).unwrap_or_default());
    for file in &args.env_file {
        let content = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read env file {}", file.display()))?;
        env.extend(
            parse::env_file(&content, host_env)
                .with_context(|| format!("env file {}", file.display()))?,
        );
    }
    for spec in &args.env {
        env.extend(parse::env_flag(spec, host_env)?);
    }
    // Later settings win, as in docker.
    let mut deduped: Vec<(String, String)> = Vec::with_capacity(env.len());
    for (k, v) in env {
        deduped.retain(|(existing, _)| *existing != k);
        deduped.push((k, v));
    }

    let preopens: Vec<Preopen> = args
        .volume
        .iter()
        .map(|v| {
            let v = parse::volume(v)?;
            Ok(Preopen::open(&v.host, v.guest, v.read_only)?)
        })
        .collect::<anyhow::Result<_>>()?;

    let memory = args
        .memory
        .as_deref()
        .map(|m| -> anyhow::Result<u64> {
            Quantity::parse(m)
                .and_then(|q| q.bytes())
                .context("--memory")
        })
        .transpose()?;
    let cpu_millis = args
        .cpus
        .as_deref()
        .map(|c| -> anyhow::Result<u64> {
            let millis = Quantity::parse(c).context("--cpus")?.millis();
            anyhow::ensure!(millis > 0, "--cpus {c}: must be more than 0");
            Ok(u64::try_from(millis).unwrap_or(u64::MAX))
        })
        .transpose()?;
    let timeout = args
        .timeout
        .as_deref()
        .map(|t| parse::duration(t).context("--timeout"))
        .transpose()?;

    let rest = match args.args.first().map(String::as_str) {
        Some("--") => &args.args[1..],
        _ => &args.args[..],
    };
    let argv = match image {
        Some(record) => record.argv(&args.file, rest),
        None => std::iter::once(args.file.clone())
            .chain(rest.iter().cloned())
            .collect(),
    };

    Ok(RunSpec {
        args: argv,
        env: deduped,
        preopens,
        cwd: image.and_then(|i| i.working_dir.clone()),
        limits: Limits {
            memory,
            timeout,
            cpu_millis,
        },
        stdio: Stdio::inherit(),
        network: args.net,
        usage: Default::default(),
    })
}

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1000.0)
}
