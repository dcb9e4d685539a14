//! Parsing of flag values: volumes, durations, env entries and env files.
//! Pure functions, so every rule is unit-tested here.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

/// A parsed `--volume`: what to open, where the guest sees it, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    pub host: PathBuf,
    pub guest: String,
    pub read_only: bool,
}

/// Parses a volume: `HOST:GUEST`, `HOST:GUEST:ro`, `HOST:GUEST:rw`, a bare
/// `HOST` (seen at the same path, as `wasmtime run --dir` does) or
/// wasmtime's `HOST::GUEST`. GUEST must be absolute or `.`, and may not
/// contain `..`. The host path is resolved against the current directory but
/// not checked here: the engine reports a missing one.
pub fn volume(spec: &str) -> anyhow::Result<VolumeSpec> {
    let bad = |why: &str| anyhow::anyhow!("invalid volume {spec:?}: {why}");
    if spec.is_empty() {
        return Err(bad("empty"));
    }
    let (host, guest, mode) = if let Some((host, guest)) = spec.split_once("::") {
        (host, guest, None)
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.as_slice() {
            [host] => (*host, *host, None),
            [host, guest] => (*host, *guest, None),
            [host, guest, mode] => (*host, *guest, Some(*mode)),
            _ => return Err(bad("expected HOST:GUEST[:ro|rw]")),
        }
    };
    if host.is_empty() {
        return Err(bad("the host path is empty"));
    }
    if guest.is_empty() {
        return Err(bad("the guest path is empty"));
    }
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(other) => return Err(bad(&format!("unknown mode {other:?} (use ro or rw)"))),
    };
    if guest != "." && !guest.starts_with('/') {
        return Err(bad("the guest path must be absolute"));
    }
    if guest.split('/').any(|c| c == "..") {
        return Err(bad("the guest path must not contain '..'"));
    }
    let host = PathBuf::from(host);
    let host = if host.is_absolute() {
        host
    } else {
        std::env::current_dir()
            .context("cannot resolve a relative volume path")?
            .join(host)
    };
    Ok(VolumeSpec {
        host,
        guest: guest.to_string(),
        read_only,
    })
}

/// Parses a duration: one or more `<number><unit>` parts with units `ms`,
/// `s`, `m` and `h` (`500ms`, `2s`, `1m30s`), or a bare number of seconds.
/// Zero is refused: a limit that has already passed is a mistake.
/// The longest duration a flag takes: a year. Deadlines are `now +` it,
/// which must not overflow.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

pub fn duration(input: &str) -> anyhow::Result<Duration> {
    let bad = |why: &str| anyhow::anyhow!("invalid duration {input:?}: {why}");
    let s = input.trim();
    if s.is_empty() {
        return Err(bad("empty"));
    }
    let total = if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(bad("must be a positive number"));
        }
        Duration::try_from_secs_f64(secs).map_err(|_| bad("too large"))?
    } else {
        let mut total = Duration::ZERO;
        let mut rest = s;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| bad("missing unit (use ms, s, m or h)"))?;
            let (num, after) = rest.split_at(num_end);
            let unit_end = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, next) = after.split_at(unit_end);
            let value: f64 = num.parse().map_err(|_| bad("expected a number"))?;
            let scale = match unit {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return Err(bad(&format!("unknown unit {unit:?} (use ms, s, m or h)"))),
            };
            let part = Duration::try_from_secs_f64(value * scale).map_err(|_| bad("too large"))?;
            total = total
                .checked_add(part)
                .filter(|t| *t <= MAX_DURATION)
                .ok_or_else(|| bad("too large (at most 8760h, a year)"))?;
            rest = next;
        }
        total
    };
    if total.is_zero() {
        bail!("invalid duration {input:?}: must be greater than zero");
    }
    Ok(total)
}

/// Parses a listen address: `HOST:PORT` (`0.0.0.0:8080`, `[::1]:80`) or a
/// bare `PORT`, which means 127.0.0.1 (nothing is exposed beyond this
/// machine unless asked for).
pub fn listen_addr(input: &str) -> anyhow::Result<std::net::SocketAddr> {
    let s = input.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().map_err(|_| {
        anyhow::anyhow!("invalid address {input:?}: use HOST:PORT (127.0.0.1:8080) or a port")
    })
}

/// Parses one `-e` value. `KEY=VALUE` sets it; a bare `KEY` copies the
/// host's value if it has one (an explicit grant, as `docker run -e KEY`
/// does) and is skipped otherwise.
pub fn env_flag(
    spec: &str,
    host: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<(String, String)>> {
    match spec.split_once('=') {
        Some((key, value)) => Ok(Some((env_key(key, spec)?, value.to_string()))),
        None => {
            let key = env_key(spec, spec)?;
            Ok(host(&key).map(|v| (key, v)))
        }
    }
}

/// Parses an env file: `KEY=VALUE` lines; blank lines and lines starting
/// with `#` are skipped; a bare `KEY` copies the host's value as `-e KEY`
/// does. Values are taken literally (no quotes are stripped), like docker.
pub fn env_file(
    content: &str,
    host: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut vars = Vec::new();
    for (n, line) in content.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let entry = env_flag(trimmed.trim_end_matches('\r'), &host)
            .with_context(|| format!("line {}", n + 1))?;
        vars.extend(entry);
    }
    Ok(vars)
}

fn env_key(key: &str, spec: &str) -> anyhow::Result<String> {
    if key.is_empty() {
        bail!("invalid environment variable {spec:?}: the name is empty");
    }
    if key.contains(['\0', ' ', '\t']) {
        bail!("invalid environment variable {spec:?}: the name contains whitespace or NUL");
    }
    Ok(key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            listen_addr("9000").expect("port").to_string(),
            "127.0.0.1:9000"
        );
        assert_eq!(
            listen_addr("0.0.0.0:80").expect("addr").to_string(),
            "0.0.0.0:80"
        );
        assert_eq!(listen_addr("[::1]:81").expect("v6").to_string(), "[::1]:81");
        for bad in ["", "localhost:80", "1.2.3.4", "70000", "a:b"] {
            let e = listen_addr(bad).expect_err(bad).to_string();
            assert!(e.starts_with("invalid address"), "{e}");
        }
    }

    fn no_host(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn volume_forms() {
        let v = volume("/srv/data:/data:ro").expect("ro");
        assert_eq!(v.host, PathBuf::from("/srv/data"));
        assert_eq!(v.guest, "/data");
        assert!(v.read_only);

        let v = volume("/srv/data:/data").expect("rw default");
        assert!(!v.read_only);
        assert!(!volume("/a:/b:rw").expect("rw").read_only);

        let v = volume("/srv/data").expect("bare");
        assert_eq!(v.guest, "/srv/data");

        let v = volume("/srv/data::/data").expect("wasmtime form");
        assert_eq!(
            (v.host, v.guest.as_str()),
            (PathBuf::from("/srv/data"), "/data")
        );

        let v = volume("rel:/x").expect("relative host");
        assert!(v.host.is_absolute());
        assert!(v.host.ends_with("rel"));

        assert_eq!(volume("/a:.").expect("dot").guest, ".");
    }

    #[test]
    fn volume_errors_name_the_problem() {
        for (spec, why) in [
            ("", "empty"),
            (":/data", "host path is empty"),
            ("/a:", "guest path is empty"),
            ("/a:/b:rx", "unknown mode"),
            ("/a:/b:ro:extra", "expected HOST:GUEST"),
            ("/a:data", "must be absolute"),
            ("/a:/data/../etc", "must not contain '..'"),
        ] {
            let err = volume(spec).expect_err(spec).to_string();
            assert!(err.contains(why), "{spec:?}: {err}");
            assert!(err.contains("invalid volume"), "{err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration("500ms").expect("ms"), Duration::from_millis(500));
        assert_eq!(duration("2s").expect("s"), Duration::from_secs(2));
        assert_eq!(duration("1m").expect("m"), Duration::from_secs(60));
        assert_eq!(duration("1h").expect("h"), Duration::from_secs(3600));
        assert_eq!(duration("1m30s").expect("m s"), Duration::from_secs(90));
        assert_eq!(duration("1.5s").expect("frac"), Duration::from_millis(1500));
        assert_eq!(duration("3").expect("bare"), Duration::from_secs(3));
        assert_eq!(duration("8760h").expect("a year"), MAX_DURATION);
        for bad in [
            "",
            "abc",
            "5x",
            "ms",
            "-1s",
            "-2",
            "0",
            "0s",
            "1e400",
            "s5",
            "8761h",
            "18000000000000000000s18000000000000000000s",
        ] {
            let err = duration(bad).expect_err(bad).to_string();
            assert!(err.contains("invalid duration"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn env_flags() {
        assert_eq!(
            env_flag("A=b=c", no_host).expect("kv"),
            Some(("A".into(), "b=c".into()))
        );
        assert_eq!(
            env_flag("A=", no_host).expect("empty"),
            Some(("A".into(), "".into()))
        );
        assert_eq!(env_flag("UNSET", no_host).expect("bare unset"), None);
        assert_eq!(
            env_flag("HOSTVAR", |k| (k == "HOSTVAR").then(|| "v".to_string())).expect("bare"),
            Some(("HOSTVAR".into(), "v".into()))
        );
        assert!(env_flag("=x", no_host).is_err());
        assert!(env_flag("A B=x", no_host).is_err());
    }

    #[test]
    fn env_files() {
        let vars = env_file("# comment\n\nA=1\n  B=two words\r\nC=\"q\"\n", no_host).expect("file");
        assert_eq!(
            vars,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "\"q\"".into())
            ]
        );
        let err = env_file("A=1\n=oops\n", no_host).expect_err("bad line");
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }
}
