//! The command line, read the way runc reads it: global flags, then a
//! subcommand, its flags and its operands. Callers (conmon, containerd's
//! runc shim, CRI-O) write `--flag value`, `--flag=value`, `-flag` and
//! single-letter short forms; all are accepted. Global flags runc has and
//! wasmpod-oci does not need are accepted and ignored, with a debug line.

use std::path::PathBuf;

/// Where container state lives when `--root` is not given.
pub const DEFAULT_ROOT: &str = "/run/wasmpod-oci";

/// A flag the command line may hold: its names, and whether it takes a
/// value.
struct Flag {
    names: &'static [&'static str],
    takes_value: bool,
}

const fn flag(names: &'static [&'static str], takes_value: bool) -> Flag {
    Flag { names, takes_value }
}

/// runc's global flags; the first five are used, the rest accepted.
const GLOBAL: &[Flag] = &[
    flag(&["root"], true),
    flag(&["log"], true),
    flag(&["log-format"], true),
    flag(&["systemd-cgroup"], false),
    flag(&["debug"], false),
    flag(&["criu"], true),
    flag(&["rootless"], true),
    flag(&["help", "h"], false),
    flag(&["version", "v"], false),
];

/// The output format of the runtime's own log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The global flags.
#[derive(Debug, Clone, Default)]
pub struct Global {
    pub root: PathBuf,
    pub log: Option<PathBuf>,
    pub log_format: LogFormat,
    pub systemd_cgroup: bool,
    pub debug: bool,
    /// Flags accepted without effect, for the debug log.
    pub ignored: Vec<String>,
}

/// One subcommand with its flags and operands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sub {
    pub name: String,
    /// Flags by their first (long) name, in order; a flag without a value
    /// has an empty one.
    pub flags: Vec<(String, String)>,
    pub operands: Vec<String>,
    /// The subcommand and everything after it, as given: what a native
    /// runtime gets when the container is its (see `native.rs`).
    pub raw: Vec<String>,
}

impl Sub {
    /// The last value of flag `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a flag that may repeat (`--env`).
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a boolean flag is set (`--force`, `--force=true`).
    pub fn is_set(&self, name: &str) -> bool {
        self.value(name).is_some_and(|v| v != "false")
    }

    /// The one operand a command on one container takes: its ID.
    pub fn id(&self) -> Result<&str, ArgsError> {
        match self.operands.as_slice() {
            [id] => Ok(id),
            [] => Err(ArgsError::MissingId(self.name.clone())),
            _ => Err(ArgsError::ExtraOperands(self.name.clone())),
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub struct Args {
    pub global: Global,
    /// `None` for `--version` or `--help` with no subcommand.
    pub sub: Option<Sub>,
    pub version: bool,
    pub help: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("flag {0} needs a value")]
    MissingValue(String),
    #[error("unknown flag {flag} for {command}")]
    UnknownFlag { command: String, flag: String },
    #[error("unknown command {0:?} (see wasmpod-oci --help)")]
    UnknownCommand(String),
    #[error("{0}: a container ID is required")]
    MissingId(String),
    #[error("{0}: too many arguments")]
    ExtraOperands(String),
    #[error("--log-format {0}: use text or json")]
    LogFormat(String),
}

/// The flags of each subcommand; `None` for an unknown subcommand.
fn sub_flags(name: &str) -> Option<&'static [Flag]> {
    Some(match name {
        "create" | "run" => {
            const {
                &[
                    flag(&["bundle", "b"], true),
                    flag(&["pid-file"], true),
                    flag(&["console-socket"], true),
                    flag(&["no-pivot"], false),
                    flag(&["no-new-keyring"], false),
                    flag(&["preserve-fds"], true),
                    flag(&["pidfd-socket"], true),
                    flag(&["detach", "d"], false),
                    flag(&["keep"], false),
                    flag(&["no-subreaper"], false),
                ]
            }
        }
        "start" | "pause" | "resume" | "init" => const { &[] },
        "state" => const { &[] },
        "kill" => const { &[flag(&["all", "a"], false)] },
        "delete" => const { &[flag(&["force", "f"], false)] },
        "list" => const { &[flag(&["format", "f"], true), flag(&["quiet", "q"], false)] },
        "ps" => const { &[flag(&["format", "f"], true)] },
        "exec" => {
            const {
                &[
                    flag(&["process", "p"], true),
                    flag(&["pid-file"], true),
                    flag(&["detach", "d"], false),
                    flag(&["console-socket"], true),
                    flag(&["tty", "t"], false),
                    flag(&["cwd"], true),
                    flag(&["env", "e"], true),
                    flag(&["user", "u"], true),
                    flag(&["additional-gids", "g"], true),
                    flag(&["process-label"], true),
                    flag(&["apparmor"], true),
                    flag(&["no-new-privs"], false),
                    flag(&["cap", "c"], true),
                    flag(&["preserve-fds"], true),
                    flag(&["ignore-paused"], false),
                    flag(&["cgroup"], true),
                    flag(&["pidfd-socket"], true),
                ]
            }
        }
        "update" => {
            const {
                &[
                    flag(&["resources", "r"], true),
                    flag(&["memory"], true),
                    flag(&["memory-swap"], true),
                    flag(&["memory-reservation"], true),
                    flag(&["cpu-quota"], true),
                    flag(&["cpu-period"], true),
                    flag(&["cpu-share"], true),
                    flag(&["cpuset-cpus"], true),
                    flag(&["cpuset-mems"], true),
                    flag(&["pids-limit"], true),
                    flag(&["kernel-memory"], true),
                    flag(&["kernel-memory-tcp"], true),
                    flag(&["blkio-weight"], true),
                    flag(&["l3-cache-schema"], true),
                    flag(&["mem-bw-schema"], true),
                ]
            }
        }
        "features" | "spec" | "checkpoint" | "restore" | "events" => const { &[] },
        _ => return None,
    })
}

/// A flag token: its name without dashes, and a value given with `=`.
fn split_flag(token: &str) -> Option<(&str, Option<&str>)> {
    let bare = token
        .strip_prefix("--")
        .or_else(|| token.strip_prefix('-'))?;
    if bare.is_empty() {
        return None;
    }
    Some(match bare.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (bare, None),
    })
}

/// Reads `argv` (without the program name).
pub fn parse(argv: &[String]) -> Result<Args, ArgsError> {
    let mut global = Global {
        root: PathBuf::from(DEFAULT_ROOT),
        ..Global::default()
    };
    let (mut version, mut help) = (false, false);
    let mut i = 0;
    // Global flags, up to the subcommand.
    while i < argv.len() {
        let token = &argv[i];
        let Some((name, inline)) = split_flag(token) else {
            break;
        };
        let known = GLOBAL.iter().find(|f| f.names.contains(&name));
        let value = match known {
            Some(f) if f.takes_value => match inline {
                Some(v) => v.to_string(),
                None => {
                    i += 1;
                    argv.get(i)
                        .cloned()
                        .ok_or_else(|| ArgsError::MissingValue(token.clone()))?
                }
            },
            Some(_) => inline.unwrap_or("true").to_string(),
            // Unknown: accepted and ignored, as a flag without a value
            // (runc's value flags are all known above).
            None => {
                global.ignored.push(token.clone());
                i += 1;
                continue;
            }
        };
        match name {
            "root" => global.root = PathBuf::from(value),
            "log" => global.log = Some(PathBuf::from(value)),
            "log-format" => {
                global.log_format = match value.as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    other => return Err(ArgsError::LogFormat(other.to_string())),
                }
            }
            "systemd-cgroup" => global.systemd_cgroup = value != "false",
            "debug" => global.debug = value != "false",
            "help" | "h" => help = true,
            "version" | "v" => version = true,
            _ => global.ignored.push(format!("--{name}={value}")),
        }
        i += 1;
    }
    let Some(name) = argv.get(i) else {
        return Ok(Args {
            global,
            sub: None,
            version,
            help: help || !version,
        });
    };
    let flags = sub_flags(name).ok_or_else(|| ArgsError::UnknownCommand(name.clone()))?;
    let mut sub = Sub {
        name: name.clone(),
        flags: Vec::new(),
        operands: Vec::new(),
        raw: argv[i..].to_vec(),
    };
    i += 1;
    // The first operand (the container ID) ends the flags, as in runc:
    // what follows it (an exec's command) is the process's own.
    while i < argv.len() {
        let token = &argv[i];
        if token == "--" {
            sub.operands.extend(argv[i + 1..].iter().cloned());
            break;
        }
        match split_flag(token) {
            Some((name, inline)) if sub.operands.is_empty() => {
                if name == "help" || name == "h" {
                    help = true;
                    i += 1;
                    continue;
                }
                let f = flags
                    .iter()
                    .find(|f| f.names.contains(&name))
                    .ok_or_else(|| ArgsError::UnknownFlag {
                        command: sub.name.clone(),
                        flag: token.clone(),
                    })?;
                let value = if f.takes_value {
                    match inline {
                        Some(v) => v.to_string(),
                        None => {
                            i += 1;
                            argv.get(i)
                                .cloned()
                                .ok_or_else(|| ArgsError::MissingValue(token.clone()))?
                        }
                    }
                } else {
                    inline.unwrap_or("true").to_string()
                };
                sub.flags.push((f.names[0].to_string(), value));
            }
            _ => sub.operands.push(token.clone()),
        }
        i += 1;
    }
    Ok(Args {
        global,
        sub: Some(sub),
        version,
        help,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn conmon_s_create_line_is_read() {
        let a = parse(&argv(
            "--root /run/x --systemd-cgroup --log /b/log.json --log-format json create \
             --bundle /b --pid-file /b/pid --console-socket /s.sock --no-pivot --no-new-keyring c1",
        ))
        .expect("parse");
        assert_eq!(a.global.root, PathBuf::from("/run/x"));
        assert_eq!(a.global.log, Some(PathBuf::from("/b/log.json")));
        assert_eq!(a.global.log_format, LogFormat::Json);
        assert!(a.global.systemd_cgroup);
        let sub = a.sub.expect("sub");
        assert_eq!(sub.name, "create");
        assert_eq!(sub.value("bundle"), Some("/b"));
        assert_eq!(sub.value("pid-file"), Some("/b/pid"));
        assert_eq!(sub.value("console-socket"), Some("/s.sock"));
        assert!(sub.is_set("no-pivot"));
        assert_eq!(sub.id(), Ok("c1"));
    }

    #[test]
    fn equals_forms_short_forms_and_unknown_global_flags() {
        let a = parse(&argv(
            "--root=/r -debug --criu /usr/bin/criu --some-new-flag delete -f=true c2",
        ))
        .expect("parse");
        assert_eq!(a.global.root, PathBuf::from("/r"));
        assert!(a.global.debug);
        assert_eq!(
            a.global.ignored,
            vec!["--criu=/usr/bin/criu", "--some-new-flag"]
        );
        let sub = a.sub.expect("sub");
        assert!(sub.is_set("force"));
        assert_eq!(sub.id(), Ok("c2"));
        assert_eq!(
            parse(&argv("kill c3 KILL"))
                .expect("kill")
                .sub
                .expect("s")
                .operands,
            vec!["c3", "KILL"]
        );
    }

    #[test]
    fn an_exec_s_command_keeps_its_own_flags() {
        let a = parse(&argv("exec -e A=1 --env B=2 --tty c1 /app.wasm -v --x=1")).expect("p");
        let sub = a.sub.expect("sub");
        assert_eq!(sub.values("env"), vec!["A=1", "B=2"]);
        assert!(sub.is_set("tty"));
        assert_eq!(sub.operands, vec!["c1", "/app.wasm", "-v", "--x=1"]);
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(
            parse(&argv("create --bundle")).expect_err("value"),
            ArgsError::MissingValue("--bundle".into())
        );
        assert_eq!(
            parse(&argv("start --bogus c1")).expect_err("flag"),
            ArgsError::UnknownFlag {
                command: "start".into(),
                flag: "--bogus".into()
            }
        );
        assert_eq!(
            parse(&argv("frobnicate")).expect_err("cmd"),
            ArgsError::UnknownCommand("frobnicate".into())
        );
        assert_eq!(
            parse(&argv("--log-format xml state c")).expect_err("fmt"),
            ArgsError::LogFormat("xml".into())
        );
        let state = parse(&argv("state")).expect("parse").sub.expect("sub");
        assert_eq!(state.id(), Err(ArgsError::MissingId("state".into())));
        let two = parse(&argv("start a b")).expect("parse").sub.expect("sub");
        assert_eq!(two.id(), Err(ArgsError::ExtraOperands("start".into())));
        let v = parse(&argv("--version")).expect("version");
        assert!(v.version && v.sub.is_none() && !v.help);
    }
}
