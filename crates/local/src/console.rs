//! Output: containers' lines with a `pod/container | ` prefix, and events,
//! interleaved on one stream in the order they happen.

use std::io::{BufRead, Write};
use std::sync::Mutex;

/// Where `up` writes. Lines are written whole, so they never interleave
/// mid-line.
pub struct Console {
    color: bool,
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("color", &self.color)
            .finish_non_exhaustive()
    }
}

// One colour per name, as compose does.
const COLORS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

impl Console {
    /// Writes to stdout, coloured when `color`.
    pub fn stdout(color: bool) -> Self {
        Self::new(Box::new(std::io::stdout()), color)
    }

    /// Writes to `out`.
    pub fn new(out: Box<dyn Write + Send>, color: bool) -> Self {
        Self {
            color,
            out: Mutex::new(out),
        }
    }

    fn prefix(&self, name: &str) -> String {
        if !self.color {
            return name.to_string();
        }
        let hash = name
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        format!("\x1b[{}m{name}\x1b[0m", COLORS[hash % COLORS.len()])
    }

    fn write(&self, line: &str) {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Output that cannot be written (a closed pipe) is dropped; the
        // workloads go on.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// A line of a container's output.
    pub fn line(&self, name: &str, text: &str) {
        self.write(&format!("{} | {text}", self.prefix(name)));
    }

    /// A state change of `name` (a pod, `pod/container`, a Job or a
    /// Service).
    pub fn event(&self, name: &str, text: &str) {
        self.write(&format!("[event] {}: {text}", self.prefix(name)));
    }

    /// Copies `reader`'s lines as `name`'s output, on a thread of its own,
    /// until the writing side is closed. Joining the thread waits for the
    /// last line.
    pub(crate) fn pump(
        self: &std::sync::Arc<Self>,
        name: String,
        reader: std::io::PipeReader,
    ) -> Option<std::thread::JoinHandle<()>> {
        let console = self.clone();
        let spawned = std::thread::Builder::new()
            .name("wasmpod-log".into())
            .spawn(move || {
                let mut reader = std::io::BufReader::new(reader);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&buf);
                            console.line(&name, text.trim_end_matches(['\n', '\r']));
                        }
                    }
                }
            });
        match spawned {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a log thread; output is lost");
                None
            }
        }
    }
}
