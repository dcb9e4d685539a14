//! Reading YAML: a pure-Rust parser's events
//! ([`saphyr_parser`](https://docs.rs/saphyr-parser)) composed into
//! [`Value`] trees under a [`Budget`], one document at a time, and read
//! into typed structs with [`from_value`]. Errors carry the 1-based line
//! and column where the parser gives them.
//!
//! The crate builds its own tree rather than using a YAML serde crate so
//! that it decides every bound itself: aliases, nesting, duplicate keys and
//! tags are all handled here.

mod compose;
mod de;
mod scalar;
mod value;

pub use compose::{Budget, Documents, MAX_DEPTH};
pub use de::{DeError, from_value};
pub use value::{Mapping, Value};

/// Why YAML text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// Not valid YAML, or YAML this reader refuses (a duplicate key, an
    /// unknown tag, nesting too deep): `5:11: mapping values are not allowed in this context`.
    #[error("{line}:{column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, without the position.
        message: String,
    },
    /// The document expands to more than its [`Budget`] allows.
    #[error("document {index}: {message}")]
    Limit {
        /// 1-based position of the document (counting empty ones).
        index: usize,
        /// Which limit, and its value.
        message: String,
    },
}

/// The documents of `text`, each `(index, value)` with a 1-based index that
/// counts empty documents (read as [`Value::Null`]).
pub fn documents<'t, 'b>(text: &'t str, budget: &'b mut Budget) -> Documents<'t, 'b> {
    Documents::new(text, budget)
}
