//! `wasmpod node image`: the installer DaemonSet's image, written by wasmpod
//! itself (no Docker, no umoci). One gzip layer holds the running `wasmpod`
//! and the shim beside it, the few host tools the DaemonSet's loop uses
//! (`/bin/sh`, `sleep`, and `nsenter` for `systemctl` on the host), and every
//! shared library `ldd` lists for them, at their own paths; the config is
//! linux on this machine's architecture with `wasmpod` on `PATH`.
//!
//! `wasmpod` and the shim go in as shipped, without debug info (see
//! docs/release.md): a binary that still carries it is refused rather than
//! copied onto every node.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use wasmpod_oci::Digest;
use wasmpod_oci::image::BuiltImage;
use wasmpod_oci::manifest::{ContainerConfig, Descriptor, ImageConfig, RootFs};
use wasmpod_oci::media;

use crate::NodeError;

const BIN: &str = "/usr/local/bin";

/// Image path -> host file, for the image's filesystem.
pub type Files = BTreeMap<String, PathBuf>;

fn err(m: String) -> NodeError {
    NodeError::Image(m)
}

/// The shared libraries `ldd` lists for `binary` (absolute paths; the
/// vDSO has none). A static binary has none.
fn libraries(binary: &Path) -> Result<Vec<PathBuf>, NodeError> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| err(format!("ldd {}: {e} (install libc-bin)", binary.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(line) = text.lines().find(|l| l.contains("not found")) {
        return Err(err(format!(
            "{}: a library is missing: {}",
            binary.display(),
            line.trim()
        )));
    }
    if !out.status.success() {
        // A static binary needs nothing; any other failure is an error,
        // not an image that fails only when its pod starts.
        let all = format!("{text}{stderr}");
        if all.contains("not a dynamic executable") || all.contains("statically linked") {
            return Ok(Vec::new());
        }
        return Err(err(format!("ldd {}: {}", binary.display(), all.trim())));
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        libs.extend(
            line.split_whitespace()
                .filter(|w| w.starts_with('/'))
                .map(PathBuf::from),
        );
    }
    Ok(libs)
}

fn find(program: &str) -> Result<PathBuf, NodeError> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| err(format!("{program} is not on PATH (util-linux/coreutils)")))
}

/// What goes into the installer image: `wasmpod` and the shim from
/// `bin_dir`, `/bin/sh`, `sleep` and `nsenter` from this host, and their
/// libraries. `wasmpod` and the shim must carry no debug info.
pub fn installer_files(wasmpod: &Path, shim: &Path) -> Result<Files, NodeError> {
    if !shim.is_file() {
        return Err(NodeError::NoShim(shim.to_path_buf()));
    }
    for binary in [wasmpod, shim] {
        let bytes = crate::elf::debug_info_bytes(binary).map_err(crate::io("read", binary))?;
        if bytes > 0 {
            return Err(NodeError::DebugInfo {
                path: binary.to_path_buf(),
                bytes,
            });
        }
    }
    let mut files = Files::new();
    files.insert(format!("{BIN}/wasmpod"), wasmpod.to_path_buf());
    files.insert(
        format!("{BIN}/containerd-shim-wasmpod-v1"),
        shim.to_path_buf(),
    );
    files.insert(format!("{BIN}/nsenter"), find("nsenter")?);
    files.insert("/bin/sh".into(), PathBuf::from("/bin/sh"));
    files.insert("/bin/sleep".into(), find("sleep")?);
    let binaries: Vec<PathBuf> = files.values().cloned().collect();
    for binary in binaries {
        for lib in libraries(&binary)? {
            files.insert(lib.display().to_string(), lib);
        }
    }
    Ok(files)
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The image of `files` (read through symlinks, mode 0755, parents as
/// directories, a `/tmp`), entrypoint `wasmpod node status`.
pub fn installer_image(files: &Files) -> Result<BuiltImage, NodeError> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for path in files.keys() {
        let mut p = Path::new(path).parent();
        while let Some(d) = p.filter(|d| *d != Path::new("/")) {
            dirs.insert(d.to_path_buf());
            p = d.parent();
        }
    }
    dirs.insert(PathBuf::from("/tmp"));
    let append =
        |tar: &mut tar::Builder<Vec<u8>>, path: &Path, data: &[u8], mode: u32, dir: bool| {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(if dir {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            });
            h.set_size(data.len() as u64);
            h.set_mode(mode);
            h.set_mtime(0);
            let name = path.to_string_lossy();
            tar.append_data(&mut h, name.trim_start_matches('/'), data)
                .map_err(|e| err(format!("tar {name}: {e}")))
        };
    for d in &dirs {
        let mode = if d == Path::new("/tmp") {
            0o1777
        } else {
            0o755
        };
        append(&mut tar, d, &[], mode, true)?;
    }
    for (path, host) in files {
        let data = std::fs::read(host).map_err(crate::io("read", host))?;
        append(&mut tar, Path::new(path), &data, 0o755, false)?;
    }
    let tar_bytes = tar.into_inner().map_err(|e| err(format!("tar: {e}")))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar_bytes).map_err(|e| err(format!("gzip: {e}")))?;
    let layer = gz.finish().map_err(|e| err(format!("gzip: {e}")))?;
    let config = ImageConfig {
        created: None,
        architecture: arch().into(),
        os: "linux".into(),
        config: Some(ContainerConfig {
            entrypoint: Some(vec![format!("{BIN}/wasmpod")]),
            cmd: Some(vec!["node".into(), "status".into()]),
            env: Some(vec![format!("PATH={BIN}:/bin")]),
            ..Default::default()
        }),
        rootfs: Some(RootFs {
            kind: "layers".into(),
            diff_ids: vec![Digest::of(&tar_bytes)],
        }),
    };
    let config = serde_json::to_vec(&config).map_err(|e| err(format!("config: {e}")))?;
    BuiltImage::new(
        (Descriptor::new(media::OCI_CONFIG, &config), config),
        vec![(Descriptor::new(media::OCI_LAYER_TAR_GZIP, &layer), layer)],
    )
    .map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_holds_the_binaries_their_libraries_and_tools() {
        let dir = tempfile::tempdir().expect("tmp");
        let shim = dir.path().join("containerd-shim-wasmpod-v1");
        std::fs::copy("/bin/true", &shim).expect("copy");
        let files = installer_files(Path::new("/bin/true"), &shim).expect("files");
        for want in [
            "/usr/local/bin/wasmpod",
            "/usr/local/bin/containerd-shim-wasmpod-v1",
            "/usr/local/bin/nsenter",
            "/bin/sh",
            "/bin/sleep",
        ] {
            assert!(files.contains_key(want), "{want} missing: {files:?}");
        }
        assert!(
            files.keys().any(|k| k.contains("libc.so")),
            "no libc: {files:?}"
        );
        let image = installer_image(&files).expect("image");
        let config: serde_json::Value =
            serde_json::from_slice(&image.config.1).expect("config json");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["config"]["Entrypoint"][0], "/usr/local/bin/wasmpod");
        let gz = &image.layers[0].1;
        let mut entries = Vec::new();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
        for e in archive.entries().expect("entries") {
            let e = e.expect("entry");
            entries.push((
                e.path().expect("path").display().to_string(),
                e.header().mode().expect("mode"),
            ));
        }
        assert!(
            entries.contains(&("usr/local/bin/wasmpod".into(), 0o755)),
            "{entries:?}"
        );
        assert!(entries.contains(&("tmp".into(), 0o1777)), "{entries:?}");
    }

    #[test]
    fn a_binary_with_debug_info_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let shim = dir.path().join("containerd-shim-wasmpod-v1");
        std::fs::write(
            &shim,
            crate::elf::tests::elf_with(&[(".debug_info", 0, 3 << 20)]),
        )
        .expect("write");
        let e = installer_files(Path::new("/bin/true"), &shim).expect_err("unstripped shim");
        let text = e.to_string();
        assert!(
            text.contains("containerd-shim-wasmpod-v1 carries 3 MiB of debug info")
                && text.contains("make dist"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_shim_is_named() {
        let e = installer_files(Path::new("/bin/true"), Path::new("/nonexistent/shim"))
            .expect_err("no shim");
        assert!(e.to_string().contains("/nonexistent/shim"), "{e}");
    }
}
