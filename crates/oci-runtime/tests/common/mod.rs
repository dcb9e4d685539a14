//! Helpers shared by the daemon-tier tests of Docker and ctr.
#![allow(dead_code)] // each test binary uses part of it

use wasmpod_test_guests as guests;
use wasmpod_testkit::LocalImage;

/// The image both load: a compat image for `linux/amd64` (Docker 20.10
/// refuses `wasi/wasm`) whose entrypoint is the probe module.
pub const IMAGE: &str = "localhost/wasmpod-test/oci-probe:1";
/// The image's entrypoint: the probe, a WASI preview 1 module.
pub const PROBE: &str = "/probe.wasm";
/// The probe as a WASI 0.2 command component.
pub const COMPONENT: &str = "/component.wasm";
/// A `wasi:http` proxy component answering `hello from wasm`.
pub const HTTP: &str = "/http.wasm";

/// [`IMAGE`]: the probe at [`PROBE`] (the entrypoint), and [`COMPONENT`]
/// and [`HTTP`] beside it, for `--entrypoint` and exec.
pub fn image() -> LocalImage {
    let read = |path: &str| std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    LocalImage::single_file(IMAGE, PROBE, &read(guests::PROBE))
        .file(COMPONENT, &read(guests::PROBE_COMPONENT), 0o755)
        .file(HTTP, &read(guests::HTTP_HELLO_WAT_WASM), 0o755)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
