//! Which text format a scrape gets. Prometheus asks for OpenMetrics first
//! (`application/openmetrics-text;version=1.0.0;q=0.5,…,text/plain;version=0.0.4;q=0.3,*/*;q=0.2`);
//! `curl` and older scrapers ask for anything and get the classic format,
//! which is what most tools read. Each body is encoded by prometheus-client
//! for the format its content type claims: OpenMetrics with `# EOF` and
//! counters declared without `_total`; the classic 0.0.4 text with
//! `# TYPE x_total counter`, no `# EOF`, `# UNIT` or exemplars.

use axum::http::{HeaderValue, header::GetAll};
use prometheus_client::{encoding, registry::Registry};

/// The two text formats a scrape can get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0.0 text.
    OpenMetrics,
    /// The classic Prometheus text format, version 0.0.4.
    Text,
}

/// OpenMetrics' media type, as the `Accept` header names it.
const OPENMETRICS: &str = "application/openmetrics-text";

impl Format {
    /// The format `accept` (every `Accept` header of a request) prefers:
    /// OpenMetrics when it is acceptable (q > 0) and weighs at least as
    /// much as the classic text, else the classic text (also when `Accept`
    /// is missing or names neither).
    pub fn negotiate(accept: GetAll<'_, HeaderValue>) -> Self {
        let (mut openmetrics, mut text) = (0.0_f32, 0.0_f32);
        let ranges = accept
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        for range in ranges {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let q = parts
                .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if media.eq_ignore_ascii_case(OPENMETRICS) {
                openmetrics = openmetrics.max(q);
            } else if ["text/plain", "text/*", "*/*"]
                .iter()
                .any(|m| media.eq_ignore_ascii_case(m))
            {
                text = text.max(q);
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Self::OpenMetrics
        } else {
            Self::Text
        }
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Text => encoding::prometheus_text::CONTENT_TYPE,
        }
    }

    /// Every metric of `registry` in this format.
    pub fn encode(self, registry: &Registry) -> String {
        let mut out = String::with_capacity(ENCODED_CAPACITY);
        // Writing into a String cannot fail; a collector's own error
        // leaves a truncated body, which the scraper reports.
        let written = match self {
            Self::OpenMetrics => encoding::text::encode(&mut out, registry),
            Self::Text => encoding::prometheus_text::encode(&mut out, registry),
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot encode the metrics");
        }
        out
    }
}

/// A body's usual size (about 30 KiB with a few dozen routes), reserved at
/// once rather than grown by doubling.
const ENCODED_CAPACITY: usize = 32 * 1024;
