//! Structured logs with `tracing`: `RUST_LOG` filters (default `info`),
//! `LOG_FORMAT=json` prints one JSON object per line for log collectors and
//! test harnesses, anything else prints human-readable lines.

use tracing_subscriber::{EnvFilter, fmt};

/// Log output format (`LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber. Safe to call more than once (tests):
/// later calls are ignored.
pub fn init(format: LogFormat) {
    let json = format == LogFormat::Json;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stdout);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
    // An error only means a subscriber is already installed.
    drop(result);
}
