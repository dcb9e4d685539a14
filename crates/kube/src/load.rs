//! Reading manifests: files, directories and text (stdin), split into
//! documents, each checked for `apiVersion`, `kind` and `metadata.name`.
//! Field-level checks happen in [`plan`](crate::plan), where `lenient`
//! applies.
//!
//! Manifests are input from whoever wrote them, so reading them is bounded:
//! see [`MAX_FILE_BYTES`], [`MAX_TOTAL_BYTES`], [`MAX_FILES`],
//! [`MAX_DIR_ENTRIES`], [`MAX_NODES`] and [`MAX_SCALAR_BYTES`]. YAML
//! aliases are allowed, but what they expand to counts against the node and
//! byte budgets, so a "billion laughs" file is refused after a bounded
//! amount of work; nesting is at most [`yaml::MAX_DEPTH`] levels. The YAML
//! itself is read by [`yaml`](crate::yaml).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::yaml::{self, Value, YamlError};
use crate::{KubeError, names};

/// Largest manifest file, or text (`-f -`), read: 4 MiB. (The Kubernetes
/// API server takes requests of at most 3 MiB.)
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// Largest total of all manifests read by one [`load`]: 16 MiB.
pub const MAX_TOTAL_BYTES: u64 = 16 << 20;
/// Most manifest files read by one [`load`] (directories included): 1000.
pub const MAX_FILES: usize = 1000;
/// Most entries looked at in one manifest directory: 10,000.
pub const MAX_DIR_ENTRIES: usize = 10_000;
/// Most YAML nodes (scalars, sequences, mappings) built by one [`load`],
/// counting every expansion of an alias (and an anchored node once more,
/// for the copy kept for its aliases): 1,000,000.
pub const MAX_NODES: u64 = 1_000_000;
/// Most bytes of scalar text (values and keys) built by one [`load`],
/// counting as [`MAX_NODES`] does: 64 MiB.
pub const MAX_SCALAR_BYTES: u64 = 64 << 20;

/// Where manifests come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A YAML file, or a directory whose `*.yaml` and `*.yml` files are read
    /// in name order (not recursively).
    Path(PathBuf),
    /// Text already read, e.g. stdin for `-f -`. `name` is used in messages;
    /// relative `file://` images and `hostPath`s resolve against `dir`.
    Text {
        /// Shown in error messages, e.g. `<stdin>`.
        name: String,
        /// The YAML.
        text: String,
        /// Base for relative paths (the caller's working directory for stdin).
        dir: PathBuf,
    },
}

/// The kinds wasmpod runs locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `v1` Pod.
    Pod,
    /// `apps/v1` Deployment.
    Deployment,
    /// `batch/v1` Job.
    Job,
    /// `v1` ConfigMap.
    ConfigMap,
    /// `v1` Secret.
    Secret,
    /// `v1` Service.
    Service,
}

impl Kind {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "Pod" => Self::Pod,
            "Deployment" => Self::Deployment,
            "Job" => Self::Job,
            "ConfigMap" => Self::ConfigMap,
            "Secret" => Self::Secret,
            "Service" => Self::Service,
            _ => return None,
        })
    }

    /// The `apiVersion` this kind must have.
    pub fn api_version(self) -> &'static str {
        match self {
            Self::Pod | Self::ConfigMap | Self::Secret | Self::Service => "v1",
            Self::Deployment => "apps/v1",
            Self::Job => "batch/v1",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pod => "Pod",
            Self::Deployment => "Deployment",
            Self::Job => "Job",
            Self::ConfigMap => "ConfigMap",
            Self::Secret => "Secret",
            Self::Service => "Service",
        })
    }
}

/// One Kubernetes object from a manifest, with its kind and name checked and
/// the rest kept as YAML until [`plan`](crate::plan) reads it.
#[derive(Debug, Clone)]
pub struct Document {
    /// The object's kind.
    pub kind: Kind,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, `default` when absent.
    pub namespace: String,
    /// The file it came from (or a [`Source::Text`]'s name).
    pub file: String,
    /// Base directory for relative paths in this object.
    pub dir: PathBuf,
    pub(crate) value: Value,
}

impl Document {
    /// `Kind/name`, the way every message names the object.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// Reads every source in order and returns its objects in order. Empty
/// documents are skipped. Errors name the file, and for YAML errors the line
/// and column.
///
/// Everything read is bounded (see the module's constants): a file, a
/// [`Source::Text`] or the sum of them that is too large, too many files, or
/// YAML that expands (through aliases) to too many nodes or bytes is a
/// [`KubeError::Limit`] or [`KubeError::Document`] naming the limit.
pub fn load(sources: &[Source]) -> Result<Vec<Document>, KubeError> {
    let mut docs = Vec::new();
    let mut budget = Budget::default();
    for source in sources {
        match source {
            Source::Text { name, text, dir } => {
                budget.take_text(name, text.len() as u64)?;
                parse(name, text, dir, &mut budget, &mut docs)?;
            }
            Source::Path(path) => {
                let meta = std::fs::metadata(path).map_err(|source| KubeError::Read {
                    path: path.clone(),
                    source,
                })?;
                if meta.is_dir() {
                    for file in yaml_files(path)? {
                        load_file(&file, &mut budget, &mut docs)?;
                    }
                } else {
                    load_file(path, &mut budget, &mut docs)?;
                }
            }
        }
    }
    Ok(docs)
}

/// What one [`load`] has used of its limits.
#[derive(Debug)]
struct Budget {
    files: usize,
    bytes: u64,
    yaml: yaml::Budget,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            files: 0,
            bytes: 0,
            yaml: yaml::Budget::new(MAX_NODES, MAX_SCALAR_BYTES),
        }
    }
}

impl Budget {
    fn take_text(&mut self, file: &str, len: u64) -> Result<(), KubeError> {
        let limit = |message: String| KubeError::Limit {
            file: file.to_string(),
            message,
        };
        self.files += 1;
        if self.files > MAX_FILES {
            return Err(limit(format!(
                "more than {MAX_FILES} manifest files in one run"
            )));
        }
        if len > MAX_FILE_BYTES {
            return Err(limit(format!(
                "larger than {MAX_FILE_BYTES} bytes, the most a manifest may be"
            )));
        }
        self.bytes += len;
        if self.bytes > MAX_TOTAL_BYTES {
            return Err(limit(format!(
                "the manifests add up to more than {MAX_TOTAL_BYTES} bytes"
            )));
        }
        Ok(())
    }
}

fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, KubeError> {
    let read_err = |source| KubeError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for (n, entry) in std::fs::read_dir(dir).map_err(read_err)?.enumerate() {
        if n >= MAX_DIR_ENTRIES {
            return Err(KubeError::Limit {
                file: dir.display().to_string(),
                message: format!("more than {MAX_DIR_ENTRIES} entries in a manifest directory"),
            });
        }
        let path = entry.map_err(read_err)?.path();
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if is_yaml && path.is_file() {
            files.push(path);
            if files.len() > MAX_FILES {
                return Err(KubeError::Limit {
                    file: dir.display().to_string(),
                    message: format!("more than {MAX_FILES} manifest files in a directory"),
                });
            }
        }
    }
    files.sort();
    tracing::debug!(dir = %dir.display(), files = files.len(), "manifest directory");
    Ok(files)
}

fn load_file(path: &Path, budget: &mut Budget, docs: &mut Vec<Document>) -> Result<(), KubeError> {
    let read_err = |source| KubeError::Read {
        path: path.to_path_buf(),
        source,
    };
    let name = path.display().to_string();
    // At most one byte more than the limit, whatever the file is (a FIFO or
    // a device has no useful size).
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read_err)?;
    budget.take_text(&name, bytes.len() as u64)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (at byte {})", e.utf8_error().valid_up_to()),
        ))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    parse(&name, &text, &dir, budget, docs)
}

fn parse(
    file: &str,
    text: &str,
    dir: &Path,
    budget: &mut Budget,
    docs: &mut Vec<Document>,
) -> Result<(), KubeError> {
    for item in yaml::documents(text, &mut budget.yaml) {
        let (index, value) = item.map_err(|e| match e {
            YamlError::Syntax {
                line,
                column,
                message,
            } => KubeError::Yaml {
                file: file.to_string(),
                line,
                column,
                message,
            },
            YamlError::Limit { index, message } => KubeError::Document {
                file: file.to_string(),
                index,
                message,
            },
        })?;
        if value.is_null() {
            continue;
        }
        let doc = document(file, index, dir, value)?;
        tracing::debug!(file, object = %doc.id(), "loaded");
        docs.push(doc);
    }
    Ok(())
}

fn document(file: &str, index: usize, dir: &Path, value: Value) -> Result<Document, KubeError> {
    let doc_err = |message: String| KubeError::Document {
        file: file.to_string(),
        index,
        message,
    };
    let Value::Mapping(map) = &value else {
        return Err(doc_err("expected a mapping (a Kubernetes object)".into()));
    };
    let text = |key: &str| -> Result<Option<&str>, KubeError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(doc_err(format!("{key} must be a string"))),
        }
    };
    let kind_name = text("kind")?.ok_or_else(|| doc_err("kind is missing".into()))?;
    let api_version = text("apiVersion")?;
    let metadata = match map.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Mapping(m)) => Some(m),
        Some(_) => return Err(doc_err("metadata must be a mapping".into())),
    };
    let meta_str = |key: &str| -> Result<Option<String>, KubeError> {
        match metadata.and_then(|m| m.get(key)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(doc_err(format!("metadata.{key} must be a string"))),
        }
    };
    let kind_shown = if kind_name.chars().all(|c| c.is_ascii_alphanumeric()) {
        kind_name.to_string()
    } else {
        names::shown(kind_name)
    };
    let name = match meta_str("name")? {
        Some(n) if !n.is_empty() => n,
        _ => return Err(doc_err(format!("{kind_shown}: metadata.name is required"))),
    };
    // Names become folder names under `up`'s state folder: checked before
    // anything prints or uses them.
    let kind = Kind::from_name(kind_name);
    let rule = match kind {
        Some(Kind::Service) => names::dns1035_label(&name),
        Some(Kind::Job) => names::label(&name).and_then(|()| names::subdomain(&name)),
        _ => names::subdomain(&name),
    };
    if let Err(rule) = rule {
        return Err(doc_err(format!(
            "{kind_shown}: metadata.name {} is not valid (must be {rule})",
            names::shown(&name)
        )));
    }
    let Some(kind) = kind else {
        return Err(KubeError::UnsupportedKind {
            object: format!("{kind_shown}/{name}"),
            kind: kind_shown,
        });
    };
    let object = format!("{kind}/{name}");
    match api_version {
        Some(v) if v == kind.api_version() => {}
        Some(v) => {
            return Err(KubeError::invalid(
                object,
                format!(
                    "apiVersion {v} does not match kind {kind} (expected {})",
                    kind.api_version()
                ),
            ));
        }
        None => {
            return Err(KubeError::invalid(
                object,
                format!("apiVersion is missing (expected {})", kind.api_version()),
            ));
        }
    }
    let namespace = meta_str("namespace")?.unwrap_or_else(|| "default".to_string());
    if let Err(rule) = names::label(&namespace) {
        return Err(KubeError::invalid(
            object,
            format!(
                "metadata.namespace {} is not valid (must be {rule})",
                names::shown(&namespace)
            ),
        ));
    }
    Ok(Document {
        kind,
        name,
        namespace,
        file: file.to_string(),
        dir: dir.to_path_buf(),
        value,
    })
}
