//! Docker-style image references: `localhost:5000/app:v1`,
//! `ghcr.io/org/app@sha256:…`, and `app` for `docker.io/library/app:latest`.

use std::fmt;
use std::str::FromStr;

use crate::Digest;

/// The registry a reference without one names.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// Why a reference did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    input: String,
    reason: String,
}

/// A normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parses and normalizes a reference. A reference with neither tag nor
    /// digest gets the tag `latest`.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let err = |reason: &str| ReferenceError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        if input.is_empty() {
            return Err(err("empty"));
        }
        if input.len() > 4096 {
            return Err(err("too long"));
        }
        if input.contains("://") {
            return Err(err(
                "a reference has no scheme (drop the http:// or https://)",
            ));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(d.parse::<Digest>().map_err(|e| err(&e.to_string()))?),
            ),
            None => (input, None),
        };
        // A tag follows the last ':' after the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag).map_err(|r| err(&r))?;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        let registry = canonical_registry(&registry).map_err(|r| err(&r))?;
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        validate_repository(&repository).map_err(|r| err(&r))?;
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry as written (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host to talk to: Docker Hub's API lives on `registry-1.docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == DEFAULT_REGISTRY {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    /// The repository path (`library/app`, `org/app`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// `registry/repository`, as `wasmpod images` lists it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<Digest> {
        self.digest
    }

    /// What to put in a manifest URL: the digest if pinned, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The same repository, pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository at `tag`, without a digest (a signature's tag).
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        validate_tag(tag).map_err(|reason| ReferenceError {
            input: format!("{}:{tag}", self.name()),
            reason,
        })?;
        Ok(Self {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// Whether the registry is on this machine, where plain HTTP is allowed.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.registry)
    }
}

/// `localhost`, `127.0.0.0/8` and `::1`, with or without a port.
pub fn is_loopback_host(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, _)| h)
    };
    if host == "localhost" || host == "::1" {
        return true;
    }
    host.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// A registry as wasmpod names it everywhere (references, trust
/// policies, the image store): lowercase, without the `:443` that HTTPS
/// implies, and with Docker Hub's aliases folded into `docker.io`.
///
/// Why: host names are case-insensitive and `:443` is HTTPS's own port, so
/// `GHCR.IO`, `ghcr.io:443` and `ghcr.io` reach the same registry. A trust
/// policy's rule for one of them must hold for all, so every spelling is
/// made one name before anything compares it. A host with a trailing dot
/// (`ghcr.io.`) is refused rather than folded. A loopback registry keeps
/// `:443`: it is reached over plain HTTP, where 443 is not implied.
pub fn canonical_registry(input: &str) -> Result<String, String> {
    validate_registry(input)?;
    let lower = input.to_ascii_lowercase();
    let host = if lower.starts_with('[') {
        lower.split_inclusive(']').next().unwrap_or(&lower)
    } else {
        lower.rsplit_once(':').map_or(lower.as_str(), |(h, _)| h)
    };
    if host.is_empty() || host.ends_with('.') || host.starts_with('.') {
        return Err(format!("invalid registry {input:?}"));
    }
    let lower = match lower.strip_suffix(":443") {
        Some(host) if !is_loopback_host(&lower) => host.to_string(),
        _ => lower,
    };
    Ok(match lower.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DEFAULT_REGISTRY.to_string(),
        _ => lower,
    })
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid tag {tag:?} (letters, digits, _ . -, at most 128, not starting with . or -)"
        ))
    }
}

fn validate_registry(registry: &str) -> Result<(), String> {
    let ok = !registry.is_empty()
        && registry
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid registry {registry:?}"))
    }
}

fn validate_repository(repo: &str) -> Result<(), String> {
    if repo.is_empty() {
        return Err("the repository name is empty".into());
    }
    if repo.len() > 255 {
        return Err("the repository name is longer than 255 characters".into());
    }
    if repo.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("the repository name must be lowercase".into());
    }
    for component in repo.split('/') {
        let valid = !component.is_empty()
            && component.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            })
            && component
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && component
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric());
        if !valid {
            return Err(format!(
                "invalid path component {component:?} (lowercase letters and digits, separated by . _ or -)"
            ));
        }
    }
    Ok(())
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn norm(s: &str) -> String {
        ImageRef::parse(s).expect(s).to_string()
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(norm("app"), "docker.io/library/app:latest");
        assert_eq!(norm("app:v1"), "docker.io/library/app:v1");
        assert_eq!(norm("org/app"), "docker.io/org/app:latest");
        assert_eq!(norm("index.docker.io/org/app"), "docker.io/org/app:latest");
        assert_eq!(norm("localhost:5000/app:v1"), "localhost:5000/app:v1");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("ghcr.io/org/sub/app:1.0"), "ghcr.io/org/sub/app:1.0");
        assert_eq!(
            norm(&format!("ghcr.io/org/app@{D}")),
            format!("ghcr.io/org/app@{D}")
        );
        assert_eq!(
            norm(&format!("app:v2@{D}")),
            format!("docker.io/library/app:v2@{D}")
        );
        assert_eq!(norm("127.0.0.1:5000/a/b"), "127.0.0.1:5000/a/b:latest");
    }

    #[test]
    fn parts() {
        let r = ImageRef::parse("localhost:5000/team/app:v1").expect("parse");
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.name(), "localhost:5000/team/app");
        assert_eq!(r.manifest_reference(), "v1");
        assert!(r.is_loopback());
        let hub = ImageRef::parse("app").expect("parse");
        assert_eq!(hub.api_host(), "registry-1.docker.io");
        assert!(!hub.is_loopback());
        let pinned = ImageRef::parse(&format!("x.io/app@{D}")).expect("parse");
        assert_eq!(pinned.tag(), None);
        assert_eq!(pinned.manifest_reference(), D);
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "10.0.0.1:5000",
            "example.com",
            "ghcr.io",
            "localhost.example.com",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn rejects_malformed_references() {
        for (bad, why) in [
            ("", "empty"),
            ("App", "lowercase"),
            ("app:", "invalid tag"),
            ("app:-x", "invalid tag"),
            ("app@sha256:123", "invalid digest"),
            ("app@md5:abc", "only sha256"),
            ("https://ghcr.io/app", "scheme"),
            ("ghcr.io/", "empty"),
            ("ghcr.io//app", "invalid path component"),
            ("a/-b", "invalid path component"),
            ("a/b_", "invalid path component"),
            ("a b", "invalid path component"),
            ("bad!host.io/app", "invalid registry"),
        ] {
            let e = ImageRef::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
            assert!(e.starts_with("invalid image reference"), "{e}");
        }
    }
}
