//! What a container's process was given at create, by identity, so that
//! `exec` gives a new process the same directories and never others.
//!
//! Why: `exec` is a process of its own, which reads `config.json` again
//! and opens each bind mount's source and the rootfs by their host paths
//! (runc's exec enters the container's mounts instead, pinned at create).
//! A path can lead somewhere else by then: with `/vol` from `$T/vol`
//! (writable) and `/inner` from `$T/vol/inner`, the guest can rename
//! `/vol/inner` and leave a symlink there pointing out of the volume, and
//! the next exec would open what the link names. So `init` records the
//! device and inode of every directory it granted, and `exec` refuses to
//! run when a directory it opened is not the one recorded for the same
//! place.

use anyhow::bail;
use serde::{Deserialize, Serialize};
use wasmpod_engine::Preopen;

/// One directory a process was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Where the guest sees it (`/` for the rootfs).
    pub guest: String,
    pub dev: u64,
    pub ino: u64,
}

/// The identities of `preopens`, as opened.
pub fn of(preopens: &[Preopen]) -> anyhow::Result<Vec<Grant>> {
    preopens
        .iter()
        .map(|p| {
            let (dev, ino) = p.dir.identity()?;
            Ok(Grant {
                guest: p.guest.clone(),
                dev,
                ino,
            })
        })
        .collect()
}

/// Checks that every directory `now` grants is the one `at_create`
/// recorded for the same place. A place create did not grant (a source
/// that was missing then) is refused too.
pub fn check(at_create: &[Grant], now: &[Grant]) -> anyhow::Result<()> {
    for grant in now {
        let same = at_create
            .iter()
            .any(|g| g.guest == grant.guest && g.dev == grant.dev && g.ino == grant.ino);
        if !same {
            bail!(
                "{} is not the directory the container was given at create (its source was moved or replaced since); refusing to exec",
                grant.guest
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(guest: &str, ino: u64) -> Grant {
        Grant {
            guest: guest.into(),
            dev: 1,
            ino,
        }
    }

    #[test]
    fn only_the_same_directories_at_the_same_places_pass() {
        let created = [grant("/", 1), grant("/vol", 2), grant("/inner", 3)];
        check(&created, &created).expect("the same");
        check(&created, &[grant("/", 1), grant("/vol", 2)]).expect("fewer");
        let err = check(&created, &[grant("/", 1), grant("/inner", 9)]).expect_err("replaced");
        assert!(
            err.to_string().starts_with("/inner is not the directory"),
            "{err}"
        );
        check(&created, &[grant("/vol", 3)]).expect_err("swapped places");
        check(&created, &[grant("/new", 2)]).expect_err("not granted at create");
    }
}
