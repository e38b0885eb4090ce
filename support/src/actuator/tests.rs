use std::time::Duration;

use serde_json::{Value, json};
use sqlx::migrate::Migrator;

use super::{Actuator, Component, Info, Status};
use crate::{
    db::{Db, Migrations},
    service::Running,
};

/// Longest a test waits for a state to change: a probe's interval and
/// timeout, and room for a loaded machine.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// A SQLite database in `dir`, with no tables.
pub(crate) async fn sqlite(dir: &tempfile::TempDir) -> Db {
    let url = format!("sqlite://{}", dir.path().join("ready.db").display());
    let none = Migrations {
        sqlite: Migrator::DEFAULT,
        postgres: Migrator::DEFAULT,
    };
    Db::connect(&url, &none).await.expect("SQLite opens")
}

/// Waits until `condition` holds, failing the test after [`PATIENCE`].
/// (`crate::testing` has this for the services' tests, behind a feature.)
pub(crate) async fn poll(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let polling = async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(PATIENCE, polling)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {PATIENCE:?}"));
}

#[test]
fn urls_are_shown_without_credentials() {
    use super::without_credentials as shown;
    assert_eq!(
        shown("http://user:secret@inventory:9091"),
        "http://inventory:9091"
    );
    assert_eq!(shown("http://127.0.0.1:9091/"), "http://127.0.0.1:9091");
    assert_eq!(
        shown("postgres://u:p@db:5432/orders?password=p"),
        "postgres://db:5432/orders"
    );
    assert_eq!(shown("not a url"), "invalid URL");
}

#[test]
fn aggregates_in_spring_s_order() {
    use Status::*;
    assert_eq!(Status::aggregate([]), Unknown);
    assert_eq!(Status::aggregate([Unknown, Up]), Up);
    assert_eq!(Status::aggregate([Up, OutOfService, Unknown]), OutOfService);
    assert_eq!(Status::aggregate([OutOfService, Down, Up]), Down);
    assert_eq!(Down.http(), 503);
    assert_eq!(OutOfService.http(), 503);
    assert_eq!(Up.http(), 200);
    assert_eq!(Unknown.http(), 200);
    assert_eq!(
        serde_json::to_value([Up, Down, OutOfService, Unknown]).expect("serialises"),
        json!(["UP", "DOWN", "OUT_OF_SERVICE", "UNKNOWN"])
    );
}

#[tokio::test]
async fn health_has_spring_s_components_and_the_service_s_own() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = sqlite(&dir).await;
    let running = Running::new(db.clone());
    let down: super::Check = std::sync::Arc::new(|| {
        Box::pin(async { Component::status(Status::Down).with("why", "a test") })
    });
    let actuator = Actuator::new(
        db,
        running.readiness(),
        Info::new("svc", "1.2.3", "sqlite"),
        vec![("other", down)],
    );
    let health = serde_json::to_value(actuator.health().await).expect("serialises");
    let components = health["components"].as_object().expect("components");
    let names: Vec<&str> = components.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "db",
            "diskSpace",
            "livenessState",
            "other",
            "ping",
            "readinessState"
        ]
    );
    assert_eq!(
        health["components"]["db"],
        json!({"status": "UP", "details": {
            "database": "SQLite", "validationQuery": "SELECT 1", "writable": true,
        }})
    );
    assert_eq!(
        health["components"]["diskSpace"]["details"]["path"],
        dir.path().display().to_string()
    );
    assert_eq!(health["components"]["ping"], json!({"status": "UP"}));
    assert_eq!(
        health["components"]["readinessState"],
        json!({"status": "UP"})
    );
    assert_eq!(health["components"]["other"]["details"]["why"], "a test");
    assert_eq!(health["status"], "DOWN", "{health}");

    running.draining().cancel();
    poll("readinessState OUT_OF_SERVICE", async || {
        let health = serde_json::to_value(actuator.health().await).expect("serialises");
        health["components"]["readinessState"] == json!({"status": "OUT_OF_SERVICE"})
    })
    .await;
    running.stop().await.expect("stops");
}

#[test]
fn info_says_what_was_built_and_nothing_else() {
    let info = serde_json::to_value(Info::new("svc", "1.2.3", "postgresql")).expect("serialises");
    let commit = info["git"]["commit"]["id"].as_str().expect("a commit id");
    assert!(!commit.is_empty());
    let time = info["build"]["time"].as_str().expect("a build time");
    assert!(humantime::parse_rfc3339(time).is_ok(), "{time}");
    assert_eq!(
        info,
        json!({
            "build": {"name": "svc", "artifact": "svc", "version": "1.2.3", "time": time},
            "git": {"commit": {"id": commit}},
            "database": {"kind": "postgresql"},
        })
    );
    let _: Value = info;
}
