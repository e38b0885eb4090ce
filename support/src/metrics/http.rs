//! The HTTP server's metrics: `http_server_requests_total{method,route,status}`
//! and `http_server_request_duration_seconds{method,route}`, recorded by
//! [`track`], a middleware both services put around their routes.

use std::{
    collections::HashMap,
    sync::{PoisonError, RwLock},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

use super::{Metrics, Name, OTHER};
use crate::db::stats::latency_histogram;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Name,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: Name,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The families and the interned route templates.
pub(crate) struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Histograms<RouteLabels>,
    /// Route templates seen so far, each interned once: the templates are
    /// the router's, a closed set, so this stays as small as the router.
    routes: RwLock<HashMap<Box<str>, Name>>,
    other: Name,
}

impl HttpMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let requests = Family::default();
        registry.register(
            "http_server_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let duration = Histograms::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_server_request_duration_seconds",
            "Time from a request's arrival to its response's head, by method and route template",
            duration.clone(),
        );
        Self {
            requests,
            duration,
            routes: RwLock::default(),
            other: Name::new(OTHER),
        }
    }

    /// The label of `route` (a matched template, or none: `other`).
    fn route(&self, route: Option<&MatchedPath>) -> Name {
        let Some(route) = route else {
            return self.other.clone();
        };
        let route = route.as_str();
        if let Some(name) = self
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
        {
            return name.clone();
        }
        self.routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(route.into())
            .or_insert_with(|| Name::new(route))
            .clone()
    }

    fn record(&self, method: &'static str, route: Name, status: u16, seconds: f64) {
        self.duration
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }
}

/// Records every request's method, route template, status and latency
/// (`axum::middleware::from_fn_with_state(metrics, track)`, applied with
/// `Router::layer`, so that each route's template is known). Labels come
/// from closed sets: the nine standard methods or `other`, the matched
/// route template or `other`.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = metrics
        .http()
        .route(request.extensions().get::<MatchedPath>());
    let response = next.run(request).await;
    metrics.http().record(
        method,
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The method as a label: one of the nine standard methods, else `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => OTHER,
    }
}
