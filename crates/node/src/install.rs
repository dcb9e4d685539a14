//! `install`, `uninstall` and `status`: a [`Plan`] of file changes is
//! computed first (what `--dry-run` prints), then applied.
//!
//! What install records, so uninstall can reverse it: a file it created
//! starts with [`config::CREATED_HEADER`]; a file it changed has a backup
//! of its bytes before the first change (`<file>.wasmpod-backup`, never
//! overwritten); the binaries are the two names in the bin dir; the node
//! policy's files are listed in [`policy::RECORD`].
//!
//! The policy's files are planned apart from the rest
//! ([`Plan::policy_changes`]): the shim reads the policy at each
//! container create, so they are applied first (a new node checks images
//! before its handler goes live) and are never a reason to restart
//! containerd.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::change::Change;
use crate::config::{self, CREATED_HEADER, ConfigVersion};
use crate::host_root::HostRoot;
use crate::locate::{Located, locate};
use crate::redact::redact_toml;
use crate::{Host, NodeError, cri, error_line, files, policy};

/// The shim's file name (containerd derives it from the runtime type).
pub const SHIM: &str = "containerd-shim-wasmpod-v1";
/// The CLI's file name.
pub const CLI: &str = "wasmpod";
/// Appended to a config's path for its backup.
pub const BACKUP_SUFFIX: &str = ".wasmpod-backup";

/// The settings shared by install, uninstall and status.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The config to edit; found by [`locate`] when `None`.
    pub containerd_config: Option<PathBuf>,
    /// Where the binaries go.
    pub bin_dir: PathBuf,
    /// Where the shim is taken from (the running `wasmpod`'s folder).
    pub source_dir: PathBuf,
    /// The `wasmpod` binary to install (the running one).
    pub source_cli: PathBuf,
    /// The host's root, for finding configs (`/`, or a hostPath mount).
    pub host_root: PathBuf,
    /// The CRI socket; the flavour's default when `None`.
    pub cri_socket: Option<PathBuf>,
    pub restart: bool,
    pub dry_run: bool,
    /// How long to wait for the handler after a restart.
    pub timeout: Duration,
    /// A trust policy to install for the shim (install), or to compare
    /// with the installed one (status). `None` leaves the node's policy
    /// as it is.
    pub policy: Option<PathBuf>,
}

/// What a command will do (or did).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Binaries and containerd's config.
    pub changes: Vec<Change>,
    /// The node policy's files, applied before [`Plan::changes`]; they
    /// never make containerd restart.
    pub policy_changes: Vec<Change>,
    /// Lines for the report that are not file changes.
    pub notes: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.policy_changes.is_empty()
    }

    fn config_changed(&self) -> bool {
        self.changes
            .iter()
            .any(|c| !matches!(c, Change::Copy { .. }))
    }

    /// Makes the changes, each beneath the host root's handle.
    fn apply(&self, root: &HostRoot) -> Result<(), NodeError> {
        for change in self.policy_changes.iter().chain(&self.changes) {
            match change {
                Change::Copy { from, to } => {
                    // The installer's own file, not the host's.
                    let bytes = std::fs::read(from).map_err(crate::io("read", from))?;
                    root.write_atomic(to, &bytes, files::Perm::EXECUTABLE)?;
                }
                Change::Write {
                    path,
                    old,
                    new,
                    backup,
                    perm,
                } => {
                    if let (Some(backup), Some(old)) = (backup, old) {
                        root.write_atomic(backup, old, *perm)?;
                    }
                    root.write_atomic(path, new, *perm)?;
                }
                Change::Remove { path } => {
                    root.remove_optional(path)?;
                }
                Change::RemoveEmptyDir { path } => {
                    root.remove_empty_dir(path)?;
                }
            }
            tracing::info!(change = %ChangeLine(change), "applied");
        }
        Ok(())
    }
}

struct ChangeLine<'a>(&'a Change);

impl fmt::Display for ChangeLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Change::Copy { from, to } => write!(f, "copy {} -> {}", from.display(), to.display()),
            Change::Write {
                path,
                old,
                backup,
                perm,
                ..
            } => {
                let verb = if old.is_some() { "edit" } else { "create" };
                write!(f, "{verb} {} ({perm})", path.display())?;
                if let Some(b) = backup {
                    write!(f, " (backup {})", b.display())?;
                }
                Ok(())
            }
            Change::Remove { path } => write!(f, "remove {}", path.display()),
            Change::RemoveEmptyDir { path } => {
                write!(f, "remove folder {} (if empty)", path.display())
            }
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            writeln!(f, "nothing to change")?;
        }
        let policy_files = self.policy_changes.iter().map(|c| (c, true));
        for (change, of_policy) in policy_files.chain(self.changes.iter().map(|c| (c, false))) {
            writeln!(f, "{}", ChangeLine(change))?;
            // Of the policy's files, only the policy is text worth a diff
            // (the rest are PEM keys and install's record).
            let diffed = !of_policy
                || matches!(change, Change::Write { path, .. }
                    if path.file_name() == Some(std::ffi::OsStr::new(policy::POLICY_FILE)));
            if let (Change::Write { path, old, new, .. }, true) = (change, diffed) {
                // Config text can hold registry credentials: only its
                // redacted form is shown.
                let old = redact_toml(&String::from_utf8_lossy(old.as_deref().unwrap_or_default()));
                let new = redact_toml(&String::from_utf8_lossy(new));
                write!(f, "{}", files::diff(path, &old, &new))?;
            }
        }
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

/// The config as found: where, its text (or the seed's, for a template
/// to create), its version, and where the handler lives.
struct Target {
    located: Located,
    /// The file holding (or to hold) the handler: the main file or a drop-in.
    file: PathBuf,
    version: ConfigVersion,
    main: toml_edit::DocumentMut,
    main_text: String,
    main_exists: bool,
}

fn config_error(path: &Path) -> impl FnOnce(config::ConfigError) -> NodeError {
    let path = path.to_path_buf();
    move |source| NodeError::Config { path, source }
}

fn read_text(root: &HostRoot, path: &Path) -> Result<Option<String>, NodeError> {
    Ok(root
        .read_optional(path)?
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}

fn target(opts: &InstallOptions, host: &dyn Host, root: &HostRoot) -> Result<Target, NodeError> {
    let located = locate(root, opts.containerd_config.as_deref())?;
    let (main_text, main_exists) = match &located.seed {
        Some(seed) => {
            let text = read_text(root, seed)?.unwrap_or_default();
            (format!("{CREATED_HEADER}\n{text}"), false)
        }
        None => (read_text(root, &located.path)?.unwrap_or_default(), true),
    };
    let source = located.seed.as_deref().unwrap_or(&located.path);
    let main = config::parse(&main_text).map_err(config_error(source))?;
    let version = match config::declared_version(&main).map_err(config_error(source))? {
        Some(v) => v,
        None => {
            let out = host.containerd_version().unwrap_or_else(|e| e.to_string());
            ConfigVersion::from_containerd_version(&out)
                .ok_or_else(|| NodeError::UnknownVersion(source.to_path_buf(), out))?
        }
    };
    let file =
        config::drop_in_path(&main, &located.path, &opts.host_root).unwrap_or(located.path.clone());
    Ok(Target {
        located,
        file,
        version,
        main,
        main_text,
        main_exists,
    })
}

fn backup_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(BACKUP_SUFFIX);
    PathBuf::from(s)
}

/// The plan for install, without changing anything.
pub fn plan_install(
    opts: &InstallOptions,
    host: &dyn Host,
    root: &HostRoot,
) -> Result<Plan, NodeError> {
    // Checked first: a policy the shim would refuse stops the install
    // before anything else is looked at.
    let checked = opts
        .policy
        .as_deref()
        .map(|p| policy::read(p, &opts.host_root))
        .transpose()?;
    let shim = opts.source_dir.join(SHIM);
    if !shim.is_file() {
        return Err(NodeError::NoShim(shim));
    }
    let t = target(opts, host, root)?;
    let mut plan = Plan::default();
    if let Some(checked) = &checked {
        let (changes, notes) = policy::plan_install(checked, root)?;
        plan.notes.push(policy::report(
            checked,
            &opts.host_root,
            !changes.is_empty(),
            opts.dry_run,
        ));
        plan.notes.extend(checked.expired.iter().cloned());
        plan.notes.extend(notes);
        plan.policy_changes = changes;
    }
    for (from, name) in [(shim, SHIM), (opts.source_cli.clone(), CLI)] {
        let to = opts.bin_dir.join(name);
        let same = root.read_optional(&to)? == files::read_optional(&from)?;
        if !same {
            plan.changes.push(Change::Copy { from, to });
        }
    }
    // A file that exists keeps its mode and owner; a new one takes those
    // of the file it copies from (it may copy registry credentials).
    let (old, new, perm) = if t.file == t.located.path {
        let mut doc = t.main.clone();
        config::add_handler(&mut doc, t.version).map_err(config_error(&t.file))?;
        let old = t.main_exists.then(|| t.main_text.clone().into_bytes());
        let perm = match &t.located.seed {
            Some(seed) if !t.main_exists => root.perm_of(seed),
            _ => root.perm_of(&t.file),
        };
        (old, doc.to_string(), perm)
    } else {
        match read_text(root, &t.file)? {
            Some(text) => {
                let mut doc = config::parse(&text).map_err(config_error(&t.file))?;
                config::add_handler(&mut doc, t.version).map_err(config_error(&t.file))?;
                (
                    Some(text.into_bytes()),
                    doc.to_string(),
                    root.perm_of(&t.file),
                )
            }
            None => (
                None,
                config::new_drop_in(&t.main, t.version).map_err(config_error(&t.file))?,
                root.perm_of(&t.located.path),
            ),
        }
    };
    if old.as_deref() != Some(new.as_bytes()) {
        let backup = backup_of(&t.file);
        let backup = (old.is_some() && !root.exists(&backup)).then_some(backup);
        plan.changes.push(Change::Write {
            path: t.file.clone(),
            old,
            new: new.into_bytes(),
            backup,
            perm,
        });
    }
    plan.notes.push(format!(
        "handler `{}` ({}) in {} [{}]",
        config::HANDLER,
        t.version.handler_path(),
        t.file.display(),
        match t.located.flavor {
            crate::Flavor::Containerd => "containerd",
            crate::Flavor::K3s => "k3s",
            crate::Flavor::Rke2 => "RKE2",
            crate::Flavor::MicroK8s => "MicroK8s",
        }
    ));
    Ok(plan)
}

/// The plan for uninstall, without changing anything.
pub fn plan_uninstall(
    opts: &InstallOptions,
    host: &dyn Host,
    root: &HostRoot,
) -> Result<Plan, NodeError> {
    let t = target(opts, host, root)?;
    let mut plan = Plan::default();
    let (changes, notes) = policy::plan_uninstall(root)?;
    plan.policy_changes = changes;
    plan.notes.extend(notes);
    for name in [SHIM, CLI] {
        let path = opts.bin_dir.join(name);
        if root.exists(&path) {
            plan.changes.push(Change::Remove { path });
        }
    }
    let Some(text) = read_text(root, &t.file)? else {
        return Ok(plan);
    };
    if text.starts_with(CREATED_HEADER) {
        plan.changes.push(Change::Remove { path: t.file });
        return Ok(plan);
    }
    let backup = backup_of(&t.file);
    if let Some(original) = root.read_optional(&backup)? {
        let reapplied = config::parse(&String::from_utf8_lossy(&original)).and_then(|mut doc| {
            config::add_handler(&mut doc, t.version)?;
            Ok(doc.to_string())
        });
        if reapplied.is_ok_and(|r| r == text) {
            plan.changes.push(Change::Write {
                path: t.file.clone(),
                old: Some(text.into_bytes()),
                new: original,
                backup: None,
                perm: root.perm_of(&t.file),
            });
            plan.changes.push(Change::Remove { path: backup });
            return Ok(plan);
        }
        plan.notes.push(format!(
            "{} changed since install: removing only the handler, keeping {}",
            t.file.display(),
            backup.display()
        ));
    }
    let mut doc = config::parse(&text).map_err(config_error(&t.file))?;
    if config::remove_handler(&mut doc, t.version) {
        plan.changes.push(Change::Write {
            path: t.file.clone(),
            old: Some(text.into_bytes()),
            new: doc.to_string().into_bytes(),
            backup: None,
            perm: root.perm_of(&t.file),
        });
    }
    Ok(plan)
}

fn socket(opts: &InstallOptions, t: &Located) -> PathBuf {
    opts.cri_socket
        .clone()
        .unwrap_or_else(|| PathBuf::from(t.flavor.cri_socket()))
}

fn finish(
    mut plan: Plan,
    opts: &InstallOptions,
    host: &dyn Host,
    root: &HostRoot,
    install: bool,
) -> Result<Plan, NodeError> {
    if opts.dry_run {
        return Ok(plan);
    }
    plan.apply(root)?;
    if opts.restart {
        let located = locate(root, opts.containerd_config.as_deref())?;
        let socket = socket(opts, &located);
        let live = install && cri::handler_listed(&socket).unwrap_or(false);
        if needs_restart(&plan, install, live) {
            let config = crate::host::host_path(&opts.host_root, &located.daemon_config());
            let how = host.restart_containerd(located.flavor, &config)?;
            plan.notes.push(format!("restarted containerd: {how}"));
        }
        if install {
            cri::wait_for_handler(&socket, opts.timeout)?;
            plan.notes.push(format!(
                "CRI at {} lists handler `{}`",
                socket.display(),
                config::HANDLER
            ));
        }
    }
    Ok(plan)
}

/// Whether `--restart` restarts containerd: when its config changed, or
/// (install) when CRI does not list the handler yet. New binaries need
/// none (the next container starts the new shim), nor does a new policy
/// (the shim reads it at each container create).
fn needs_restart(plan: &Plan, install: bool, live: bool) -> bool {
    plan.config_changed() || (install && !live)
}

/// Installs (or with `dry_run`, only plans): binaries, handler, and with
/// `restart` a containerd restart and a wait until CRI lists the handler.
pub fn install(opts: &InstallOptions, host: &dyn Host) -> Result<Plan, NodeError> {
    let root = HostRoot::open(&opts.host_root)?;
    let plan = plan_install(opts, host, &root)?;
    finish(plan, opts, host, &root, true)
}

/// Reverses [`install`].
pub fn uninstall(opts: &InstallOptions, host: &dyn Host) -> Result<Plan, NodeError> {
    let root = HostRoot::open(&opts.host_root)?;
    let plan = plan_uninstall(opts, host, &root)?;
    finish(plan, opts, host, &root, false)
}

/// What `wasmpod node status` reports.
#[derive(Debug)]
pub struct StatusReport {
    /// The installed shim and its sha256, taken without running the shim
    /// (its `-v` would only say the version that the installed
    /// `wasmpod --version` reports, since both are built from one tree).
    pub shim: Option<(PathBuf, String)>,
    pub cli: Option<(PathBuf, String)>,
    pub config: Result<(PathBuf, ConfigVersion, bool), String>,
    pub cri: (PathBuf, Result<bool, String>),
    /// With a policy to compare: the installed policy's host path, and
    /// whether it and its keys are that policy's (what install would
    /// leave as they are).
    pub policy: Option<(PathBuf, Result<bool, String>)>,
}

impl StatusReport {
    /// Installed, registered and live (and, when a policy was given, that
    /// policy installed).
    pub fn ready(&self) -> bool {
        self.shim.is_some()
            && matches!(self.config, Ok((_, _, true)))
            && matches!(self.cri.1, Ok(true))
            && self
                .policy
                .as_ref()
                .is_none_or(|(_, p)| matches!(p, Ok(true)))
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shim {
            Some((p, sha)) => writeln!(f, "shim:    {} (sha256 {sha})", p.display())?,
            None => writeln!(f, "shim:    not installed")?,
        }
        match &self.cli {
            Some((p, v)) => writeln!(f, "wasmpod: {} ({v})", p.display())?,
            None => writeln!(f, "wasmpod: not installed")?,
        }
        match &self.config {
            Ok((p, v, true)) => writeln!(
                f,
                "config:  handler present in {} ({})",
                p.display(),
                v.handler_path()
            )?,
            Ok((p, _, false)) => writeln!(f, "config:  handler absent from {}", p.display())?,
            Err(e) => writeln!(f, "config:  {e}")?,
        }
        match &self.cri.1 {
            Ok(true) => writeln!(
                f,
                "cri:     {} lists handler `{}`",
                self.cri.0.display(),
                config::HANDLER
            ),
            Ok(false) => writeln!(
                f,
                "cri:     {} does not list handler `{}`",
                self.cri.0.display(),
                config::HANDLER
            ),
            Err(e) => writeln!(f, "cri:     {e}"),
        }?;
        match &self.policy {
            None => Ok(()),
            Some((p, Ok(true))) => writeln!(f, "policy:  {} is the given policy", p.display()),
            Some((p, Ok(false))) => writeln!(
                f,
                "policy:  {} (or a key file beside it) is not the given policy",
                p.display()
            ),
            Some((_, Err(e))) => writeln!(f, "policy:  {e}"),
        }
    }
}

/// Reports what is installed, registered and live.
pub fn status(opts: &InstallOptions, host: &dyn Host) -> StatusReport {
    let root = HostRoot::open(&opts.host_root).map_err(|e| error_line(&e));
    let shim_path = opts.bin_dir.join(SHIM);
    let shim = root
        .as_ref()
        .ok()
        .and_then(|r| r.sha256(&shim_path).ok())
        .map(|sha| (shim_path, sha));
    let cli_path = opts.bin_dir.join(CLI);
    let cli = root.as_ref().is_ok_and(|r| r.is_file(&cli_path)).then(|| {
        let version = std::process::Command::new(&cli_path)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|e| format!("cannot run: {e}"));
        (cli_path, version)
    });
    let t = root
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|r| target(opts, host, r).map_err(|e| error_line(&e)));
    let config = t.as_ref().map_err(Clone::clone).and_then(|t| {
        let root = root.as_ref().map_err(Clone::clone)?;
        let text = read_text(root, &t.file)
            .map_err(|e| error_line(&e))?
            .unwrap_or_default();
        let doc = config::parse(&text).map_err(|e| format!("{}: {e}", t.file.display()))?;
        Ok((
            t.file.clone(),
            t.version,
            config::has_handler(&doc, t.version),
        ))
    });
    let socket = match &t {
        Ok(t) => socket(opts, &t.located),
        Err(_) => opts
            .cri_socket
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::Flavor::Containerd.cri_socket())),
    };
    let listed = cri::handler_listed(&socket).map_err(|e| error_line(&e));
    let policy = opts.policy.as_deref().map(|source| {
        let at = crate::host_path(
            &opts.host_root,
            &policy::policy_dir(&opts.host_root).join(policy::POLICY_FILE),
        );
        let same = root.as_ref().map_err(Clone::clone).and_then(|root| {
            policy::read(source, &opts.host_root)
                .and_then(|checked| policy::plan_install(&checked, root))
                .map(|(changes, _)| changes.is_empty())
                .map_err(|e| error_line(&e))
        });
        (at, same)
    });
    StatusReport {
        shim,
        cli,
        config,
        cri: (socket, listed),
        policy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host whose containerd says `version` and must not be restarted.
    struct FakeHost(&'static str);

    impl Host for FakeHost {
        fn containerd_version(&self) -> Result<String, NodeError> {
            Ok(self.0.to_string())
        }
        fn restart_containerd(&self, _: crate::Flavor, _: &Path) -> Result<String, NodeError> {
            panic!("no restart without --restart")
        }
    }

    fn options(root: &Path) -> InstallOptions {
        let src = root.join("src");
        std::fs::create_dir_all(&src).expect("mkdir");
        std::fs::write(src.join(SHIM), "shim").expect("write");
        std::fs::write(src.join(CLI), "cli").expect("write");
        InstallOptions {
            containerd_config: None,
            bin_dir: root.join("bin"),
            source_dir: src.clone(),
            source_cli: src.join(CLI),
            host_root: root.to_path_buf(),
            cri_socket: None,
            restart: false,
            dry_run: false,
            timeout: Duration::from_secs(1),
            policy: None,
        }
    }

    #[test]
    fn k3s_gets_a_template_with_the_containerd_2_layout_and_uninstall_removes_it() {
        let root = tempfile::tempdir().expect("tmp");
        let dir = root.path().join("var/lib/rancher/k3s/agent/etc/containerd");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let rendered = "# k3s rendered this\n[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n";
        std::fs::write(dir.join("config.toml"), rendered).expect("write");
        let opts = options(root.path());
        let host = FakeHost("containerd github.com/k3s-io/containerd v2.0.4-k3s2");

        install(&opts, &host).expect("install");
        let tmpl = std::fs::read_to_string(dir.join("config.toml.tmpl")).expect("tmpl");
        assert_eq!(
            tmpl,
            format!(
                "{CREATED_HEADER}\n{rendered}\n[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.wasmpod]\nruntime_type = \"io.containerd.wasmpod.v1\"\ncontainer_annotations = [\"io.kubernetes.container.ports\"]\npod_annotations = [\"wasmpod.dev/*\"]\n"
            )
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("config.toml")).expect("read"),
            rendered
        );
        assert!(
            plan_install(
                &opts,
                &host,
                &HostRoot::open(&opts.host_root).expect("root")
            )
            .expect("plan")
            .is_empty()
        );

        uninstall(&opts, &host).expect("uninstall");
        assert!(!dir.join("config.toml.tmpl").exists());
        assert!(!opts.bin_dir.join(SHIM).exists());
    }

    /// The installer DaemonSet's view: the host at `root/host`, and a
    /// host whose config folder is an absolute symlink, importing drop-ins
    /// by an absolute path. Both are the host's paths: the handler goes to
    /// the host's drop-in, and nothing lands in the installer's own `/etc`
    /// or `/opt`.
    #[test]
    fn host_paths_behind_absolute_links_and_imports_stay_on_the_host() {
        let tmp = tempfile::tempdir().expect("tmp");
        let host = tmp.path().join("host");
        let real = host.join("opt/containerd-etc");
        std::fs::create_dir_all(real.join("conf.d")).expect("mkdir");
        std::fs::create_dir_all(host.join("etc")).expect("mkdir");
        std::os::unix::fs::symlink("/opt/containerd-etc", host.join("etc/containerd"))
            .expect("symlink");
        let main = "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n";
        std::fs::write(real.join("config.toml"), main).expect("write");
        let mut opts = options(tmp.path());
        opts.host_root = host.clone();
        opts.bin_dir = host.join("usr/local/bin");

        let plan = install(&opts, &FakeHost("")).expect("install");
        let drop_in = real.join("conf.d/wasmpod.toml");
        let text = std::fs::read_to_string(&drop_in).expect("the host's drop-in");
        assert!(
            text.contains("runtime_type = \"io.containerd.wasmpod.v1\""),
            "{text}"
        );
        assert_eq!(
            std::fs::read_to_string(real.join("config.toml")).expect("main"),
            main
        );
        assert!(
            std::fs::symlink_metadata(host.join("etc/containerd"))
                .expect("lstat")
                .is_symlink()
        );
        assert_eq!(
            std::fs::read(host.join("usr/local/bin").join(SHIM)).expect("shim"),
            b"shim"
        );
        assert!(
            plan.to_string().contains(
                &host
                    .join("etc/containerd/conf.d/wasmpod.toml")
                    .display()
                    .to_string()
            ),
            "{plan}"
        );
        assert!(!Path::new("/opt/containerd-etc").exists());
        assert!(!Path::new("/etc/containerd/conf.d/wasmpod.toml").exists());

        uninstall(&opts, &FakeHost("")).expect("uninstall");
        assert!(!drop_in.exists());
        assert!(!host.join("usr/local/bin").join(SHIM).exists());
    }

    #[test]
    fn a_new_policy_alone_does_not_restart_containerd() {
        let root = tempfile::tempdir().expect("tmp");
        let config = root.path().join("etc/containerd/config.toml");
        std::fs::create_dir_all(config.parent().expect("dir")).expect("mkdir");
        std::fs::write(&config, "version = 2\n").expect("write");
        let mut opts = options(root.path());
        install(&opts, &FakeHost("")).expect("install");

        let cfg = root.path().join("cfg");
        std::fs::create_dir_all(&cfg).expect("mkdir");
        std::fs::write(
            cfg.join("policy.toml"),
            "[default]\naction = \"require-signature\"\nkeys = [\"release.pub\"]\n",
        )
        .expect("write");
        std::fs::write(
            cfg.join("release.pub"),
            include_bytes!("../tests/fixtures/policy/release.pub"),
        )
        .expect("write");
        opts.policy = Some(cfg.join("policy.toml"));
        let plan = plan_install(
            &opts,
            &FakeHost(""),
            &HostRoot::open(&opts.host_root).expect("root"),
        )
        .expect("plan");
        assert!(plan.changes.is_empty(), "{plan}");
        assert_eq!(plan.policy_changes.len(), 3, "{plan}");
        assert!(!needs_restart(&plan, true, true));
        // What does restart: a config change, or a handler CRI lacks.
        assert!(needs_restart(&plan, true, false));
        std::fs::write(&config, "version = 2\n# edited\n").expect("write");
        let plan = plan_install(
            &opts,
            &FakeHost(""),
            &HostRoot::open(&opts.host_root).expect("root"),
        )
        .expect("plan");
        assert!(needs_restart(&plan, true, true), "{plan}");
    }

    #[test]
    fn dry_run_changes_nothing_and_a_missing_shim_is_named() {
        let root = tempfile::tempdir().expect("tmp");
        let config = root.path().join("etc/containerd/config.toml");
        std::fs::create_dir_all(config.parent().expect("dir")).expect("mkdir");
        std::fs::write(&config, "version = 2\n").expect("write");
        let mut opts = options(root.path());
        opts.dry_run = true;
        let plan = install(&opts, &FakeHost("")).expect("plan");
        assert_eq!(plan.changes.len(), 3, "{plan}");
        assert_eq!(
            std::fs::read_to_string(&config).expect("read"),
            "version = 2\n"
        );
        assert!(!opts.bin_dir.exists());

        std::fs::remove_file(opts.source_dir.join(SHIM)).expect("rm");
        let err = install(&opts, &FakeHost("")).expect_err("no shim");
        assert!(
            err.to_string()
                .contains(&opts.source_dir.join(SHIM).display().to_string()),
            "{err}"
        );
    }

    /// A CRI section with registry credentials, as containerd documents
    /// them, in the layout of config `version`.
    fn with_auth(version: u8) -> String {
        let (plugin, registry) = match version {
            2 => ("io.containerd.grpc.v1.cri", "io.containerd.grpc.v1.cri"),
            _ => (
                "io.containerd.cri.v1.runtime",
                "io.containerd.cri.v1.images",
            ),
        };
        format!(
            r#"version = {version}
imports = ["conf.d/*.toml"]

[plugins."{plugin}".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."{plugin}".registry.configs."reg.example".auth]
  username = "alice"
  password = "hunter2-pw"
  auth = "YWxpY2U6aHVudGVyMg=="
  identitytoken = "idtok-secret"
[plugins."{plugin}".registry.configs."other.example"]
  auth = {{ username = "bob", Password = "inline-pw", identity_token = "idtok-2" }}
[plugins."{plugin}".registry]
  headers = {{ Authorization = ["Bearer header-tok"] }}
  registrytoken = "rt-secret"
  client_secret = "cs-secret"
[plugins."{registry}".registry.configs."third".auth]
  password = "images-pw"
"#
        )
    }

    const SECRETS: &[&str] = &[
        "hunter2-pw",
        "YWxpY2U6aHVudGVyMg==",
        "idtok-secret",
        "inline-pw",
        "idtok-2",
        "header-tok",
        "rt-secret",
        "cs-secret",
        "images-pw",
    ];

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn config_with_auth(root: &Path, version: u8, file_mode: u32) -> PathBuf {
        let config = root.join("etc/containerd/config.toml");
        std::fs::create_dir_all(config.parent().expect("dir")).expect("mkdir");
        std::fs::write(&config, with_auth(version)).expect("write");
        chmod(&config, file_mode);
        config
    }

    #[test]
    fn a_drop_in_copying_registry_auth_takes_the_main_config_mode() {
        for file_mode in [0o600, 0o640] {
            let root = tempfile::tempdir().expect("tmp");
            let config = config_with_auth(root.path(), 2, file_mode);
            install(&options(root.path()), &FakeHost("")).expect("install");
            let drop_in = root.path().join("etc/containerd/conf.d/wasmpod.toml");
            let text = std::fs::read_to_string(&drop_in).expect("drop-in");
            assert!(text.contains("hunter2-pw"), "the copy is whole: {text}");
            assert_eq!(mode(&drop_in), file_mode, "{}", drop_in.display());
            use std::os::unix::fs::MetadataExt as _;
            let (src, dst) = (
                std::fs::metadata(&config).expect("stat"),
                std::fs::metadata(&drop_in).expect("stat"),
            );
            assert_eq!((dst.uid(), dst.gid()), (src.uid(), src.gid()));
            // No temp file is left beside it.
            let names: Vec<_> = std::fs::read_dir(drop_in.parent().expect("dir"))
                .expect("ls")
                .map(|e| e.expect("entry").file_name())
                .collect();
            assert_eq!(names, ["wasmpod.toml"]);
        }
    }

    #[test]
    fn an_edited_config_and_its_backup_keep_the_config_mode() {
        let root = tempfile::tempdir().expect("tmp");
        let config = config_with_auth(root.path(), 2, 0o600);
        let text = with_auth(2).replace("imports = [\"conf.d/*.toml\"]\n", "");
        std::fs::write(&config, &text).expect("write");
        install(&options(root.path()), &FakeHost("")).expect("install");
        assert!(
            std::fs::read_to_string(&config)
                .expect("read")
                .contains(".runtimes.wasmpod]")
        );
        assert_eq!(mode(&config), 0o600);
        let backup = root
            .path()
            .join("etc/containerd/config.toml.wasmpod-backup");
        assert_eq!(std::fs::read_to_string(&backup).expect("backup"), text);
        assert_eq!(mode(&backup), 0o600);
    }

    #[test]
    fn a_k3s_template_takes_the_rendered_config_mode() {
        let root = tempfile::tempdir().expect("tmp");
        let dir = root.path().join("var/lib/rancher/k3s/agent/etc/containerd");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let rendered = with_auth(3).replace("imports = [\"conf.d/*.toml\"]\n", "");
        std::fs::write(dir.join("config.toml"), rendered).expect("write");
        chmod(&dir.join("config.toml"), 0o600);
        install(&options(root.path()), &FakeHost("")).expect("install");
        let tmpl = dir.join("config.toml.tmpl");
        assert!(
            std::fs::read_to_string(&tmpl)
                .expect("tmpl")
                .contains("hunter2-pw")
        );
        assert_eq!(mode(&tmpl), 0o600);
    }

    #[test]
    fn the_plan_shows_credential_keys_but_not_their_values() {
        for version in [2, 3] {
            for drop_in in [true, false] {
                let root = tempfile::tempdir().expect("tmp");
                let config = config_with_auth(root.path(), version, 0o600);
                if !drop_in {
                    let text = with_auth(version).replace("imports = [\"conf.d/*.toml\"]\n", "");
                    std::fs::write(&config, text).expect("write");
                }
                let mut opts = options(root.path());
                opts.dry_run = true;
                let plan = install(&opts, &FakeHost("")).expect("plan");
                let printed = plan.to_string();
                let debug = format!("{plan:?}");
                for secret in SECRETS {
                    assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
                    assert!(!debug.contains(secret), "{secret} in Debug:\n{debug}");
                }
                // The diff still says what is there (a drop-in shows the
                // copied section; an edit only its new lines).
                assert!(printed.contains(".runtimes.wasmpod]"), "{printed}");
                assert!(printed.contains("(mode 0600, owner "), "{printed}");
                if drop_in {
                    for shown in [
                        "+  password = \"<redacted>\"",
                        "+  auth = \"<redacted>\"",
                        "+  identitytoken = \"<redacted>\"",
                        "+  username = \"alice\"",
                        "Password = \"<redacted>\"",
                        "identity_token = \"<redacted>\"",
                        "Authorization = \"<redacted>\"",
                        "+  registrytoken = \"<redacted>\"",
                        "+  client_secret = \"<redacted>\"",
                    ] {
                        assert!(printed.contains(shown), "{shown} missing:\n{printed}");
                    }
                }

                // Uninstall's plan (after a real install) shows the same.
                opts.dry_run = false;
                install(&opts, &FakeHost("")).expect("install");
                opts.dry_run = true;
                let printed = uninstall(&opts, &FakeHost("")).expect("plan").to_string();
                for secret in SECRETS {
                    assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
                }
            }
        }
    }
}
