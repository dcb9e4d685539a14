//! `wasmpod push`: package a module as an OCI image and upload it.

use anyhow::Context;
use clap::Args;
use wasmpod_oci::ImageRef;
use wasmpod_oci::image::{self, PushFormat};

use super::oci::{self, RegistryArgs};

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push a standard container image (one tar+gzip layer, Entrypoint set,
    /// platform wasi/wasm) instead of the Wasm OCI artifact.
    #[arg(long)]
    compat: bool,

    /// With --compat: where the module goes in the image's filesystem.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/app.wasm",
        requires = "compat"
    )]
    path: String,

    /// Print only the pushed reference with its digest; no progress.
    #[arg(short, long)]
    quiet: bool,

    #[command(flatten)]
    registry: RegistryArgs,

    /// The module or component (.wasm or .wat).
    #[arg(value_name = "FILE")]
    file: String,

    /// Where to push it, e.g. localhost:5000/app:v1.
    #[arg(value_name = "REF")]
    reference: String,
}

pub fn run(args: PushArgs) -> anyhow::Result<i32> {
    let reference = ImageRef::parse(&args.reference)?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file))?;
    let bytes =
        wasmpod_engine::to_binary(&bytes).with_context(|| format!("cannot push {}", args.file))?;
    let format = if args.compat {
        PushFormat::Compat {
            path: args.path.clone(),
        }
    } else {
        PushFormat::Artifact
    };
    let built = image::build(&bytes, &format)?;
    let client = oci::client(&args.registry)?;
    let progress = oci::progress(args.quiet);
    let digest =
        oci::tokio()?.block_on(image::push(&client, &reference, &built, progress.as_ref()))?;
    if args.quiet {
        println!("{}@{digest}", reference.name());
    } else {
        println!(
            "Pushed {reference} ({}, digest {digest})",
            if args.compat {
                "container image"
            } else {
                "Wasm artifact"
            }
        );
    }
    Ok(0)
}
