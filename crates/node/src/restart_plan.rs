//! Whether a running containerd may be stopped and started again by pid,
//! and how: pure decisions on a [`ProcessSnapshot`]. A restart that could
//! not bring back the same containerd (its program gone, namespaces this
//! process cannot join, weaker credentials) is refused before anything is
//! stopped, with a [`Refusal`] that says why. Tested from constructed
//! snapshots, without root.

use std::ffi::OsString;
use std::path::PathBuf;

use rustix::process::{Resource, Rlimit};

use crate::NodeError;
use crate::proc::{self, CgroupEntry};
use crate::process_snapshot::{Namespace, NamespaceView, ProcessSnapshot};

/// CAP_SYS_ADMIN (21) to join namespaces, CAP_SYS_CHROOT (18) for the
/// mount one.
const JOIN_CAPABILITIES: [u32; 2] = [21, 18];

/// Why a containerd is left running instead of restarted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("containerd (pid {pid}): unreadable stat {stat:?}")]
    UnreadableStat { pid: i32, stat: String },
    #[error("/proc/{pid}/cmdline is empty: containerd (pid {pid}) is exiting")]
    Exiting { pid: i32 },
    #[error(
        "containerd (pid {pid}) runs in other namespaces ({}) and joining them takes CAP_SYS_ADMIN and CAP_SYS_CHROOT (a privileged pod)",
        names(.namespaces)
    )]
    NamespacesNeedCapabilities {
        pid: i32,
        namespaces: Vec<Namespace>,
    },
    #[error(
        "containerd (pid {pid}) runs `{}`, which cannot be found to start it again; it was left running: restart it yourself",
        .program.to_string_lossy()
    )]
    ProgramNotFound { pid: i32, program: OsString },
    #[error(
        "containerd (pid {pid}) would be started again with less than it has: {why}; it was left running: restart it yourself, or run this with containerd's privileges"
    )]
    WeakerCredentials { pid: i32, why: String },
}

fn names(namespaces: &[Namespace]) -> String {
    namespaces
        .iter()
        .map(|n| n.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Refusal {
    /// As the installer reports it.
    pub fn into_error(self) -> NodeError {
        NodeError::RestartRefused(self)
    }
}

/// How to start a containerd again as it ran: everything the new process
/// is given before its exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPlan {
    /// With the pid, names the running process across pid reuse.
    pub start_time: u64,
    /// Its command line, program first, and environment, unchanged.
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// Its namespaces that are not ours, in `setns` order.
    pub join: Vec<Namespace>,
    /// Its cgroups as its cgroup namespace names them, each with the
    /// `cgroup.procs` file (in its mount namespace) that joins it.
    pub cgroups: Vec<(CgroupEntry, Option<PathBuf>)>,
    pub rlimits: Vec<(Resource, Rlimit)>,
    pub oom_score_adj: Option<Vec<u8>>,
    pub umask: Option<u32>,
}

/// Whether a process this `stat` and `argv` were read from is still
/// there to be restarted; its start time if so.
pub fn alive(pid: i32, stat: &str, argv: &[OsString]) -> Result<u64, Refusal> {
    let (_, start_time) = proc::parse_stat(stat).ok_or_else(|| Refusal::UnreadableStat {
        pid,
        stat: stat.to_string(),
    })?;
    if argv.is_empty() {
        return Err(Refusal::Exiting { pid });
    }
    Ok(start_time)
}

/// Whether a process with this status (`/proc/PID/status`) may join
/// another process's namespaces.
pub fn may_join_namespaces(status: &str) -> bool {
    proc::has_capabilities(status, &JOIN_CAPABILITIES)
}

/// Decides on a restart of the containerd in `snapshot`: the plan, or why
/// it is left running.
pub fn plan(snapshot: &ProcessSnapshot) -> Result<RestartPlan, Refusal> {
    let pid = snapshot.pid;
    let start_time = alive(pid, &snapshot.stat, &snapshot.argv)?;

    let mut join = Vec::new();
    for (ns, view) in &snapshot.namespaces {
        match view {
            NamespaceView::Other => join.push(*ns),
            NamespaceView::Unseen(error) => tracing::warn!(
                pid,
                namespace = ns.name(),
                %error,
                "cannot see containerd's namespace; starting it in ours"
            ),
            NamespaceView::Missing | NamespaceView::Shared => {}
        }
    }
    if !join.is_empty() && !may_join_namespaces(&snapshot.our_status) {
        return Err(Refusal::NamespacesNeedCapabilities {
            pid,
            namespaces: join,
        });
    }
    // A containerd whose program cannot be found again (removed, or not
    // executable) is left running rather than stopped for good.
    if snapshot.program.is_none() {
        return Err(Refusal::ProgramNotFound {
            pid,
            program: snapshot.argv[0].clone(),
        });
    }
    // Nor one that would come back weaker: it inherits our user,
    // capabilities, seccomp filter and no_new_privs.
    if let Some(why) = proc::weaker_credentials(&snapshot.our_status, &snapshot.status) {
        return Err(Refusal::WeakerCredentials { pid, why });
    }

    let cgroups = match &snapshot.cgroups {
        Some(texts) => {
            let mounts = proc::parse_mountinfo(&texts.mountinfo);
            proc::parse_cgroup(&texts.cgroup)
                .into_iter()
                .map(|entry| {
                    let file = proc::cgroup_procs_file(&entry, &mounts);
                    if file.is_none() && entry.path != "/" {
                        tracing::warn!(
                            pid,
                            hierarchy = %entry.hierarchy(),
                            cgroup = %entry.path,
                            "no mount of containerd's cgroup hierarchy; the restarted one will not join it"
                        );
                    }
                    (entry, file)
                })
                .collect()
        }
        None => Vec::new(),
    };
    let rlimits = snapshot
        .limits
        .as_deref()
        .map(proc::parse_limits)
        .unwrap_or_default();
    if rlimits.is_empty() {
        tracing::warn!(
            pid,
            "cannot read containerd's resource limits; the restarted one has ours"
        );
    }
    let umask =
        proc::status_field(&snapshot.status, "Umask").and_then(|v| u32::from_str_radix(v, 8).ok());

    Ok(RestartPlan {
        start_time,
        argv: snapshot.argv.clone(),
        env: snapshot.env.clone(),
        join,
        cgroups,
        rlimits,
        oom_score_adj: snapshot.oom_score_adj.clone(),
        umask,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process_snapshot::{CgroupTexts, NAMESPACES};

    const FULL: &str = "000001ffffffffff";

    fn status(uid: &str, eff: &str, seccomp: &str, nnp: &str) -> String {
        format!(
            "Name:\tcontainerd\nUmask:\t0027\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nCapEff:\t{eff}\nCapBnd:\t{FULL}\nNoNewPrivs:\t{nnp}\nSeccomp:\t{seccomp}\n"
        )
    }

    /// A root containerd in our namespaces, as the installer finds it on
    /// a plain node; each test changes what it is about.
    fn snapshot() -> ProcessSnapshot {
        let root = status("0", FULL, "0", "0");
        ProcessSnapshot {
            pid: 42,
            stat: "42 (containerd) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10"
                .into(),
            argv: vec![
                "/usr/bin/containerd".into(),
                "--config".into(),
                "/etc/c.toml".into(),
            ],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            cwd: "/".into(),
            namespaces: NAMESPACES
                .iter()
                .map(|ns| (*ns, NamespaceView::Shared))
                .collect(),
            cgroups: Some(CgroupTexts {
                cgroup: "0::/system.slice/containerd.service\n".into(),
                mountinfo: "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n".into(),
            }),
            limits: Some(
                "Limit                     Soft Limit           Hard Limit           Units     \n\
                 Max open files            777                  777                  files     \n"
                    .into(),
            ),
            oom_score_adj: Some(b"-999".to_vec()),
            status: root.clone(),
            our_status: root,
            program: Some("/proc/42/root/usr/bin/containerd".into()),
        }
    }

    fn refusal(snapshot: &ProcessSnapshot) -> Refusal {
        match plan(snapshot) {
            Ok(p) => panic!("planned {p:?}"),
            Err(r) => r,
        }
    }

    #[test]
    fn a_containerd_like_ours_is_restarted_as_it_ran() {
        let s = snapshot();
        let p = plan(&s).expect("plan");
        assert_eq!(p.start_time, 98765);
        assert_eq!(p.argv, s.argv);
        assert_eq!(p.env, s.env);
        assert!(p.join.is_empty());
        assert_eq!(
            p.cgroups,
            vec![(
                CgroupEntry {
                    controllers: vec![],
                    path: "/system.slice/containerd.service".into()
                },
                Some(PathBuf::from(
                    "/sys/fs/cgroup/system.slice/containerd.service/cgroup.procs"
                ))
            )]
        );
        assert_eq!(
            p.rlimits,
            vec![(
                Resource::Nofile,
                Rlimit {
                    current: Some(777),
                    maximum: Some(777)
                }
            )]
        );
        assert_eq!(p.oom_score_adj.as_deref(), Some(&b"-999"[..]));
        assert_eq!(p.umask, Some(0o027));
    }

    #[test]
    fn what_cannot_be_read_is_left_as_ours() {
        let s = ProcessSnapshot {
            cgroups: None,
            limits: None,
            oom_score_adj: None,
            status: status("0", FULL, "0", "0").replace("Umask:\t0027\n", ""),
            ..snapshot()
        };
        let p = plan(&s).expect("plan");
        assert!(p.cgroups.is_empty() && p.rlimits.is_empty());
        assert_eq!((p.oom_score_adj, p.umask), (None, None));
    }

    #[test]
    fn other_namespaces_are_joined_given_the_capabilities() {
        let mut s = snapshot();
        s.namespaces[0].1 = NamespaceView::Other;
        s.namespaces[3].1 = NamespaceView::Unseen("permission denied".into());
        s.namespaces[4].1 = NamespaceView::Other;
        let p = plan(&s).expect("plan");
        assert_eq!(p.join, vec![Namespace::Cgroup, Namespace::Mnt]);
    }

    #[test]
    fn other_namespaces_without_the_capabilities_are_refused() {
        let mut s = snapshot();
        s.namespaces[3].1 = NamespaceView::Other;
        s.namespaces[4].1 = NamespaceView::Other;
        // CAP_SYS_ADMIN but not CAP_SYS_CHROOT; the same for containerd,
        // so the credentials alone would pass.
        let admin_only = status("0", "0000000000200000", "0", "0");
        s.our_status = admin_only.clone();
        s.status = admin_only;
        let r = refusal(&s);
        assert_eq!(
            r,
            Refusal::NamespacesNeedCapabilities {
                pid: 42,
                namespaces: vec![Namespace::Net, Namespace::Mnt]
            }
        );
        assert_eq!(
            r.to_string(),
            "containerd (pid 42) runs in other namespaces (net, mnt) and joining them takes CAP_SYS_ADMIN and CAP_SYS_CHROOT (a privileged pod)"
        );
    }

    #[test]
    fn a_program_that_cannot_be_found_is_refused() {
        let s = ProcessSnapshot {
            program: None,
            ..snapshot()
        };
        let r = refusal(&s);
        assert_eq!(
            r.to_string(),
            "containerd (pid 42) runs `/usr/bin/containerd`, which cannot be found to start it again; it was left running: restart it yourself"
        );
    }

    #[test]
    fn weaker_credentials_are_refused() {
        let cases = [
            (
                status("1000", FULL, "0", "0"),
                "uid 0 and this process as uid 1000",
            ),
            (
                status("0", "00000000a80425fb", "0", "0"),
                "effective capabilities this process lacks",
            ),
            (status("0", FULL, "2", "0"), "seccomp filter"),
            (status("0", FULL, "0", "1"), "no_new_privs"),
        ];
        for (ours, why) in cases {
            let s = ProcessSnapshot {
                our_status: ours,
                ..snapshot()
            };
            match refusal(&s) {
                Refusal::WeakerCredentials { pid: 42, why: got } => {
                    assert!(got.contains(why), "{got}")
                }
                other => panic!("{other:?}"),
            }
            assert!(
                refusal(&s).to_string().ends_with(
                    "; it was left running: restart it yourself, or run this with containerd's privileges"
                )
            );
        }
    }

    #[test]
    fn an_exiting_or_unreadable_process_is_refused() {
        let s = ProcessSnapshot {
            argv: vec![],
            ..snapshot()
        };
        assert_eq!(refusal(&s), Refusal::Exiting { pid: 42 });
        assert_eq!(
            refusal(&s).to_string(),
            "/proc/42/cmdline is empty: containerd (pid 42) is exiting"
        );
        let s = ProcessSnapshot {
            stat: "42 (x) Z 1".into(),
            ..snapshot()
        };
        assert!(matches!(
            refusal(&s),
            Refusal::UnreadableStat { pid: 42, .. }
        ));
    }

    /// The order of the checks: a process that would be refused for
    /// several reasons gets the first.
    #[test]
    fn the_namespaces_are_checked_before_the_program_and_credentials() {
        let mut s = snapshot();
        s.namespaces[1].1 = NamespaceView::Other;
        s.our_status = status("1000", "0000000000000000", "0", "0");
        s.program = None;
        assert!(matches!(
            refusal(&s),
            Refusal::NamespacesNeedCapabilities { .. }
        ));
        s.namespaces[1].1 = NamespaceView::Shared;
        assert!(matches!(refusal(&s), Refusal::ProgramNotFound { .. }));
    }
}
