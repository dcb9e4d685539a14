//! A process's stdin, stdout and stderr: the FIFOs containerd gives (or
//! any file, or none), opened so that neither side waits on the other.

use tracing::{debug, warn};
use wasmpod_engine::{InputSpec, OutputSpec, Stdio};

use crate::ShimError;

/// How long an output FIFO waits for its reader before it is opened
/// read-write instead.
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The paths of a process's stdio, as containerd gives them; an empty path
/// is no stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StdioPaths {
    pub(crate) stdin: String,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl StdioPaths {
    /// Opens the three for a guest: stdin in the background, the outputs
    /// off the async threads (each may wait for its reader).
    pub(crate) async fn open(&self) -> Result<Stdio, ShimError> {
        let stdin = open_input(&self.stdin);
        let (stdout, stderr) = (self.stdout.clone(), self.stderr.clone());
        tokio::task::spawn_blocking(move || {
            Ok(Stdio {
                stdin,
                stdout: open_output(&stdout)?,
                stderr: open_output(&stderr)?,
            })
        })
        .await?
    }

    /// Unblocks a background open of the stdin FIFO that no writer ever
    /// opened, by opening (and closing) its write end without blocking.
    pub(crate) fn release_stdin(&self) {
        use std::os::unix::fs::OpenOptionsExt;
        if !self.stdin.is_empty() {
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.stdin);
        }
    }
}

/// stdout or stderr to a FIFO, written once its reader has it open.
///
/// containerd opens its read end in the background. A writer that opened,
/// wrote and closed before that would lose the output and leave containerd's
/// blocking open waiting for a writer forever (an ExecSync that never
/// returns). So the FIFO is opened write-only and non-blocking, which fails
/// with ENXIO until a reader is there, retried for up to [`READER_WAIT`].
/// If no reader comes (containerd gone or restarting), it is opened
/// read-write, which never waits, and output reaches whoever reads next.
fn open_output(path: &str) -> Result<OutputSpec, ShimError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.is_empty() {
        return Ok(OutputSpec::Null);
    }
    let deadline = std::time::Instant::now() + READER_WAIT;
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(file) => {
                blocking(&file).map_err(|e| ShimError::io(path, e))?;
                return Ok(OutputSpec::File(file));
            }
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                if std::time::Instant::now() >= deadline {
                    warn!(path, "no reader on the output FIFO; opening it read-write");
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(e) => return Err(ShimError::io(path, e)),
        }
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(OutputSpec::File)
        .map_err(|e| ShimError::io(path, e))
}

/// Clears O_NONBLOCK, so the guest's writes wait for a slow reader instead
/// of failing with EAGAIN.
fn blocking(file: &std::fs::File) -> std::io::Result<()> {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    let flags = fcntl_getfl(file)?;
    fcntl_setfl(file, flags - OFlags::NONBLOCK)?;
    Ok(())
}

/// Stdin from a FIFO. Opening a FIFO for reading waits for a writer, which
/// may come late or never (ctr without `-i`), so it is opened in the
/// background and fed to the guest through an in-memory pipe; the guest sees
/// EOF when the writer closes.
fn open_input(path: &str) -> InputSpec {
    if path.is_empty() {
        return InputSpec::Null;
    }
    let (reader, mut writer) = tokio::io::simplex(64 * 1024);
    let path = path.to_string();
    tokio::spawn(async move {
        let p = path.clone();
        match tokio::task::spawn_blocking(move || std::fs::File::open(p)).await {
            Ok(Ok(file)) => {
                let mut file = tokio::fs::File::from_std(file);
                if let Err(e) = tokio::io::copy(&mut file, &mut writer).await {
                    debug!(path, error = %e, "stdin copy ended");
                }
            }
            Ok(Err(e)) => warn!(path, error = %e, "cannot open stdin"),
            Err(e) => warn!(path, error = %e, "stdin opener failed"),
        }
    });
    InputSpec::Reader(Box::new(reader))
}
