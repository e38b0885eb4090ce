//! Spring Boot Actuator's health and info on inventory-service, its
//! `/health/live` and `/health/ready`, GET/HEAD only, and nothing secret
//! in `/actuator/info`.

use serde_json::{Value, json};
use support::testing::Backend;

use crate::common::TestInventory;

/// A token and a database password the test sets; neither may show.
const TOKEN: &str = "t0ken-never-shown";
const PASSWORD: &str = "pa55word-never-shown";

/// `url` with a password for its user, on PostgreSQL (the test server
/// trusts local users, so it connects all the same).
fn with_password(url: &str) -> String {
    match url.strip_prefix("postgres://") {
        Some(rest) => match rest.split_once('@') {
            Some((user, host)) => format!("postgres://{user}:{PASSWORD}@{host}"),
            None => format!("postgres://postgres:{PASSWORD}@{rest}"),
        },
        None => url.to_owned(),
    }
}

async fn get(inventory: &TestInventory, path: &str) -> (u16, Value) {
    let url = format!("{}{path}", inventory.base_url);
    let response = inventory.http.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/json");
    (status, response.json().await.unwrap())
}

async fn actuator_answers_as_spring_boot_does(backend: Backend) {
    let inventory = TestInventory::spawn_with(backend, |c| {
        c.inventory_token = Some(TOKEN.into());
        c.database_url = with_password(&c.database_url);
    })
    .await;
    let (status, health) = get(&inventory, "/actuator/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "UP");
    let components = health["components"].as_object().unwrap();
    let mut expected = vec!["db", "livenessState", "ping", "readinessState"];
    if backend == Backend::Sqlite {
        expected.insert(1, "diskSpace");
    }
    assert_eq!(
        components.keys().map(String::as_str).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(health["components"]["db"]["status"], "UP");
    assert_eq!(
        health["components"]["readinessState"],
        json!({"status": "UP"})
    );
    for group in ["liveness", "readiness"] {
        let path = format!("/actuator/health/{group}");
        assert_eq!(get(&inventory, &path).await, (200, json!({"status": "UP"})));
    }
    assert_eq!(
        get(&inventory, "/health/live").await,
        (200, json!({"status": "UP"}))
    );
    assert_eq!(
        get(&inventory, "/health/ready").await,
        (200, json!({"status": "UP", "database": "UP"}))
    );
    let url = |path: &str| format!("{}{path}", inventory.base_url);
    let head = inventory.http.head(url("/actuator/info")).send().await;
    assert_eq!(head.unwrap().status(), 200);
    let post = inventory.http.post(url("/actuator/health")).send().await;
    let post = post.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET,HEAD");
    assert!(post.json::<Value>().await.unwrap()["message"].is_string());

    let info_text = inventory.http.get(url("/actuator/info")).send().await;
    let info_text = info_text.unwrap().text().await.unwrap();
    let database_url = with_password(&inventory.db.url);
    for secret in [TOKEN, PASSWORD, database_url.as_str()] {
        assert!(!info_text.contains(secret), "{secret} in {info_text}");
    }
    let info: Value = serde_json::from_str(&info_text).unwrap();
    assert_eq!(info["build"]["name"], "inventory-service");
    assert_eq!(info["build"]["version"], env!("CARGO_PKG_VERSION"));
    let kind = if backend == Backend::Sqlite {
        "sqlite"
    } else {
        "postgresql"
    };
    assert_eq!(info["database"], json!({"kind": kind}));
    inventory.stop().await;
}

support::both_backends!(actuator_answers_as_spring_boot_does);
