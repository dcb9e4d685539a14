//! A process's terminal: a new pseudo-terminal whose controlling side goes
//! to the caller's console socket (conmon and containerd's shim listen on
//! one), and whose other side becomes the process's stdio.

use std::os::fd::{AsFd as _, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::Context as _;

/// Opens a pseudo-terminal, sends its controller over the Unix socket at
/// `socket` (with `SCM_RIGHTS`, as runc does) and returns the terminal
/// side, for the process's stdin, stdout and stderr.
pub fn open_and_send(socket: &Path) -> anyhow::Result<OwnedFd> {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let controller = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .context("open a pseudo-terminal")?;
    grantpt(&controller).context("grantpt")?;
    unlockpt(&controller).context("unlockpt")?;
    let name = ptsname(&controller, Vec::new()).context("ptsname")?;
    let name = std::path::PathBuf::from(
        name.to_str()
            .context("the pseudo-terminal's name is not UTF-8")?,
    );
    let terminal: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(&name)
        .with_context(|| format!("open {}", name.display()))?
        .into();
    send_fd(socket, &controller, &name.to_string_lossy()).with_context(|| {
        format!(
            "send the terminal to the console socket {}",
            socket.display()
        )
    })?;
    Ok(terminal)
}

use std::os::unix::fs::OpenOptionsExt as _;

/// Sends `fd` over a connection to the Unix socket at `socket`, with
/// `name` as the message.
fn send_fd(socket: &Path, fd: &OwnedFd, name: &str) -> anyhow::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
    let stream = UnixStream::connect(socket)?;
    let fds = [fd.as_fd()];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    let payload = [std::io::IoSlice::new(name.as_bytes())];
    sendmsg(&stream, &payload, &mut control, SendFlags::empty())?;
    Ok(())
}

/// Makes the terminal on stdin the calling process's controlling terminal,
/// in a new session. Call in the process that will own it.
pub fn take_controlling_terminal() -> anyhow::Result<()> {
    rustix::process::setsid().context("setsid")?;
    rustix::process::ioctl_tiocsctty(std::io::stdin().as_fd()).context("TIOCSCTTY")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    #[test]
    fn the_controller_reaches_the_socket_and_talks_to_the_terminal() {
        use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let receiver = std::thread::spawn(move || {
            let (conn, _) = listener.accept().expect("accept");
            let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let mut buf = [0u8; 256];
            let got = recvmsg(
                &conn,
                &mut [std::io::IoSliceMut::new(&mut buf)],
                &mut control,
                RecvFlags::empty(),
            )
            .expect("recvmsg");
            let name = String::from_utf8_lossy(&buf[..got.bytes]).to_string();
            let fd = control
                .drain()
                .find_map(|m| match m {
                    RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
                    _ => None,
                })
                .expect("an fd");
            (name, fd)
        });
        let terminal = open_and_send(&path).expect("open and send");
        let (name, controller) = receiver.join().expect("receiver");
        assert!(name.starts_with("/dev/pts/"), "{name}");
        // What the process writes on its terminal, the caller reads.
        let mut term = std::fs::File::from(terminal);
        term.write_all(b"hello\n").expect("write");
        let mut ctl = std::fs::File::from(controller);
        let mut buf = [0u8; 64];
        let n = ctl.read(&mut buf).expect("read");
        // The line discipline turns \n into \r\n.
        assert_eq!(&buf[..n], b"hello\r\n");
    }
}
