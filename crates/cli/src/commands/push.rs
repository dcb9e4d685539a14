//! `wasmpod push`: package a module as an OCI image and upload it.

use anyhow::Context;
use clap::Args;
use wasmpod_oci::ImageRef;
use wasmpod_oci::image::{self, PushFormat};
use wasmpod_oci::trust;

use super::oci::{self, RegistryArgs};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("format").args(["compat", "wasm_layer"])))]
pub struct PushArgs {
    /// Push a standard container image (one tar+gzip layer, Entrypoint set,
    /// platform wasi/wasm) instead of the Wasm OCI artifact.
    #[arg(long)]
    compat: bool,

    /// Push a container image whose module is a Wasm layer of its own
    /// (Entrypoint set, platform wasi/wasm, no filesystem layer), which
    /// containerd 1.7.7+ runs through the wasmpod shim.
    #[arg(long)]
    wasm_layer: bool,

    /// With --compat: where the module goes in the image's filesystem.
    /// With --wasm-layer: the Entrypoint, whose file name titles the layer.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/app.wasm",
        requires = "format"
    )]
    path: String,

    /// Print only the pushed reference with its digest; no progress.
    #[arg(short, long)]
    quiet: bool,

    /// Sign the pushed image with this cosign private key (cosign.key, its
    /// password in COSIGN_PASSWORD; or an unencrypted PKCS#8 or SEC1 P-256
    /// key), in cosign's format, so `cosign verify --key` accepts it.
    #[arg(long, value_name = "PATH")]
    sign_key: Option<std::path::PathBuf>,

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
    // The key is read before anything is pushed: a wrong password must not
    // leave an unsigned image behind.
    let sign_key = args
        .sign_key
        .as_deref()
        .map(|path| {
            let password = std::env::var_os("COSIGN_PASSWORD");
            trust::read_signing_key(path, password.as_ref().map(|p| p.as_encoded_bytes()))
        })
        .transpose()?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file))?;
    let bytes =
        wasmpod_engine::to_binary(&bytes).with_context(|| format!("cannot push {}", args.file))?;
    let format = if args.compat {
        PushFormat::Compat {
            path: args.path.clone(),
        }
    } else if args.wasm_layer {
        PushFormat::WasmLayer {
            path: args.path.clone(),
        }
    } else {
        // The layer is titled with the file's name, so that `oras pull`
        // saves the module (a `.wat` is pushed as its binary).
        let name = std::path::Path::new(&args.file)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("module.wasm");
        let title = match name.strip_suffix(".wat") {
            Some(stem) => format!("{stem}.wasm"),
            None => name.to_string(),
        };
        PushFormat::Artifact { title }
    };
    let built = image::build(&bytes, &format)?;
    let client = oci::client(&args.registry)?;
    let progress = oci::progress(args.quiet);
    let tokio = oci::tokio()?;
    let digest = tokio.block_on(image::push(&client, &reference, &built, progress.as_ref()))?;
    let signed = match &sign_key {
        Some(key) => Some(
            tokio
                .block_on(trust::cosign_tag::push(&client, &reference, &digest, key))
                .with_context(|| format!("pushed {reference} ({digest}) but cannot sign it"))?,
        ),
        None => None,
    };
    if args.quiet {
        println!("{}@{digest}", reference.name());
    } else {
        println!(
            "Pushed {reference} ({}, digest {digest})",
            match format {
                PushFormat::Compat { .. } => "container image",
                PushFormat::WasmLayer { .. } => "container image with a Wasm layer",
                PushFormat::Artifact { .. } => "Wasm artifact",
            }
        );
        if let (Some(tag), Some(key)) = (&signed, &sign_key) {
            println!(
                "Signed {digest} with {} (key {}), as {}:{tag}",
                key.public_key().name(),
                key.public_key().fingerprint(),
                reference.name()
            );
        }
    }
    Ok(0)
}
