//! The shim binary's own command line, without containerd: `start` forks a
//! server on the pod's socket (replacing a stale one) or answers with the
//! running server's address, `delete` answers with a killed exit status,
//! and bad invocations fail with a message. Needs root (the sockets live
//! under /run/containerd/s, as containerd expects).

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use containerd_shim::api::{DeleteResponse, ShutdownRequest};
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim_async::{Client, TaskClient};
use containerd_shim::protos::ttrpc::context::Context;

const SHIM: &str = env!("CARGO_BIN_EXE_containerd-shim-wasmpod-v1");

/// A bundle folder with the `log` FIFO containerd would provide, drained
/// by a thread so the server's log writes never block.
struct Bundle {
    dir: tempfile::TempDir,
    /// containerd's address as the shim is told it; only hashed here.
    address: String,
    namespace: String,
    id: String,
}

impl Bundle {
    fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("log");
        let c = std::ffi::CString::new(log.to_str().expect("utf-8 path")).expect("path");
        // SAFETY: mkfifo with a valid NUL-terminated path.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(rc, 0, "mkfifo: {}", std::io::Error::last_os_error());
        std::thread::spawn(move || {
            // Opening for reading waits for the server; then read to EOF.
            if let Ok(mut f) = std::fs::File::open(&log) {
                let _ = std::io::copy(&mut f, &mut std::io::sink());
            }
        });
        Self {
            address: dir.path().join("containerd.sock").display().to_string(),
            namespace: "wasmpod-test".into(),
            id: format!("{name}-{}", std::process::id()),
            dir,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The socket path of this bundle's server (the id is the grouping
    /// when the bundle has no CRI sandbox id).
    fn socket(&self) -> PathBuf {
        let a = containerd_shim::socket_address(&self.address, &self.namespace, &self.id);
        PathBuf::from(a.strip_prefix("unix://").expect("unix address"))
    }

    fn shim(&self, action: &str) -> Output {
        Command::new(SHIM)
            .args(["-namespace", &self.namespace, "-id", &self.id])
            .args(["-address", &self.address, action])
            .current_dir(self.path())
            .env("TTRPC_ADDRESS", self.path().join("containerd.sock.ttrpc"))
            .stdin(Stdio::null())
            .output()
            .expect("run the shim")
    }

    /// Pids of shim processes serving this bundle.
    fn servers(&self) -> Vec<String> {
        let o = Command::new("pgrep")
            .args([
                "-f",
                "--",
                &format!("containerd-shim-wasmpod-v1 .*-id {} ", self.id),
            ])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        for pid in self.servers() {
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
        let _ = std::fs::remove_file(self.socket());
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn shutdown(socket: &Path) {
    let client = Client::connect(&format!("unix://{}", socket.display()))
        .await
        .expect("connect");
    TaskClient::new(client)
        .shutdown(Context::default(), &ShutdownRequest::new())
        .await
        .expect("shutdown");
}

#[tokio::test]
async fn start_forks_a_server_replacing_a_stale_socket_and_reuses_a_live_one() {
    let b = Bundle::new("start");
    let socket = b.socket();
    std::fs::create_dir_all(socket.parent().expect("parent")).expect("socket dir");
    // A socket left behind by a server that died: nothing listens on it.
    drop(UnixListener::bind(&socket).expect("stale socket"));
    assert!(UnixStream::connect(&socket).is_err());

    let o = b.shim("start");
    assert!(o.status.success(), "start: {}", text(&o.stderr));
    let address = format!("unix://{}", socket.display());
    assert_eq!(text(&o.stdout), address);
    assert_eq!(
        std::fs::read_to_string(b.path().join("address")).expect("address file"),
        address
    );
    assert!(!b.path().join("address.tmp").exists());
    UnixStream::connect(&socket).expect("the server listens");
    let servers = b.servers();
    assert_eq!(servers.len(), 1, "one server: {servers:?}");

    // A second container of the same grouping joins that server.
    let o = b.shim("start");
    assert!(o.status.success(), "second start: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), address);
    assert_eq!(b.servers(), servers, "no second server");

    // With no containers, Shutdown ends the server, which removes its socket.
    shutdown(&socket).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.servers().is_empty() || socket.exists() {
        assert!(Instant::now() < deadline, "the server outlived Shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn start_without_containerds_ttrpc_address_fails_and_leaves_no_server() {
    let b = Bundle::new("nottrpc");
    let o = Command::new(SHIM)
        .args(["-namespace", &b.namespace, "-id", &b.id])
        .args(["-address", &b.address, "start"])
        .current_dir(b.path())
        .env_remove("TTRPC_ADDRESS")
        .stdin(Stdio::null())
        .output()
        .expect("run the shim");
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("TTRPC_ADDRESS is not set"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(o.stdout.is_empty());
    assert!(!b.socket().exists());
    assert!(b.servers().is_empty());
}

#[test]
fn delete_answers_with_a_killed_status_and_a_time() {
    let b = Bundle::new("delete");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let o = b.shim("delete");
    assert!(o.status.success(), "delete: {}", text(&o.stderr));
    let r = DeleteResponse::parse_from_bytes(&o.stdout).expect("a DeleteResponse");
    assert_eq!(r.exit_status, 137);
    let at = u64::try_from(r.exited_at.seconds).expect("a time after 1970");
    assert!(
        at >= before && at <= before + 60,
        "exited_at {at}, now {before}"
    );
}

#[test]
fn version_and_bad_invocations() {
    let o = Command::new(SHIM).arg("-v").output().expect("run");
    assert!(o.status.success());
    let out = text(&o.stdout);
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
    assert!(out.contains("io.containerd.wasmpod.v1"), "{out}");

    let o = Command::new(SHIM).arg("serve").output().expect("run");
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("unknown action \"serve\""), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");

    let o = Command::new(SHIM)
        .arg("-no-such-flag")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("no-such-flag"),
        "{}",
        text(&o.stderr)
    );
}
