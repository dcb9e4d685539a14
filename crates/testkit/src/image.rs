//! Images for tests: compat images (a `.wasm` in an ordinary layer) and
//! images with Wasm layers, built and pushed with wasmpod's own OCI client.

use wasmpod_oci::image::BuiltImage;
use wasmpod_oci::manifest::{ContainerConfig, Descriptor, ImageConfig, RootFs};
use wasmpod_oci::{ClientOptions, Digest, ImageRef, NoProgress, RegistryClient, media};

/// A compat image: `files` in one gzip layer, `entrypoint` as its
/// entrypoint, for wasi/wasm.
pub fn compat_image(files: &[(&str, &[u8])], entrypoint: &str) -> BuiltImage {
    image_for(files, entrypoint, "wasi", "wasm")
}

/// An ordinary linux/amd64 image of native `files` (static binaries), for
/// runc beside the Wasm pods.
pub fn linux_image(files: &[(&str, &[u8])], entrypoint: &str) -> BuiltImage {
    image_for(files, entrypoint, "linux", "amd64")
}

fn image_for(files: &[(&str, &[u8])], entrypoint: &str, os: &str, arch: &str) -> BuiltImage {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        b.append_data(&mut h, path.trim_start_matches('/'), *data)
            .expect("tar");
    }
    let tar_bytes = b.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar_bytes).expect("gz");
    let layer = gz.finish().expect("gz");
    let config = serde_json::to_vec(&ImageConfig {
        created: None,
        architecture: arch.into(),
        os: os.into(),
        config: Some(ContainerConfig {
            entrypoint: Some(vec![entrypoint.into()]),
            ..Default::default()
        }),
        rootfs: Some(RootFs {
            kind: "layers".into(),
            diff_ids: vec![Digest::of(&tar_bytes)],
        }),
    })
    .expect("config");
    BuiltImage::new(
        (Descriptor::new(media::OCI_CONFIG, &config), config),
        vec![(Descriptor::new(media::OCI_LAYER_TAR_GZIP, &layer), layer)],
    )
    .expect("image")
}

/// An image whose modules are Wasm layers of their own (as `wasmpod push
/// --wasm-layer` makes, with more than one layer): each `(title, bytes)` an
/// `application/wasm` layer titled `title`, no filesystem layer, and
/// `entrypoint` in the config.
pub fn wasm_layer_image(layers: &[(&str, &[u8])], entrypoint: &str) -> BuiltImage {
    let config = serde_json::to_vec(&ImageConfig {
        created: None,
        architecture: "wasm".into(),
        os: "wasi".into(),
        config: Some(ContainerConfig {
            entrypoint: Some(vec![entrypoint.into()]),
            ..Default::default()
        }),
        rootfs: Some(RootFs {
            kind: "layers".into(),
            diff_ids: vec![],
        }),
    })
    .expect("config");
    let layers = layers
        .iter()
        .map(|(title, bytes)| {
            (
                Descriptor::new(media::WASM_LAYER, bytes).with_title(*title),
                bytes.to_vec(),
            )
        })
        .collect();
    BuiltImage::new(
        (Descriptor::new(media::OCI_CONFIG, &config), config),
        layers,
    )
    .expect("image")
}

/// Builds a compat image ([`compat_image`]) and pushes it to `reference`
/// (plain HTTP for a loopback registry).
pub fn push_compat(reference: &str, files: &[(&str, &[u8])], entrypoint: &str) {
    push_image(reference, &compat_image(files, entrypoint));
}

/// Pushes a built image to `reference` (plain HTTP for a loopback registry).
pub fn push_image(reference: &str, image: &BuiltImage) {
    let dir = tempfile::tempdir().expect("tmp");
    let auth = wasmpod_oci::auth::AuthFiles::new(dir.path().join("a.json"), vec![]);
    let client = RegistryClient::new(auth, ClientOptions::default()).expect("client");
    let r = ImageRef::parse(reference).expect("ref");
    // On a thread of its own, so async tests can call this too.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt")
                .block_on(wasmpod_oci::image::push(&client, &r, image, &NoProgress))
                .expect("push");
        });
    });
}
