//! Who a container's process runs as: `process.user`, as runc sets it.
//! The process starts as root (to join the cgroup and the network
//! namespace, and to open the rootfs and mounts); it takes the spec's
//! supplementary groups, gid and uid just before the guest runs, so the
//! guest's file access beneath its grants is checked as that user's, as a
//! native process's would be. A uid other than 0 has no capabilities.

use anyhow::Context as _;
use wasmpod_bundle::User;

/// Becomes `user`; nothing to do for root.
pub fn become_user(user: &User) -> anyhow::Result<()> {
    if *user == User::default() {
        return Ok(());
    }
    let groups: Vec<libc::gid_t> = user.additional_gids.clone();
    // SAFETY: `groups` is a valid array of `groups.len()` gids for the
    // duration of the call. glibc applies the change to every thread of
    // the process.
    #[allow(unsafe_code)]
    let r = unsafe { libc::setgroups(groups.len(), groups.as_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("setgroups");
    }
    // SAFETY: plain syscall wrappers with integer arguments; glibc applies
    // them to every thread of the process.
    #[allow(unsafe_code)]
    let r = unsafe { libc::setresgid(user.gid, user.gid, user.gid) };
    if r != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setresgid {}", user.gid));
    }
    // SAFETY: as above.
    #[allow(unsafe_code)]
    let r = unsafe { libc::setresuid(user.uid, user.uid, user.uid) };
    if r != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setresuid {}", user.uid));
    }
    Ok(())
}

/// `--user UID[:GID]` of `exec`: numbers only (a guest's image has no
/// user database wasmpod-oci reads).
pub fn parse(value: &str) -> anyhow::Result<User> {
    let (uid, gid) = value.split_once(':').unwrap_or((value, "0"));
    let number = |s: &str| {
        s.parse::<u32>()
            .with_context(|| format!("exec: --user {value}: give UID[:GID] as numbers"))
    };
    Ok(User {
        uid: number(uid)?,
        gid: number(gid)?,
        additional_gids: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_numbers() {
        assert_eq!(parse("1000:1001").expect("both").gid, 1001);
        assert_eq!(parse("1000").expect("uid").gid, 0);
        let err = format!("{:#}", parse("nobody").expect_err("name"));
        assert!(err.contains("give UID[:GID] as numbers"), "{err}");
        become_user(&User::default()).expect("root stays root");
    }
}
