//! Network namespaces: joining one a spec names, or making a new one with
//! only its loopback, up, as runc does. Namespaces are per thread: call
//! these while the process has a single thread, so that the threads it
//! starts later inherit the namespace.

use std::io;

/// Puts the calling thread in the network `request` asks for.
pub fn enter(request: crate::Network<'_>) -> io::Result<()> {
    match request {
        crate::Network::Host => Ok(()),
        crate::Network::Join(path) => {
            join(path).map_err(|e| io::Error::other(format!("join network namespace {path}: {e}")))
        }
        crate::Network::New => {
            unshare_network()
                .map_err(|e| io::Error::other(format!("create a network namespace: {e}")))?;
            bring_up_loopback().map_err(|e| {
                io::Error::other(format!("bring up lo in the new network namespace: {e}"))
            })
        }
    }
}

/// Moves the calling thread into the network namespace at `path`.
pub fn join(path: &str) -> io::Result<()> {
    use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
    use std::os::fd::AsFd as _;
    let file = std::fs::File::open(path)?;
    move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network))?;
    Ok(())
}

/// Moves the calling thread into a new, empty network namespace.
pub fn unshare_network() -> io::Result<()> {
    use rustix::thread::{UnshareFlags, unshare_unsafe};
    // SAFETY: unsafe only with CLONE_FILES (a thread could then see
    // descriptors from another table); CLONE_NEWNET changes only the
    // calling thread's network namespace.
    #[allow(unsafe_code)]
    unsafe {
        unshare_unsafe(UnshareFlags::NEWNET)?;
    }
    Ok(())
}

/// Sets `lo` up in the calling thread's network namespace, as runc does for
/// a new one (a new namespace's loopback starts down).
pub fn bring_up_loopback() -> io::Result<()> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, socket_with};
    use std::os::fd::AsRawFd;
    let socket = socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain data (a name and a union of plain data), for
    // which all zeroes is a valid value.
    #[allow(unsafe_code)]
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (to, from) in request.ifr_name.iter_mut().zip(b"lo") {
        *to = *from as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into
    // the ifreq we own, for the duration of the call.
    #[allow(unsafe_code)]
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the union's flags member, read here.
    #[allow(unsafe_code)]
    unsafe {
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS reads the ifreq we own, for the duration of the
    // call.
    #[allow(unsafe_code)]
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
