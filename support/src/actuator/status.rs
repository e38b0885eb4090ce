//! Spring Boot Actuator's health statuses, its order of severity, and the
//! JSON of a health answer.

use std::collections::BTreeMap;

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// A health status, as Spring Boot names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(as = ActuatorHealthStatus)]
pub enum Status {
    /// Works.
    Up,
    /// Does not work (the database does not answer, or refuses writes).
    Down,
    /// Works, but takes no new work: the service is stopping.
    OutOfService,
    /// Nothing to say (the aggregate of no component).
    Unknown,
}

impl Status {
    /// Severity in Spring's default order (DOWN, OUT_OF_SERVICE, UP,
    /// UNKNOWN): an aggregate takes its most severe part's status.
    fn severity(self) -> u8 {
        match self {
            Self::Down => 3,
            Self::OutOfService => 2,
            Self::Up => 1,
            Self::Unknown => 0,
        }
    }

    /// The most severe of `statuses`, `UNKNOWN` if there is none: Spring's
    /// `SimpleStatusAggregator`.
    pub fn aggregate(statuses: impl IntoIterator<Item = Status>) -> Status {
        statuses
            .into_iter()
            .max_by_key(|s| s.severity())
            .unwrap_or(Self::Unknown)
    }

    /// The HTTP status Spring answers it with: 503 for DOWN and
    /// OUT_OF_SERVICE (a load balancer takes the instance out), else 200.
    pub fn http(self) -> StatusCode {
        match self {
            Self::Down | Self::OutOfService => StatusCode::SERVICE_UNAVAILABLE,
            Self::Up | Self::Unknown => StatusCode::OK,
        }
    }

    /// `UP` when `ok`, else `DOWN`.
    pub fn up_if(ok: bool) -> Status {
        if ok { Self::Up } else { Self::Down }
    }
}

/// One component of `/actuator/health`: its status and what it saw.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ActuatorComponent)]
pub struct Component {
    /// The component's status.
    pub status: Status,
    /// What the component saw (its fields differ per component); absent
    /// when it has nothing to say.
    #[serde(skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
}

impl Component {
    /// A component with no details.
    pub fn status(status: Status) -> Self {
        Self {
            status,
            details: Map::new(),
        }
    }

    /// Adds a detail.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// `/actuator/health`: the aggregate status and every component, by name
/// (sorted, as Spring lists them).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ActuatorHealth)]
pub struct Health {
    /// The most severe of the components' statuses.
    pub status: Status,
    /// Every component.
    pub components: BTreeMap<String, Component>,
}

impl Health {
    /// The aggregate of `components`.
    pub fn of(components: BTreeMap<String, Component>) -> Self {
        Self {
            status: Status::aggregate(components.values().map(|c| c.status)),
            components,
        }
    }
}

impl IntoResponse for Health {
    fn into_response(self) -> Response {
        (self.status.http(), Json(self)).into_response()
    }
}

/// A health group's answer (`/actuator/health/liveness`, `…/readiness`):
/// the status alone, as Spring shows a group by default.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ActuatorStatus)]
pub struct Group {
    /// The group's status.
    pub status: Status,
}

impl IntoResponse for Group {
    fn into_response(self) -> Response {
        (self.status.http(), Json(self)).into_response()
    }
}
