//! `/health/live` and `/health/ready`, as order-service has them (same
//! shapes), beside the older `/health`.

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde::Serialize;
use support::actuator::{Actuator, Status};
use utoipa::ToSchema;

use super::{Health, HealthState, docs};

/// `/health/live`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Live {
    /// Always `UP`.
    status: HealthState,
}

/// 200 while the process serves requests.
#[utoipa::path(
    get, path = "/health/live", tag = "health", operation_id = "live",
    summary = "Liveness: the process serves requests",
    responses(
        (status = 200, description = "The process serves requests.", body = Live),
        (status = 503, response = docs::Unavailable),
    )
)]
pub(super) async fn live() -> Json<Live> {
    Json(Live {
        status: HealthState::Up,
    })
}

/// 200 when the service should get traffic: its readiness
/// (`support::actuator::Readiness`), which the gRPC health service reports
/// too.
#[utoipa::path(
    get, path = "/health/ready", tag = "health", operation_id = "ready",
    summary = "Readiness: the database answers and takes writes, the service is not stopping",
    description = "The same state as `/actuator/health/readiness` and the gRPC health \
        service: `DOWN` while the database does not answer (probed every second) or refuses \
        writes, and from the moment the service begins to stop.",
    responses(
        (status = 200, description = "The database answers and takes writes.", body = Health),
        (status = 503, response = inline(docs::NotReady)),
    )
)]
pub(super) async fn ready(State(actuator): State<Actuator>) -> impl IntoResponse {
    let state = actuator.readiness().state();
    let ready = state.status() == Status::Up;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Health {
        status: HealthState::from(ready),
        database: HealthState::from(state.db() == Status::Up),
    };
    (code, Json(body))
}
