//! What the `wasmpod up` test binaries share: a project folder of manifests
//! next to copies of the guests, and `up` run to its end, bounded.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use wasmpod_test_guests as guests;

use super::{Wasmpod, stdout};

/// How long a run-to-completion `up` may take before the test fails.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A folder holding manifests and copies of the guests.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(guests::PROBE, dir.path().join("probe.wasm")).expect("copy probe");
        std::fs::copy(guests::HTTP_HELLO_WAT_WASM, dir.path().join("http.wasm"))
            .expect("copy http guest");
        std::fs::copy(guests::HOG, dir.path().join("hog.wasm")).expect("copy hog");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` (relative to the project) and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write manifest");
        path
    }

    pub fn file(&self, name: &str) -> String {
        self.path().join(name).display().to_string()
    }
}

/// `wasmpod up ARGS...` to its end (bounded).
pub fn up(w: &Wasmpod, args: &[&str]) -> Output {
    let mut cmd = w.cmd();
    cmd.arg("up").args(args);
    wasmpod_testkit::output_within(cmd, None, RUN_LIMIT)
}

/// `wasmpod up -f FILE --backoff-scale 0.01` to its end (bounded).
pub fn up_file(w: &Wasmpod, file: &Path) -> Output {
    let file = file.display().to_string();
    up(w, &["-f", &file, "--backoff-scale", "0.01"])
}

pub fn lines(o: &Output) -> Vec<String> {
    stdout(o).lines().map(str::to_string).collect()
}
