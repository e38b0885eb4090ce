//! Span export over OTLP/gRPC with the OpenTelemetry SDK: spans are queued
//! (bounded: the SDK drops what does not fit rather than grow or block)
//! and sent in batches from the SDK's own thread, so a slow or absent
//! collector never holds a request up.

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;

/// The tracer provider exporting to one collector.
#[derive(Debug)]
pub(super) struct Exporter {
    provider: SdkTracerProvider,
    endpoint: String,
    service: &'static str,
}

impl Exporter {
    /// Exports the spans of `service` to the collector at `endpoint`
    /// (`http://host:4317`). Needs a Tokio runtime: the gRPC channel's
    /// connection runs on it.
    pub(super) fn new(service: &'static str, endpoint: &str) -> anyhow::Result<Self> {
        let exporter = SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .context("OTLP exporter")?;
        // The environment's OTEL_SERVICE_NAME wins over the default name.
        let resource = if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
            Resource::builder().build()
        } else {
            Resource::builder().with_service_name(service).build()
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(Self {
            provider,
            endpoint: endpoint.to_owned(),
            service,
        })
    }

    /// Where spans go.
    pub(super) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans.
    pub(super) fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer(self.service))
            .with_location(false)
            .with_threads(false)
    }

    /// Flushes what is queued and stops. The SDK blocks its caller for
    /// that, so it runs off the async threads.
    pub(super) async fn shutdown(self) {
        let provider = self.provider;
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "flushing traces at exit");
        }
    }
}
