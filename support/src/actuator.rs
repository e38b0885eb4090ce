//! Health and info as Spring Boot Actuator serves them, on both services'
//! HTTP ports, GET (and HEAD) only:
//!
//! - `/actuator/health`: every component (`db`, `diskSpace` on SQLite,
//!   `ping`, `livenessState`, `readinessState`, and the service's own, e.g.
//!   order-service's `inventory`), checked when asked, and their aggregate
//!   in Spring's order of severity (DOWN > OUT_OF_SERVICE > UP > UNKNOWN);
//!   503 when it is DOWN or OUT_OF_SERVICE.
//! - `/actuator/health/liveness`: `UP` while the process answers (Spring's
//!   liveness group: `livenessState` alone, which this service has no
//!   reason to call BROKEN).
//! - `/actuator/health/readiness`: Spring's readiness group with `db`
//!   added (`readinessState` + `db`, see [`Readiness`]), which the gRPC
//!   health service follows too.
//! - `/actuator/info`: name, version, commit, build time, database kind
//!   ([`Info`]).
//!
//! A service mounts [`routes`] on its router, whose state gives an
//! [`Actuator`] (`axum::extract::FromRef`), and lists the paths in its
//! OpenAPI document and untraced routes.

mod disk;
mod docs;
mod info;
mod readiness;
mod status;

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Json,
    extract::{FromRef, State},
};
use futures::future::BoxFuture;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use disk::{THRESHOLD_BYTES, disk_space};
pub use info::{GIT_COMMIT, Info};
pub use readiness::{PROBE_INTERVAL, PROBE_TIMEOUT, Readiness, State as ReadinessInputs};
pub use status::{Component, Group, Health, Status};

use crate::db::Db;

/// The paths served here, for the services' lists of untraced routes.
pub const PATHS: [&str; 4] = [
    "/actuator/health",
    "/actuator/health/liveness",
    "/actuator/health/readiness",
    "/actuator/info",
];

/// A component a service adds to `/actuator/health`: checked on each
/// request, as Spring runs its health indicators.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Component> + Send + Sync>;

/// What the actuator routes need; cheap to clone.
#[derive(Clone)]
pub struct Actuator(Arc<Inner>);

struct Inner {
    db: Db,
    readiness: Readiness,
    info: Info,
    components: Vec<(&'static str, Check)>,
}

impl std::fmt::Debug for Actuator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actuator")
            .field("readiness", &self.0.readiness.state())
            .field("info", &self.0.info)
            .finish_non_exhaustive()
    }
}

impl Actuator {
    /// The actuator of a service using `db`, with `readiness` (its
    /// `Running::readiness`), described by `info`, with the service's own
    /// `components` beside the shared ones.
    pub fn new(
        db: Db,
        readiness: Readiness,
        info: Info,
        components: Vec<(&'static str, Check)>,
    ) -> Self {
        Self(Arc::new(Inner {
            db,
            readiness,
            info,
            components,
        }))
    }

    /// The service's readiness.
    pub fn readiness(&self) -> &Readiness {
        &self.0.readiness
    }

    /// Every component, checked now (concurrently).
    pub async fn health(&self) -> Health {
        let inner = &self.0;
        let state = inner.readiness.state();
        let (db, extra) = tokio::join!(
            self.db(),
            futures::future::join_all(inner.components.iter().map(|(_, check)| check()))
        );
        let mut components = BTreeMap::from([
            ("db".to_owned(), db),
            ("ping".to_owned(), Component::status(Status::Up)),
            ("livenessState".to_owned(), Component::status(Status::Up)),
            (
                "readinessState".to_owned(),
                Component::status(state.readiness_state()),
            ),
        ]);
        if let Some(file) = inner.db.sqlite_file()
            && let Some(dir) = file.parent()
        {
            let dir = if dir.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                dir
            };
            // One statvfs, answered from the kernel's copy of the file
            // system's counters: not worth a blocking thread.
            components.insert("diskSpace".to_owned(), disk_space(dir));
        }
        for ((name, _), component) in inner.components.iter().zip(extra) {
            components.insert((*name).to_owned(), component);
        }
        Health::of(components)
    }

    /// The `db` component: answers `SELECT 1` (in time) and takes writes.
    /// Its answer counts for readiness too.
    async fn db(&self) -> Component {
        let inner = &self.0;
        let answers = readiness::probe_db(&inner.db).await;
        inner.readiness.db_answered(answers);
        let writable = inner.db.writable();
        let database = match inner.db.kind() {
            "sqlite" => "SQLite",
            _ => "PostgreSQL",
        };
        let component = Component::status(Status::up_if(answers && writable))
            .with("database", database)
            .with("validationQuery", "SELECT 1")
            .with("writable", writable);
        if answers {
            component
        } else {
            component.with(
                "error",
                format!("no answer to SELECT 1 within {PROBE_TIMEOUT:?}"),
            )
        }
    }
}

/// `url` without its user and password (`http://user:secret@host:9091/x`
/// → `http://host:9091/x`), for health details: a URL's credentials are
/// no one's business. `invalid URL` when it does not parse.
pub fn without_credentials(url: &str) -> String {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return "invalid URL".to_owned();
    };
    let mut shown = String::new();
    if let Some(scheme) = uri.scheme_str() {
        shown.push_str(scheme);
        shown.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        shown.push_str(authority.host());
        if let Some(port) = authority.port_u16() {
            shown.push_str(&format!(":{port}"));
        }
    }
    if let Some(path) = uri.path_and_query()
        && path.as_str() != "/"
    {
        shown.push_str(path.path());
    }
    shown
}

/// The actuator's routes, each with its OpenAPI description (tag
/// `actuator`), for a router whose state gives an [`Actuator`].
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Actuator: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(liveness))
        .routes(routes!(readiness))
        .routes(routes!(info))
}

/// Every component and their aggregate.
#[utoipa::path(
    get, path = "/actuator/health", tag = "actuator", operation_id = "actuatorHealth",
    summary = "Health, component by component (Spring Boot Actuator)",
    description = "Each component checked now: `db` (answers `SELECT 1` and takes writes), \
        `diskSpace` (SQLite: free space on the database's file system, `DOWN` under \
        `threshold`), `ping`, `livenessState`, `readinessState` (`OUT_OF_SERVICE` once the \
        service is stopping), and the service's own. The status is the most severe of \
        theirs (DOWN > OUT_OF_SERVICE > UP > UNKNOWN).",
    responses(
        (status = 200, description = "Every component is `UP`.", body = Health),
        (status = 503, response = inline(docs::HealthDown)),
    )
)]
async fn health(State(actuator): State<Actuator>) -> Health {
    actuator.health().await
}

/// `UP` while the process answers.
#[utoipa::path(
    get, path = "/actuator/health/liveness", tag = "actuator", operation_id = "actuatorLiveness",
    summary = "Liveness: the process answers (for restart decisions)",
    responses(
        (status = 200, description = "`UP`.", body = Group),
        (status = 503, response = inline(crate::openapi::Busy)),
    )
)]
async fn liveness() -> Group {
    Group { status: Status::Up }
}

/// Whether the service should get new work.
#[utoipa::path(
    get, path = "/actuator/health/readiness", tag = "actuator", operation_id = "actuatorReadiness",
    summary = "Readiness: send it traffic? (for load balancers)",
    description = "`UP`; `DOWN` while the database does not answer or refuses writes; \
        `OUT_OF_SERVICE` from the moment the service begins to stop. The database is \
        probed every second.",
    responses(
        (status = 200, description = "`UP`.", body = Group),
        (status = 503, response = inline(docs::NotReady)),
    )
)]
async fn readiness(State(actuator): State<Actuator>) -> Group {
    Group {
        status: actuator.readiness().state().status(),
    }
}

/// What was built, from which commit, when; the database kind.
#[utoipa::path(
    get, path = "/actuator/info", tag = "actuator", operation_id = "actuatorInfo",
    summary = "Build and runtime information (Spring Boot Actuator)",
    responses(
        (status = 200, description = "Name, version, build time, git commit, database kind.", body = Info),
        (status = 503, response = inline(crate::openapi::Busy)),
    )
)]
async fn info(State(actuator): State<Actuator>) -> Json<Info> {
    Json(actuator.0.info.clone())
}

#[cfg(test)]
pub(crate) mod tests;
