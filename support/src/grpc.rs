//! gRPC serving as both services do it: their service beside the standard
//! health service (see `health`) and server reflection over exactly
//! what is served, so `grpcurl list` works without proto files; every call
//! but those two runs in a span continuing the caller's trace.

use std::convert::Infallible;

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::{
    body::Body,
    server::NamedService,
    transport::{Server, server::TcpIncoming},
};
use tower::Service;

use crate::service::Running;

mod health;

/// Serves `service` on `listener` as one of `running`'s tasks until its
/// shutdown. `descriptor_set` is the encoded file descriptor set of the
/// service's proto, for reflection.
pub async fn spawn<S>(
    running: &mut Running,
    listener: TcpListener,
    service: S,
    descriptor_set: &'static [u8],
) -> anyhow::Result<()>
where
    S: Service<http::Request<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    let (reporter, health) = tonic_health::server::health_reporter();
    let follow =
        health::follow_writable::<S>(reporter, running.db().watch_writable(), running.shutdown())
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
    let stop = running.shutdown();
    running.spawn(async move {
        Server::builder()
            .layer(crate::telemetry::grpc::TraceLayer)
            .add_service(health)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(service)
            .serve_with_incoming_shutdown(
                // Accepted sockets do not inherit the builder's
                // `tcp_nodelay`; without it Nagle and delayed ACKs add
                // 40 ms to one call in a few hundred.
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                stop.cancelled_owned(),
            )
            .await
            .context("gRPC server")
    });
    Ok(())
}
