//! The trust policy file (`policy.toml`): which images need a signature,
//! by which keys, which may run unsigned, and which never run.
//!
//! This module parses and checks the file and decides which rule governs a
//! reference. It does no I/O: key paths are resolved against the policy's
//! folder but not read (that is [`super::Trust::load`]), and the current
//! time is an argument.
//!
//! ```toml
//! [default]
//! action = "require-signature"
//! keys = ["keys/release.pub"]
//!
//! [[rule]]
//! prefix = "ghcr.io/acme"
//! action = "require-signature"
//! keys = ["keys/acme.pub", { path = "keys/acme-2024.pub", expires = 2025-06-30 }]
//!
//! [[rule]]
//! repository = "docker.io/library/tool"
//! action = "allow-unsigned"
//! digests = ["sha256:…"]
//!
//! [[rule]]
//! registry = "docker.io"
//! action = "deny"
//! ```
//!
//! The most specific rule wins: `repository` (exact), then the longest
//! `prefix` (at a `/` boundary), then `registry`, then `default`. Rules
//! that name the same scope twice, keys on a rule that does not verify
//! signatures, `require-signature` without keys, and digest pins on
//! `deny` contradict each other and are refused when the file is parsed.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::reference::canonical_registry;
use crate::{Digest, ImageRef};

/// Largest policy file read.
pub const MAX_POLICY_BYTES: u64 = 1 << 20;

/// Most rules in one policy.
pub const MAX_RULES: usize = 10_000;

/// Most keys on one rule.
pub const MAX_KEYS_PER_RULE: usize = 64;

/// Why a policy file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not TOML, an unknown field, a value of the wrong type: toml's
    /// message, on one line, with where it is.
    #[error("{at}{message}")]
    Syntax { at: String, message: String },
    /// One rule is wrong on its own.
    #[error("{rule}: {reason}")]
    Rule { rule: String, reason: String },
    /// Two rules name the same scope.
    #[error("{first} and {second} both match {scope}; keep one")]
    Contradiction {
        first: String,
        second: String,
        scope: String,
    },
    /// Over one of the limits above.
    #[error("{0}")]
    TooLarge(String),
    /// Not UTF-8.
    #[error("it is not UTF-8 text")]
    NotText,
}

/// What a rule does with the images it governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// A signature by one of the rule's keys, over the image's digest.
    RequireSignature,
    /// No signature needed.
    AllowUnsigned,
    /// Never run or pull.
    Deny,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequireSignature => "require-signature",
            Self::AllowUnsigned => "allow-unsigned",
            Self::Deny => "deny",
        }
    }
}

/// Which images a rule governs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every image without a more specific rule.
    Default,
    /// Every repository of one registry (`ghcr.io`, `localhost:5000`).
    Registry(String),
    /// A repository and everything beneath it (`ghcr.io/acme` covers
    /// `ghcr.io/acme` and `ghcr.io/acme/app`, not `ghcr.io/acmecorp`).
    Prefix(String),
    /// One repository, `registry/path`.
    Repository(String),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => write!(f, "the default rule"),
            Self::Registry(r) => write!(f, "registry {r}"),
            Self::Prefix(p) => write!(f, "prefix {p}"),
            Self::Repository(r) => write!(f, "repository {r}"),
        }
    }
}

/// A public key a rule names, not read yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// Resolved against the policy file's folder.
    pub path: PathBuf,
    /// After this instant the key verifies nothing.
    pub expires: Option<time::OffsetDateTime>,
}

/// One rule of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub scope: Scope,
    pub action: Action,
    pub keys: Vec<KeyRef>,
    /// When not empty, the only digests the rule lets through.
    pub digests: Vec<Digest>,
    /// `rule 3` or `the default rule`: how messages name it.
    pub label: String,
}

/// A parsed, consistent policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    default: Rule,
    rules: Vec<Rule>,
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default: RawRule,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRule {
    registry: Option<String>,
    prefix: Option<String>,
    repository: Option<String>,
    action: Action,
    #[serde(default)]
    keys: Vec<RawKey>,
    #[serde(default)]
    digests: Vec<String>,
}

/// A key as written: a path, or a table with its expiry.
#[derive(Debug)]
enum RawKey {
    Path(String),
    Table(KeyTable),
}

impl<'de> Deserialize<'de> for RawKey {
    // By hand rather than `untagged`, so that a misspelt field in the
    // table is named instead of "did not match any variant".
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawKey;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key path, or a table { path = \"…\", expires = DATE }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawKey, E> {
                Ok(RawKey::Path(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawKey, A::Error> {
                KeyTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawKey::Table)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyTable {
    path: String,
    expires: Option<toml::value::Datetime>,
}

impl Policy {
    /// Parses `text`, resolving relative key paths against `base` (the
    /// policy file's folder).
    pub fn parse(text: &str, base: &Path) -> Result<Self, PolicyError> {
        if text.len() as u64 > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge(format!(
                "the file is over {MAX_POLICY_BYTES} bytes"
            )));
        }
        let file: File = toml::from_str(text).map_err(|e| syntax(text, &e))?;
        if file.rule.len() > MAX_RULES {
            return Err(PolicyError::TooLarge(format!(
                "{} rules, over the limit of {MAX_RULES}",
                file.rule.len()
            )));
        }
        let default = rule(file.default, "the default rule".into(), base, true)?;
        let mut rules: Vec<Rule> = Vec::with_capacity(file.rule.len());
        for (i, raw) in file.rule.into_iter().enumerate() {
            let r = rule(raw, format!("rule {}", i + 1), base, false)?;
            if let Some(earlier) = rules.iter().find(|e| e.scope == r.scope) {
                return Err(PolicyError::Contradiction {
                    first: earlier.label.clone(),
                    second: r.label,
                    scope: r.scope.to_string(),
                });
            }
            rules.push(r);
        }
        Ok(Self { default, rules })
    }

    /// The rule that governs `r`: the most specific that matches.
    pub fn rule_for(&self, r: &ImageRef) -> &Rule {
        let name = r.name();
        let mut best: Option<(u8, usize, &Rule)> = None;
        for rule in &self.rules {
            let rank = match &rule.scope {
                Scope::Repository(repo) if *repo == name => Some((3, repo.len())),
                Scope::Prefix(p) if covers(p, &name) => Some((2, p.len())),
                Scope::Registry(reg) if reg == r.registry() => Some((1, reg.len())),
                _ => None,
            };
            if let Some((kind, len)) = rank
                && best.is_none_or(|(k, l, _)| (kind, len) > (k, l))
            {
                best = Some((kind, len, rule));
            }
        }
        best.map_or(&self.default, |(_, _, rule)| rule)
    }

    /// Every rule, the default first: for loading their keys.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        std::iter::once(&self.default).chain(&self.rules)
    }
}

/// toml's error as one line: `line 2, column 1: unknown field …` (its own
/// rendering quotes the file over several lines).
fn syntax(text: &str, e: &toml::de::Error) -> PolicyError {
    let at = e.span().map_or_else(String::new, |span| {
        let before = text.get(..span.start).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}: ")
    });
    let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    PolicyError::Syntax { at, message }
}

/// Whether prefix `p` covers repository `name`: equal, or `name` goes on
/// below it after a `/`.
fn covers(p: &str, name: &str) -> bool {
    name.strip_prefix(p)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn rule(raw: RawRule, label: String, base: &Path, is_default: bool) -> Result<Rule, PolicyError> {
    let bad = |reason: String| PolicyError::Rule {
        rule: label.clone(),
        reason,
    };
    let scope = match (raw.registry, raw.prefix, raw.repository) {
        (None, None, None) if is_default => Scope::Default,
        (None, None, None) => {
            return Err(bad(
                "name what it matches: registry, prefix or repository".into()
            ));
        }
        _ if is_default => {
            return Err(bad(
                "the default rule matches everything; it takes no registry, prefix or repository"
                    .into(),
            ));
        }
        (Some(reg), None, None) => Scope::Registry(registry(&reg).map_err(&bad)?),
        (None, Some(p), None) => Scope::Prefix(prefix(&p).map_err(&bad)?),
        (None, None, Some(repo)) => Scope::Repository(repository(&repo).map_err(&bad)?),
        _ => {
            return Err(bad(
                "give one of registry, prefix or repository, not several".into(),
            ));
        }
    };
    match raw.action {
        Action::RequireSignature if raw.keys.is_empty() => {
            return Err(bad(
                "require-signature needs at least one public key (keys = [\"cosign.pub\"])".into(),
            ));
        }
        Action::AllowUnsigned | Action::Deny if !raw.keys.is_empty() => {
            return Err(bad(format!(
                "keys are for require-signature; {} never checks them",
                raw.action.as_str()
            )));
        }
        Action::Deny if !raw.digests.is_empty() => {
            return Err(bad(
                "deny lets no digest through, so pinning digests on it contradicts it".into(),
            ));
        }
        _ => {}
    }
    if raw.keys.len() > MAX_KEYS_PER_RULE {
        return Err(bad(format!(
            "{} keys, over the limit of {MAX_KEYS_PER_RULE}",
            raw.keys.len()
        )));
    }
    let keys = raw
        .keys
        .into_iter()
        .map(|k| key(k, base))
        .collect::<Result<Vec<_>, String>>()
        .map_err(&bad)?;
    let mut digests = Vec::with_capacity(raw.digests.len());
    for d in raw.digests {
        let d: Digest = d
            .parse()
            .map_err(|e: crate::DigestError| bad(e.to_string()))?;
        if !digests.contains(&d) {
            digests.push(d);
        }
    }
    Ok(Rule {
        scope,
        action: raw.action,
        keys,
        digests,
        label,
    })
}

fn key(raw: RawKey, base: &Path) -> Result<KeyRef, String> {
    let (path, expires) = match raw {
        RawKey::Path(p) => (p, None),
        RawKey::Table(t) => (t.path, t.expires.map(expiry).transpose()?),
    };
    if path.is_empty() {
        return Err("a key path is empty".into());
    }
    Ok(KeyRef {
        path: base.join(path),
        expires,
    })
}

/// A TOML date (midnight UTC) or date-time with an offset.
fn expiry(dt: toml::value::Datetime) -> Result<time::OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    match (dt.date, dt.time, dt.offset) {
        (Some(date), None, None) => time::Date::from_calendar_date(
            i32::from(date.year),
            time::Month::try_from(date.month).map_err(|e| e.to_string())?,
            date.day,
        )
        .map(|d| d.midnight().assume_utc())
        .map_err(|e| format!("expires = {dt}: {e}")),
        (Some(_), Some(_), Some(_)) => time::OffsetDateTime::parse(&dt.to_string(), &Rfc3339)
            .map_err(|e| format!("expires = {dt}: {e}")),
        _ => Err(format!(
            "expires = {dt}: give a date (2026-01-31) or a date-time with an offset (2026-01-31T12:00:00Z)"
        )),
    }
}

/// A registry as references name it ([`canonical_registry`]), so that a
/// rule holds for every spelling of its registry.
fn registry(input: &str) -> Result<String, String> {
    canonical_registry(input)
        .map_err(|_| format!("registry {input:?} is not a registry host (ghcr.io, localhost:5000)"))
}

/// `registry/path` with the registry spelled out: a policy names images
/// without the guesses a command line makes for short names.
fn split_name(what: &str, input: &str) -> Result<(String, String), String> {
    let trimmed = input.trim_end_matches('/');
    let (reg, path) = trimmed.split_once('/').ok_or_else(|| {
        format!("{what} {input:?} must start with its registry (ghcr.io/org/app)")
    })?;
    if !(reg.contains('.') || reg.contains(':') || reg == "localhost") {
        return Err(format!(
            "{what} {input:?} must start with its registry (ghcr.io/org/app, docker.io/library/app)"
        ));
    }
    if path.contains(['@', ':']) {
        return Err(format!(
            "{what} {input:?} names a repository, without a tag or digest (pin digests with digests = [...])"
        ));
    }
    Ok((registry(reg)?, path.to_string()))
}

fn repository(input: &str) -> Result<String, String> {
    let (reg, path) = split_name("repository", input)?;
    // The same normalization as a reference: `docker.io/app` is
    // `docker.io/library/app`.
    let parsed = ImageRef::parse(&format!("{reg}/{path}")).map_err(|e| e.to_string())?;
    Ok(parsed.name())
}

fn prefix(input: &str) -> Result<String, String> {
    let (reg, path) = split_name("prefix", input)?;
    // Checked as a repository would be, but not normalized: the prefix
    // `docker.io/acme` is the organisation, not `docker.io/library/acme`.
    ImageRef::parse(&format!("{reg}/{path}")).map_err(|e| e.to_string())?;
    Ok(format!("{reg}/{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, String> {
        Policy::parse(text, Path::new("/etc/wasmpod")).map_err(|e| e.to_string())
    }

    fn decide<'a>(p: &'a Policy, reference: &str) -> &'a Rule {
        p.rule_for(&ImageRef::parse(reference).expect("reference"))
    }

    const LAYERED: &str = r#"
        [default]
        action = "require-signature"
        keys = ["keys/release.pub"]

        [[rule]]
        registry = "localhost:5000"
        action = "allow-unsigned"

        [[rule]]
        prefix = "ghcr.io/acme"
        action = "require-signature"
        keys = ["/keys/acme.pub", { path = "old.pub", expires = 2025-06-30 }]

        [[rule]]
        prefix = "ghcr.io/acme/team/"
        action = "allow-unsigned"

        [[rule]]
        repository = "ghcr.io/acme/team/locked"
        action = "deny"

        [[rule]]
        registry = "index.docker.io"
        action = "deny"

        [[rule]]
        repository = "docker.io/tool"
        action = "allow-unsigned"
        digests = ["sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"]
    "#;

    #[test]
    fn the_most_specific_rule_wins() {
        let p = parse(LAYERED).expect("policy");
        let label = |r: &str| decide(&p, r).label.clone();
        assert_eq!(label("quay.io/x/y:1"), "the default rule");
        assert_eq!(label("localhost:5000/app:v1"), "rule 1");
        assert_eq!(label("ghcr.io/acme"), "rule 2");
        assert_eq!(
            label(
                "ghcr.io/acme/app@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
            ),
            "rule 2"
        );
        // At a path boundary only.
        assert_eq!(label("ghcr.io/acmecorp/app"), "the default rule");
        // The longer prefix beats the shorter; the exact repository beats both.
        assert_eq!(label("ghcr.io/acme/team/app"), "rule 3");
        assert_eq!(label("ghcr.io/acme/team"), "rule 3");
        assert_eq!(label("ghcr.io/acme/team/locked:v2"), "rule 4");
        assert_eq!(label("ghcr.io/acme/team/locked/sub"), "rule 3");
        // Docker Hub by any spelling; its short names normalized.
        assert_eq!(label("busybox"), "rule 5");
        assert_eq!(label("registry-1.docker.io/library/busybox"), "rule 5");
        assert_eq!(label("tool:1"), "rule 6");
        assert_eq!(label("docker.io/library/tool"), "rule 6");
    }

    /// A rule holds for every spelling of its registry: case, HTTPS's
    /// own port, Docker Hub's aliases, in references and in the policy.
    #[test]
    fn no_spelling_of_a_registry_passes_its_rule() {
        let p = parse(LAYERED).expect("policy");
        let label = |r: &str| decide(&p, r).label.clone();
        for hub in [
            "REGISTRY-1.DOCKER.IO/library/busybox",
            "docker.io:443/library/busybox",
            "Index.Docker.IO:443/library/busybox",
            "DOCKER.IO/busybox",
        ] {
            assert_eq!(label(hub), "rule 5", "{hub}");
        }
        for acme in [
            "GHCR.IO/acme/app",
            "ghcr.io:443/acme/app",
            "Ghcr.Io:443/acme/team/locked",
        ] {
            assert_ne!(label(acme), "the default rule", "{acme}");
        }
        assert_eq!(label("GHCR.IO:443/acme/team/locked"), "rule 4");
        // Plain HTTP on loopback: 443 is a port like any other.
        assert_eq!(label("LOCALHOST:5000/app"), "rule 1");
        assert_eq!(label("localhost:443/app"), "the default rule");
        // A trailing dot is refused, not folded.
        assert!(ImageRef::parse("ghcr.io./acme/app").is_err());
        // The policy's own spellings are folded the same way.
        let p = parse(
            r#"
            [default]
            action = "allow-unsigned"
            [[rule]]
            registry = "GHCR.IO:443"
            action = "deny"
        "#,
        )
        .expect("policy");
        assert_eq!(decide(&p, "ghcr.io/x/y").action, Action::Deny);
        assert!(parse("[default]\naction = \"deny\"\n[[rule]]\nregistry = \"ghcr.io.\"\naction = \"deny\"\n").is_err());
    }

    #[test]
    fn keys_resolve_against_the_policy_folder_and_keep_their_expiry() {
        let p = parse(LAYERED).expect("policy");
        assert_eq!(
            p.rules().next().map(|r| r.keys.clone()),
            Some(vec![KeyRef {
                path: "/etc/wasmpod/keys/release.pub".into(),
                expires: None
            }])
        );
        let acme = decide(&p, "ghcr.io/acme/app");
        assert_eq!(acme.action, Action::RequireSignature);
        assert_eq!(acme.keys[0].path, PathBuf::from("/keys/acme.pub"));
        assert_eq!(acme.keys[1].path, PathBuf::from("/etc/wasmpod/old.pub"));
        assert_eq!(
            acme.keys[1].expires,
            Some(time::macros::datetime!(2025-06-30 0:00 UTC))
        );
        let p = parse(
            r#"
            default = { action = "require-signature", keys = [{ path = "k.pub", expires = 2026-01-31T12:30:00+01:00 }] }
        "#,
        )
        .expect("offset date-time");
        assert_eq!(
            p.rules().next().and_then(|r| r.keys[0].expires),
            Some(time::macros::datetime!(2026-01-31 11:30 UTC))
        );
    }

    #[test]
    fn digest_pins_are_kept_on_their_rule() {
        let p = parse(LAYERED).expect("policy");
        let tool = decide(&p, "tool");
        assert_eq!(tool.digests, vec![Digest::of(b"hello")]);
        assert!(decide(&p, "ghcr.io/acme/app").digests.is_empty());
    }

    #[test]
    fn a_policy_needs_a_default_and_refuses_unknown_fields() {
        let e =
            parse("[[rule]]\nregistry = \"ghcr.io\"\naction = \"deny\"\n").expect_err("no default");
        assert!(e.contains("missing field `default`"), "{e}");
        for (text, needle) in [
            (
                "[default]\naction = \"deny\"\nkeyz = []\n",
                "unknown field `keyz`",
            ),
            ("[default]\nacton = \"deny\"\n", "unknown field `acton`"),
            ("[default]\naction = \"allow\"\n", "unknown variant `allow`"),
            (
                "version = 2\n[default]\naction = \"deny\"\n",
                "unknown field `version`",
            ),
            (
                "[default]\naction = \"deny\"\n[[rule]]\nregistry = \"a.io\"\naction = \"deny\"\nextra = 1\n",
                "unknown field `extra`",
            ),
            (
                "[default]\naction = \"deny\"\n[[rule]]\nregistry = \"a.io\"\naction = \"deny\"\nscope = \"x\"\n",
                "unknown field `scope`",
            ),
            ("not toml at all", "line 1, column 5: "),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(!e.contains('\n'), "not one line: {e}");
        }
    }

    #[test]
    fn contradicting_rules_are_refused() {
        let base = "[default]\naction = \"allow-unsigned\"\n";
        for (rules, needle) in [
            (
                "[[rule]]\nprefix = \"ghcr.io/a\"\naction = \"deny\"\n[[rule]]\nprefix = \"ghcr.io/a/\"\naction = \"allow-unsigned\"\n",
                "rule 1 and rule 2 both match prefix ghcr.io/a; keep one",
            ),
            (
                "[[rule]]\nregistry = \"docker.io\"\naction = \"deny\"\n[[rule]]\nregistry = \"index.docker.io\"\naction = \"deny\"\n",
                "rule 1 and rule 2 both match registry docker.io",
            ),
            (
                "[[rule]]\nrepository = \"docker.io/app\"\naction = \"deny\"\n[[rule]]\nrepository = \"docker.io/library/app\"\naction = \"allow-unsigned\"\n",
                "both match repository docker.io/library/app",
            ),
            (
                "[[rule]]\nregistry = \"a.io\"\naction = \"allow-unsigned\"\nkeys = [\"k.pub\"]\n",
                "rule 1: keys are for require-signature; allow-unsigned never checks them",
            ),
            (
                "[[rule]]\nregistry = \"a.io\"\naction = \"require-signature\"\n",
                "rule 1: require-signature needs at least one public key",
            ),
            (
                "[[rule]]\nregistry = \"a.io\"\naction = \"deny\"\ndigests = [\"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\"]\n",
                "rule 1: deny lets no digest through",
            ),
            (
                "[[rule]]\nregistry = \"a.io\"\nprefix = \"a.io/x\"\naction = \"deny\"\n",
                "rule 1: give one of registry, prefix or repository, not several",
            ),
            (
                "[[rule]]\naction = \"deny\"\n",
                "rule 1: name what it matches",
            ),
        ] {
            let text = format!("{base}{rules}");
            let e = parse(&text).expect_err(rules);
            assert!(e.contains(needle), "{rules:?}: {e}");
        }
        let e = parse("[default]\nregistry = \"a.io\"\naction = \"deny\"\n")
            .expect_err("scoped default");
        assert!(e.contains("the default rule matches everything"), "{e}");
        let e =
            parse("[default]\naction = \"deny\"\nkeys = [\"k.pub\"]\n").expect_err("keys on deny");
        assert!(
            e.contains("the default rule: keys are for require-signature"),
            "{e}"
        );
    }

    #[test]
    fn scopes_and_values_are_checked() {
        let base = "[default]\naction = \"allow-unsigned\"\n[[rule]]\naction = \"deny\"\n";
        for (line, needle) in [
            ("prefix = \"acme/app\"", "must start with its registry"),
            ("repository = \"app\"", "must start with its registry"),
            ("repository = \"ghcr.io/app:v1\"", "without a tag or digest"),
            ("prefix = \"ghcr.io/a@sha256:x\"", "without a tag or digest"),
            ("registry = \"ghcr.io/org\"", "is not a registry host"),
            ("repository = \"ghcr.io/UPPER\"", "invalid image reference"),
        ] {
            let text = format!("{base}{line}\n");
            let e = parse(&text).expect_err(line);
            assert!(e.contains(needle), "{line}: {e}");
        }
        for (key, needle) in [
            ("\"\"", "a key path is empty"),
            (
                "{ path = \"k.pub\", expires = 2026-01-31T00:00:00 }",
                "with an offset",
            ),
            (
                "{ path = \"k.pub\", expiry = 2026-01-31 }",
                "unknown field `expiry`, expected `path` or `expires`",
            ),
            ("3", "a key path, or a table"),
        ] {
            let text = format!("[default]\naction = \"require-signature\"\nkeys = [{key}]\n");
            let e = parse(&text).expect_err(key);
            assert!(e.contains(needle), "{key}: {e}");
        }
        let e = parse("[default]\naction = \"allow-unsigned\"\ndigests = [\"sha256:abc\"]\n")
            .expect_err("bad digest");
        assert!(e.contains("the default rule: invalid digest"), "{e}");
    }

    #[test]
    fn sizes_are_bounded() {
        let big = format!("# {}\n[default]\naction = \"deny\"\n", "x".repeat(1 << 20));
        assert!(parse(&big).expect_err("big").contains("over 1048576 bytes"));
        let keys = vec!["\"k.pub\""; MAX_KEYS_PER_RULE + 1].join(",");
        let text = format!("[default]\naction = \"require-signature\"\nkeys = [{keys}]\n");
        assert!(
            parse(&text)
                .expect_err("keys")
                .contains("over the limit of 64")
        );
    }
}
