//! The runtime's own log: to `--log FILE` when given (callers read it when
//! a command fails), else stderr; as text, or as one JSON object per line
//! with `level`, `msg` and `time` (what runc writes and containerd and
//! Podman parse) with `--log-format json`. `--debug` logs debug lines too.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::args::{Global, LogFormat};

/// Sets up the log. Returns whether it goes to a file.
pub fn init(global: &Global) -> bool {
    let level = if global.debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::WARN
    };
    let file = global.log.as_ref().and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    });
    let to_file = file.is_some();
    let sink: Box<dyn std::io::Write + Send> = match file {
        Some(f) => Box::new(f),
        None => Box::new(std::io::stderr()),
    };
    let filter = tracing_subscriber::filter::LevelFilter::from_level(level);
    let result = match global.log_format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter)
            .with(JsonLines {
                sink: Mutex::new(sink),
            })
            .try_init(),
        LogFormat::Text => tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(Mutex::new(sink)),
            )
            .try_init(),
    };
    let _ = result;
    to_file
}

/// Writes each event as `{"level":..,"msg":..,"time":..}`.
struct JsonLines {
    sink: Mutex<Box<dyn std::io::Write + Send>>,
}

/// The event's message, then its other fields as `name=value`.
#[derive(Default)]
struct Message(String, String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.1, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.1, " {}={value}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for JsonLines {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut message = Message::default();
        event.record(&mut message);
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        let line = serde_json::json!({
            "level": level,
            "msg": format!("{}{}", message.0, message.1),
            "time": crate::create::now_rfc3339(),
        });
        if let Ok(mut sink) = self.sink.lock() {
            let _ = writeln!(sink, "{line}");
        }
    }
}
