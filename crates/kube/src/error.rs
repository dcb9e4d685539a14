//! The crate's one error type. Every message is one line and names where the
//! problem is: a file with line and column, or an object (`Kind/name`) and
//! the field path inside it. A lower layer's error (the operating system's,
//! a quantity's) is the `source()`, never repeated in the message.

use std::path::PathBuf;

use crate::quantity::QuantityError;

/// Why manifests could not be loaded or planned.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// A file or directory could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The text is not valid YAML: `app.yaml:12:5: mapping values are not allowed in this context`.
    #[error("{file}:{line}:{column}: {message}")]
    Yaml {
        /// The file (or the name given to a [`Source::Text`](crate::Source::Text)).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message, without its position.
        message: String,
    },

    /// A document that is valid YAML but not a Kubernetes object (no
    /// `kind`, no `metadata.name`, not a mapping ...).
    #[error("{file}: document {index}: {message}")]
    Document {
        /// The file.
        file: String,
        /// 1-based position of the document in the file (counting empty ones).
        index: usize,
        /// What is wrong.
        message: String,
    },

    /// Input past one of the loader's bounds (see [`MAX_FILE_BYTES`](crate::MAX_FILE_BYTES)
    /// and the other limits): `big.yaml: larger than 4194304 bytes, the most a manifest may be`.
    #[error("{file}: {message}")]
    Limit {
        /// The file, directory or [`Source::Text`](crate::Source::Text) name.
        file: String,
        /// Which limit, and its value.
        message: String,
    },

    /// A kind this crate does not model: `Foo/bar: kind Foo is not supported`.
    #[error(
        "{object}: kind {kind} is not supported (supported: Pod, Deployment, Job, ConfigMap, Secret, Service)"
    )]
    UnsupportedKind {
        /// `Kind/name`.
        object: String,
        /// The kind.
        kind: String,
    },

    /// A field that is not on the allow-list (and `lenient` is off):
    /// `Deployment/web: spec.template.spec.containers[0].securityContext is not supported`.
    #[error("{object}: {path} is not supported")]
    UnsupportedField {
        /// `Kind/name`.
        object: String,
        /// The field path, e.g. `spec.containers[0].securityContext`.
        path: String,
    },

    /// A resource quantity that does not parse:
    /// `Pod/a: spec.containers[0].resources.limits.memory`, caused by
    /// `invalid quantity "12Q": ...`.
    #[error("{object}: {path}")]
    Quantity {
        /// `Kind/name`.
        object: String,
        /// The field path.
        path: String,
        /// The parser's reason.
        #[source]
        source: QuantityError,
    },

    /// Anything else wrong with an object: a bad value, a missing reference,
    /// a selector that does not match. The message starts with the field
    /// path where there is one.
    #[error("{object}: {message}")]
    Invalid {
        /// `Kind/name`.
        object: String,
        /// What is wrong, e.g. `spec.template.spec.restartPolicy must be OnFailure or Never for a Job`.
        message: String,
    },
}

impl KubeError {
    /// An error about `object`, one line whatever the manifest's text in
    /// it holds: control characters (a newline, an escape sequence) from a
    /// value quoted in `message` are shown escaped, so a manifest cannot
    /// make the error span lines or drive the terminal.
    pub(crate) fn invalid(object: impl ToString, message: impl Into<String>) -> Self {
        Self::Invalid {
            object: one_line(object.to_string()),
            message: one_line(message.into()),
        }
    }
}

fn one_line(text: String) -> String {
    if !text.chars().any(char::is_control) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_text_in_an_error_stays_on_one_line() {
        let e = KubeError::invalid(
            "Pod/p",
            "spec.containers[0].ports[0].protocol: TCP\nwasmpod: ok\u{1b}[2J is not supported",
        );
        let shown = e.to_string();
        assert_eq!(shown.lines().count(), 1, "{shown}");
        assert!(shown.contains("TCP\\nwasmpod: ok\\u{1b}[2J"), "{shown}");
    }
}
