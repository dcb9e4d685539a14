//! Kubernetes' name rules, as the API server applies them. `wasmpod up`
//! joins object, volume and container names, ConfigMap and Secret keys and
//! `items[].path` onto its state folder, so these checks are what keeps a
//! manifest from writing or deleting outside it: every name accepted here is
//! one normal path component (never empty, `.`, `..`, absolute or holding a
//! `/`), and every accepted `items[].path` is relative and made only of
//! normal components.

use std::path::{Component, Path};

/// Most characters of a DNS-1123 subdomain (object names).
pub(crate) const SUBDOMAIN_MAX: usize = 253;
/// Most characters of a DNS-1123 label (namespaces, volume and container
/// names) and of a DNS-1035 label (Service names).
pub(crate) const LABEL_MAX: usize = 63;
/// Most characters of a ConfigMap or Secret key.
pub(crate) const KEY_MAX: usize = 253;
/// Most characters of an IANA service name (container port names).
pub(crate) const PORT_NAME_MAX: usize = 15;
/// Most bytes of an `items[].path` (Linux's `PATH_MAX`).
pub(crate) const ITEM_PATH_MAX: usize = 4096;
/// Most bytes of one component of an `items[].path` (Linux's `NAME_MAX`).
const COMPONENT_MAX: usize = 255;

const SUBDOMAIN: &str = "a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";
const LABEL: &str = "a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";
const DNS1035: &str = "a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit, at most 63 characters";
const PORT_NAME: &str = "an IANA service name: lowercase letters, digits and '-', at least one letter, no '--', not starting or ending with '-', at most 15 characters";
const KEY: &str = "letters, digits, '-', '_' and '.', not '.' or '..' nor starting with '..', at most 253 characters";

fn alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn is_label(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|&c| alnum(c) || c == b'-')
}

/// `Err(what a valid one looks like)` unless `s` is a DNS-1123 subdomain.
pub(crate) fn subdomain(s: &str) -> Result<(), &'static str> {
    let ok = s.len() <= SUBDOMAIN_MAX && s.split('.').all(|part| is_label(part, SUBDOMAIN_MAX));
    if ok { Ok(()) } else { Err(SUBDOMAIN) }
}

/// `Err(what a valid one looks like)` unless `s` is a DNS-1123 label.
pub(crate) fn label(s: &str) -> Result<(), &'static str> {
    if is_label(s, LABEL_MAX) {
        Ok(())
    } else {
        Err(LABEL)
    }
}

/// `Err(what a valid one looks like)` unless `s` is a DNS-1035 label (a
/// DNS-1123 label starting with a letter).
pub(crate) fn dns1035_label(s: &str) -> Result<(), &'static str> {
    if is_label(s, LABEL_MAX) && s.as_bytes()[0].is_ascii_lowercase() {
        Ok(())
    } else {
        Err(DNS1035)
    }
}

/// `Err(what a valid one looks like)` unless `s` is an IANA service name,
/// what Kubernetes requires of a container port's `name`.
pub(crate) fn port_name(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= PORT_NAME_MAX
        && b.iter().all(|&c| alnum(c) || c == b'-')
        && b.iter().any(u8::is_ascii_lowercase)
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && !s.contains("--");
    if ok { Ok(()) } else { Err(PORT_NAME) }
}

/// `Err(what a valid one looks like)` unless `s` is a valid ConfigMap or
/// Secret key.
pub(crate) fn config_key(s: &str) -> Result<(), &'static str> {
    let ok = !s.is_empty()
        && s.len() <= KEY_MAX
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s != "."
        && !s.starts_with("..");
    if ok { Ok(()) } else { Err(KEY) }
}

/// `Err(why)` unless `s` is usable as a volume item's `path`: relative,
/// only normal components (no `..`, no `.`, no empty component), not
/// starting with `..`, no NUL, bounded in length.
pub(crate) fn item_path(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("must not be empty");
    }
    if s.len() > ITEM_PATH_MAX {
        return Err("must be at most 4096 bytes");
    }
    if s.starts_with('/') {
        return Err("must be a relative path");
    }
    if s.starts_with("..") {
        return Err("must not start with '..'");
    }
    if s.contains('\0') {
        return Err("must not contain a NUL byte");
    }
    // Every component as written, so `a/./b` and `a//b` are refused too.
    for part in s.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err("must be made of names, without '.', '..' or empty components");
        }
        if part.len() > COMPONENT_MAX {
            return Err("must not have a component longer than 255 bytes");
        }
    }
    debug_assert!(
        Path::new(s)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    );
    Ok(())
}

/// `s` quoted and escaped for a one-line message, cut after 80 characters.
pub(crate) fn shown(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((at, _)) => format!("{:?}...", &s[..at]),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Kubernetes' own regular expressions, matched by hand: a second,
    /// independent statement of each rule.
    mod reference {
        fn matches_label(s: &str) -> bool {
            // [a-z0-9]([-a-z0-9]*[a-z0-9])?
            let c: Vec<char> = s.chars().collect();
            let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
            match c.as_slice() {
                [] => false,
                [one] => alnum(*one),
                [first, middle @ .., last] => {
                    alnum(*first) && alnum(*last) && middle.iter().all(|&m| alnum(m) || m == '-')
                }
            }
        }

        pub fn subdomain(s: &str) -> bool {
            s.chars().count() <= 253 && s.split('.').all(matches_label)
        }

        pub fn label(s: &str) -> bool {
            s.chars().count() <= 63 && matches_label(s)
        }

        pub fn dns1035(s: &str) -> bool {
            label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
        }

        pub fn port_name(s: &str) -> bool {
            let n = s.chars().count();
            (1..=15).contains(&n)
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && s.chars().any(|c| c.is_ascii_lowercase())
                && !s.starts_with('-')
                && !s.ends_with('-')
                && !s.contains("--")
        }

        pub fn key(s: &str) -> bool {
            // [-._a-zA-Z0-9]+, not "." or "..", not starting with "..".
            let n = s.chars().count();
            (1..=253).contains(&n)
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
                && s != "."
                && s != ".."
                && !s.starts_with("..")
        }
    }

    /// Accepted names must be exactly one normal path component.
    fn one_normal_component(s: &str) -> bool {
        let mut parts = Path::new(s).components();
        matches!(parts.next(), Some(Component::Normal(p)) if p == s) && parts.next().is_none()
    }

    /// Strings biased towards the interesting characters.
    fn names() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9.-]{0,70}",
            "[-._a-zA-Z0-9/]{0,20}",
            "[a-z]{60,260}",
            "[a-z0-9]([-a-z0-9.]{0,300}[a-z0-9])?",
            ".{0,40}",
            prop::sample::select(vec![
                "".to_string(),
                ".".to_string(),
                "..".to_string(),
                "../x".to_string(),
                "/etc".to_string(),
                "..data".to_string(),
                "a\0b".to_string(),
            ]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn names_agree_with_the_reference_and_are_one_component(s in names()) {
            prop_assert_eq!(subdomain(&s).is_ok(), reference::subdomain(&s));
            prop_assert_eq!(label(&s).is_ok(), reference::label(&s));
            prop_assert_eq!(dns1035_label(&s).is_ok(), reference::dns1035(&s));
            prop_assert_eq!(port_name(&s).is_ok(), reference::port_name(&s));
            prop_assert_eq!(config_key(&s).is_ok(), reference::key(&s));
            for ok in [subdomain(&s), label(&s), dns1035_label(&s), port_name(&s), config_key(&s)] {
                if ok.is_ok() {
                    prop_assert!(one_normal_component(&s), "{:?}", s);
                    prop_assert!(s.len() <= 253);
                }
            }
        }

        #[test]
        fn item_paths_stay_beneath(s in "[-._a-z/]{0,40}|.{0,20}") {
            if item_path(&s).is_ok() {
                let p = Path::new(&s);
                prop_assert!(p.is_relative());
                prop_assert!(p.components().all(|c| matches!(c, Component::Normal(_))), "{:?}", s);
                prop_assert!(!s.starts_with(".."));
                // Joined onto a base it never leaves it.
                let joined = Path::new("/base").join(p);
                prop_assert!(joined.starts_with("/base"));
                prop_assert!(joined.components().count() > 2);
            }
        }
    }

    #[test]
    fn known_good_and_bad() {
        for ok in ["a", "web", "web-0", "a.b.c", "0", "x".repeat(253).as_str()] {
            assert!(subdomain(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../etc",
            "/etc",
            "a/b",
            "A",
            "-a",
            "a-",
            "a..b",
            ".a",
            &"x".repeat(254),
        ] {
            assert!(subdomain(bad).is_err(), "{bad}");
        }
        assert!(label("a.b").is_err());
        assert!(label(&"x".repeat(64)).is_err());
        assert!(dns1035_label("0a").is_err());
        assert!(port_name("http").is_ok());
        assert!(port_name("80").is_err());
        assert!(port_name("a--b").is_err());
        for ok in ["a", "A_b-c.d", ".hidden", "a..b"] {
            assert!(config_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "..data", "../x", "a/b", "/x", "a b"] {
            assert!(config_key(bad).is_err(), "{bad}");
        }
        for ok in ["a", "a/b", "a/b.c", ".x/y", "a..b"] {
            assert!(item_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "/a", "..", "../a", "..a", "a/../b", "a/..", "./a", "a//b", "a/", "a\0",
        ] {
            assert!(item_path(bad).is_err(), "{bad}");
        }
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        assert!(shown(&"x".repeat(500)).len() < 100);
    }
}
