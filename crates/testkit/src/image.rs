//! Images for tests: compat images (a `.wasm` in an ordinary layer) and
//! images with Wasm layers, built and pushed with wasmpod's own OCI client.

use wasmpod_oci::image::BuiltImage;
use wasmpod_oci::manifest::{ContainerConfig, Descriptor, ImageConfig, RootFs};
use wasmpod_oci::{ClientOptions, Digest, ImageRef, NoProgress, RegistryClient, media};

/// A compat image: `files` in one gzip layer, `entrypoint` as its
/// entrypoint, for wasi/wasm.
pub fn compat_image(files: &[(&str, &[u8])], entrypoint: &str) -> BuiltImage {
    image_for(files, entrypoint, "wasi", "wasm")
}

/// An ordinary linux/amd64 image of native `files` (static binaries), for
/// runc beside the Wasm pods.
pub fn linux_image(files: &[(&str, &[u8])], entrypoint: &str) -> BuiltImage {
    image_for(files, entrypoint, "linux", "amd64")
}

fn image_for(files: &[(&str, &[u8])], entrypoint: &str, os: &str, arch: &str) -> BuiltImage {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        b.append_data(&mut h, path.trim_start_matches('/'), *data)
            .expect("tar");
    }
    let tar_bytes = b.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar_bytes).expect("gz");
    let layer = gz.finish().expect("gz");
    let config = serde_json::to_vec(&ImageConfig {
        created: None,
        architecture: arch.into(),
        os: os.into(),
        config: Some(ContainerConfig {
            entrypoint: Some(vec![entrypoint.into()]),
            ..Default::default()
        }),
        rootfs: Some(RootFs {
            kind: "layers".into(),
            diff_ids: vec![Digest::of(&tar_bytes)],
        }),
    })
    .expect("config");
    BuiltImage::new(
        (Descriptor::new(media::OCI_CONFIG, &config), config),
        vec![(Descriptor::new(media::OCI_LAYER_TAR_GZIP, &layer), layer)],
    )
    .expect("image")
}

/// An image whose modules are Wasm layers of their own (as `wasmpod push
/// --wasm-layer` makes, with more than one layer): each `(title, bytes)` an
/// `application/wasm` layer titled `title`, no filesystem layer, and
/// `entrypoint` in the config.
pub fn wasm_layer_image(layers: &[(&str, &[u8])], entrypoint: &str) -> BuiltImage {
    let config = serde_json::to_vec(&ImageConfig {
        created: None,
        architecture: "wasm".into(),
        os: "wasi".into(),
        config: Some(ContainerConfig {
            entrypoint: Some(vec![entrypoint.into()]),
            ..Default::default()
        }),
        rootfs: Some(RootFs {
            kind: "layers".into(),
            diff_ids: vec![],
        }),
    })
    .expect("config");
    let layers = layers
        .iter()
        .map(|(title, bytes)| {
            (
                Descriptor::new(media::WASM_LAYER, bytes).with_title(*title),
                bytes.to_vec(),
            )
        })
        .collect();
    BuiltImage::new(
        (Descriptor::new(media::OCI_CONFIG, &config), config),
        layers,
    )
    .expect("image")
}

/// Builds a compat image ([`compat_image`]) and pushes it to `reference`
/// (plain HTTP for a loopback registry).
pub fn push_compat(reference: &str, files: &[(&str, &[u8])], entrypoint: &str) {
    push_image(reference, &compat_image(files, entrypoint));
}

/// Pushes a built image to `reference` (plain HTTP for a loopback registry).
pub fn push_image(reference: &str, image: &BuiltImage) {
    let dir = tempfile::tempdir().expect("tmp");
    let auth = wasmpod_oci::auth::AuthFiles::new(dir.path().join("a.json"), vec![]);
    let client = RegistryClient::new(auth, ClientOptions::default()).expect("client");
    let r = ImageRef::parse(reference).expect("ref");
    // On a thread of its own, so async tests can call this too.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt")
                .block_on(wasmpod_oci::image::push(&client, &r, image, &NoProgress))
                .expect("push");
        });
    });
}

/// A gzip bomb: a tar+gzip layer holding one file, `path`, of `size` bytes
/// (`\0asm\x01\0\0\0` and then zeros), whose gzip is about 160 times
/// smaller than the tar (a 300 MiB module in under 2 MiB). Built by
/// writing the deflate stream directly (a run of zeros is one fixed-Huffman
/// match of 258 bytes at distance 1, 13 bits each), so even a gigabyte
/// costs milliseconds to build. The gzip is valid, CRC and all.
pub fn gzip_bomb(path: &str, size: u64) -> Vec<u8> {
    const MAGIC: &[u8] = b"\0asm\x01\0\0\0";
    assert!(size >= MAGIC.len() as u64);
    let mut h = tar::Header::new_ustar();
    h.set_path(path.trim_start_matches('/')).expect("path");
    h.set_size(size);
    h.set_mode(0o755);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut head = h.as_bytes().to_vec();
    head.extend_from_slice(MAGIC);
    // Everything after `head` is zeros: the file's rest, its padding to a
    // 512-byte block, and the two zero blocks that end the archive.
    let zeros = (size - MAGIC.len() as u64) + (512 - size % 512) % 512 + 1024;
    let total = head.len() as u64 + zeros;

    let mut bits = BitWriter::default();
    bits.put(1, 1); // BFINAL: one block
    bits.put(1, 2); // BTYPE 01: fixed Huffman
    let literal = |bits: &mut BitWriter, b: u8| {
        if b < 144 {
            bits.put_code(0x30 + u32::from(b), 8);
        } else {
            bits.put_code(0x190 + u32::from(b) - 144, 9);
        }
    };
    for &b in &head {
        literal(&mut bits, b);
    }
    // `head` ends with a zero byte, so each match copies zeros.
    for _ in 0..zeros / 258 {
        bits.put_code(0xC5, 8); // length symbol 285: 258 bytes
        bits.put_code(0, 5); // distance code 0: distance 1
    }
    for _ in 0..zeros % 258 {
        literal(&mut bits, 0);
    }
    bits.put_code(0, 7); // end of block (symbol 256)
    let deflate = bits.finish();

    let mut crc = flate2::Crc::new();
    crc.update(&head);
    crc.combine(&crc_of_zeros(zeros));
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend_from_slice(&deflate);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out
}

/// The CRC-32 of `n` zero bytes, by doubling (O(log n), not O(n)).
fn crc_of_zeros(mut n: u64) -> flate2::Crc {
    let mut result = flate2::Crc::new();
    let mut power = flate2::Crc::new();
    power.update(&[0]);
    while n > 0 {
        if n & 1 == 1 {
            result.combine(&power);
        }
        let mut doubled = flate2::Crc::new();
        doubled.combine(&power);
        doubled.combine(&power);
        power = doubled;
        n >>= 1;
    }
    result
}

/// Deflate's bit order: values least significant bit first, Huffman codes
/// most significant bit first.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn put_code(&mut self, code: u32, len: u32) {
        let reversed = code.reverse_bits() >> (32 - len);
        self.put(reversed, len);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    #[test]
    fn the_gzip_bomb_is_a_valid_tar_gz_of_the_promised_size() {
        let size = 100_003;
        let gz = super::gzip_bomb("/bin/app.wasm", size);
        assert!(gz.len() < 10_000, "{}", gz.len());
        // Read to the very end, so the gzip trailer's CRC and size are
        // checked too.
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut tar)
            .expect("valid gzip");
        let mut archive = tar::Archive::new(&tar[..]);
        let mut entries = archive.entries().expect("entries");
        let mut entry = entries.next().expect("one").expect("entry");
        assert_eq!(
            &*entry.path().expect("path").to_string_lossy(),
            "bin/app.wasm"
        );
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("data");
        assert_eq!(data.len() as u64, size);
        assert_eq!(&data[..8], b"\0asm\x01\0\0\0");
        assert!(data[8..].iter().all(|b| *b == 0));
        drop(entry);
        assert!(entries.next().is_none());
    }
}
