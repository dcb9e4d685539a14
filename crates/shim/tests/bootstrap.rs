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
use containerd_shim::protos::protobuf::well_known_types::any::Any;
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
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &log,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("mkfifo");
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

    /// Another container's bundle in the same group (same id, so the same
    /// socket), as a second container of a pod would have.
    fn sibling(&self) -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            address: self.address.clone(),
            namespace: self.namespace.clone(),
            id: self.id.clone(),
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
        self.shim_with_stdin(action, &[])
    }

    /// Runs the shim with `stdin` on its standard input, as containerd
    /// passes a runtime's options to `start`.
    fn shim_with_stdin(&self, action: &str, stdin: &[u8]) -> Output {
        self.shim_with(action, stdin, None)
    }

    /// Runs the shim with `stdin` on its standard input and, if given,
    /// `umask` as its file mode mask (containerd's, which it inherits).
    fn shim_with(&self, action: &str, stdin: &[u8], umask: Option<u32>) -> Output {
        use std::io::Write as _;
        use std::os::unix::process::CommandExt as _;
        let mut command = Command::new(SHIM);
        if let Some(mask) = umask {
            let mask = rustix::fs::Mode::from_raw_mode(mask);
            // SAFETY: the closure runs between fork and exec; umask(2) is
            // async-signal-safe and touches no memory (rustix makes the
            // system call directly, without allocating).
            #[allow(unsafe_code)]
            unsafe {
                command.pre_exec(move || {
                    rustix::process::umask(mask);
                    Ok(())
                });
            }
        }
        let mut child = command
            .args(["-namespace", &self.namespace, "-id", &self.id])
            .args(["-address", &self.address, action])
            .current_dir(self.path())
            .env("TTRPC_ADDRESS", self.path().join("containerd.sock.ttrpc"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the shim");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin).expect("write stdin");
        drop(input);
        child.wait_with_output().expect("wait for the shim")
    }

    /// Writes the bundle's `config.json`.
    fn spec(&self, json: &str) {
        std::fs::write(self.path().join("config.json"), json).expect("config.json");
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

    // A second container of the same grouping joins that server, and its
    // own bundle gets the address file.
    let second = b.sibling();
    let o = second.shim("start");
    assert!(o.status.success(), "second start: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), address);
    assert_eq!(b.servers(), servers, "no second server");
    assert_eq!(
        std::fs::read_to_string(second.path().join("address")).expect("address file"),
        address
    );

    // With no containers, Shutdown ends the server, which removes its socket,
    // even when the bundle it started in is already gone (containerd deletes
    // a bundle as soon as Shutdown answers).
    std::fs::remove_file(b.path().join("address")).expect("remove the address file");
    shutdown(&socket).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.servers().is_empty() || socket.exists() {
        assert!(Instant::now() < deadline, "the server outlived Shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The socket folder is 0700 and the socket 0600 whatever umask containerd
/// runs the shim with, and whatever mode the folder had.
#[tokio::test]
async fn the_socket_folder_and_socket_are_private_under_an_open_umask() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let b = Bundle::new("modes");
    let socket = b.socket();
    let dir = socket.parent().expect("parent");
    std::fs::create_dir_all(dir).expect("socket dir");
    // A folder another start (or containerd) left readable by all.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let o = b.shim_with("start", &[], Some(0o000));
    assert!(o.status.success(), "start: {}", text(&o.stderr));
    let mode = |p: &Path| std::fs::symlink_metadata(p).expect("stat").mode() & 0o7777;
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    assert_eq!(mode(&socket), 0o600, "{}", socket.display());
    shutdown(&socket).await;
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

/// Asserts that `start` failed with one line naming `what`, and left no
/// server and no socket behind.
fn assert_failed_cleanly(b: &Bundle, o: &Output, what: &str) {
    assert_eq!(o.status.code(), Some(1), "stdout: {}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(err.contains(what), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(o.stdout.is_empty(), "no address: {}", text(&o.stdout));
    assert!(!b.socket().exists(), "socket left behind");
    assert!(
        b.servers().is_empty(),
        "server left behind: {:?}",
        b.servers()
    );
}

#[test]
fn a_start_failing_after_the_fork_ends_its_server_and_removes_the_socket() {
    let b = Bundle::new("afterfork");
    // The address file cannot be written: its temporary name is a folder.
    std::fs::create_dir(b.path().join("address.tmp")).expect("mkdir");
    let o = b.shim("start");
    assert_failed_cleanly(&b, &o, "write the bundle's address file");
    assert!(!b.path().join("address").exists());
}

#[test]
fn a_network_namespace_that_cannot_be_joined_fails_start_cleanly() {
    let b = Bundle::new("netns");
    b.spec(r#"{"linux": {"namespaces": [{"type": "network", "path": "/nonexistent/netns"}]}}"#);
    let o = b.shim("start");
    assert_failed_cleanly(&b, &o, "join network namespace /nonexistent/netns");
}

/// A `network` namespace entry without a path (plain `ctr run`) asks for a
/// new, empty network namespace: the server runs in one of its own, whose
/// loopback is up.
#[tokio::test]
async fn a_network_entry_without_a_path_gives_the_server_a_new_namespace() {
    let b = Bundle::new("newnet");
    b.spec(r#"{"linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]}}"#);
    let o = b.shim("start");
    assert!(o.status.success(), "start: {}", text(&o.stderr));
    let servers = b.servers();
    assert_eq!(servers.len(), 1, "one server: {servers:?}");
    let server_ns = format!("/proc/{}/ns/net", servers[0]);
    let ns = |p: &str| std::fs::read_link(p).expect(p);
    assert_ne!(
        ns(&server_ns),
        ns("/proc/self/ns/net"),
        "the server is in the host's network namespace"
    );
    let o = Command::new("nsenter")
        .arg(format!("--net={server_ns}"))
        .args(["ip", "-o", "link", "show"])
        .output()
        .expect("nsenter ip link");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let links = text(&o.stdout);
    let names: Vec<&str> = links.lines().filter_map(|l| l.split(": ").nth(1)).collect();
    assert_eq!(names, ["lo"], "only a loopback: {links}");
    assert!(links.contains(",UP"), "lo is up: {links}");
    shutdown(&b.socket()).await;
}

#[tokio::test]
async fn options_of_another_runtime_type_are_not_read_as_runcs() {
    // The CRI plugin's own options type, as a handler with an `options`
    // table sends it. Its field 3 (config_body) has the number of runc's
    // shim_cgroup, so reading it as runc's would ask for cgroup "nope".
    let mut value = vec![0x1a, 4]; // field 3, length-delimited, 4 bytes
    value.extend_from_slice(b"nope");
    let any = Any {
        type_url: "runtimeoptions.v1.Options".into(),
        value,
        ..Default::default()
    }
    .write_to_bytes()
    .expect("encode");

    let b = Bundle::new("options");
    let o = b.shim_with_stdin("start", &any);
    assert!(o.status.success(), "start: {}", text(&o.stderr));
    assert_eq!(b.servers().len(), 1);
    shutdown(&b.socket()).await;

    // Garbage on stdin is refused, naming it, and leaves nothing behind.
    let b = Bundle::new("badoptions");
    let o = b.shim_with_stdin("start", &[0xff, 0xff, 0xff]);
    assert_failed_cleanly(&b, &o, "runtime options on stdin");
}

fn is_mount_point(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let path = path.to_str().expect("utf-8 path");
    mounts.lines().any(|l| l.split(' ').nth(4) == Some(path))
}

#[test]
fn delete_unmounts_the_rootfs_a_dead_server_left() {
    let b = Bundle::new("deletemount");
    let rootfs = b.path().join("rootfs");
    std::fs::create_dir(&rootfs).expect("mkdir rootfs");
    let _mount = wasmpod_testkit::Mount::new("tmpfs", "tmpfs", &rootfs);
    assert!(is_mount_point(&rootfs));

    let o = b.shim("delete");
    assert!(o.status.success(), "delete: {}", text(&o.stderr));
    assert!(text(&o.stderr).is_empty(), "{}", text(&o.stderr));
    assert!(!is_mount_point(&rootfs), "the rootfs is still mounted");
    let r = DeleteResponse::parse_from_bytes(&o.stdout).expect("a DeleteResponse");
    assert_eq!(r.exit_status, 137);
}
