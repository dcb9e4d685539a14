//! Builds [`Value`]s from the parser's events, one document at a time, and
//! bounds the work: every node built counts against a [`Budget`], an alias
//! counting everything it expands to each time it is used, and nesting is
//! at most [`MAX_DEPTH`] levels, aliases included. Duplicate keys are
//! refused with the position of the second one.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, StrInput, Tag};

use super::YamlError;
use super::scalar;
use super::value::{Mapping, Value};

/// Deepest nesting of sequences and mappings in one document, counting
/// what aliases expand to: 128 (as serde_yaml had).
pub const MAX_DEPTH: usize = 128;

/// The node and byte limits for everything read with one budget, and what
/// has been used of them.
#[derive(Debug)]
pub struct Budget {
    max_nodes: u64,
    max_bytes: u64,
    /// Built into documents.
    nodes: u64,
    bytes: u64,
    /// Kept for aliases (an anchored node is kept as a copy).
    kept_nodes: u64,
    kept_bytes: u64,
}

impl Budget {
    /// A budget of `max_nodes` nodes and `max_bytes` bytes of scalar text.
    pub fn new(max_nodes: u64, max_bytes: u64) -> Self {
        Self {
            max_nodes,
            max_bytes,
            nodes: 0,
            bytes: 0,
            kept_nodes: 0,
            kept_bytes: 0,
        }
    }

    /// Counts `nodes` and `bytes` built into a document.
    fn take(&mut self, nodes: u64, bytes: u64) -> Result<(), String> {
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        self.check()
    }

    /// Counts `nodes` and `bytes` copied to be kept for aliases.
    fn keep(&mut self, nodes: u64, bytes: u64) -> Result<(), String> {
        self.kept_nodes = self.kept_nodes.saturating_add(nodes);
        self.kept_bytes = self.kept_bytes.saturating_add(bytes);
        self.check()
    }

    fn check(&self) -> Result<(), String> {
        if self.nodes.saturating_add(self.kept_nodes) > self.max_nodes {
            return Err(format!(
                "expands to more than {} YAML nodes (an alias counts each time it is used)",
                self.max_nodes
            ));
        }
        if self.bytes.saturating_add(self.kept_bytes) > self.max_bytes {
            return Err(format!(
                "expands to more than {} bytes of text (an alias counts each time it is used)",
                self.max_bytes
            ));
        }
        Ok(())
    }
}

/// The documents of one YAML text, in order: `(index, value)` with a
/// 1-based index that counts empty documents (whose value is `Null`).
pub struct Documents<'t, 'b> {
    parser: Parser<'t, StrInput<'t>>,
    budget: &'b mut Budget,
    index: usize,
    done: bool,
}

impl std::fmt::Debug for Documents<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Documents")
            .field("index", &self.index)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl<'t, 'b> Documents<'t, 'b> {
    pub(crate) fn new(text: &'t str, budget: &'b mut Budget) -> Self {
        Self {
            parser: Parser::new_from_str(text),
            budget,
            index: 0,
            done: false,
        }
    }
}

impl Iterator for Documents<'_, '_> {
    type Item = Result<(usize, Value), YamlError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_document();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

/// An anchored node, kept for its aliases with what it costs to copy.
struct Anchored {
    value: Value,
    nodes: u64,
    bytes: u64,
    depth: usize,
}

/// A sequence or mapping being built.
struct Open {
    anchor: usize,
    /// The budget's counts when it started, for its own cost.
    nodes: u64,
    bytes: u64,
    /// Its deepest child's depth.
    depth: usize,
    kind: OpenKind,
}

enum OpenKind {
    Sequence(Vec<Value>),
    Mapping {
        entries: Mapping,
        keys: HashSet<String>,
        key: Option<Value>,
    },
}

/// A finished node: its value, anchor id and depth.
struct Node {
    value: Value,
    anchor: usize,
    depth: usize,
    /// The budget's counts when it started.
    nodes: u64,
    bytes: u64,
}

fn syntax(at: Marker, message: impl Into<String>) -> YamlError {
    YamlError::Syntax {
        line: at.line(),
        column: at.col() + 1,
        message: message.into(),
    }
}

fn scan_error(e: &ScanError) -> YamlError {
    syntax(*e.marker(), e.info())
}

fn tag_name(tag: &Tag) -> String {
    if tag.is_yaml_core_schema() {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

/// Whether a collection may carry `tag`: none, `!`, `!!seq` or `!!map`.
fn collection_tag_ok(tag: Option<&Tag>, core: &str) -> Result<(), String> {
    match tag {
        None => Ok(()),
        Some(t) if t.handle == "!" && t.suffix.is_empty() => Ok(()),
        Some(t) if t.is_yaml_core_schema() && t.suffix == core => Ok(()),
        Some(t) => Err(format!("tag {} is not supported here", tag_name(t))),
    }
}

fn scalar_value(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    match tag {
        None if style == ScalarStyle::Plain => Ok(scalar::plain(text)),
        None => Ok(Value::String(text.to_string())),
        Some(t) if t.handle == "!" && t.suffix.is_empty() => Ok(Value::String(text.to_string())),
        Some(t) if t.is_yaml_core_schema() => scalar::tagged(&t.suffix, text)
            .ok_or_else(|| format!("{text:?} is not a valid {}", tag_name(t))),
        Some(t) => Err(format!("tag {} is not supported", tag_name(t))),
    }
}

impl<'t> Documents<'t, '_> {
    fn event(&mut self) -> Result<(Event<'t>, Marker), YamlError> {
        match self.parser.next_event() {
            Some(Ok((event, span))) => Ok((event, span.start)),
            Some(Err(e)) => Err(scan_error(&e)),
            None => Ok((Event::StreamEnd, Marker::default())),
        }
    }

    fn limit(&self, message: String) -> YamlError {
        YamlError::Limit {
            index: self.index,
            message,
        }
    }

    fn next_document(&mut self) -> Option<Result<(usize, Value), YamlError>> {
        loop {
            match self.event() {
                Err(e) => return Some(Err(e)),
                Ok((Event::StreamEnd, _)) => return None,
                Ok((Event::DocumentStart(_), _)) => {
                    self.index += 1;
                    return Some(self.document().map(|v| (self.index, v)));
                }
                Ok(_) => {}
            }
        }
    }

    /// The events of one document, up to and including its end.
    fn document(&mut self) -> Result<Value, YamlError> {
        let mut anchors: HashMap<usize, Anchored> = HashMap::new();
        let mut stack: Vec<Open> = Vec::new();
        let mut root = Value::Null;
        loop {
            let (event, at) = self.event()?;
            let sequence = matches!(event, Event::SequenceStart(..));
            let done = match event {
                Event::DocumentEnd | Event::StreamEnd => return Ok(root),
                Event::Scalar(text, style, anchor, tag) => {
                    let (nodes, bytes) = (self.budget.nodes, self.budget.bytes);
                    self.budget
                        .take(1, text.len() as u64)
                        .map_err(|m| self.limit(m))?;
                    let value =
                        scalar_value(&text, style, tag.as_deref()).map_err(|m| syntax(at, m))?;
                    Node {
                        value,
                        anchor,
                        depth: 0,
                        nodes,
                        bytes,
                    }
                }
                Event::Alias(id) => {
                    let Some(a) = anchors.get(&id) else {
                        return Err(syntax(at, "alias to an anchor not yet defined"));
                    };
                    if stack.len() + a.depth > MAX_DEPTH {
                        return Err(syntax(
                            at,
                            format!("nested more than {MAX_DEPTH} levels deep"),
                        ));
                    }
                    let (nodes, bytes) = (self.budget.nodes, self.budget.bytes);
                    let (n, b) = (a.nodes, a.bytes);
                    self.budget.take(n, b).map_err(|m| self.limit(m))?;
                    Node {
                        value: a.value.clone(),
                        anchor: 0,
                        depth: a.depth,
                        nodes,
                        bytes,
                    }
                }
                Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                    collection_tag_ok(tag.as_deref(), if sequence { "seq" } else { "map" })
                        .map_err(|m| syntax(at, m))?;
                    if stack.len() >= MAX_DEPTH {
                        return Err(syntax(
                            at,
                            format!("nested more than {MAX_DEPTH} levels deep"),
                        ));
                    }
                    let (nodes, bytes) = (self.budget.nodes, self.budget.bytes);
                    self.budget.take(1, 0).map_err(|m| self.limit(m))?;
                    stack.push(Open {
                        anchor,
                        nodes,
                        bytes,
                        depth: 0,
                        kind: if sequence {
                            OpenKind::Sequence(Vec::new())
                        } else {
                            OpenKind::Mapping {
                                entries: Mapping::default(),
                                keys: HashSet::new(),
                                key: None,
                            }
                        },
                    });
                    continue;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(open) = stack.pop() else {
                        return Err(syntax(at, "end of a collection that was not started"));
                    };
                    let value = match open.kind {
                        OpenKind::Sequence(items) => Value::Sequence(items),
                        OpenKind::Mapping { entries, .. } => Value::Mapping(entries),
                    };
                    Node {
                        value,
                        anchor: open.anchor,
                        depth: open.depth + 1,
                        nodes: open.nodes,
                        bytes: open.bytes,
                    }
                }
                Event::Nothing | Event::StreamStart | Event::DocumentStart(_) => continue,
            };
            self.finish(done, at, &mut anchors, &mut stack, &mut root)?;
        }
    }

    /// Places a finished node: kept for aliases if anchored (which costs
    /// its size again), then into its parent, or as the document's root.
    fn finish(
        &mut self,
        node: Node,
        at: Marker,
        anchors: &mut HashMap<usize, Anchored>,
        stack: &mut [Open],
        root: &mut Value,
    ) -> Result<(), YamlError> {
        if node.anchor != 0 {
            let nodes = self.budget.nodes - node.nodes;
            let bytes = self.budget.bytes - node.bytes;
            self.budget.keep(nodes, bytes).map_err(|m| self.limit(m))?;
            anchors.insert(
                node.anchor,
                Anchored {
                    value: node.value.clone(),
                    nodes,
                    bytes,
                    depth: node.depth,
                },
            );
        }
        let Some(parent) = stack.last_mut() else {
            *root = node.value;
            return Ok(());
        };
        parent.depth = parent.depth.max(node.depth);
        match &mut parent.kind {
            OpenKind::Sequence(items) => items.push(node.value),
            OpenKind::Mapping { entries, keys, key } => match key.take() {
                Some(k) => entries.push(k, node.value),
                None => {
                    // The value's debug form identifies it: equal keys
                    // print alike, different ones differently.
                    if !keys.insert(format!("{:?}", node.value)) {
                        let shown = match &node.value {
                            Value::String(s) => format!("{s:?}"),
                            other => other.shown(),
                        };
                        return Err(syntax(at, format!("duplicate entry with key {shown}")));
                    }
                    *key = Some(node.value);
                }
            },
        }
        Ok(())
    }
}
