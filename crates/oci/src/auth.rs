//! Registry credentials: wasmpod's own file, then the files other tools
//! write.
//!
//! Lookup order, first match wins:
//! 1. `$WASMPOD_HOME/auth.json`, written by `wasmpod login`;
//! 2. `$REGISTRY_AUTH_FILE` (podman, skopeo, buildah);
//! 3. `$DOCKER_CONFIG/config.json`;
//! 4. `~/.docker/config.json`.
//!
//! All use docker's format: `{"auths": {"REGISTRY": {"auth": base64("user:pass")}}}`.
//! Credential helpers (`credsStore`, `credHelpers`) are not run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::OciError;

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

/// The credential files wasmpod reads, and the one it writes.
#[derive(Debug, Clone)]
pub struct AuthFiles {
    own: PathBuf,
    others: Vec<PathBuf>,
}

impl AuthFiles {
    /// The standard locations, given the state folder.
    pub fn standard(wasmpod_home: &Path) -> Self {
        let mut others = Vec::new();
        if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|v| !v.is_empty()) {
            others.push(PathBuf::from(p));
        }
        if let Some(p) = std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
            others.push(PathBuf::from(p).join("config.json"));
        }
        if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            others.push(PathBuf::from(h).join(".docker/config.json"));
        }
        Self::new(wasmpod_home.join("auth.json"), others)
    }

    /// Explicit locations (for tests and embedding).
    pub fn new(own: PathBuf, others: Vec<PathBuf>) -> Self {
        Self { own, others }
    }

    /// The file `login` writes.
    pub fn own_path(&self) -> &Path {
        &self.own
    }

    /// Credentials for `registry` (`localhost:5000`, `docker.io`), if any
    /// file has them.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credentials>, OciError> {
        for path in std::iter::once(&self.own).chain(&self.others) {
            let Some(file) = read(path)? else { continue };
            for key in keys(registry) {
                if let Some(entry) = file.auths.get(&key)
                    && let Some(c) = decode(entry, path)?
                {
                    return Ok(Some(c));
                }
            }
        }
        Ok(None)
    }

    /// Saves credentials in wasmpod's own file (mode 0600, atomically).
    pub fn store(&self, registry: &str, creds: &Credentials) -> Result<(), OciError> {
        let mut file = read(&self.own)?.unwrap_or_default();
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", creds.username, creds.password));
        file.auths.insert(
            canonical_key(registry),
            AuthEntry {
                auth: Some(token),
                ..AuthEntry::default()
            },
        );
        write(&self.own, &file)
    }

    /// Removes a registry's credentials from wasmpod's own file. Returns
    /// whether there were any.
    pub fn erase(&self, registry: &str) -> Result<bool, OciError> {
        let Some(mut file) = read(&self.own)? else {
            return Ok(false);
        };
        let before = file.auths.len();
        for key in keys(registry) {
            file.auths.remove(&key);
        }
        let removed = file.auths.len() != before;
        if removed {
            write(&self.own, &file)?;
        }
        Ok(removed)
    }
}

fn canonical_key(registry: &str) -> String {
    if registry == crate::reference::DEFAULT_REGISTRY {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

/// The keys tools use for one registry.
fn keys(registry: &str) -> Vec<String> {
    let mut hosts = vec![registry.to_string()];
    if registry == crate::reference::DEFAULT_REGISTRY {
        hosts.extend(["index.docker.io".into(), "registry-1.docker.io".into()]);
    }
    let mut keys = Vec::new();
    for h in hosts {
        keys.push(h.clone());
        keys.push(format!("https://{h}"));
        keys.push(format!("http://{h}"));
        keys.push(format!("https://{h}/v1/"));
        keys.push(format!("https://{h}/v2/"));
    }
    keys
}

/// The largest credential file read: 1 MiB (a Docker config with many
/// registries is a few KiB).
const MAX_AUTH_FILE_BYTES: u64 = 1 << 20;

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_AUTH_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn read(path: &Path) -> Result<Option<AuthFile>, OciError> {
    match read_bounded(path) {
        Ok(bytes) if bytes.len() as u64 > MAX_AUTH_FILE_BYTES => Err(OciError::LimitExceeded {
            what: format!("credential file {}", path.display()),
            limit: format!("the limit of {MAX_AUTH_FILE_BYTES} bytes"),
        }),
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Some(AuthFile::default())),
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            OciError::invalid(format!("credential file {}", path.display()), e.to_string())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(OciError::io(path, e)),
    }
}

fn write(path: &Path, file: &AuthFile) -> Result<(), OciError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| OciError::io(dir, e))?;
    }
    let bytes = serde_json::to_vec_pretty(file)
        .map_err(|e| OciError::invalid("credential file", e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".auth-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| OciError::io(dir, e))?;
    // Synced before the rename: after a crash the file holds the old
    // credentials or the new ones, never nothing.
    std::io::Write::write_all(&mut tmp.as_file(), &bytes)
        .and_then(|()| tmp.as_file().sync_data())
        .map_err(|e| OciError::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| OciError::io(path, e.error))?;
    Ok(())
}

fn decode(entry: &AuthEntry, path: &Path) -> Result<Option<Credentials>, OciError> {
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials {
            username: u.clone(),
            password: p.clone(),
        }));
    }
    let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let bad = |why: &str| {
        OciError::invalid(
            format!("credential file {}", path.display()),
            why.to_string(),
        )
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad("an \"auth\" value is not base64"))?;
    let text = String::from_utf8(raw).map_err(|_| bad("an \"auth\" value is not UTF-8"))?;
    let (u, p) = text
        .split_once(':')
        .ok_or_else(|| bad("an \"auth\" value is not user:password"))?;
    Ok(Some(Credentials {
        username: u.to_string(),
        password: p.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(u: &str, p: &str) -> Credentials {
        Credentials {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn store_lookup_erase() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = AuthFiles::new(dir.path().join("home/auth.json"), vec![]);
        assert_eq!(files.lookup("localhost:5000").expect("lookup"), None);
        files
            .store("localhost:5000", &creds("alice", "s3:cret"))
            .expect("store");
        assert_eq!(
            files.lookup("localhost:5000").expect("lookup"),
            Some(creds("alice", "s3:cret"))
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(files.own_path())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(files.erase("localhost:5000").expect("erase"));
        assert!(!files.erase("localhost:5000").expect("erase again"));
        assert_eq!(files.lookup("localhost:5000").expect("lookup"), None);
    }

    #[test]
    fn a_credential_file_past_its_limit_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let own = dir.path().join("auth.json");
        let big = format!("{{\"auths\": {{}}, \"pad\": \"{}\"}}", "x".repeat(2 << 20));
        std::fs::write(&own, big).expect("write");
        let err = AuthFiles::new(own, vec![])
            .lookup("ghcr.io")
            .expect_err("too large")
            .to_string();
        assert!(err.contains("exceeds the limit of 1048576 bytes"), "{err}");
    }

    #[test]
    fn reads_docker_and_podman_files_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let docker = dir.path().join("docker.json");
        let podman = dir.path().join("podman.json");
        std::fs::write(
            &docker,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnB3"},"reg.io":{"auth":"ZDpk"}},"credsStore":"desktop"}"#,
        )
        .expect("write");
        std::fs::write(
            &podman,
            r#"{"auths":{"reg.io":{"username":"p","password":"q"}}}"#,
        )
        .expect("write");
        let files = AuthFiles::new(
            dir.path().join("own.json"),
            vec![podman.clone(), docker.clone()],
        );
        assert_eq!(
            files.lookup("docker.io").expect("hub"),
            Some(creds("hub", "pw"))
        );
        assert_eq!(files.lookup("reg.io").expect("reg"), Some(creds("p", "q")));
        assert_eq!(files.lookup("other.io").expect("other"), None);

        std::fs::write(&podman, "{not json").expect("write");
        let e = files.lookup("reg.io").expect_err("broken");
        assert!(e.to_string().contains("podman.json"), "{e}");
    }
}
