//! Prometheus metrics, one layer for both services: a registry per service
//! instance ([`Metrics`]; no global state, so tests run several servers in
//! one process), the families both services share (HTTP server, gRPC server
//! and client, process, database pool and statements, event logs), each
//! service's own families registered beside them ([`Builder::registry`]),
//! and the scrape itself ([`Metrics::scrape`]): `GET /metrics` and
//! `GET /actuator/prometheus`, OpenMetrics or the classic text format as the
//! scraper's `Accept` asks.
//!
//! Every label value comes from a closed set (standard methods, route
//! templates, the methods of the served protos, gRPC codes, fixed kinds):
//! no request can add a time series. Recording costs a hash lookup under a
//! read lock and no allocation: label values are `&'static str` or shared
//! [`Name`]s, interned once.
//!
//! What cannot be counted as it happens is read at scrape time: the process
//! (`/proc/self`) and the pools' sizes by collectors, the event logs' newest
//! and oldest rows by one query each, and whatever a service adds with
//! [`Builder::sample`].

pub(crate) mod db;
pub mod grpc;
pub mod http;
mod negotiate;
mod process;
mod routes;

use std::{fmt, sync::Arc};

use axum::{
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use futures::future::BoxFuture;
use prometheus_client::{
    encoding::{EncodeLabelValue, LabelValueEncoder},
    registry::Registry,
};

use crate::db::Db;

pub use negotiate::Format;
pub use routes::routes;

/// A label value shared by every series that carries it: a route template,
/// a gRPC service or method name. Cloning it is a reference count, not an
/// allocation.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Name(Arc<str>);

impl Name {
    /// `name` as a label value.
    pub fn new(name: &str) -> Self {
        Self(Arc::from(name))
    }

    /// The label value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl EncodeLabelValue for Name {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        EncodeLabelValue::encode(&&*self.0, encoder)
    }
}

/// The label value for anything outside a closed set (an unknown method,
/// path, gRPC service).
pub const OTHER: &str = "other";

/// How long a scrape waits for what it reads from the database. While the
/// database is down a query waits for the pool's acquire timeout (5 s);
/// a scrape that waited that long would run into Prometheus' own timeout
/// (10 s by default) and lose every metric just when they matter. After
/// this, the figures read before are served.
pub const SAMPLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Something read at scrape time that needs `await` (a query): a service's
/// gauges from its database, refreshed before they are encoded.
pub trait Sample: Send + Sync + 'static {
    /// Refreshes the gauges; failures leave the previous values (and are
    /// logged by the database handle, once per interval).
    fn sample(&self) -> BoxFuture<'_, ()>;
}

/// Every metric of one service instance. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    http: http::HttpMetrics,
    grpc_server: grpc::Calls,
    grpc_client: grpc::Calls,
    db: Db,
    samples: Vec<Box<dyn Sample>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Builds a [`Metrics`]: the shared families are registered; a service
/// adds its own and its samples, then [`Builder::build`].
pub struct Builder {
    registry: Registry,
    http: http::HttpMetrics,
    grpc_server: grpc::Calls,
    grpc_client: grpc::Calls,
    db: Db,
    samples: Vec<Box<dyn Sample>>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The shared families of a service whose database is `db`.
    pub fn builder(db: &Db) -> Builder {
        let mut registry = Registry::default();
        let http = http::HttpMetrics::register(&mut registry);
        let grpc_server = grpc::Calls::register(&mut registry, grpc::Side::Server);
        let grpc_client = grpc::Calls::register(&mut registry, grpc::Side::Client);
        registry.register_collector(Box::new(process::Process));
        registry.register_collector(Box::new(db::DbCollector::new(db.clone())));
        Builder {
            registry,
            http,
            grpc_server,
            grpc_client,
            db: db.clone(),
            samples: Vec::new(),
        }
    }

    /// The HTTP server's families (see [`http::track`]).
    pub(crate) fn http(&self) -> &http::HttpMetrics {
        &self.inner.http
    }

    /// A tower layer recording every call a gRPC server answers, its
    /// service and method named by `descriptor_sets` (the encoded file
    /// descriptor sets of what it serves; anything else is `other`).
    pub fn grpc_server_layer(&self, descriptor_sets: &[&[u8]]) -> grpc::GrpcLayer {
        grpc::GrpcLayer::new(self.inner.grpc_server.clone(), descriptor_sets)
    }

    /// `channel` recording every call made on it as a gRPC client, named
    /// by `descriptor_sets` as for [`Metrics::grpc_server_layer`].
    pub fn grpc_client<S>(&self, channel: S, descriptor_sets: &[&[u8]]) -> grpc::Metered<S> {
        tower::Layer::layer(&self.grpc_client_layer(descriptor_sets), channel)
    }

    fn grpc_client_layer(&self, descriptor_sets: &[&[u8]]) -> grpc::GrpcLayer {
        grpc::GrpcLayer::new(self.inner.grpc_client.clone(), descriptor_sets)
    }

    /// Refreshes what is read at scrape time (all at once, for at most
    /// [`SAMPLE_TIMEOUT`]), then encodes every metric in `format`.
    pub async fn render(&self, format: Format) -> String {
        let samples = futures::future::join(
            db::sample_event_logs(&self.inner.db),
            futures::future::join_all(self.inner.samples.iter().map(|s| s.sample())),
        );
        if tokio::time::timeout(SAMPLE_TIMEOUT, samples).await.is_err() {
            tracing::debug!("the database did not answer a scrape's queries in time");
        }
        format.encode(&self.inner.registry)
    }

    /// The answer to a scrape (`GET /metrics`, `GET /actuator/prometheus`):
    /// every metric, in the format the request's `Accept` prefers.
    pub async fn scrape(&self, headers: &HeaderMap) -> Response {
        let format = Format::negotiate(headers.get_all(header::ACCEPT));
        let body = self.render(format).await;
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(format.content_type()),
                ),
                // Caches must keep the two formats apart.
                (header::VARY, HeaderValue::from_static("accept")),
            ],
            body,
        )
            .into_response()
    }
}

impl Builder {
    /// The registry, for the service's own families (under its prefix:
    /// `registry().sub_registry_with_prefix("order_service")`).
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Runs `sample` before every scrape's encoding.
    pub fn sample(&mut self, sample: impl Sample) -> &mut Self {
        self.samples.push(Box::new(sample));
        self
    }

    /// The finished registry.
    pub fn build(self) -> Metrics {
        Metrics {
            inner: Arc::new(Inner {
                registry: self.registry,
                http: self.http,
                grpc_server: self.grpc_server,
                grpc_client: self.grpc_client,
                db: self.db,
                samples: self.samples,
            }),
        }
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests;
