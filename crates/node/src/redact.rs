//! Credentials out of everything the installer prints.
//!
//! The CRI section install copies (into a drop-in or a k3s template) can
//! hold registry credentials (`registry.configs."host".auth` with
//! `password`, `auth`, `identitytoken`), and the plan and diff go to the
//! terminal or, from the installer DaemonSet, to `kubectl logs`. Before
//! config text is shown, every value under a key that names a secret is
//! replaced by `"<redacted>"`; the keys, the other values, comments and
//! layout stay, so the diff still says where things are. Pure functions,
//! no I/O.

use toml_edit::{DocumentMut, Item, TableLike, Value};

/// What a secret value is shown as.
pub const REDACTED: &str = "<redacted>";

/// Shown instead of text that is not TOML (it cannot be redacted key by
/// key, so none of it is shown).
pub const NOT_SHOWN: &str = "# <not shown: not valid TOML, so secrets in it cannot be redacted>";

/// Fragments that make a key secret, matched against the key in lower
/// case with `_`, `-` and `.` removed (`identity_token`, `IdentityToken`,
/// `client-secret`, `Authorization`, `registrytoken`, ...).
const SECRET_PARTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "auth",
    "credential",
    "apikey",
    "accesskey",
    "privatekey",
    "cookie",
];

/// Whether a value under `key` is a secret.
pub fn is_secret_key(key: &str) -> bool {
    let norm: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_PARTS.iter().any(|part| norm.contains(part))
}

/// `text` with every secret value replaced by [`REDACTED`], or
/// [`NOT_SHOWN`] when it is not TOML.
pub fn redact_toml(text: &str) -> String {
    match text.parse::<DocumentMut>() {
        Ok(mut doc) => {
            redact_table(doc.as_table_mut());
            redact_comments(&doc.to_string())
        }
        Err(_) => format!("{NOT_SHOWN}\n"),
    }
}

/// What a comment that names a secret is shown as.
pub const REDACTED_COMMENT: &str = "# <comment not shown: it names a secret>";

/// `text` with every comment that names a secret (a commented-out
/// `# password = "..."`) replaced by [`REDACTED_COMMENT`]: the values
/// are redacted key by key, but a comment is free text.
fn redact_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        // A whole-line comment, or a trailing one after a value that holds
        // no quote past the `#` (so the `#` is not inside a string).
        let cut = if body.trim_start().starts_with('#') {
            Some(body.len() - body.trim_start().len())
        } else {
            body.rfind(" #")
                .filter(|&at| !body[at..].contains(['"', '\'']))
                .map(|at| at + 1)
        };
        match cut {
            Some(at) if is_secret_key(&body[at..]) => {
                out.push_str(&body[..at]);
                out.push_str(REDACTED_COMMENT);
            }
            _ => out.push_str(body),
        }
        out.push_str(end);
    }
    out
}

fn redact_table(table: &mut dyn TableLike) {
    for (key, item) in table.iter_mut() {
        let secret = is_secret_key(key.get());
        redact_item(item, secret);
    }
}

fn redact_item(item: &mut Item, secret: bool) {
    match item {
        Item::None => {}
        // A secret-named table (`[... .auth]`) holds keys of its own:
        // those are judged one by one, so `username` stays readable.
        Item::Table(t) => redact_table(t),
        Item::ArrayOfTables(a) => {
            for t in a.iter_mut() {
                redact_table(t);
            }
        }
        Item::Value(v) => redact_value(v, secret),
    }
}

fn redact_value(value: &mut Value, secret: bool) {
    match value {
        Value::InlineTable(t) => redact_table(t),
        // An array under a secret key is replaced whole; elsewhere its
        // inline tables are looked into.
        Value::Array(a) if !secret => {
            for v in a.iter_mut() {
                redact_value(v, false);
            }
        }
        _ if secret => {
            let decor = value.decor().clone();
            *value = Value::from(REDACTED);
            *value.decor_mut() = decor;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_matched_loosely_and_others_are_not() {
        for key in [
            "password",
            "Password",
            "auth",
            "identitytoken",
            "identity_token",
            "IdentityToken",
            "token",
            "registrytoken",
            "registry_token",
            "secret",
            "client_secret",
            "client-secret",
            "Authorization",
            "api_key",
            "private_key",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "username",
            "sandbox_image",
            "runtime_type",
            "endpoint",
            "ca_file",
            "insecure_skip_verify",
            "config_path",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn values_under_secret_keys_are_redacted_in_tables_inline_tables_and_dotted_keys() {
        let text = r#"version = 2
[plugins."io.containerd.grpc.v1.cri".registry.configs."reg.example".auth]
  username = "alice"
  password = "hunter2" # keep this comment
  auth = "YWxpY2U6aHVudGVyMg=="
  IdentityToken = "idtok-1"
[plugins."io.containerd.grpc.v1.cri".registry.configs."other".auth]
  identity_token = "idtok-2"
[plugins."io.containerd.grpc.v1.cri".registry]
  inline = { username = "bob", "password" = "pw-3", nested = { token = "tok-4" } }
  dotted.client_secret = "cs-5"
  headers = { Authorization = ["Bearer b-6"] }
  mirrors = [{ endpoint = "https://m", registrytoken = "rt-7" }]
[[plugins.x.list]]
  secret = 8
"#;
        let out = redact_toml(text);
        for secret in [
            "hunter2",
            "YWxpY2U6aHVudGVyMg==",
            "idtok-1",
            "idtok-2",
            "pw-3",
            "tok-4",
            "cs-5",
            "b-6",
            "rt-7",
            "= 8",
        ] {
            assert!(!out.contains(secret), "{secret} in\n{out}");
        }
        for shown in [
            "username = \"alice\"",
            "password = \"<redacted>\" # keep this comment",
            "auth = \"<redacted>\"",
            "IdentityToken = \"<redacted>\"",
            "identity_token = \"<redacted>\"",
            "username = \"bob\"",
            "\"password\" = \"<redacted>\"",
            "token = \"<redacted>\"",
            "dotted.client_secret = \"<redacted>\"",
            "Authorization = \"<redacted>\"",
            "endpoint = \"https://m\"",
            "registrytoken = \"<redacted>\"",
            "secret = \"<redacted>\"",
            ".auth]",
        ] {
            assert!(out.contains(shown), "{shown} missing from\n{out}");
        }
        assert_eq!(out.lines().count(), text.lines().count());
    }

    /// A commented-out credential is free text no key names: the comment
    /// is not shown, other comments are.
    #[test]
    fn comments_that_name_a_secret_are_not_shown() {
        let text = "# the registry\n[auths]\n  # password = \"s3cret\"\n  user = \"me\" # token=abc\n  x = \"a # b\" # plain\n";
        let shown = redact_toml(text);
        assert!(
            !shown.contains("s3cret") && !shown.contains("abc"),
            "{shown}"
        );
        assert!(shown.contains("# the registry"), "{shown}");
        assert!(
            shown.contains("  # <comment not shown: it names a secret>"),
            "{shown}"
        );
        assert!(
            shown.contains("user = \"me\" # <comment not shown"),
            "{shown}"
        );
        assert!(shown.contains("x = \"a # b\" # plain"), "{shown}");
    }

    #[test]
    fn text_that_is_not_toml_is_not_shown() {
        let out = redact_toml("[x]\npassword = \"hunter2\n");
        assert!(!out.contains("hunter2"), "{out}");
        assert_eq!(out, format!("{NOT_SHOWN}\n"));
    }
}
