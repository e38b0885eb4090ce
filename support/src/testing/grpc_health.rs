//! What a service's gRPC health service says, as a load balancer asks it.

use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// The status `health` reports for `service` (`""`: the whole server).
/// Panics if the call fails.
pub async fn grpc_health(health: &HealthClient<Channel>, service: &str) -> ServingStatus {
    let request = HealthCheckRequest {
        service: service.into(),
    };
    let answer = health
        .clone()
        .check(request)
        .await
        .expect("gRPC health check");
    answer.into_inner().status()
}
