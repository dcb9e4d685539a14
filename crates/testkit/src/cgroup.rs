//! Cgroups a fixture's daemon created under the machine's cgroup root:
//! removed when empty, and left alone when something still runs in them.

use std::path::Path;

/// Removes the cgroup `path` (relative to each hierarchy's root, child
/// cgroups first as listed) from every hierarchy mounted under
/// /sys/fs/cgroup (each v1 controller, and the unified one). A cgroup that
/// still holds processes or children is not removed (`rmdir` fails).
pub(crate) fn remove_empty_cgroups(paths: &[&str]) {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut roots: Vec<_> = hierarchies.flatten().map(|h| h.path()).collect();
    roots.push(Path::new("/sys/fs/cgroup").to_path_buf());
    for root in roots {
        for path in paths {
            let _ = std::fs::remove_dir(root.join(path.trim_start_matches('/')));
        }
    }
}
