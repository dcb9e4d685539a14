//! The containerd CRI config edit, as pure functions over TOML text: which
//! version a config is, where the runtime handler goes (the main file or a
//! drop-in under an `imports` glob), adding and removing the handler.
//!
//! Edits go through `toml_edit`, so comments, order and formatting of
//! everything else survive byte for byte. No file I/O here.

use std::path::{Path, PathBuf};

use toml_edit::{Array, DocumentMut, Item, Table, TableLike, Value};

/// The CRI runtime handler name (what `RuntimeClass.handler` says).
pub const HANDLER: &str = "wasmpod";
/// The containerd runtime type: containerd runs `containerd-shim-wasmpod-v1`.
pub const RUNTIME_TYPE: &str = "io.containerd.wasmpod.v1";
/// The annotation the kubelet sets with a container's `ports`; listing it
/// in `container_annotations` passes it through to the shim.
pub const PORTS_ANNOTATION: &str = "io.kubernetes.container.ports";
/// The pod annotations the shim reads (`wasmpod.dev/max-wasm-stack`);
/// listing the pattern in `pod_annotations` passes them through.
pub const POD_ANNOTATIONS: &str = "wasmpod.dev/*";
/// The first line of a file `wasmpod node install` created, so uninstall
/// knows the whole file is ours.
pub const CREATED_HEADER: &str =
    "# Written by `wasmpod node install`; `wasmpod node uninstall` removes it.";
/// The comment on a `runc` runtime table install added (see [`add_handler`]).
const RUNC_MARKER: &str = "# Added by `wasmpod node install`: containerd drops its default runc runtime once any runtime is listed.";

/// The parts of a config that matter here.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Where and what, without the offending line: toml_edit's own error
    /// quotes it, and that line may be a credential (so the parser's
    /// error is deliberately not kept as the source).
    #[error("not valid TOML at line {line}, column {column}: {message}")]
    Parse {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "config version {0} is not supported (only 2, for containerd 1.6/1.7, and 3, for containerd 2.x)"
    )]
    UnsupportedVersion(i64),
    #[error("`version` is not an integer")]
    BadVersion,
    #[error("`{0}` is not a table")]
    NotATable(String),
}

/// A containerd config format, which decides the CRI plugin's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigVersion {
    /// `version = 2`: containerd 1.6 and 1.7.
    V2,
    /// `version = 3`: containerd 2.x.
    V3,
}

impl ConfigVersion {
    /// The plugin whose table holds `containerd.runtimes`.
    pub fn plugin(self) -> &'static str {
        match self {
            ConfigVersion::V2 => "io.containerd.grpc.v1.cri",
            ConfigVersion::V3 => "io.containerd.cri.v1.runtime",
        }
    }

    pub fn number(self) -> i64 {
        match self {
            ConfigVersion::V2 => 2,
            ConfigVersion::V3 => 3,
        }
    }

    /// The handler table's dotted path, for messages.
    pub fn handler_path(self) -> String {
        format!(
            "plugins.\"{}\".containerd.runtimes.{HANDLER}",
            self.plugin()
        )
    }

    /// The config version a containerd binary reads by default, from the
    /// output of `containerd --version` (`containerd github.com/containerd/
    /// containerd 1.6.20~ds1 ...` or `... v2.0.4 ...`).
    pub fn from_containerd_version(output: &str) -> Option<Self> {
        output.split_whitespace().find_map(|word| {
            let word = word.strip_prefix('v').unwrap_or(word);
            let (major, rest) = word.split_once('.')?;
            if !rest.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            match major.parse::<u32>().ok()? {
                1 => Some(ConfigVersion::V2),
                2 => Some(ConfigVersion::V3),
                _ => None,
            }
        })
    }
}

/// Parses a config, refusing anything that is not TOML.
pub fn parse(text: &str) -> Result<DocumentMut, ConfigError> {
    text.parse::<DocumentMut>().map_err(|e| {
        let at = e.span().map_or(0, |s| s.start).min(text.len());
        let before = text.as_bytes().get(..at).unwrap_or_default();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        ConfigError::Parse {
            line: before.iter().filter(|&&b| b == b'\n').count() + 1,
            column: String::from_utf8_lossy(&before[line_start..])
                .chars()
                .count()
                + 1,
            message: e.message().lines().next().unwrap_or_default().to_string(),
        }
    })
}

/// The `version` a config declares, if any.
pub fn declared_version(doc: &DocumentMut) -> Result<Option<ConfigVersion>, ConfigError> {
    match doc.get("version") {
        None => Ok(None),
        Some(item) => match item.as_integer() {
            Some(2) => Ok(Some(ConfigVersion::V2)),
            Some(3) => Ok(Some(ConfigVersion::V3)),
            Some(n) => Err(ConfigError::UnsupportedVersion(n)),
            None => Err(ConfigError::BadVersion),
        },
    }
}

/// The drop-in file for the handler, when the config has an `imports`
/// entry whose file name is a `*` glob in a plain folder (relative
/// entries are relative to the main file's folder, as containerd reads
/// them): that folder plus the glob with `*` read as `wasmpod`, e.g.
/// `conf.d/*.toml` gives `conf.d/wasmpod.toml`. An absolute entry is a
/// path on the host, so it is taken under `host_root` (`/`, or where the
/// host's root is mounted), as `main` is.
pub fn drop_in_path(doc: &DocumentMut, main: &Path, host_root: &Path) -> Option<PathBuf> {
    let imports = doc.get("imports")?.as_array()?;
    imports.iter().filter_map(Value::as_str).find_map(|glob| {
        let path = Path::new(glob);
        let name = path.file_name()?.to_str()?;
        let dir = path.parent()?.to_str()?;
        let meta = |s: &str| s.contains(['*', '?', '['].as_slice());
        if !name.contains('*') || meta(dir) || name.contains(['?', '['].as_slice()) {
            return None;
        }
        let file = name.replacen('*', HANDLER, 1).replace('*', "");
        let dir = if let Ok(on_host) = Path::new(dir).strip_prefix("/") {
            host_root.join(on_host)
        } else {
            main.parent().unwrap_or(Path::new(".")).join(dir)
        };
        Some(dir.join(file))
    })
}

/// The annotation lists the handler needs: each key, and the value it
/// must hold.
const ANNOTATION_LISTS: [(&str, &str); 2] = [
    ("container_annotations", PORTS_ANNOTATION),
    ("pod_annotations", POD_ANNOTATIONS),
];

/// Whether the handler is registered with our runtime type and the
/// annotations the shim reads.
pub fn has_handler(doc: &DocumentMut, version: ConfigVersion) -> bool {
    let Some(table) = handler_table(doc, version) else {
        return false;
    };
    let type_ok = table.get("runtime_type").and_then(Item::as_str) == Some(RUNTIME_TYPE);
    let lists_ok = ANNOTATION_LISTS.iter().all(|(key, value)| {
        table
            .get(key)
            .and_then(Item::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(value)))
    });
    type_ok && lists_ok
}

fn handler_table(doc: &DocumentMut, version: ConfigVersion) -> Option<&dyn TableLike> {
    let mut cur: &dyn TableLike = doc.as_table();
    for key in [
        "plugins",
        version.plugin(),
        "containerd",
        "runtimes",
        HANDLER,
    ] {
        cur = cur.get(key)?.as_table_like()?;
    }
    Some(cur)
}

/// The table at `path`, created (implicit, so it prints nothing of its
/// own) where missing.
fn table_at<'a>(
    root: &'a mut dyn TableLike,
    path: &[&str],
) -> Result<&'a mut dyn TableLike, ConfigError> {
    let mut cur = root;
    for (i, key) in path.iter().enumerate() {
        let item = cur.entry(key).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        cur = item
            .as_table_like_mut()
            .ok_or_else(|| ConfigError::NotATable(path[..=i].join(".")))?;
    }
    Ok(cur)
}

/// Registers the handler. Returns whether anything changed, so a second
/// run is a no-op.
///
/// When the config lists no runtime yet and its default runtime is
/// containerd's `runc`, a `runc` table is added too (marked with a
/// comment): containerd replaces its default runtimes map with the one in
/// the file, so listing only `wasmpod` would drop `runc` and break every
/// other pod. (Checked against containerd 1.6's `config dump`.)
pub fn add_handler(doc: &mut DocumentMut, version: ConfigVersion) -> Result<bool, ConfigError> {
    if has_handler(doc, version) {
        return Ok(false);
    }
    let containerd = table_at(
        doc.as_table_mut(),
        &["plugins", version.plugin(), "containerd"],
    )?;
    let default_is_runc = containerd
        .get("default_runtime_name")
        .and_then(Item::as_str)
        .is_none_or(|name| name == "runc");
    let runtimes = table_at(containerd, &["runtimes"])?;
    if default_is_runc && runtimes.is_empty() {
        let mut runc = Table::new();
        runc.decor_mut().set_prefix(format!("\n{RUNC_MARKER}\n"));
        runc.insert("runtime_type", toml_edit::value("io.containerd.runc.v2"));
        runtimes.insert("runc", Item::Table(runc));
    }
    match runtimes.get_mut(HANDLER).and_then(Item::as_table_like_mut) {
        Some(table) => {
            if table.get("runtime_type").and_then(Item::as_str) != Some(RUNTIME_TYPE) {
                table.insert("runtime_type", toml_edit::value(RUNTIME_TYPE));
            }
            for (key, value) in ANNOTATION_LISTS {
                let list = table
                    .entry(key)
                    .or_insert_with(|| toml_edit::value(Array::new()));
                match list.as_array_mut() {
                    Some(array) if array.iter().any(|v| v.as_str() == Some(value)) => {}
                    Some(array) => array.push(value),
                    None => *list = toml_edit::value(one(value)),
                }
            }
        }
        None => {
            let mut table = Table::new();
            table.decor_mut().set_prefix("\n");
            table.insert("runtime_type", toml_edit::value(RUNTIME_TYPE));
            for (key, value) in ANNOTATION_LISTS {
                table.insert(key, toml_edit::value(one(value)));
            }
            runtimes.insert(HANDLER, Item::Table(table));
        }
    }
    Ok(true)
}

fn one(value: &str) -> Array {
    let mut a = Array::new();
    a.push(value);
    a
}

/// Removes the handler (and a `runc` table [`add_handler`] added).
/// Returns whether anything changed. Tables install created implicitly
/// print nothing once empty.
pub fn remove_handler(doc: &mut DocumentMut, version: ConfigVersion) -> bool {
    let mut cur: &mut dyn TableLike = doc.as_table_mut();
    for key in ["plugins", version.plugin(), "containerd", "runtimes"] {
        match cur.get_mut(key).and_then(Item::as_table_like_mut) {
            Some(next) => cur = next,
            None => return false,
        }
    }
    let removed = cur.remove(HANDLER).is_some();
    let ours = |item: &Item| {
        item.as_table()
            .and_then(|t| t.decor().prefix())
            .and_then(|p| p.as_str())
            .is_some_and(|p| p.contains(RUNC_MARKER))
    };
    if cur.get("runc").is_some_and(ours) {
        cur.remove("runc");
    }
    removed
}

/// The text of a new drop-in: our header, the main file's `version`, a
/// copy of the main file's CRI plugin table, and the handler.
///
/// The copy is needed because containerd merges imported files a whole
/// plugin section at a time: a drop-in holding only the handler would
/// replace every CRI setting of the main file (checked against containerd
/// 1.6). From then on that section is read from the drop-in.
pub fn new_drop_in(main: &DocumentMut, version: ConfigVersion) -> Result<String, ConfigError> {
    let mut doc = DocumentMut::new();
    doc.decor_mut().set_prefix(format!("{CREATED_HEADER}\n"));
    doc.insert("version", toml_edit::value(version.number()));
    if let Some(section) = main
        .get("plugins")
        .and_then(Item::as_table_like)
        .and_then(|p| p.get(version.plugin()))
    {
        let plugins = table_at(doc.as_table_mut(), &["plugins"])?;
        plugins.insert(version.plugin(), section.clone());
    }
    add_handler(&mut doc, version)?;
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn added(text: &str, version: ConfigVersion) -> String {
        let mut doc = parse(text).expect("parse");
        add_handler(&mut doc, version).expect("add");
        doc.to_string()
    }

    const V2: &str = r#"# Debian's containerd, tuned by hand.
version = 2
root = "/var/lib/containerd"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.9" # pinned
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = true

[metrics]
  address = "127.0.0.1:1338"
"#;

    #[test]
    fn version_2_gets_the_handler_under_the_grpc_cri_plugin() {
        let out = added(V2, ConfigVersion::V2);
        assert_eq!(
            out,
            r#"# Debian's containerd, tuned by hand.
version = 2
root = "/var/lib/containerd"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.9" # pinned
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.wasmpod]
runtime_type = "io.containerd.wasmpod.v1"
container_annotations = ["io.kubernetes.container.ports"]
pod_annotations = ["wasmpod.dev/*"]

[metrics]
  address = "127.0.0.1:1338"
"#
        );
    }

    #[test]
    fn version_3_gets_the_handler_under_the_cri_runtime_plugin() {
        let text = r#"version = 3

# containerd 2.x
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
"#;
        assert_eq!(
            added(text, ConfigVersion::V3),
            r#"version = 3

# containerd 2.x
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.wasmpod]
runtime_type = "io.containerd.wasmpod.v1"
container_annotations = ["io.kubernetes.container.ports"]
pod_annotations = ["wasmpod.dev/*"]
"#
        );
    }

    #[test]
    fn a_config_with_no_runtimes_keeps_runc() {
        assert_eq!(
            added("version = 2\n", ConfigVersion::V2),
            r#"version = 2

# Added by `wasmpod node install`: containerd drops its default runc runtime once any runtime is listed.
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.wasmpod]
runtime_type = "io.containerd.wasmpod.v1"
container_annotations = ["io.kubernetes.container.ports"]
pod_annotations = ["wasmpod.dev/*"]
"#
        );
    }

    #[test]
    fn a_second_add_changes_nothing() {
        let once = added(V2, ConfigVersion::V2);
        let mut doc = parse(&once).expect("parse");
        assert!(!add_handler(&mut doc, ConfigVersion::V2).expect("add"));
        assert_eq!(doc.to_string(), once);
    }

    #[test]
    fn an_existing_handler_table_is_completed_in_place() {
        let text = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.wasmpod]\n  runtime_type = \"io.containerd.wasmpod.v1\" # ours\n";
        assert_eq!(
            added(text, ConfigVersion::V2),
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.wasmpod]\n  runtime_type = \"io.containerd.wasmpod.v1\" # ours\ncontainer_annotations = [\"io.kubernetes.container.ports\"]\npod_annotations = [\"wasmpod.dev/*\"]\n"
        );
        // An older install's table, without pod_annotations, is completed
        // and nothing in it is repeated.
        let older = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.wasmpod]\nruntime_type = \"io.containerd.wasmpod.v1\"\ncontainer_annotations = [\"io.kubernetes.container.ports\"]\n";
        assert_eq!(
            added(older, ConfigVersion::V2),
            format!("{older}pod_annotations = [\"wasmpod.dev/*\"]\n")
        );
    }

    #[test]
    fn remove_undoes_add_to_the_byte() {
        for (text, v) in [
            (V2, ConfigVersion::V2),
            ("version = 2\n", ConfigVersion::V2),
            ("version = 3\n# hi\n", ConfigVersion::V3),
        ] {
            let mut doc = parse(&added(text, v)).expect("parse");
            assert!(remove_handler(&mut doc, v));
            assert_eq!(doc.to_string(), text);
        }
    }

    #[test]
    fn broken_and_unsupported_configs_are_refused() {
        let err = parse("version = 2\n[plugins\n").expect_err("broken");
        assert!(matches!(err, ConfigError::Parse { line: 2, .. }), "{err:?}");
        let doc = parse("version = 1\n").expect("parse");
        assert!(matches!(
            declared_version(&doc),
            Err(ConfigError::UnsupportedVersion(1))
        ));
    }

    #[test]
    fn a_parse_error_names_the_place_but_does_not_quote_the_line() {
        let err = parse("version = 2\n[r.auth]\n  password = \"hunter2\n").expect_err("broken");
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("at line 3, column "), "{text}");
        assert!(std::error::Error::source(&err).is_none());
    }

    #[test]
    fn the_version_comes_from_containerd_version_output() {
        let v = ConfigVersion::from_containerd_version;
        assert_eq!(
            v("containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"),
            Some(ConfigVersion::V2)
        );
        assert_eq!(
            v("containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da"),
            Some(ConfigVersion::V2)
        );
        assert_eq!(
            v("containerd github.com/containerd/containerd/v2 v2.0.4 1a43cb6a"),
            Some(ConfigVersion::V3)
        );
        assert_eq!(v("containerd: command not found"), None);
    }

    #[test]
    fn imports_globs_name_the_drop_in() {
        let doc = parse("version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n").expect("p");
        assert_eq!(
            drop_in_path(
                &doc,
                Path::new("/etc/containerd/config.toml"),
                Path::new("/")
            ),
            Some(PathBuf::from("/etc/containerd/conf.d/wasmpod.toml"))
        );
        // The installer DaemonSet: the host's absolute path, under its mount.
        assert_eq!(
            drop_in_path(
                &doc,
                Path::new("/host/etc/containerd/config.toml"),
                Path::new("/host")
            ),
            Some(PathBuf::from("/host/etc/containerd/conf.d/wasmpod.toml"))
        );
        let doc = parse("imports = [\"/etc/x.toml\", \"d/*\"]\n").expect("p");
        assert_eq!(
            drop_in_path(
                &doc,
                Path::new("/host/etc/containerd/config.toml"),
                Path::new("/host")
            ),
            Some(PathBuf::from("/host/etc/containerd/d/wasmpod"))
        );
        let doc = parse("imports = [\"/etc/*/x.toml\"]\n").expect("p");
        assert_eq!(
            drop_in_path(&doc, Path::new("/c.toml"), Path::new("/")),
            None
        );
    }

    #[test]
    fn a_drop_in_carries_the_main_cri_section_and_the_handler() {
        let main = parse(
            "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause:9\"\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"/opt\"\n",
        )
        .expect("parse");
        assert_eq!(
            new_drop_in(&main, ConfigVersion::V2).expect("drop-in"),
            r#"# Written by `wasmpod node install`; `wasmpod node uninstall` removes it.
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "pause:9"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.wasmpod]
runtime_type = "io.containerd.wasmpod.v1"
container_annotations = ["io.kubernetes.container.ports"]
pod_annotations = ["wasmpod.dev/*"]
"#
        );
    }
}
