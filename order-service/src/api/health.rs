//! Health (Spring Boot Actuator's paths are
//! `support::actuator`'s, with order-service's `inventory` component from
//! here).
//! - `/health/live`: the process answers (for restart decisions).
//! - `/health/ready`: the database and inventory both answer, and the
//!   database takes writes (for traffic).
//! - `/health`: both, with the state of each part, 200 unless the database
//!   is down (without inventory, orders fail fast but reads still work).
//!
//! The database is down when it does not answer a ping, or when its
//! storage refused the last write (disk full, I/O error) and none has gone
//! through since: a ping is a read, and reads work on a full disk.

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde::Serialize;
use utoipa::{
    ToResponse, ToSchema,
    openapi::{self, ContentBuilder, Ref, RefOr, schema::OneOfBuilder},
};

use support::actuator::{Check, Component, Status, without_credentials};

use super::{AppState, docs};
use crate::inventory::Inventory;

/// The state of the service or of one part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(super) enum HealthState {
    /// Answers.
    Up,
    /// Serves reads, but orders fail (inventory is down); `/health` only.
    Degraded,
    /// Does not answer, or (the database) refuses writes.
    Down,
}

impl HealthState {
    fn from(ok: bool) -> Self {
        if ok { Self::Up } else { Self::Down }
    }
}

/// `/health` and `/health/ready`: the whole and its parts.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Health {
    /// `UP`; `DEGRADED` (on `/health`) when only inventory is down; `DOWN`.
    status: HealthState,
    /// The orders database: `DOWN` when it does not answer or refuses
    /// writes.
    database: HealthState,
    /// inventory-service, over gRPC.
    inventory: HealthState,
}

/// `/health/live`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Live {
    /// Always `UP`.
    status: HealthState,
}

/// The 503 of `/health` and `/health/ready`: their own answer saying what
/// is down, or the connection cap's error.
struct NotReady;

impl<'s> ToResponse<'s> for NotReady {
    fn response() -> (&'s str, RefOr<openapi::Response>) {
        let body = OneOfBuilder::new()
            .item(Ref::from_schema_name("Health"))
            .item(Ref::from_schema_name("Error"));
        let response = openapi::ResponseBuilder::new()
            .description(
                "What is down (a `Health`), or too many connections (an `Error`, with \
                 `Retry-After`).",
            )
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(body)).build(),
            )
            .header("Retry-After", docs::retry_after(false))
            .build();
        ("NotReady", response.into())
    }
}

async fn probe(app: &AppState) -> (bool, bool) {
    let (db, inventory) = tokio::join!(app.orders.ping(), app.inventory.ping());
    (db, inventory)
}

/// The `inventory` component of `/actuator/health`: `UP` when inventory's
/// gRPC health service says SERVING, asked on each request; its details
/// say where inventory is, without credentials. Not part of readiness:
/// every replica shares the one inventory, so its outage would take them
/// all out of the load balancer, and with them the page and the reads that
/// still work (orders fail fast with 503 meanwhile).
pub(crate) fn inventory_component(inventory: Inventory, url: &str) -> Check {
    let url = without_credentials(url);
    std::sync::Arc::new(move || {
        let inventory = inventory.clone();
        let url = url.clone();
        Box::pin(async move {
            Component::status(Status::up_if(inventory.ping().await)).with("url", url)
        })
    })
}

/// Liveness and readiness in one answer.
#[utoipa::path(
    get, path = "/health", tag = "health", operation_id = "health",
    summary = "Liveness and readiness, part by part",
    description = "200 unless the database is down (does not answer, or refuses writes: disk \
        full): without inventory, orders fail fast but reads still work (`DEGRADED`).",
    responses(
        (status = 200, description = "The database answers and takes writes; `status` is `DEGRADED` when inventory does not answer.", body = Health),
        (status = 503, response = inline(NotReady)),
    )
)]
pub(super) async fn health(State(app): State<AppState>) -> impl IntoResponse {
    let (db, inventory) = probe(&app).await;
    let status = match (db, inventory) {
        (true, true) => HealthState::Up,
        (true, false) => HealthState::Degraded,
        _ => HealthState::Down,
    };
    let code = if db {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Health {
        status,
        database: HealthState::from(db),
        inventory: HealthState::from(inventory),
    };
    (code, Json(body))
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
pub(super) async fn live() -> impl IntoResponse {
    Json(Live {
        status: HealthState::Up,
    })
}

/// 200 when the database and inventory answer and the database takes
/// writes, 503 otherwise.
#[utoipa::path(
    get, path = "/health/ready", tag = "health", operation_id = "ready",
    summary = "Readiness: the database and inventory answer, the database takes writes",
    responses(
        (status = 200, description = "The database and inventory answer, and the database takes writes.", body = Health),
        (status = 503, response = inline(NotReady)),
    )
)]
pub(super) async fn ready(State(app): State<AppState>) -> impl IntoResponse {
    let (db, inventory) = probe(&app).await;
    let code = if db && inventory {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Health {
        status: HealthState::from(db && inventory),
        database: HealthState::from(db),
        inventory: HealthState::from(inventory),
    };
    (code, Json(body))
}
