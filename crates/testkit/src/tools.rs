//! Host tools the fixtures run (`docker-registry`, `openssl`, `containerd`):
//! found on `PATH`, or a hard failure naming the package, never a skip.

use std::path::PathBuf;

pub(crate) fn require(tool: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{tool} is not installed: run `make setup` (Debian package {package})")
    })
}
