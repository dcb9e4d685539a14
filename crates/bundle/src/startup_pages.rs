//! Giving back the pages of the runtime's own binary that start-up touched,
//! for the shim and for `wasmpod-oci`'s container processes alike.
//!
//! The shim binary is large (wasmtime, its WASI and HTTP hosts, the ttrpc
//! and gRPC stacks), and starting a shim touches many megabytes of it: the
//! dynamic loader reads every relocation, and each page fault maps a whole
//! fault-around window of code. An idle pod then runs a few paths only,
//! yet keeps all of that resident: about 14 MiB of a lone shim's 16 MiB
//! PSS. Once its containers have started, the shim unmaps the read-only
//! pages of its executable from its own page tables
//! (`madvise(MADV_DONTNEED)`). The pages stay in the page cache, so the next
//! shim's start does not read the disk, and what this shim still runs
//! faults back in as minor faults.
//!
//! Only mappings of the executable that are read-only (code and constant
//! data) and hold no anonymous (copy-on-write) page qualify: dropping a
//! page there loses nothing, because it is reread from the file as it was.
//! The relocated read-only data (RELRO) holds the pages the dynamic loader
//! wrote at start-up, anonymous ones, and is left alone. In the binaries as
//! built (linked at a fixed address, `build/link_fixed_address.rs`) those
//! are only the few pages of the GOT; the rest of that mapping stays shared
//! page cache.

use std::path::Path;

use tracing::debug;

/// One mapping of `/proc/self/smaps`.
#[derive(Debug, PartialEq, Eq)]
struct Mapping {
    start: usize,
    end: usize,
    perms: String,
    path: String,
    anonymous_kb: u64,
    rss_kb: u64,
}

/// Parses `/proc/PID/smaps` text.
fn parse(smaps: &str) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else {
            continue;
        };
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            let perms = fields.next().unwrap_or_default().to_string();
            // offset, device, inode, then the path (which may hold spaces).
            let path = fields.skip(3).collect::<Vec<_>>().join(" ");
            out.push(Mapping {
                start,
                end,
                perms,
                path,
                anonymous_kb: 0,
                rss_kb: 0,
            });
            continue;
        }
        let value = || {
            fields
                .clone()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        if let Some(m) = out.last_mut() {
            match first {
                "Anonymous:" => m.anonymous_kb = value(),
                "Rss:" => m.rss_kb = value(),
                _ => {}
            }
        }
    }
    out
}

/// The mappings whose pages can be dropped without losing anything: the
/// executable's read-only ones without anonymous pages.
fn releasable<'a>(mappings: &'a [Mapping], exe: &str) -> impl Iterator<Item = &'a Mapping> {
    mappings.iter().filter(move |m| {
        m.path == exe
            && matches!(m.perms.as_str(), "r-xp" | "r--p")
            && m.anonymous_kb == 0
            && m.rss_kb > 0
    })
}

/// Unmaps the resident read-only pages of this process's executable.
/// Returns how many KiB were resident in the mappings it released.
pub fn release_binary_pages() -> std::io::Result<u64> {
    StartupPages::open()?.release()
}

/// What a release needs, taken while this process may still read its own
/// `/proc` files: after it changes its user (a container's
/// `process.user`), the kernel makes them root's.
#[derive(Debug)]
pub struct StartupPages {
    exe: String,
    smaps: std::fs::File,
}

impl StartupPages {
    /// Opens `/proc/self/smaps` and reads which file this executable is.
    pub fn open() -> std::io::Result<Self> {
        let exe = std::fs::read_link("/proc/self/exe")?
            .to_string_lossy()
            .into_owned();
        let smaps = std::fs::File::open("/proc/self/smaps")?;
        Ok(Self { exe, smaps })
    }

    /// Unmaps the resident read-only pages of this process's executable,
    /// as they are now. Returns how many KiB were resident in the mappings
    /// it released.
    pub fn release(mut self) -> std::io::Result<u64> {
        let mut smaps = String::new();
        std::io::Read::read_to_string(&mut self.smaps, &mut smaps)?;
        Ok(release(&parse(&smaps), &self.exe))
    }
}

fn release(mappings: &[Mapping], exe: &str) -> u64 {
    let mut released = 0;
    for m in releasable(mappings, exe) {
        // SAFETY: the range is a whole mapping of this process, read-only
        // (so nothing can have written to it since smaps was read) and
        // backed by the executable file with no anonymous page: every page
        // MADV_DONTNEED drops is reread from the file, unchanged, when it
        // is next touched. No Rust reference is invalidated: the contents
        // a pointer sees before and after are the same bytes.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::madvise(
                m.start as *mut libc::c_void,
                m.end - m.start,
                libc::MADV_DONTNEED,
            )
        };
        if rc == 0 {
            released += m.rss_kb;
        } else {
            debug!(error = %std::io::Error::last_os_error(), start = m.start, "madvise");
        }
    }
    debug!(kib = released, exe = %Path::new(exe).display(), "released binary pages");
    released
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0c0000000-55d0c1000000 r--p 00000000 fe:01 123 /usr/bin/shim bin
Size:              16384 kB
Rss:                4096 kB
Anonymous:             0 kB
55d0c1000000-55d0c3000000 r-xp 01000000 fe:01 123 /usr/bin/shim bin
Rss:                9000 kB
Anonymous:             0 kB
55d0c3000000-55d0c3100000 r--p 03000000 fe:01 123 /usr/bin/shim bin
Rss:                 900 kB
Anonymous:           880 kB
55d0c3100000-55d0c3200000 rw-p 03100000 fe:01 123 /usr/bin/shim bin
Rss:                  40 kB
Anonymous:            40 kB
7f0000000000-7f0000100000 r-xp 00000000 fe:01 9 /usr/lib/libc.so.6
Rss:                 900 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 rw-p 00000000 00:00 0
Rss:                 100 kB
Anonymous:           100 kB
";

    #[test]
    fn only_clean_read_only_mappings_of_the_executable_are_released() {
        let mappings = parse(SMAPS);
        assert_eq!(mappings.len(), 6);
        assert_eq!(mappings[0].path, "/usr/bin/shim bin");
        assert_eq!(mappings[5].path, "");
        let chosen: Vec<_> = releasable(&mappings, "/usr/bin/shim bin")
            .map(|m| (m.perms.as_str(), m.rss_kb))
            .collect();
        // Not the RELRO mapping (anonymous pages), not the writable data,
        // not libc, not anonymous memory.
        assert_eq!(chosen, [("r--p", 4096), ("r-xp", 9000)]);
    }

    /// KiB of this process's executable resident in its clean read-only
    /// mappings.
    fn resident_binary_kib() -> u64 {
        let exe = std::fs::read_link("/proc/self/exe").expect("exe");
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        releasable(&parse(&smaps), &exe.to_string_lossy())
            .map(|m| m.rss_kb)
            .sum()
    }

    #[test]
    fn releasing_drops_resident_pages_and_the_process_keeps_working() {
        let released = release_binary_pages().expect("release");
        assert!(released > 0);
        // Other tests run meanwhile and fault some pages back in, but far
        // fewer than were released.
        let after = resident_binary_kib();
        assert!(
            after < released,
            "{released} KiB released, {after} KiB resident after"
        );
        // Code and constants fault back in unchanged.
        let again = parse(SMAPS);
        assert_eq!(again.len(), 6);
        assert_eq!(again[1].rss_kb, 9000);
    }
}
