//! Where wasmpod keeps its state.
//!
//! Everything wasmpod writes (the compile cache, and the image store) lives
//! under one folder, so that one variable moves it and tests can isolate it.

use std::path::PathBuf;

/// The variable that overrides the state folder.
pub const HOME_ENV: &str = "WASMPOD_HOME";

/// The state folder: `$WASMPOD_HOME` if set and not empty; otherwise
/// `/var/lib/wasmpod` for root; otherwise `$XDG_DATA_HOME/wasmpod`, falling
/// back to `~/.local/share/wasmpod`. Returns `None` only when none of these
/// can be determined (a non-root user with no `HOME`).
pub fn default_home() -> Option<PathBuf> {
    resolve(
        std::env::var_os(HOME_ENV),
        is_root(),
        std::env::var_os("XDG_DATA_HOME"),
        std::env::var_os("HOME"),
    )
}

fn resolve(
    explicit: Option<std::ffi::OsString>,
    root: bool,
    xdg_data_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let non_empty = |v: Option<std::ffi::OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = non_empty(explicit) {
        return Some(dir);
    }
    if root {
        return Some(PathBuf::from("/var/lib/wasmpod"));
    }
    if let Some(dir) = non_empty(xdg_data_home) {
        return Some(dir.join("wasmpod"));
    }
    non_empty(home).map(|h| h.join(".local/share/wasmpod"))
}

fn is_root() -> bool {
    // The effective uid is what decides which folders we may write.
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::resolve;
    use std::path::PathBuf;

    fn s(v: &str) -> Option<std::ffi::OsString> {
        Some(v.into())
    }

    #[test]
    fn explicit_wins() {
        assert_eq!(
            resolve(s("/x"), true, s("/d"), s("/h")),
            Some(PathBuf::from("/x"))
        );
    }

    #[test]
    fn root_uses_var_lib() {
        assert_eq!(
            resolve(None, true, s("/d"), s("/h")),
            Some(PathBuf::from("/var/lib/wasmpod"))
        );
        assert_eq!(
            resolve(s(""), true, None, None),
            Some(PathBuf::from("/var/lib/wasmpod"))
        );
    }

    #[test]
    fn user_uses_xdg_then_home() {
        assert_eq!(
            resolve(None, false, s("/d"), s("/h")),
            Some(PathBuf::from("/d/wasmpod"))
        );
        assert_eq!(
            resolve(None, false, None, s("/h")),
            Some(PathBuf::from("/h/.local/share/wasmpod"))
        );
        assert_eq!(resolve(None, false, None, None), None);
    }
}
