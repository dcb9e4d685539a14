//! `wasmpod pull`: fetch an image into the local store.

use clap::Args;
use wasmpod_oci::ImageRef;
use wasmpod_oci::trust::Verdict;

use super::oci::{self, RegistryArgs};
use super::trust::TrustArgs;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Print only the reference; no progress.
    #[arg(short, long)]
    quiet: bool,

    #[command(flatten)]
    registry: RegistryArgs,

    #[command(flatten)]
    trust: TrustArgs,

    /// The image, e.g. localhost:5000/app:v1 or ghcr.io/org/app@sha256:...
    #[arg(value_name = "REF")]
    reference: String,
}

pub fn run(args: PullArgs) -> anyhow::Result<i32> {
    let reference = ImageRef::parse(&args.reference)?;
    let trust = args.trust.load()?;
    let store = oci::store()?;
    let client = oci::client(&args.registry)?;
    let progress = oci::progress(args.quiet);
    let pulled = oci::tokio()?.block_on(wasmpod_oci::image::pull(
        &client,
        &store,
        &reference,
        &trust,
        progress.as_ref(),
    ))?;
    let record = &pulled.record;
    if args.quiet {
        println!("{reference}");
    } else {
        let signed = match &pulled.verdict {
            Verdict::Unsigned => String::new(),
            verdict => format!("; {}", verdict.describe()),
        };
        println!(
            "Pulled {reference} ({}, digest {}{signed})",
            record.format, record.digest
        );
    }
    Ok(0)
}
