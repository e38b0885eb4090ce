//! Logs and traces, both through `tracing`.
//!
//! **Logs**: `RUST_LOG` filters (default `info`); `LOG_FORMAT=json` prints
//! one JSON object per line (the fields of the event and of every span it
//! happened in, on the top level), anything else human-readable lines.
//!
//! **Traces**: every request (REST or gRPC) runs in a root span that
//! continues the W3C `traceparent` it came with, or starts a trace; its
//! `trace_id` is a field of that span, so every log line of the request
//! carries it, and calls to other services carry the trace on (see
//! [`inject`]); the `tracestate` it came with is cut to W3C's limits, and
//! a call made for a batch of requests carries none of theirs
//! ([`grpc::inject_traceparent`]). Exporting is off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set: then spans go over OTLP/gRPC to that collector, with the inner
//! spans (flow steps, calls to inventory, database statements), which are
//! at DEBUG level so that, without an exporter, they are disabled at their
//! call sites (see [`crate::db_span!`] for the statements' spans, which are never
//! entered). The standard `OTEL_*` variables apply
//! (`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, …).

mod context;
pub mod grpc;
pub mod http;
mod otlp;
mod tracestate;

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Subscriber;
use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    filter::{FilterExt, Targets, filter_fn},
    fmt::writer::BoxMakeWriter,
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

pub use context::{current, extract, start_trace, trace_id};

/// The target of the spans that must exist whatever `RUST_LOG` says: the
/// roots of requests and the batches that work for them. Their `trace_id`
/// is what ties a log line to its trace.
pub const TRACE_TARGET: &str = "trace";

/// The span of one database statement or transaction, named `$name` (say
/// `"UPDATE orders"`) on the database `$system` ([`crate::db::Db::system`]).
/// Bind it first thing in the function that runs the statement
/// (`let _span = db_span!(…);`): it starts there and ends when dropped.
///
/// It is never entered, unlike `#[tracing::instrument]`'s spans: that
/// attribute wraps the function's future in another one, and moving a
/// statement's future (some kilobytes, both backends' code in one state
/// machine) into the wrapper costs a copy on every call, with the span
/// disabled too. A statement span has no child spans, and its parent is the
/// span current where it is created, so the trace is the same. DEBUG: it
/// exists only when exporting (see the module doc).
#[macro_export]
macro_rules! db_span {
    ($name:literal, $system:expr) => {
        ::tracing::debug_span!($name, otel.kind = "client", db.system.name = $system)
    };
}

/// Log output format (`LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// What to set up.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `service.name` of exported spans, unless `OTEL_SERVICE_NAME` is set.
    pub service: &'static str,
    /// How log lines look.
    pub format: LogFormat,
    /// Which log lines are written (`RUST_LOG`'s syntax; default `info`).
    pub log_filter: String,
    /// Where spans are exported (an OTLP/gRPC collector); `None`: nowhere.
    pub otlp_endpoint: Option<String>,
}

impl Settings {
    /// Logs in `format`, filtered by `RUST_LOG`; traces exported to `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) when set and not empty.
    pub fn from_env(service: &'static str, format: LogFormat) -> Self {
        let otlp_endpoint = [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()));
        Self {
            service,
            format,
            log_filter: std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            otlp_endpoint,
        }
    }
}

/// Whether spans go to an OpenTelemetry exporter (then trace and span ids
/// are OpenTelemetry's; otherwise [`context`]'s own).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (so worth their attributes and links).
pub(crate) fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The installed exporter, flushed by [`Telemetry::shutdown`].
#[must_use = "call shutdown() at exit, or spans still buffered are lost"]
#[derive(Debug, Default)]
pub struct Telemetry {
    exporter: Option<otlp::Exporter>,
}

impl Telemetry {
    /// Sends the spans still buffered and stops the exporter.
    pub async fn shutdown(self) {
        if let Some(exporter) = self.exporter {
            exporter.shutdown().await;
        }
    }
}

/// Installs the global subscriber: logs to stdout, and spans to the OTLP
/// collector if one is configured. Safe to call more than once (tests):
/// later calls change nothing.
pub fn init(settings: Settings) -> Telemetry {
    init_with_writer(settings, BoxMakeWriter::new(std::io::stdout))
}

/// [`init`], with log lines written to `writer` (tests read them).
pub fn init_with_writer(settings: Settings, writer: BoxMakeWriter) -> Telemetry {
    // Appended, so a request's root span exists (and its trace_id reaches
    // the log lines inside it) however quiet the filter is.
    let filter =
        EnvFilter::builder().parse_lossy(format!("{},{TRACE_TARGET}=info", settings.log_filter));
    let exporter = settings.otlp_endpoint.as_deref().and_then(|endpoint| {
        match otlp::Exporter::new(settings.service, endpoint) {
            Ok(exporter) => Some(exporter),
            Err(e) => {
                // Logs are not up yet: this is the only way to say it.
                eprintln!("tracing: cannot export to {endpoint}: {e:#}");
                None
            }
        }
    });
    let installed = match &exporter {
        // One global filter: cheaper on every span entered and every event
        // than a filter per layer, and nothing else needs one.
        None => Registry::default()
            .with(global_filter(&settings.log_filter, filter))
            .with(logs(settings.format, writer))
            .try_init(),
        // The exported inner spans must be visible to the log layer too: a
        // line logged inside one (by sqlx's SQLite worker thread, say, which
        // enters only the statement's span) would otherwise find no span it
        // knows, and no trace id.
        Some(exporter) => {
            let spans = filter_fn(|meta| {
                meta.is_span() && exported().would_enable(meta.target(), meta.level())
            });
            Registry::default()
                .with(logs(settings.format, writer).with_filter(filter.or(spans)))
                .with(exporter.layer().with_filter(exported()))
                .try_init()
        }
    }
    .is_ok();
    if !installed {
        // Someone else's subscriber is in place: ours would receive nothing.
        return Telemetry::default();
    }
    EXPORTING.store(exporter.is_some(), Ordering::Relaxed);
    if let Some(exporter) = &exporter {
        tracing::info!(endpoint = exporter.endpoint(), "exporting traces over OTLP");
    }
    Telemetry { exporter }
}

/// The filter of every span and event when nothing exports: `Targets` if
/// `log_filter` is a plain list of `target=level` (what `RUST_LOG` almost
/// always is), else `env` (an `EnvFilter`, for span and field directives).
/// `EnvFilter` takes a lock and keeps a per-thread stack on every span
/// entered, in case a directive names a span; with a request's spans
/// entered at each poll that was most of what tracing cost here.
fn global_filter(log_filter: &str, env: EnvFilter) -> Box<dyn Layer<Registry> + Send + Sync> {
    match log_filter.parse::<Targets>() {
        Ok(targets) => Box::new(targets.with_target(TRACE_TARGET, tracing::Level::INFO)),
        Err(_) => Box::new(env),
    }
}

/// The log layer: `format` to `writer`.
pub(crate) fn logs<S>(format: LogFormat, writer: BoxMakeWriter) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    match format {
        LogFormat::Json => json_subscriber::fmt::layer()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .flatten_span_list_on_top_level(true)
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_writer(writer).boxed(),
    }
}

/// What is exported: every span at INFO and above, and this workspace's
/// DEBUG spans (the inner steps of a request).
fn exported() -> Targets {
    Targets::new()
        .with_default(tracing::Level::INFO)
        .with_target("order_service", tracing::Level::DEBUG)
        .with_target("inventory_service", tracing::Level::DEBUG)
        .with_target("support", tracing::Level::DEBUG)
}
