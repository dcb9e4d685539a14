//! What a guest may see and how much it may use: the [`RunSpec`], its
//! stdio, and the WASI context built from it.
//!
//! Deny by default: a default spec grants no environment, no files, no
//! network and no stdio.

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime_wasi::WasiCtxBuilder;

use crate::limits::Limits;
use crate::preopen::WorkDir;
use crate::usage::Usage;
use crate::{EngineError, Preopen};

/// `KEY=VALUE` entries, as images and OCI runtime specs carry them, as
/// [`RunSpec::env`] pairs. An entry without `=` is a name with an empty
/// value.
pub fn env_pairs<S: AsRef<str>>(entries: &[S]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|e| {
            let e = e.as_ref();
            let (k, v) = e.split_once('=').unwrap_or((e, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// What a guest may see and how much it may use.
///
/// `RunSpec::new` grants nothing but the arguments: no environment, no
/// files, no network, and stdin/stdout/stderr connected to nothing.
#[derive(Debug, Default)]
pub struct RunSpec {
    /// The guest's argv, including argv\[0\].
    pub args: Vec<String>,
    /// Environment variables, in order. Nothing else from the host's
    /// environment reaches the guest.
    pub env: Vec<(String, String)>,
    /// Host directories the guest may open.
    pub preopens: Vec<Preopen>,
    /// The guest's initial working directory, if any.
    pub cwd: Option<String>,
    /// Memory and time limits.
    pub limits: Limits,
    /// Where the guest's stdio goes.
    pub stdio: Stdio,
    /// Allow TCP and UDP sockets and name lookups (WASI 0.2 guests only;
    /// preview 1 has no socket API). Default: `false`.
    pub network: bool,
    /// Where the run's resource usage is counted, for callers that report
    /// metrics. Default: a fresh counter nobody reads.
    pub usage: Arc<Usage>,
}

impl RunSpec {
    /// A spec that grants nothing but `args`.
    pub fn new(args: Vec<String>) -> Self {
        Self {
            args,
            ..Self::default()
        }
    }

    pub(crate) fn wasi_builder(&mut self) -> Result<WasiCtxBuilder, EngineError> {
        crate::preopen::check_modes(&self.preopens)?;
        let work_dir = crate::preopen::work_dir(&self.preopens, self.cwd.as_deref());
        let mut b = self.shared_wasi_builder(work_dir.as_ref())?;
        match std::mem::take(&mut self.stdio.stdin) {
            InputSpec::Null => {}
            InputSpec::Inherit => {
                b.inherit_stdin();
            }
            InputSpec::File(f) => {
                b.stdin(wasmtime_wasi::cli::InputFile::new(f));
            }
            InputSpec::Reader(r) => {
                b.stdin(wasmtime_wasi::cli::AsyncStdinStream::new(r));
            }
        }
        Ok(b)
    }

    /// Everything but stdin, which only one instance can own: for specs
    /// that serve many instances (one per HTTP request).
    /// `work_dir` is the working directory, opened once by the caller
    /// ([`crate::preopen::work_dir`]).
    pub(crate) fn shared_wasi_builder(
        &self,
        work_dir: Option<&WorkDir>,
    ) -> Result<WasiCtxBuilder, EngineError> {
        let mut b = WasiCtxBuilder::new();
        b.args(&self.args).envs(&self.env);
        if let Some(cwd) = &self.cwd {
            b.initial_cwd(cwd);
        }
        crate::preopen::grant(&mut b, &self.preopens, work_dir)?;
        match &self.stdio.stdout {
            OutputSpec::Null => {}
            OutputSpec::Inherit => {
                b.inherit_stdout();
            }
            OutputSpec::File(f) => {
                b.stdout(wasmtime_wasi::cli::OutputFile::new(clone_file(f)?));
            }
        }
        match &self.stdio.stderr {
            OutputSpec::Null => {}
            OutputSpec::Inherit => {
                b.inherit_stderr();
            }
            OutputSpec::File(f) => {
                b.stderr(wasmtime_wasi::cli::OutputFile::new(clone_file(f)?));
            }
        }
        if self.network {
            // wasmtime-wasi leaves TCP and UDP off by default; inheriting
            // the network only opens the address check.
            b.inherit_network()
                .allow_ip_name_lookup(true)
                .allow_tcp(true)
                .allow_udp(true);
        }
        Ok(b)
    }
}

fn clone_file(f: &std::fs::File) -> Result<std::fs::File, EngineError> {
    f.try_clone().map_err(|source| EngineError::Read {
        path: PathBuf::from("<stdio>"),
        source,
    })
}

/// Where the guest's stdio goes. The default connects everything to nothing.
#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: InputSpec,
    pub stdout: OutputSpec,
    pub stderr: OutputSpec,
}

impl Stdio {
    /// The caller's own stdin, stdout and stderr, streamed.
    pub fn inherit() -> Self {
        Self {
            stdin: InputSpec::Inherit,
            stdout: OutputSpec::Inherit,
            stderr: OutputSpec::Inherit,
        }
    }
}

/// A source for the guest's stdin.
#[derive(Default)]
pub enum InputSpec {
    /// End of file at once.
    #[default]
    Null,
    /// This process's stdin.
    Inherit,
    /// A file or FIFO.
    File(std::fs::File),
    /// Any async reader (for example one fed by a FIFO that is opened in the
    /// background, so starting the guest never waits for a writer).
    Reader(Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin>),
}

impl std::fmt::Debug for InputSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            Self::Inherit => f.write_str("Inherit"),
            Self::File(file) => f.debug_tuple("File").field(file).finish(),
            Self::Reader(_) => f.write_str("Reader(..)"),
        }
    }
}

/// A destination for the guest's stdout or stderr.
#[derive(Debug, Default)]
pub enum OutputSpec {
    /// Discarded.
    #[default]
    Null,
    /// This process's stdout or stderr.
    Inherit,
    /// A file or FIFO.
    File(std::fs::File),
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_entries_split_at_the_first_equals() {
        assert_eq!(
            super::env_pairs(&["A=1", "B=x=y", "C", "D="]),
            [("A", "1"), ("B", "x=y"), ("C", ""), ("D", "")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }
}
