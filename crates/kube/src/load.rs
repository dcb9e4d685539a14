//! Reading manifests: files, directories and text (stdin), split into
//! documents, each checked for `apiVersion`, `kind` and `metadata.name`.
//! Field-level checks happen in [`plan`](crate::plan), where `lenient`
//! applies.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use crate::KubeError;

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
pub fn load(sources: &[Source]) -> Result<Vec<Document>, KubeError> {
    let mut docs = Vec::new();
    for source in sources {
        match source {
            Source::Text { name, text, dir } => parse(name, text, dir, &mut docs)?,
            Source::Path(path) => {
                let meta = std::fs::metadata(path).map_err(|source| KubeError::Read {
                    path: path.clone(),
                    source,
                })?;
                if meta.is_dir() {
                    for file in yaml_files(path)? {
                        load_file(&file, &mut docs)?;
                    }
                } else {
                    load_file(path, &mut docs)?;
                }
            }
        }
    }
    Ok(docs)
}

fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, KubeError> {
    let read_err = |source| KubeError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    tracing::debug!(dir = %dir.display(), files = files.len(), "manifest directory");
    Ok(files)
}

fn load_file(path: &Path, docs: &mut Vec<Document>) -> Result<(), KubeError> {
    let text = std::fs::read_to_string(path).map_err(|source| KubeError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    parse(&path.display().to_string(), &text, &dir, docs)
}

fn parse(file: &str, text: &str, dir: &Path, docs: &mut Vec<Document>) -> Result<(), KubeError> {
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let value = Value::deserialize(de).map_err(|e| yaml_error(file, &e))?;
        if value.is_null() {
            continue;
        }
        let doc = document(file, index, dir, value)?;
        tracing::debug!(file, object = %doc.id(), "loaded");
        docs.push(doc);
    }
    Ok(())
}

fn yaml_error(file: &str, e: &serde_yaml::Error) -> KubeError {
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C"; the position goes in front.
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    KubeError::Yaml {
        file: file.to_string(),
        line,
        column,
        message,
    }
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
    let name = match meta_str("name")? {
        Some(n) if !n.is_empty() => n,
        _ => return Err(doc_err(format!("{kind_name}: metadata.name is required"))),
    };
    let Some(kind) = Kind::from_name(kind_name) else {
        return Err(KubeError::UnsupportedKind {
            object: format!("{kind_name}/{name}"),
            kind: kind_name.to_string(),
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
    Ok(Document {
        kind,
        name,
        namespace,
        file: file.to_string(),
        dir: dir.to_path_buf(),
        value,
    })
}
