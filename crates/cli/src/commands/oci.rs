//! What the image commands share: the state folder, the store, the registry
//! client and terminal progress.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use wasmpod_oci::auth::AuthFiles;
use wasmpod_oci::trust::{Trust, Verdict};
use wasmpod_oci::{ClientOptions, ContentStore, NoProgress, Progress, RegistryClient};

/// Flags every registry command takes.
#[derive(Debug, Args, Clone, Default)]
pub struct RegistryArgs {
    /// Use plain HTTP for this registry even though it is not on this
    /// machine (loopback registries always use HTTP).
    #[arg(long)]
    pub insecure: bool,
}

/// When a command pulls an image it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullPolicy {
    /// Every time.
    Always,
    /// Only when it is not in the local store.
    Missing,
    /// Never: it must be in the local store.
    Never,
}

/// Where [`find_or_pull`] found an image, and why the trust policy lets
/// it run.
#[derive(Debug)]
pub enum Found {
    /// In the local store.
    Local(wasmpod_oci::ImageRecord, Verdict),
    /// Pulled now.
    Pulled(wasmpod_oci::ImageRecord, Verdict),
    /// Not in the local store, and the policy says never pull.
    Missing,
}

/// The image `reference` names, from the local store or pulled into it as
/// `policy` says, if `trust` lets it run: a local image is checked against
/// the policy as a pulled one is (from the verified-signature cache, or
/// with its signatures fetched from the registry), before it is compiled.
pub fn find_or_pull(
    reference: &wasmpod_oci::ImageRef,
    policy: PullPolicy,
    registry: &RegistryArgs,
    trust: &Trust,
    quiet: bool,
) -> anyhow::Result<Found> {
    let store = store()?;
    let admission = trust.admit(reference)?;
    if policy != PullPolicy::Always
        && let Some(record) = store.resolve(reference)?
    {
        // The registry client (and its TLS roots) is built only when the
        // cache cannot answer, so a cached run stays fast.
        let verdict = match admission.check_cached(&record.digest)? {
            Some(verdict) => verdict,
            None => tokio()?.block_on(admission.verify(
                &client(registry)?,
                reference,
                &record.digest,
            ))?,
        };
        return Ok(Found::Local(record, verdict));
    }
    if policy == PullPolicy::Never {
        return Ok(Found::Missing);
    }
    let client = client(registry)?;
    let progress = progress(quiet);
    let pulled = tokio()?.block_on(wasmpod_oci::image::pull(
        &client,
        &store,
        reference,
        trust,
        progress.as_ref(),
    ))?;
    Ok(Found::Pulled(pulled.record, pulled.verdict))
}

/// The state folder, or an error saying how to set one.
pub fn home() -> anyhow::Result<PathBuf> {
    wasmpod_engine::home::default_home().context("no state folder: set WASMPOD_HOME (or HOME)")
}

pub fn store() -> anyhow::Result<ContentStore> {
    Ok(ContentStore::open(home()?.join("store"))?)
}

pub fn auth() -> anyhow::Result<AuthFiles> {
    Ok(AuthFiles::standard(&home()?))
}

pub fn client(args: &RegistryArgs) -> anyhow::Result<RegistryClient> {
    let mut options = ClientOptions {
        insecure: args.insecure,
        ..ClientOptions::default()
    };
    // For tests and unusual registries: the chunk size of blob uploads in
    // bytes, or 0 for single-request uploads.
    if let Some(v) = std::env::var_os("WASMPOD_UPLOAD_CHUNK_SIZE") {
        let v = v.to_string_lossy();
        let n: usize = v
            .parse()
            .with_context(|| format!("WASMPOD_UPLOAD_CHUNK_SIZE={v} is not a number"))?;
        options.chunk_size = (n > 0).then_some(n);
    }
    Ok(RegistryClient::new(auth()?, options)?)
}

pub fn tokio() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Progress per blob on stderr, when it is a terminal and not `-q`.
pub fn progress(quiet: bool) -> Box<dyn Progress> {
    if quiet || !std::io::stderr().is_terminal() {
        Box::new(NoProgress)
    } else {
        Box::new(TermProgress::default())
    }
}

#[derive(Default)]
struct TermProgress {
    transfers: Mutex<HashMap<String, (u64, u64, Instant)>>,
}

impl TermProgress {
    fn draw(&self, id: &str, done: u64, total: u64, started: Instant, end: Option<&str>) {
        let secs = started.elapsed().as_secs_f64().max(0.001);
        let rate = done as f64 / secs;
        let line = match end {
            Some(note) => format!("{id}: {note} ({})", human(total)),
            None => format!(
                "{id}: {} / {} ({}/s)",
                human(done),
                human(total),
                human(rate as u64)
            ),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        if end.is_some() {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

impl Progress for TermProgress {
    fn start(&self, id: &str, total: u64) {
        if let Ok(mut t) = self.transfers.lock() {
            t.insert(id.to_string(), (total, 0, Instant::now()));
        }
        self.draw(id, 0, total, Instant::now(), None);
    }

    fn advance(&self, id: &str, n: u64) {
        let state = self.transfers.lock().ok().and_then(|mut t| {
            t.get_mut(id).map(|e| {
                e.1 += n;
                *e
            })
        });
        if let Some((total, done, started)) = state {
            self.draw(id, done, total, started, None);
        }
    }

    fn finish(&self, id: &str, note: &str) {
        let state = self.transfers.lock().ok().and_then(|mut t| t.remove(id));
        let (total, done, started) = state.unwrap_or((0, 0, Instant::now()));
        self.draw(id, done, total.max(done), started, Some(note));
    }
}

/// Bytes for people: `512 B`, `1.5 KiB`, `10.0 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
