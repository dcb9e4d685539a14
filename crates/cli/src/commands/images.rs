//! `wasmpod images`, `wasmpod rmi` and `wasmpod inspect`: the local store
//! (and, for `inspect`, the image's signatures in its registry).

use clap::Args;
use wasmpod_oci::ImageRef;
use wasmpod_oci::manifest::Manifest;
use wasmpod_oci::trust::inspect;
use wasmpod_oci::trust::verify::Outcome;

use super::oci::{self, RegistryArgs};
use super::trust::TrustArgs;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print only the references.
    #[arg(short, long)]
    quiet: bool,
}

pub fn list(args: ImagesArgs) -> anyhow::Result<i32> {
    let store = oci::store()?;
    let images = store.images()?;
    if args.quiet {
        for i in &images {
            println!("{}", i.reference());
        }
        return Ok(0);
    }
    let rows: Vec<[String; 6]> = images
        .iter()
        .map(|i| {
            [
                i.name.clone(),
                i.tag.clone().unwrap_or_else(|| "<none>".into()),
                i.digest.to_string()[..19].to_string(),
                wasi_of(&store, &i.wasm),
                oci::human(i.size),
                i.created.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["REPOSITORY", "TAG", "DIGEST", "WASI", "SIZE", "CREATED"].map(str::to_string);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
    Ok(0)
}

/// The WASI the module `wasm` targets (`preview1`, `0.2`, `0.3`), or `-`
/// if its blob cannot be read or parsed.
fn wasi_of(store: &wasmpod_oci::store::ContentStore, wasm: &wasmpod_oci::Digest) -> String {
    store
        .read_blob(wasm)
        .ok()
        .and_then(|bytes| wasmpod_oci::wasi::wasi_version(&bytes).ok())
        .map_or_else(|| "-".into(), |v| v.as_str().into())
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Images to remove.
    #[arg(value_name = "REF", required = true)]
    references: Vec<String>,
}

pub fn remove(args: RmiArgs) -> anyhow::Result<i32> {
    let store = oci::store()?;
    for r in &args.references {
        let reference = ImageRef::parse(r)?;
        let (record, stats) = store.remove(&reference)?;
        println!("Untagged: {}", record.reference());
        println!(
            "Deleted {} blobs ({})",
            stats.blobs,
            oci::human(stats.bytes)
        );
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    registry: RegistryArgs,

    #[command(flatten)]
    trust: TrustArgs,

    /// The image (must be in the local store; its signatures are looked up
    /// in its registry).
    #[arg(value_name = "REF")]
    reference: String,
}

pub fn inspect(args: InspectArgs) -> anyhow::Result<i32> {
    let store = oci::store()?;
    let reference = ImageRef::parse(&args.reference)?;
    let trust = args.trust.load()?;
    let record =
        store
            .resolve(&reference)?
            .ok_or_else(|| wasmpod_oci::OciError::ImageNotFound {
                reference: reference.to_string(),
            })?;
    let manifest_bytes = store.read_blob(&record.manifest)?;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes)?;
    let config = match Manifest::parse(&manifest_bytes, None) {
        Ok(Manifest::Image(m)) => {
            serde_json::from_slice::<serde_json::Value>(&store.read_blob(&m.config.digest)?)?
        }
        _ => serde_json::Value::Null,
    };
    let inspection = oci::tokio()?.block_on(inspect::inspect(
        &oci::client(&args.registry)?,
        &trust,
        &reference,
        &record.digest,
    ));
    let out = serde_json::json!({
        "reference": record.reference(),
        "digest": record.digest,
        "format": record.format,
        "size": record.size,
        "created": record.created,
        "wasm": record.wasm,
        "wasi": wasi_of(&store, &record.wasm),
        "entrypoint": record.entrypoint,
        "cmd": record.cmd,
        "env": record.env,
        "workingDir": record.working_dir,
        "manifest": manifest,
        "config": config,
        "signatures": inspection.signatures.iter().map(signature_json).collect::<Vec<_>>(),
        "signatureErrors": inspection.errors.iter().map(inspect::LookupError::line).collect::<Vec<_>>(),
        "policy": {
            "rule": inspection.policy.rule,
            "wouldRun": inspection.policy.would_run,
            "reason": inspection.policy.reason,
        },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(0)
}

/// One signature: where it was found and what it proves.
fn signature_json(s: &inspect::Signature) -> serde_json::Value {
    let (status, key, reason) = match &s.outcome {
        Outcome::Verified(v) => ("verified", Some((&v.key_name, v.key)), None),
        Outcome::NoKnownKey => (
            "unverified",
            None,
            Some(format!(
                "not verified by any known key ({})",
                s.outcome.reason()
            )),
        ),
        Outcome::Mismatch {
            key, fingerprint, ..
        }
        | Outcome::Expired {
            key, fingerprint, ..
        } => (
            "invalid",
            Some((key, *fingerprint)),
            Some(s.outcome.reason()),
        ),
        Outcome::Unreadable(_) => ("invalid", None, Some(s.outcome.reason())),
    };
    serde_json::json!({
        "layout": s.layout.as_str(),
        "location": s.location,
        "status": status,
        "key": key.map(|(name, _)| name),
        "fingerprint": key.map(|(_, fingerprint)| fingerprint),
        "reason": reason,
    })
}
