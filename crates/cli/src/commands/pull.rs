//! `wasmpod pull`: fetch an image into the local store.

use clap::Args;
use wasmpod_oci::ImageRef;

use super::oci::{self, RegistryArgs};

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Print only the reference; no progress.
    #[arg(short, long)]
    quiet: bool,

    #[command(flatten)]
    registry: RegistryArgs,

    /// The image, e.g. localhost:5000/app:v1 or ghcr.io/org/app@sha256:...
    #[arg(value_name = "REF")]
    reference: String,
}

pub fn run(args: PullArgs) -> anyhow::Result<i32> {
    let reference = ImageRef::parse(&args.reference)?;
    let store = oci::store()?;
    let client = oci::client(&args.registry)?;
    let progress = oci::progress(args.quiet);
    let record = oci::tokio()?.block_on(wasmpod_oci::image::pull(
        &client,
        &store,
        &reference,
        progress.as_ref(),
    ))?;
    if args.quiet {
        println!("{reference}");
    } else {
        println!(
            "Pulled {reference} ({}, digest {})",
            record.format, record.digest
        );
    }
    Ok(0)
}
