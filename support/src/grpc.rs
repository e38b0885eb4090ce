//! gRPC serving as both services do it: their service beside the standard
//! health service (see `health`) and server reflection over exactly
//! what is served, so `grpcurl list` works without proto files; every call
//! but those two runs in a span continuing the caller's trace.
//!
//! Served under the same discipline as HTTP (`crate::http`, which serves
//! it): a connection cap shared fairly by client addresses (beyond it a
//! newcomer takes an idle connection's place, or is closed at once), the
//! HTTP/2 handshake within the header timeout, an idle timeout for
//! connections without streams, PINGs that find dead peers, and a cap on
//! streams per connection. tonic's own server has none of the first three:
//! ~1,130 silent sockets took a service offline (out of descriptors).

mod deadline;
mod health;

use std::{convert::Infallible, time::Duration};

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::{body::Body, server::NamedService, service::Routes};
use tower::{Service, ServiceBuilder};

use crate::{
    access_log::AccessLog,
    budget::Budget,
    http::{self, HttpLimits, Port, Protocol},
    metrics::Metrics,
    service::Running,
};

/// The gRPC limits of a service, from the environment or CLI flags
/// (flattened into each service's configuration). The handshake must
/// arrive within `HTTP_HEADER_TIMEOUT_MS`, and a request message within
/// `HTTP_BODY_TIMEOUT_MS`, as on the HTTP port.
#[derive(Clone, Debug, clap::Args)]
pub struct GrpcLimits {
    /// Open gRPC connections at most; beyond it a new connection takes an
    /// idle one's place or is closed at once. A client multiplexes its
    /// calls over one connection, so this is far more than real clients
    /// need (order-service opens one per replica).
    #[arg(long, env = "MAX_GRPC_CONNECTIONS", default_value_t = 1024)]
    pub max_grpc_connections: usize,
    /// Open gRPC connections one client address may hold: room for many
    /// replicas and tools on one host, an eighth of the cap.
    #[arg(long, env = "MAX_GRPC_CONNECTIONS_PER_CLIENT", default_value_t = 128)]
    pub max_grpc_connections_per_client: usize,
    /// How long a connection with no open stream is kept, in milliseconds,
    /// from its last stream's end. A client reconnects on its next call,
    /// so this only bounds what idle connections hold.
    #[arg(long, env = "GRPC_IDLE_TIMEOUT_MS", default_value_t = 300_000)]
    pub grpc_idle_timeout_ms: u64,
    /// Streams (calls) one connection may have open at once; a client
    /// queues calls beyond it (HTTP/2 flow control), it does not fail them.
    #[arg(long, env = "GRPC_MAX_CONCURRENT_STREAMS", default_value_t = 256)]
    pub grpc_max_concurrent_streams: u32,
    /// How often an HTTP/2 PING checks that a connection's peer is still
    /// there, in milliseconds: a vanished client's streams (a WatchStock)
    /// are ended instead of held until TCP gives up, after minutes.
    #[arg(long, env = "GRPC_KEEPALIVE_INTERVAL_MS", default_value_t = 30_000)]
    pub grpc_keepalive_interval_ms: u64,
    /// How long a PING's answer may take, in milliseconds, before the
    /// connection is closed.
    #[arg(long, env = "GRPC_KEEPALIVE_TIMEOUT_MS", default_value_t = 10_000)]
    pub grpc_keepalive_timeout_ms: u64,
}

/// Serves `service` on `listener` as one of `running`'s tasks until its
/// shutdown, under `http`'s timeouts and `grpc`'s limits, with a line per
/// call if `access` says so.
/// `descriptor_set` is the encoded file descriptor set of the service's
/// proto, for reflection and the names in `metrics`, which count every
/// call (health and reflection under their own names).
pub async fn spawn<S>(
    running: &mut Running,
    listener: TcpListener,
    service: S,
    descriptor_set: &'static [u8],
    (http, grpc, access): (&HttpLimits, &GrpcLimits, AccessLog),
    metrics: &Metrics,
) -> anyhow::Result<()>
where
    S: Service<::http::Request<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    let (reporter, health) = tonic_health::server::health_reporter();
    let follow = health::follow::<S>(
        reporter,
        running.readiness().subscribe(),
        running.shutdown(),
    )
    .await;
    running.spawn_background(follow);
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(descriptor_set)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
    };
    // grpcurl and older tools still ask v1alpha.
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let router = Routes::new(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .prepare()
        .into_axum_router()
        .layer(
            ServiceBuilder::new()
                // Outermost: calls refused by the deadline count too.
                .layer(metrics.grpc_server_layer(&[
                    descriptor_set,
                    tonic_health::pb::FILE_DESCRIPTOR_SET,
                    tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
                    tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                ]))
                .layer(crate::telemetry::grpc::TraceLayer)
                .layer(deadline::DeadlineLayer),
        );
    let router = access.grpc(router);
    let port = Port {
        protocol: Protocol::Grpc(http::Http2 {
            max_concurrent_streams: grpc.grpc_max_concurrent_streams,
            keepalive_interval: Duration::from_millis(grpc.grpc_keepalive_interval_ms),
            keepalive_timeout: Duration::from_millis(grpc.grpc_keepalive_timeout_ms),
        }),
        budget: Budget::new(
            grpc.max_grpc_connections,
            grpc.max_grpc_connections_per_client,
        ),
        header_timeout: http.header_timeout(),
        body_timeout: http.body_timeout(),
        idle_timeout: Duration::from_millis(grpc.grpc_idle_timeout_ms),
        proxies: http.trusted_proxies.clone(),
        socket: http::SocketOptions::default(),
    };
    let stop = running.stopping();
    running.spawn(async move {
        http::server::run(listener, router, port, stop)
            .await
            .context("gRPC server")
    });
    Ok(())
}
