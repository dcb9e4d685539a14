//! [`LocalImage`]: an image built here and handed to an engine as an image
//! archive, for engines that load tars rather than pull (there is no
//! internet to pull from). Pushing to a registry is [`crate::image`]'s.
//!
//! One archive serves every loader: it is an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/`), which `podman load` and `ctr images import`
//! read, and a docker-archive (`manifest.json` naming the same blobs), which
//! Docker 20.10's `docker load` needs (it reads no OCI layout).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use sha2::{Digest as _, Sha256};

/// An image of a few files, one uncompressed layer, built in memory.
#[derive(Debug, Clone)]
pub struct LocalImage {
    name: String,
    os: String,
    architecture: String,
    entries: Vec<Entry>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
enum Entry {
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
}

/// The machine's architecture as OCI names it (`amd64`, `arm64`).
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

impl LocalImage {
    /// An empty `linux` image for this machine's architecture, named `name`
    /// (a full reference such as `localhost/wasmpod-test/app:1`, so that no
    /// engine adds `docker.io/library/` to it).
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            os: "linux".into(),
            architecture: host_architecture().into(),
            entries: Vec::new(),
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            annotations: BTreeMap::new(),
        }
    }

    /// Debian's static busybox (`busybox-static`) as `/bin/busybox`, every
    /// applet it lists as a symlink beside it (`/bin/sh`, `/bin/echo`, ...)
    /// and `sh` as the command: a native image for runc.
    pub fn busybox(name: &str) -> Self {
        let bin = Path::new("/bin/busybox");
        let data = std::fs::read(bin).unwrap_or_else(|e| {
            panic!(
                "read {}: {e}: run `make setup` (Debian package busybox-static)",
                bin.display()
            )
        });
        assert!(
            !has_interpreter(&data),
            "{} is dynamically linked, so it cannot run alone in an image: \
             install Debian's busybox-static instead of busybox",
            bin.display()
        );
        let out = Command::new(bin)
            .arg("--list")
            .output()
            .expect("run busybox --list");
        assert!(out.status.success(), "busybox --list failed");
        let mut image = Self::new(name).file("/bin/busybox", &data, 0o755);
        for applet in String::from_utf8_lossy(&out.stdout).lines() {
            let applet = applet.trim();
            if !applet.is_empty() && applet != "busybox" && !applet.contains('/') {
                image = image.symlink(&format!("/bin/{applet}"), "busybox");
            }
        }
        image.cmd(&["sh"])
    }

    /// One file, `data` at `path` (mode 0755), which is also the image's
    /// entrypoint: a Wasm module for a Wasm runtime. Still `linux` for this
    /// machine's architecture: set `wasi`/`wasm` with [`Self::platform`]
    /// where the engine takes it (Podman does; Docker 20.10's `docker load`
    /// refuses it with `"wasi": unknown operating system or architecture`).
    pub fn single_file(name: &str, path: &str, data: &[u8]) -> Self {
        Self::new(name).file(path, data, 0o755).entrypoint(&[path])
    }

    /// The platform in the image's config (`linux`/`amd64`, `wasi`/`wasm`).
    pub fn platform(mut self, os: &str, architecture: &str) -> Self {
        self.os = os.into();
        self.architecture = architecture.into();
        self
    }

    /// Adds a regular file (parent folders are created by whoever unpacks).
    pub fn file(mut self, path: &str, data: &[u8], mode: u32) -> Self {
        self.entries.push(Entry::File {
            path: path.into(),
            data: data.to_vec(),
            mode,
        });
        self
    }

    /// Adds a symbolic link at `path` to `target`.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(Entry::Symlink {
            path: path.into(),
            target: target.into(),
        });
        self
    }

    pub fn entrypoint(mut self, args: &[&str]) -> Self {
        self.entrypoint = args.iter().map(|a| a.to_string()).collect();
        self
    }

    pub fn cmd(mut self, args: &[&str]) -> Self {
        self.cmd = args.iter().map(|a| a.to_string()).collect();
        self
    }

    /// An annotation on the image manifest (in the OCI layout only: a
    /// docker-archive has nowhere to keep it). Podman 4.3 copies manifest
    /// annotations into the container's config.json.
    pub fn manifest_annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The image as one tar: an OCI image layout and a docker-archive at
    /// once (see the module docs).
    pub fn archive(&self) -> Vec<u8> {
        let layer = self.layer();
        let mut config = serde_json::json!({
            "architecture": self.architecture,
            "os": self.os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
        });
        if !self.entrypoint.is_empty() {
            config["config"]["Entrypoint"] = serde_json::json!(self.entrypoint);
        }
        if !self.cmd.is_empty() {
            config["config"]["Cmd"] = serde_json::json!(self.cmd);
        }
        let config = serde_json::to_vec(&config).expect("json");
        let mut manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(&config),
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": sha256(&layer),
                "size": layer.len(),
            }],
        });
        if !self.annotations.is_empty() {
            manifest["annotations"] = serde_json::json!(self.annotations);
        }
        let manifest = serde_json::to_vec(&manifest).expect("json");
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": sha256(&manifest),
                "size": manifest.len(),
                "annotations": {
                    // containerd's name for the image, and the OCI one.
                    "io.containerd.image.name": self.name,
                    "org.opencontainers.image.ref.name": self.name,
                },
            }],
        }))
        .expect("json");
        let blob = |data: &[u8]| format!("blobs/sha256/{}", &sha256(data)["sha256:".len()..]);
        let (c, l, m) = (blob(&config), blob(&layer), blob(&manifest));
        let docker_manifest = serde_json::to_vec(&serde_json::json!([{
            "Config": c,
            "RepoTags": [self.name],
            "Layers": [l],
        }]))
        .expect("json");
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in [
            ("oci-layout", &br#"{"imageLayoutVersion":"1.0.0"}"#[..]),
            ("index.json", &index),
            ("manifest.json", &docker_manifest),
            (&c, &config),
            (&l, &layer),
            (&m, &manifest),
        ] {
            append_file(&mut b, path, data, 0o644);
        }
        b.into_inner().expect("tar")
    }

    /// Writes [`Self::archive`] to `path`.
    pub fn write_archive(&self, path: &Path) {
        std::fs::write(path, self.archive())
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    fn layer(&self) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for entry in &self.entries {
            match entry {
                Entry::File { path, data, mode } => append_file(&mut b, path, data, *mode),
                Entry::Symlink { path, target } => {
                    let mut h = tar::Header::new_ustar();
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    h.set_mode(0o777);
                    h.set_mtime(0);
                    b.append_link(&mut h, path.trim_start_matches('/'), target)
                        .expect("tar");
                }
            }
        }
        b.into_inner().expect("tar")
    }
}

fn append_file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32) {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_mtime(0);
    b.append_data(&mut h, path.trim_start_matches('/'), data)
        .expect("tar");
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Whether a 64-bit little-endian ELF file names a program interpreter
/// (a `PT_INTERP` program header): a dynamically linked program, which
/// cannot run in an image without its loader and libraries.
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    if elf.get(..4) != Some(b"\x7fELF") || elf.get(4) != Some(&2) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..usize::from(phnum)).any(|i| {
        usize::try_from(phoff)
            .ok()
            .and_then(|off| u32_at(off + i * usize::from(phentsize)))
            == Some(PT_INTERP)
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn entries(tar_bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut archive = tar::Archive::new(tar_bytes);
        let mut out = BTreeMap::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let path = entry.path().expect("path").display().to_string();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("read");
            out.insert(path, data);
        }
        out
    }

    fn json(data: &[u8]) -> serde_json::Value {
        serde_json::from_slice(data).expect("json")
    }

    #[test]
    fn the_archive_is_an_oci_layout_and_a_docker_archive_of_the_same_blobs() {
        let image = LocalImage::single_file("localhost/t/app:1", "/app.wasm", b"\0asm")
            .platform("wasi", "wasm")
            .manifest_annotation("module.wasm.image/variant", "compat");
        let files = entries(&image.archive());
        let index = json(&files["index.json"]);
        let desc = &index["manifests"][0];
        assert_eq!(
            desc["annotations"]["io.containerd.image.name"],
            "localhost/t/app:1"
        );
        let blob = |digest: &serde_json::Value| {
            let hex = digest
                .as_str()
                .expect("digest")
                .trim_start_matches("sha256:");
            files[&format!("blobs/sha256/{hex}")].clone()
        };
        let manifest = json(&blob(&desc["digest"]));
        assert_eq!(
            manifest["annotations"]["module.wasm.image/variant"],
            "compat"
        );
        let config = json(&blob(&manifest["config"]["digest"]));
        assert_eq!(config["os"], "wasi");
        assert_eq!(config["architecture"], "wasm");
        assert_eq!(config["config"]["Entrypoint"][0], "/app.wasm");

        let docker = json(&files["manifest.json"]);
        assert_eq!(docker[0]["RepoTags"][0], "localhost/t/app:1");
        let layer_path = docker[0]["Layers"][0].as_str().expect("layer");
        assert_eq!(
            format!("sha256:{}", layer_path.trim_start_matches("blobs/sha256/")),
            manifest["layers"][0]["digest"].as_str().expect("digest")
        );
        let layer = entries(&files[layer_path]);
        assert_eq!(layer["app.wasm"], b"\0asm");
    }

    #[test]
    fn a_static_program_has_no_interpreter_and_a_dynamic_one_has() {
        // Whatever the machine has at these paths: the test program itself
        // is dynamically linked (Rust links glibc dynamically by default).
        let me = std::fs::read(std::env::current_exe().expect("exe")).expect("read");
        assert!(has_interpreter(&me));
        assert!(!has_interpreter(b"#!/bin/sh\n"));
    }
}
