//! The public WASI conformance fixtures that sit beside the repository
//! (`../shared/conformance/`), for the tests of every crate that runs them.

use std::path::{Path, PathBuf};

/// The WASI 0.3 fixtures (`wasi-testsuite-p3`): `$WASMPOD_CONFORMANCE_P3`
/// if set, else `shared/conformance/` beside the repository (or beside the
/// folder of worktrees it is in). A test that needs them fails when they
/// are missing, naming where it looked.
pub fn wasi_p3_fixtures() -> PathBuf {
    if let Some(dir) = std::env::var_os("WASMPOD_CONFORMANCE_P3") {
        return dir.into();
    }
    // This crate is crates/testkit: the repository is two folders up.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        repo.join("../shared/conformance/wasi-testsuite-p3"),
        repo.join("../../shared/conformance/wasi-testsuite-p3"),
    ];
    candidates
        .iter()
        .find(|c| c.join("manifest.json").is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the WASI 0.3 conformance fixtures are missing: looked in {candidates:?}; \
                 set WASMPOD_CONFORMANCE_P3 to the wasi-testsuite-p3 folder"
            )
        })
}
