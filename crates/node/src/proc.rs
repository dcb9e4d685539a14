//! Reading a running containerd out of `/proc`: which config it was
//! started with, its environment, the cgroups it sits in, its limits and
//! credentials. Pure parsing, so the restart in [`crate::restart_by_pid`]
//! is tested without one.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::{Component, Path, PathBuf};

use rustix::process::{Resource, Rlimit};

/// The config containerd reads when not given `--config`.
pub const DEFAULT_CONFIG: &str = "/etc/containerd/config.toml";

/// A NUL-separated list (`/proc/PID/cmdline`, `/proc/PID/environ`).
/// Empty items are kept (an empty argument is an argument); only the
/// terminating NUL is dropped.
pub fn split_nul(bytes: &[u8]) -> Vec<OsString> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|b| *b == 0)
        .map(|item| OsString::from_vec(item.to_vec()))
        .collect()
}

/// `KEY=VALUE` pairs from `/proc/PID/environ`; items without `=` are
/// dropped (they cannot be passed on).
pub fn parse_environ(bytes: &[u8]) -> Vec<(OsString, OsString)> {
    split_nul(bytes)
        .into_iter()
        .filter_map(|item| {
            let item = item.into_vec();
            let eq = item.iter().position(|b| *b == b'=')?;
            (eq > 0).then(|| {
                (
                    OsString::from_vec(item[..eq].to_vec()),
                    OsString::from_vec(item[eq + 1..].to_vec()),
                )
            })
        })
        .collect()
}

/// The value of containerd's `--config` flag in `argv` (program first):
/// `--config X`, `--config=X`, `-c X`, `-c=X`, and the single-dash long
/// and double-dash short forms Go's flag parsing also accepts. The last
/// one wins, as in Go.
pub fn config_arg(argv: &[OsString]) -> Option<&OsStr> {
    let mut found = None;
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let bytes = arg.as_bytes();
        // Flag parsing ends at `--`, as in Go.
        if bytes == b"--" {
            break;
        }
        let Some(flag) = bytes
            .strip_prefix(b"--")
            .or_else(|| bytes.strip_prefix(b"-"))
        else {
            continue;
        };
        let (name, inline) = match flag.iter().position(|b| *b == b'=') {
            Some(eq) => (&flag[..eq], Some(&flag[eq + 1..])),
            None => (flag, None),
        };
        if name != b"config" && name != b"c" {
            continue;
        }
        found = match inline {
            Some(value) => Some(OsStr::from_bytes(value)),
            None => args.next().map(OsString::as_os_str),
        };
    }
    found
}

/// The config file a containerd with this `argv` reads: its `--config`
/// (or [`DEFAULT_CONFIG`]), resolved against its working directory when
/// relative (left relative when `cwd` is unknown).
pub fn config_of(argv: &[OsString], cwd: Option<&Path>) -> PathBuf {
    let given = config_arg(argv)
        .filter(|c| !c.is_empty())
        .map(Path::new)
        .unwrap_or(Path::new(DEFAULT_CONFIG));
    match cwd {
        Some(cwd) if given.is_relative() => normalize(&cwd.join(given)),
        _ => normalize(given),
    }
}

/// Where a command whose `argv[0]` is `program` is found when started with
/// `env` (its `PATH`) in `cwd`, looking at the file system through `root`
/// (for another process: `/proc/PID/root` and `/proc/PID/cwd`, which show
/// its mount namespace). `None` if no executable file is there.
pub fn find_program(
    root: &Path,
    cwd: &Path,
    program: &OsStr,
    env: &[(OsString, OsString)],
) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let path = Path::new(program);
    if program.as_bytes().contains(&b'/') {
        let found = match path.strip_prefix("/") {
            Ok(rel) => root.join(rel),
            Err(_) => cwd.join(path),
        };
        return executable(&found).then_some(found);
    }
    let search = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&search)
        .filter(|dir| dir.is_absolute())
        .map(|dir| root.join(dir.strip_prefix("/").unwrap_or(&dir)).join(path))
        .find(|p| executable(p))
}

/// `.` and `..` removed without looking at the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() && !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// One line of `/proc/PID/cgroup`: `ID:CONTROLLERS:PATH`. Cgroup v2 is
/// the line with no controllers (`0::/path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupEntry {
    /// `cpu`, `cpuacct`, `name=systemd`...; empty for cgroup v2.
    pub controllers: Vec<String>,
    /// Absolute within the hierarchy (as seen from the reader's cgroup
    /// namespace).
    pub path: String,
}

impl CgroupEntry {
    pub fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }

    /// The hierarchy for messages: `cpu,cpuacct`, or `unified` for v2.
    pub fn hierarchy(&self) -> String {
        if self.is_v2() {
            "unified".to_string()
        } else {
            self.controllers.join(",")
        }
    }
}

/// Parses `/proc/PID/cgroup`; malformed lines are skipped.
pub fn parse_cgroup(text: &str) -> Vec<CgroupEntry> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            if id.parse::<u32>().is_err() || !path.starts_with('/') {
                return None;
            }
            let controllers = controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>();
            if controllers.is_empty() && id != "0" {
                return None;
            }
            Some(CgroupEntry {
                controllers,
                path: path.to_string(),
            })
        })
        .collect()
}

/// A cgroup mount from `/proc/PID/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// The cgroup this mount shows at its mount point (`/` normally).
    pub root: String,
    pub mount_point: PathBuf,
    /// `cgroup2`, or `cgroup` (v1).
    pub v2: bool,
    /// The super options: for v1 the controllers and `name=...`.
    pub options: Vec<String>,
}

/// `\040` and friends, as mountinfo escapes space, tab, newline and `\`.
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let d = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(d, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The cgroup (v1 and v2) mounts in `/proc/PID/mountinfo`.
pub fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    text.lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let mount: Vec<&str> = mount.split(' ').collect();
            let mut fs = fs.split(' ');
            let fstype = fs.next()?;
            let v2 = match fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => return None,
            };
            let options = fs.nth(1).unwrap_or_default();
            Some(CgroupMount {
                root: String::from_utf8_lossy(&unescape(mount.get(3)?)).into_owned(),
                mount_point: PathBuf::from(OsString::from_vec(unescape(mount.get(4)?))),
                v2,
                options: options.split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// The `cgroup.procs` file that moves a process into `entry`, under the
/// mount of its hierarchy (a mount showing the hierarchy's root is
/// preferred; one showing a subtree serves paths below it).
pub fn cgroup_procs_file(entry: &CgroupEntry, mounts: &[CgroupMount]) -> Option<PathBuf> {
    let serves = |m: &&CgroupMount| {
        m.v2 == entry.is_v2()
            && entry
                .controllers
                .iter()
                .all(|c| m.options.iter().any(|o| o == c))
    };
    let below = |root: &str| -> Option<PathBuf> {
        let rest = Path::new(&entry.path).strip_prefix(root).ok()?;
        // A path outside the reader's cgroup namespace (`/../..`) names
        // no directory under any mount.
        let inside = rest.components().all(|c| matches!(c, Component::Normal(_)));
        inside.then(|| rest.to_path_buf())
    };
    let mount = mounts
        .iter()
        .filter(serves)
        .find(|m| m.root == "/")
        .or_else(|| {
            mounts
                .iter()
                .filter(serves)
                .find(|m| below(&m.root).is_some())
        })?;
    let rest = below(&mount.root)?;
    Some(mount.mount_point.join(rest).join("cgroup.procs"))
}

/// A running containerd, as far as choosing one goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub pid: i32,
    /// The config it reads, as a host path.
    pub config: PathBuf,
    /// Whether that is the config being installed into.
    pub matches: bool,
}

/// Which containerd to restart: the one reading `target`; failing that
/// the only one running (`Ok((index, false))`: a guess, to be logged).
pub fn choose(candidates: &[Candidate], target: &Path) -> Result<(usize, bool), String> {
    let matching: Vec<usize> = (0..candidates.len())
        .filter(|i| candidates[*i].matches)
        .collect();
    match (matching.as_slice(), candidates.len()) {
        ([one], _) => Ok((*one, true)),
        ([], 1) => Ok((0, false)),
        (_, 0) => Err("no running containerd process found".to_string()),
        (several, _) => {
            let seen = candidates
                .iter()
                .map(|c| format!("pid {} ({})", c.pid, c.config.display()))
                .collect::<Vec<_>>()
                .join(", ");
            let which = if several.is_empty() {
                "none"
            } else {
                "several"
            };
            Err(format!(
                "{} containerd processes run and {which} of them reads {}: {seen}",
                candidates.len(),
                target.display()
            ))
        }
    }
}

/// From `/proc/PID/stat`: the state letter and the start time (clock
/// ticks after boot; with the pid, it names a process across pid reuse).
pub fn parse_stat(text: &str) -> Option<(char, u64)> {
    // `PID (COMM) STATE PPID ...`: COMM may hold spaces and parentheses.
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 is the state; the start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// A `KEY:\tvalue` line of `/proc/PID/status`.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}

/// Whether a process with this `/proc/PID/status` holds the capabilities
/// (by number) in `caps`, as effective ones.
pub fn has_capabilities(status: &str, caps: &[u32]) -> bool {
    let effective = status_field(status, "CapEff")
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .unwrap_or(0);
    caps.iter().all(|c| effective & (1 << c) != 0)
}

/// The rows of `/proc/PID/limits`, by the names the kernel prints for
/// resources 0 to 15 (the same set on every Linux).
const LIMIT_NAMES: [(&str, Resource); 16] = [
    ("Max cpu time", Resource::Cpu),
    ("Max file size", Resource::Fsize),
    ("Max data size", Resource::Data),
    ("Max stack size", Resource::Stack),
    ("Max core file size", Resource::Core),
    ("Max resident set", Resource::Rss),
    ("Max processes", Resource::Nproc),
    ("Max open files", Resource::Nofile),
    ("Max locked memory", Resource::Memlock),
    ("Max address space", Resource::As),
    ("Max file locks", Resource::Locks),
    ("Max pending signals", Resource::Sigpending),
    ("Max msgqueue size", Resource::Msgqueue),
    ("Max nice priority", Resource::Nice),
    ("Max realtime priority", Resource::Rtprio),
    ("Max realtime timeout", Resource::Rttime),
];

/// The resource limits in `/proc/PID/limits` (soft and hard, `None` for
/// `unlimited`), in the kernel's order; rows that do not parse are left
/// out. The kernel prints the raw values, so they set the same limits.
pub fn parse_limits(text: &str) -> Vec<(Resource, Rlimit)> {
    let value = |v: &str| match v {
        "unlimited" => Some(None),
        v => v.parse().ok().map(Some),
    };
    LIMIT_NAMES
        .iter()
        .filter_map(|(name, resource)| {
            let rest = text.lines().find_map(|line| {
                let rest = line.strip_prefix(name)?;
                rest.starts_with(' ').then_some(rest)
            })?;
            let mut fields = rest.split_whitespace();
            let current = value(fields.next()?)?;
            let maximum = value(fields.next()?)?;
            Some((*resource, Rlimit { current, maximum }))
        })
        .collect()
}

/// Why a process with `ours` (its `/proc/PID/status`) would start a
/// weaker program than the running one with `theirs`, if it would: the
/// restarted program inherits the restarter's user, capabilities, seccomp
/// filter and no_new_privs flag, none of which it could undo. `None` when
/// it would have at least what the running one has.
pub fn weaker_credentials(ours: &str, theirs: &str) -> Option<String> {
    let effective_uid = |s: &'static str, status: &str| -> Result<String, String> {
        status_field(status, "Uid")
            .and_then(|v| v.split_whitespace().nth(1))
            .map(str::to_string)
            .ok_or_else(|| format!("no Uid in {s} status"))
    };
    let (our_uid, their_uid) = match (effective_uid("our", ours), effective_uid("its", theirs)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return Some(e),
    };
    if our_uid != their_uid {
        return Some(format!(
            "it runs as uid {their_uid} and this process as uid {our_uid}"
        ));
    }
    for (key, what) in [("CapEff", "effective"), ("CapBnd", "bounding")] {
        let mask =
            |status: &str| status_field(status, key).and_then(|v| u64::from_str_radix(v, 16).ok());
        let (Some(our_caps), Some(their_caps)) = (mask(ours), mask(theirs)) else {
            return Some(format!("no {key} in a status"));
        };
        let missing = their_caps & !our_caps;
        if missing != 0 {
            return Some(format!(
                "it has {what} capabilities this process lacks ({key} {their_caps:016x} against {our_caps:016x})"
            ));
        }
    }
    let flag = |status: &str, key: &str| status_field(status, key).is_some_and(|v| v != "0");
    if flag(ours, "Seccomp") && !flag(theirs, "Seccomp") {
        return Some(
            "this process runs under a seccomp filter that the new containerd would inherit, and the running one has none"
                .into(),
        );
    }
    if flag(ours, "NoNewPrivs") && !flag(theirs, "NoNewPrivs") {
        return Some(
            "this process has no_new_privs set, which the new containerd would inherit, and the running one has not"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn config_flag_in_every_form_the_last_one_winning() {
        let c = |args: &[&str]| config_arg(&argv(args)).map(|c| c.to_string_lossy().into_owned());
        assert_eq!(c(&["containerd"]), None);
        assert_eq!(
            c(&["containerd", "--config", "/a.toml"]).as_deref(),
            Some("/a.toml")
        );
        assert_eq!(
            c(&["containerd", "--config=/a.toml"]).as_deref(),
            Some("/a.toml")
        );
        assert_eq!(
            c(&["containerd", "-c", "/a.toml"]).as_deref(),
            Some("/a.toml")
        );
        assert_eq!(c(&["containerd", "-c=/a.toml"]).as_deref(), Some("/a.toml"));
        assert_eq!(
            c(&["containerd", "-config", "/a.toml"]).as_deref(),
            Some("/a.toml")
        );
        assert_eq!(
            c(&[
                "/usr/bin/containerd",
                "--log-level",
                "debug",
                "-c",
                "/a.toml",
                "-a",
                "/run/k3s/containerd/containerd.sock",
                "--config",
                "/b.toml",
            ])
            .as_deref(),
            Some("/b.toml")
        );
        // Neither `--config-path`, nor the program's own name, nor a
        // flag with no value left.
        assert_eq!(c(&["-c", "--config-path", "/a.toml"]), None);
        assert_eq!(c(&["containerd", "--config"]), None);
        // Nothing after `--` is a flag.
        assert_eq!(
            c(&["containerd", "-c", "/a.toml", "--", "--config", "/b.toml"]).as_deref(),
            Some("/a.toml")
        );
    }

    #[test]
    fn programs_are_found_as_exec_would_find_them() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        let exe = |p: &str, mode: u32| {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, b"#!/bin/sh\n").expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        exe("usr/bin/containerd", 0o755);
        exe("opt/ctd/containerd", 0o755);
        exe("srv/containerd", 0o644);
        let cwd = root.join("opt/ctd");
        let env = |path: &str| vec![(OsString::from("PATH"), OsString::from(path))];
        let find = |program: &str, env: &[(OsString, OsString)]| {
            find_program(root, &cwd, OsStr::new(program), env)
                .map(|p| p.strip_prefix(root).expect("inside").to_path_buf())
        };
        assert_eq!(
            find("containerd", &env("/nope:/usr/bin")),
            Some(PathBuf::from("usr/bin/containerd"))
        );
        // The default search path when the process had no PATH.
        assert_eq!(
            find("containerd", &[]),
            Some(PathBuf::from("usr/bin/containerd"))
        );
        assert_eq!(
            find("/opt/ctd/containerd", &[]),
            Some(PathBuf::from("opt/ctd/containerd"))
        );
        assert_eq!(
            find("./containerd", &[]),
            Some(PathBuf::from("opt/ctd/./containerd"))
        );
        // Not executable, or not there: not found (relative PATH entries
        // are ignored, as the cwd would decide them).
        assert_eq!(find("/srv/containerd", &[]), None);
        assert_eq!(find("containerd", &env("/srv:opt/ctd")), None);
        assert_eq!(find("/usr/bin/gone", &[]), None);
    }

    #[test]
    fn config_defaults_and_relative_paths_resolve_against_the_cwd() {
        let cwd = Path::new("/var/lib/thing");
        assert_eq!(
            config_of(&argv(&["containerd"]), Some(cwd)),
            PathBuf::from(DEFAULT_CONFIG)
        );
        assert_eq!(
            config_of(
                &argv(&["containerd", "--config", "../c/./config.toml"]),
                Some(cwd)
            ),
            PathBuf::from("/var/lib/c/config.toml")
        );
        assert_eq!(
            config_of(&argv(&["containerd", "-c", "config.toml"]), None),
            PathBuf::from("config.toml")
        );
        assert_eq!(
            config_of(&argv(&["containerd", "--config=/etc//x/../y.toml"]), None),
            PathBuf::from("/etc/y.toml")
        );
        assert_eq!(normalize(Path::new("/../a")), PathBuf::from("/a"));
    }

    #[test]
    fn nul_lists_keep_empty_items_and_environ_splits_at_the_first_equals() {
        assert_eq!(split_nul(b""), Vec::<OsString>::new());
        assert_eq!(split_nul(b"a\0\0b\0"), argv(&["a", "", "b"]));
        assert_eq!(
            parse_environ(b"PATH=/usr/bin:/bin\0A=b=c\0EMPTY=\0junk\0=x\0"),
            vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("A".into(), "b=c".into()),
                ("EMPTY".into(), "".into()),
            ]
        );
    }

    #[test]
    fn cgroup_lines_for_v1_hybrid_and_v2() {
        let hybrid = "12:cpu,cpuacct:/system.slice/containerd.service\n\
                      1:name=systemd:/system.slice/containerd.service\n\
                      0::/system.slice/containerd.service\n\
                      garbage\n7::/no-controllers-on-v1\n";
        let entries = parse_cgroup(hybrid);
        assert_eq!(
            entries,
            vec![
                CgroupEntry {
                    controllers: vec!["cpu".into(), "cpuacct".into()],
                    path: "/system.slice/containerd.service".into()
                },
                CgroupEntry {
                    controllers: vec!["name=systemd".into()],
                    path: "/system.slice/containerd.service".into()
                },
                CgroupEntry {
                    controllers: vec![],
                    path: "/system.slice/containerd.service".into()
                },
            ]
        );
        assert_eq!(entries[0].hierarchy(), "cpu,cpuacct");
        assert!(entries[2].is_v2());
        assert_eq!(
            parse_cgroup("0::/a:b\n"),
            vec![CgroupEntry {
                controllers: vec![],
                path: "/a:b".into()
            }]
        );
    }

    #[test]
    fn each_hierarchy_maps_to_its_mount() {
        let hybrid = "\
31 23 0:28 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
50 27 0:38 /kubepods /var/lib/kubelet/cg\\040x rw - cgroup2 cgroup2 rw
";
        let mounts = parse_mountinfo(hybrid);
        assert_eq!(mounts.len(), 5);
        let file = |line: &str| cgroup_procs_file(&parse_cgroup(line)[0], &mounts);
        assert_eq!(
            file("4:cpu,cpuacct:/system.slice/containerd.service"),
            Some(PathBuf::from(
                "/sys/fs/cgroup/cpu,cpuacct/system.slice/containerd.service/cgroup.procs"
            ))
        );
        assert_eq!(
            file("1:name=systemd:/x"),
            Some(PathBuf::from("/sys/fs/cgroup/systemd/x/cgroup.procs"))
        );
        assert_eq!(
            file("0::/"),
            Some(PathBuf::from("/sys/fs/cgroup/unified/cgroup.procs"))
        );
        assert_eq!(file("9:pids:/x"), None);
        assert_eq!(file("0::/../../system.slice"), None);

        // Pure v2; and only a subtree mounted, with an escaped space.
        let v2 = parse_mountinfo("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        assert_eq!(
            cgroup_procs_file(&parse_cgroup("0::/init.scope")[0], &v2),
            Some(PathBuf::from("/sys/fs/cgroup/init.scope/cgroup.procs"))
        );
        let sub = &mounts[4..];
        assert_eq!(sub[0].mount_point, PathBuf::from("/var/lib/kubelet/cg x"));
        assert_eq!(
            cgroup_procs_file(&parse_cgroup("0::/kubepods/pod1")[0], sub),
            Some(PathBuf::from("/var/lib/kubelet/cg x/pod1/cgroup.procs"))
        );
        assert_eq!(
            cgroup_procs_file(&parse_cgroup("0::/system.slice")[0], sub),
            None
        );
    }

    fn cand(pid: i32, config: &str, matches: bool) -> Candidate {
        Candidate {
            pid,
            config: config.into(),
            matches,
        }
    }

    #[test]
    fn the_containerd_reading_the_config_is_chosen_else_the_only_one() {
        let target = Path::new("/etc/containerd/config.toml");
        let test_one = cand(7, "/tmp/test/config.toml", false);
        let real = cand(9, "/etc/containerd/config.toml", true);
        assert_eq!(
            choose(&[test_one.clone(), real.clone()], target),
            Ok((1, true))
        );
        assert_eq!(
            choose(std::slice::from_ref(&test_one), target),
            Ok((0, false))
        );

        let err = choose(&[], target).expect_err("none");
        assert!(err.contains("no running containerd"), "{err}");
        let err = choose(&[test_one.clone(), cand(8, "/opt/c.toml", false)], target)
            .expect_err("ambiguous");
        assert!(
            err.contains("none of them reads /etc/containerd/config.toml")
                && err.contains("pid 7 (/tmp/test/config.toml)")
                && err.contains("pid 8 (/opt/c.toml)"),
            "{err}"
        );
        let err = choose(&[real.clone(), cand(10, DEFAULT_CONFIG, true)], target)
            .expect_err("two read it");
        assert!(err.contains("several") && err.contains("pid 10"), "{err}");
    }

    #[test]
    fn stat_and_status_fields() {
        let stat = "42 (a) b) (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_stat(stat), Some(('S', 98765)));
        assert_eq!(parse_stat("42 (x) Z 1"), None);
        let status = "Name:\tcontainerd\nUmask:\t0022\nState:\tS (sleeping)\n";
        assert_eq!(status_field(status, "Umask"), Some("0022"));
        assert_eq!(status_field(status, "CapEff"), None);
    }

    #[test]
    fn limits_rows_with_units_and_unlimited_values() {
        let text = "\
Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max open files            777                  1048576              files     
Max realtime timeout      200000               unlimited            us        
Max nice priority         garbage              0                    
";
        assert_eq!(
            parse_limits(text),
            vec![
                (
                    Resource::Cpu,
                    Rlimit {
                        current: None,
                        maximum: None
                    }
                ),
                (
                    Resource::Fsize,
                    Rlimit {
                        current: None,
                        maximum: None
                    }
                ),
                (
                    Resource::Nofile,
                    Rlimit {
                        current: Some(777),
                        maximum: Some(1048576)
                    }
                ),
                (
                    Resource::Rttime,
                    Rlimit {
                        current: Some(200000),
                        maximum: None
                    }
                ),
            ]
        );
        assert_eq!(parse_limits(""), vec![]);
    }

    #[test]
    fn capabilities_are_bits_of_the_effective_set() {
        let status = |eff: &str| format!("Name:\tx\nCapEff:\t{eff}\n");
        assert!(has_capabilities(&status("000001ffffffffff"), &[21, 18]));
        // CAP_SYS_ADMIN (21) without CAP_SYS_CHROOT (18).
        assert!(!has_capabilities(&status("0000000000200000"), &[21, 18]));
        assert!(has_capabilities(&status("0000000000200000"), &[21]));
        assert!(!has_capabilities("Name:\tx\n", &[21]));
        assert!(has_capabilities("Name:\tx\n", &[]));
    }

    fn status(uid: &str, eff: &str, bnd: &str, seccomp: &str, nnp: &str) -> String {
        format!(
            "Name:\tcontainerd\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nCapEff:\t{eff}\nCapBnd:\t{bnd}\nNoNewPrivs:\t{nnp}\nSeccomp:\t{seccomp}\n"
        )
    }

    #[test]
    fn a_restarter_with_less_than_containerd_is_refused() {
        let full = "000001ffffffffff";
        let root = status("0", full, full, "0", "0");
        assert_eq!(weaker_credentials(&root, &root), None);
        // More than containerd is fine: the new one gets ours.
        assert_eq!(
            weaker_credentials(&root, &status("0", "00000000a80425fb", full, "0", "0")),
            None
        );

        let err = weaker_credentials(&status("1000", full, full, "0", "0"), &root).expect("uid");
        assert_eq!(err, "it runs as uid 0 and this process as uid 1000");
        let err = weaker_credentials(&status("0", "00000000a80425fb", full, "0", "0"), &root)
            .expect("caps");
        assert_eq!(
            err,
            "it has effective capabilities this process lacks (CapEff 000001ffffffffff against 00000000a80425fb)"
        );
        let err = weaker_credentials(&status("0", full, "00000000a80425fb", "0", "0"), &root)
            .expect("bounding");
        assert!(err.starts_with("it has bounding capabilities"), "{err}");
        let err = weaker_credentials(&status("0", full, full, "2", "0"), &root).expect("seccomp");
        assert!(err.contains("seccomp filter"), "{err}");
        // Both filtered (a restarter inside the same confinement) is fine.
        assert_eq!(
            weaker_credentials(
                &status("0", full, full, "2", "0"),
                &status("0", full, full, "2", "0")
            ),
            None
        );
        let err = weaker_credentials(&status("0", full, full, "0", "1"), &root).expect("nnp");
        assert!(err.contains("no_new_privs"), "{err}");
        let err = weaker_credentials("Name:\tx\n", &root).expect("unreadable");
        assert_eq!(err, "no Uid in our status");
    }
}
