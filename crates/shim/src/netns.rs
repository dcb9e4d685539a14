//! The network namespace a shim server, and so every guest socket of its
//! pod, lives in.
//!
//! `start` puts itself, before it forks the server, in the network the
//! spec of the group's first container asks for ([`crate::spec::Network`]):
//! the host's (no `network` entry), an existing namespace (an entry with a
//! path), or a new, empty one with only `lo`, up (an entry without a path,
//! as plain `ctr run` writes). It records where that is; the server then
//! refuses a later container of the group that asks for a different
//! network, since all of them share the server's.
//!
//! This module does not configure any other interface: a new namespace's
//! only network is its loopback, as with runc.

use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::sync::OnceLock;

use crate::ShimError;
use wasmpod_bundle::Network;

/// A namespace's identity: the device and inode of its nsfs file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NsId {
    dev: u64,
    ino: u64,
}

impl NsId {
    fn of(path: &Path) -> io::Result<Self> {
        let m = std::fs::metadata(path)?;
        Ok(Self {
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    /// The calling thread's network namespace.
    fn current() -> io::Result<Self> {
        Self::of(Path::new("/proc/thread-self/ns/net"))
    }
}

/// Where the server's network is, next to the network `start` ran in (the
/// host's, containerd's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GroupNetwork {
    host: NsId,
    server: NsId,
}

/// Set by `start` before the fork; the server inherits it.
static GROUP: OnceLock<GroupNetwork> = OnceLock::new();

/// The host's network namespace (the one `start` ran in), held open by
/// `start` for the server: what the shim itself fetches from registries
/// goes out there, as containerd's pulls do, never from the pod's network.
static HOST: OnceLock<std::os::fd::OwnedFd> = OnceLock::new();

/// Puts the calling process in the network `request` asks for and records
/// it for the server. Call only while the process has a single thread
/// (`start`, before the fork): namespaces are per thread, and the server's
/// threads inherit this one's.
pub(crate) fn enter(request: Network<'_>) -> io::Result<()> {
    let here = |e: io::Error| io::Error::other(format!("read this shim's network namespace: {e}"));
    let host = NsId::current().map_err(here)?;
    let host_ns = std::fs::File::open("/proc/thread-self/ns/net").map_err(here)?;
    wasmpod_bundle::netns::enter(request)?;
    let _ = HOST.set(host_ns.into());
    let server = NsId::current().map_err(here)?;
    // A second call would be a bug in `start`; the first record stays.
    let _ = GROUP.set(GroupNetwork { host, server });
    Ok(())
}

/// Runs `f` on a thread of its own in the host's network namespace (the
/// one `start` ran in), so the sockets it opens are the host's; a process
/// not started through `start` is in the host's already. Namespaces are per
/// thread: the server's other threads stay where they are.
pub(crate) fn in_host_network<T: Send>(f: impl FnOnce() -> T + Send) -> io::Result<T> {
    use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
    use std::os::fd::AsFd as _;
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> io::Result<T> {
                if let Some(host) = HOST.get() {
                    move_into_link_name_space(host.as_fd(), Some(LinkNameSpaceType::Network))
                        .map_err(|e| {
                            io::Error::other(format!("enter the host's network namespace: {e}"))
                        })?;
                }
                Ok(f())
            })
            .join()
            .map_err(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                io::Error::other(format!(
                    "a thread in the host's network namespace panicked: {what}"
                ))
            })?
    })
}

/// Whether this server may run a container asking for `request`: the
/// containers of a group share the server's network namespace, so a
/// container must ask for that one. One asking for a new namespace gets
/// the group's own (which is never the host's), as a pod's containers
/// share the pod's.
pub(crate) fn admit(request: Network<'_>) -> Result<(), ShimError> {
    let group = match GROUP.get() {
        Some(g) => *g,
        // Not started through `start`: this process's network is the host's.
        None => {
            let here = NsId::current().map_err(|e| ShimError::io("/proc/thread-self/ns/net", e))?;
            GroupNetwork {
                host: here,
                server: here,
            }
        }
    };
    group.admits(request, |p| NsId::of(Path::new(p)))
}

impl GroupNetwork {
    fn admits(
        &self,
        request: Network<'_>,
        ns_of: impl FnOnce(&str) -> io::Result<NsId>,
    ) -> Result<(), ShimError> {
        const SHARED: &str = "containers of one pod share its shim's network namespace";
        let own = self.server != self.host;
        match request {
            Network::Host if !own => Ok(()),
            Network::Host => Err(ShimError::InvalidSpec(format!(
                "linux.namespaces has no network namespace, which asks for the host's network, \
                 but this pod's shim runs in a network namespace of its own ({SHARED})"
            ))),
            Network::New if own => Ok(()),
            Network::New => Err(ShimError::InvalidSpec(format!(
                "linux.namespaces asks for a new network namespace, \
                 but this pod's shim runs in the host's network ({SHARED})"
            ))),
            Network::Join(path) => match ns_of(path) {
                Ok(id) if id == self.server => Ok(()),
                Ok(_) => Err(ShimError::InvalidSpec(format!(
                    "linux.namespaces: network namespace {path} is not the one this pod's shim \
                     runs in ({SHARED})"
                ))),
                Err(e) => Err(ShimError::io(path, e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: NsId = NsId { dev: 4, ino: 1 };
    const POD: NsId = NsId { dev: 4, ino: 2 };

    fn verdict(group: GroupNetwork, request: Network<'_>, path_is: NsId) -> Result<(), String> {
        group
            .admits(request, |_| Ok(path_is))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_container_must_ask_for_the_network_its_group_runs_in() {
        let on_host = GroupNetwork {
            host: HOST,
            server: HOST,
        };
        let own = GroupNetwork {
            host: HOST,
            server: POD,
        };
        // A server in the host's network takes only host-network containers
        // (and a path that names the host's namespace).
        assert_eq!(verdict(on_host, Network::Host, HOST), Ok(()));
        assert_eq!(
            verdict(on_host, Network::Join("/proc/1/ns/net"), HOST),
            Ok(())
        );
        let err = verdict(on_host, Network::New, HOST).expect_err("new on host");
        assert!(err.contains("asks for a new network namespace"), "{err}");
        let err = verdict(on_host, Network::Join("/run/netns/p"), POD).expect_err("pod on host");
        assert!(
            err.contains("network namespace /run/netns/p is not"),
            "{err}"
        );

        // A server in a namespace of its own never lets the host's network in.
        assert_eq!(verdict(own, Network::Join("/run/netns/p"), POD), Ok(()));
        assert_eq!(verdict(own, Network::New, HOST), Ok(()));
        let err = verdict(own, Network::Host, HOST).expect_err("host in pod");
        assert!(err.contains("asks for the host's network"), "{err}");
        let err = verdict(own, Network::Join("/proc/1/ns/net"), HOST).expect_err("host path");
        assert!(err.contains("/proc/1/ns/net is not"), "{err}");

        let err = own
            .admits(Network::Join("/gone"), |_| {
                Err(io::Error::from(io::ErrorKind::NotFound))
            })
            .expect_err("missing");
        assert_eq!(err.to_string(), "/gone");
        let line = wasmpod_engine::one_line(&err);
        assert!(line.starts_with("/gone: "), "{line}");
    }
}
