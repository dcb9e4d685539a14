//! The module a process runs: `process.args[0]`, read beneath the open
//! rootfs as the guest would see it.

use wasmpod_engine::HostDir;

use crate::BundleError;

/// The bytes of the module `args[0]` names beneath `root` (a relative name
/// is taken from `cwd`), or `None` if there is no such file. `..` stops at
/// the rootfs's root and symlinks are followed inside it, so an image
/// cannot name a file outside its rootfs. A native program (ELF, or a
/// script) is refused.
pub fn read(root: &HostDir, cwd: &str, args: &[String]) -> Result<Option<Vec<u8>>, BundleError> {
    let first = args
        .first()
        .ok_or_else(|| BundleError::Invalid("process.args is empty".into()))?;
    let path = if first.starts_with('/') {
        first.clone()
    } else {
        format!("{cwd}/{first}")
    };
    let bytes = match root.read_file_in_root(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(BundleError::ReadEntrypoint {
                module: first.clone(),
                source,
            });
        }
    };
    if bytes.starts_with(b"\x7fELF") || bytes.starts_with(b"#!") {
        return Err(BundleError::Native(first.clone()));
    }
    Ok(Some(bytes))
}
