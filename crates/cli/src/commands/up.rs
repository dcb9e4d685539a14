//! `wasmpod up`: Kubernetes manifests on this machine.

use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use wasmpod_engine::{EngineOptions, Runtime, Runtimes};
use wasmpod_kube::{Image, PlanOptions, PullPolicy, Source};
use wasmpod_local::{Console, ImageKey, LoadedImage, Outcome, Shutdown, UpOptions};
use wasmpod_oci::ImageRef;

use super::oci::{self as images, RegistryArgs};
use super::trust::TrustArgs;
use wasmpod_oci::trust::Trust;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// A manifest file, a directory of `*.yaml`/`*.yml` files, or `-` for
    /// stdin. Repeatable; multi-document YAML is fine.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    files: Vec<String>,

    /// Check the manifests and print what would run, running nothing.
    #[arg(long)]
    dry_run: bool,

    /// Warn about unsupported fields instead of refusing the manifests.
    #[arg(long)]
    lenient: bool,

    /// Multiply the restart backoff (kubelet: 10s doubling to 5m). 0.01
    /// makes it 100ms doubling to 3s.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    backoff_scale: f64,

    #[command(flatten)]
    registry: RegistryArgs,

    #[command(flatten)]
    trust: TrustArgs,
}

pub fn run(args: UpArgs) -> anyhow::Result<i32> {
    if !(args.backoff_scale.is_finite() && (0.0..=1000.0).contains(&args.backoff_scale)) {
        anyhow::bail!(
            "--backoff-scale {}: must be a number from 0 to 1000",
            args.backoff_scale
        );
    }
    let mut sources = Vec::new();
    for f in &args.files {
        if f == "-" {
            // One byte past the limit at most: `load` refuses what is over.
            let mut text = String::new();
            std::io::stdin()
                .take(wasmpod_kube::MAX_FILE_BYTES + 1)
                .read_to_string(&mut text)
                .context("cannot read manifests from stdin")?;
            sources.push(Source::Text {
                name: "<stdin>".into(),
                text,
                dir: std::env::current_dir().context("current directory")?,
            });
        } else {
            sources.push(Source::Path(PathBuf::from(f)));
        }
    }
    let docs = wasmpod_kube::load(&sources)?;
    let plan = wasmpod_kube::plan(
        &docs,
        &PlanOptions {
            lenient: args.lenient,
        },
    )?;
    for w in &plan.warnings {
        eprintln!("wasmpod: warning: {w}");
    }
    if args.dry_run {
        print!("{}", plan.render());
        return Ok(0);
    }

    let console = Arc::new(Console::stdout(std::io::stdout().is_terminal()));
    let mut options = EngineOptions {
        pooling: true,
        ..EngineOptions::default()
    };
    let home = images::home()?;
    options.cache_dir = Some(home.join("cache").join("compiled"));
    // One engine per wasm stack the pods ask for (most use the default).
    let runtimes = Runtimes::new(options)?;

    // Every image the plan names, pulled per its policy once, and compiled
    // once for each engine that runs it.
    let templates = plan
        .pods
        .iter()
        .chain(plan.jobs.iter().map(|j| &j.template));
    let trust = args.trust.load()?;
    let mut fetched: HashMap<Image, Fetched> = HashMap::new();
    let mut loaded: HashMap<ImageKey, LoadedImage> = HashMap::new();
    for pod in templates {
        let runtime = runtimes.get(pod.max_wasm_stack).with_context(|| {
            format!(
                "pod {}: annotation {}",
                pod.name,
                wasmpod_kube::annotations::MAX_WASM_STACK
            )
        })?;
        for c in &pod.containers {
            let key = ImageKey::of(pod, c);
            if loaded.contains_key(&key) {
                continue;
            }
            let image = match fetched.entry(c.image.clone()) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(fetch_image(
                    &c.image,
                    c.pull_policy,
                    &args.registry,
                    &trust,
                    &console,
                )?),
            };
            loaded.insert(key, compile(&runtime, image)?);
        }
    }

    let state = tempfile::Builder::new()
        .prefix("up-")
        .tempdir_in({
            let run = home.join("run");
            std::fs::create_dir_all(&run)
                .with_context(|| format!("cannot create {}", run.display()))?;
            run
        })
        .context("cannot create the pods' state folder")?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let shutdown = Shutdown::new();
    let signal = Arc::new(std::sync::atomic::AtomicI32::new(0));
    let outcome = tokio.block_on(async {
        let (stop, force, sig) = (shutdown.clone(), shutdown.clone(), signal.clone());
        let (c, c2) = (console.clone(), console.clone());
        crate::signals::on_stop(
            move |n| {
                sig.store(n, std::sync::atomic::Ordering::Relaxed);
                c.event("wasmpod", "Stopping (again to force)");
                stop.graceful();
            },
            move |_| {
                c2.event("wasmpod", "Forcing the stop");
                force.force();
            },
        );
        wasmpod_local::up(
            plan,
            loaded,
            UpOptions {
                state_dir: state.path().to_path_buf(),
                backoff_scale: args.backoff_scale,
                http: wasmpod_engine::HttpOptions::default(),
                console,
            },
            shutdown,
        )
        .await
    })?;
    // Workloads may leave blocked host calls behind; do not wait for them.
    tokio.shutdown_background();
    Ok(match outcome {
        Outcome::Succeeded => 0,
        Outcome::Failed => 1,
        Outcome::Stopped => match signal.load(std::sync::atomic::Ordering::Relaxed) {
            0 => 0,
            n => 128 + n,
        },
    })
}

/// An image's module and what its config says about running it: fetched
/// (read, or pulled per its policy) once per `up`, however many engines
/// compile it.
struct Fetched {
    /// How errors name it: the file's path or the reference.
    name: String,
    bytes: Vec<u8>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    env: Vec<(String, String)>,
    working_dir: Option<String>,
}

fn fetch_image(
    image: &Image,
    policy: PullPolicy,
    registry: &RegistryArgs,
    trust: &Trust,
    console: &Console,
) -> anyhow::Result<Fetched> {
    match image {
        Image::File(path) => Ok(Fetched {
            name: path.display().to_string(),
            bytes: std::fs::read(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
            entrypoint: vec![path.display().to_string()],
            cmd: Vec::new(),
            env: Vec::new(),
            working_dir: None,
        }),
        Image::Oci(reference) => {
            let r = ImageRef::parse(reference)?;
            let policy = match policy {
                PullPolicy::Always => images::PullPolicy::Always,
                PullPolicy::IfNotPresent => images::PullPolicy::Missing,
                PullPolicy::Never => images::PullPolicy::Never,
            };
            let record = match images::find_or_pull(&r, policy, registry, trust, true)? {
                images::Found::Local(record, _) => record,
                images::Found::Pulled(record, _) => {
                    console.event(reference, &format!("Pulled ({})", record.digest));
                    record
                }
                images::Found::Missing => anyhow::bail!(
                    "{reference} is not in the local store and imagePullPolicy is Never"
                ),
            };
            let bytes = images::store()?.read_blob(&record.wasm)?;
            let (entrypoint, cmd) = record.command(reference);
            Ok(Fetched {
                name: reference.clone(),
                bytes,
                entrypoint,
                cmd,
                env: wasmpod_engine::env_pairs(&record.env),
                working_dir: record.working_dir.clone(),
            })
        }
    }
}

/// `fetched`, compiled by `runtime` (or found in its compile cache).
fn compile(runtime: &Arc<Runtime>, fetched: &Fetched) -> anyhow::Result<LoadedImage> {
    let program = runtime
        .load(&fetched.bytes)
        .with_context(|| format!("cannot load {}", fetched.name))?;
    Ok(LoadedImage {
        runtime: runtime.clone(),
        program,
        entrypoint: fetched.entrypoint.clone(),
        cmd: fetched.cmd.clone(),
        env: fetched.env.clone(),
        working_dir: fetched.working_dir.clone(),
    })
}
