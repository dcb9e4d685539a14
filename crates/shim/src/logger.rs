//! The shim log: `log` records (the `containerd-shim` crate's, and this
//! crate's `tracing` events through tracing's `log` feature) written to the
//! `log` FIFO in the bundle, which containerd copies into its own log.
//!
//! This replaces the crate's logger, which formats a record straight into
//! the unbuffered FIFO: a write(2) for every piece of a line (about twenty),
//! each waking containerd's reader. Here a line is formatted in memory and
//! written whole, in the crate's format (`time="…" level=… msg="…"`).
//!
//! Levels follow the crate: `RUST_LOG` (a level name) or `info`, raised to
//! `debug` when containerd passes `-debug`. Other crates' records (wasmtime
//! and WASI open an info span for every host call a guest makes) are kept
//! from `debug` up only; below that, only their warnings and errors, so a
//! guest's system calls do not each become a line in containerd's log.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::str::FromStr;
use std::sync::Mutex;

use log::{Level, LevelFilter, Metadata, Record};

/// Target prefixes of the records logged at the shim's own level.
const OWN_TARGETS: &[&str] = &["wasmpod", "containerd_shim"];

struct FifoLogger {
    fifo: Mutex<File>,
    /// For this crate, the engine and the containerd-shim crate.
    own: LevelFilter,
    /// For everything else.
    others: LevelFilter,
}

/// Opens the `log` FIFO in the current folder (the bundle) and installs the
/// logger. `debug` is containerd's `-debug` flag; `default_level` is used
/// when `RUST_LOG` names no level.
pub fn init(debug: bool, default_level: &str) -> std::io::Result<()> {
    let fifo = OpenOptions::new().write(true).open("log")?;
    let own = level(
        std::env::var("RUST_LOG").ok().as_deref(),
        default_level,
        debug,
    );
    log::set_boxed_logger(Box::new(FifoLogger::new(fifo, own))).map_err(std::io::Error::other)?;
    log::set_max_level(own);
    Ok(())
}

/// The shim's own level: the one `env` (or else `default`) names, `info` if
/// that is no level name, and at least `debug` when `debug` is set.
fn level(env: Option<&str>, default: &str, debug: bool) -> LevelFilter {
    let level = LevelFilter::from_str(env.unwrap_or(default)).unwrap_or(LevelFilter::Info);
    if debug {
        level.max(LevelFilter::Debug)
    } else {
        level
    }
}

impl FifoLogger {
    fn new(fifo: File, own: LevelFilter) -> Self {
        let others = if own >= LevelFilter::Debug {
            own
        } else {
            own.min(LevelFilter::Warn)
        };
        Self {
            fifo: Mutex::new(fifo),
            own,
            others,
        }
    }

    fn level_for(&self, target: &str) -> LevelFilter {
        if OWN_TARGETS.iter().any(|p| target.starts_with(p)) {
            self.own
        } else {
            self.others
        }
    }
}

impl log::Log for FifoLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level_for(metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(record, &timestamp());
        // containerd may be restarting and have the FIFO closed: a lost line
        // is better than a failed call.
        if let Ok(mut fifo) = self.fifo.lock() {
            let _ = fifo.write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

/// One record in the crate's format, key-value pairs before the message,
/// followed by an empty line as the crate's are.
fn format_line(record: &Record<'_>, time: &str) -> String {
    struct Pairs<'a>(&'a mut String);
    impl<'kvs> log::kv::VisitSource<'kvs> for Pairs<'_> {
        fn visit_pair(
            &mut self,
            key: log::kv::Key<'kvs>,
            value: log::kv::Value<'kvs>,
        ) -> Result<(), log::kv::Error> {
            write!(self.0, " {key}={}", quoted(&value.to_string()))
                .map_err(|_| log::kv::Error::msg("format"))
        }
    }
    let mut line = String::with_capacity(128);
    let _ = write!(line, "time=\"{time}\" level={}", level_name(record.level()));
    let _ = record.key_values().visit(&mut Pairs(&mut line));
    let _ = write!(line, " msg={}\n\n", quoted(&record.args().to_string()));
    line
}

/// `text` as one quoted logfmt value, escaped as logrus escapes it: a
/// message can carry what an image's author wrote (a trap's function
/// names come from the module's name section), and must not forge a
/// line of containerd's log.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warn",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_follows_rust_log_then_default_and_debug_raises_it() {
        assert_eq!(level(None, "info", false), LevelFilter::Info);
        assert_eq!(level(Some("warn"), "info", false), LevelFilter::Warn);
        assert_eq!(level(Some("nonsense"), "info", false), LevelFilter::Info);
        assert_eq!(level(None, "info", true), LevelFilter::Debug);
        assert_eq!(level(Some("trace"), "info", true), LevelFilter::Trace);
    }

    #[test]
    fn a_line_is_the_crates_format() {
        let pairs = [("id", "c1")];
        let record = Record::builder()
            .level(Level::Warn)
            .target("wasmpod_shim::task")
            .args(format_args!("guest trapped"))
            .key_values(&pairs)
            .build();
        assert_eq!(
            format_line(&record, "2026-01-02T03:04:05Z"),
            "time=\"2026-01-02T03:04:05Z\" level=warn id=\"c1\" msg=\"guest trapped\"\n\n"
        );
    }

    #[test]
    fn what_a_guest_names_cannot_forge_a_line() {
        let record = Record::builder()
            .level(Level::Warn)
            .args(format_args!(
                "trap in a\"\ntime=\"x\" level=info msg=\"forged"
            ))
            .build();
        let line = format_line(&record, "t");
        assert_eq!(line.trim_end_matches('\n').lines().count(), 1, "{line}");
        assert_eq!(
            line,
            "time=\"t\" level=warn msg=\"trap in a\\\"\\ntime=\\\"x\\\" level=info msg=\\\"forged\"\n\n"
        );
    }

    #[test]
    fn other_crates_are_quieter_below_debug() {
        use log::Log;
        let logger = |own| FifoLogger::new(File::open("/dev/null").expect("open /dev/null"), own);
        let meta = |level, target| Metadata::builder().level(level).target(target).build();
        let info = logger(LevelFilter::Info);
        assert!(info.enabled(&meta(Level::Info, "wasmpod_shim::task")));
        assert!(info.enabled(&meta(Level::Info, "wasmpod_engine::run")));
        assert!(info.enabled(&meta(Level::Info, "containerd_shim::asynchronous")));
        assert!(!info.enabled(&meta(Level::Info, "wasmtime_wasi::p1")));
        assert!(info.enabled(&meta(Level::Warn, "wasmtime_wasi::p1")));
        let debug = logger(LevelFilter::Debug);
        assert!(debug.enabled(&meta(Level::Info, "wasmtime_wasi::p1")));
        assert!(!debug.enabled(&meta(Level::Trace, "wasmtime_wasi::p1")));
        let error = logger(LevelFilter::Error);
        assert!(!error.enabled(&meta(Level::Warn, "wasmtime_wasi::p1")));
    }
}
