//! Spring Boot Actuator's health and info on order-service: the shapes and
//! statuses Spring's users expect, GET/HEAD only, an inventory outage
//! shown in `/actuator/health` (503) but not in readiness, and nothing
//! secret in `/actuator/info`.

use serde_json::{Value, json};
use support::testing::Backend;

use crate::common::{TestSystem, wait_until};

/// A token and a database password the test sets; neither may show.
const TOKEN: &str = "t0ken-never-shown";
const PASSWORD: &str = "pa55word-never-shown";

/// Patience for a status to follow a change (a probe a second, a
/// health check per request).
const SHOWS_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

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

async fn get(sys: &TestSystem, path: &str) -> (u16, Value) {
    let response = sys.http.get(sys.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/json");
    (status, response.json().await.unwrap())
}

async fn actuator_answers_as_spring_boot_does(backend: Backend) {
    let sys = TestSystem::spawn_configured(
        backend,
        |inventory| inventory.inventory_token = Some(TOKEN.into()),
        |orders| {
            orders.inventory_token = Some(TOKEN.into());
            orders.database_url = with_password(&orders.database_url);
        },
    )
    .await;
    let (status, health) = get(&sys, "/actuator/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "UP");
    let components = health["components"].as_object().unwrap();
    let mut expected = vec!["db", "inventory", "livenessState", "ping", "readinessState"];
    if backend == Backend::Sqlite {
        expected.insert(1, "diskSpace");
    }
    assert_eq!(
        components.keys().map(String::as_str).collect::<Vec<_>>(),
        expected
    );
    let database = if backend == Backend::Sqlite {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    assert_eq!(
        health["components"]["db"],
        json!({"status": "UP", "details": {
            "database": database, "validationQuery": "SELECT 1", "writable": true,
        }})
    );
    assert_eq!(
        health["components"]["inventory"],
        json!({"status": "UP", "details": {"url": format!("http://{}", sys.proxy.addr)}})
    );
    if backend == Backend::Sqlite {
        let disk = &health["components"]["diskSpace"];
        assert_eq!(disk["details"]["threshold"], 10 * 1024 * 1024, "{disk}");
        assert_eq!(disk["details"]["exists"], true, "{disk}");
        assert!(disk["details"]["free"].as_u64().unwrap() > 0, "{disk}");
    }
    for group in ["liveness", "readiness"] {
        let path = format!("/actuator/health/{group}");
        assert_eq!(get(&sys, &path).await, (200, json!({"status": "UP"})));
    }
    // HEAD answers as GET, without a body; anything else is a JSON 405.
    let head = sys.http.head(sys.url("/actuator/health/readiness"));
    assert_eq!(head.send().await.unwrap().status(), 200);
    let post = sys
        .http
        .post(sys.url("/actuator/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET,HEAD");
    assert!(post.json::<Value>().await.unwrap()["message"].is_string());

    let info_text = sys
        .http
        .get(sys.url("/actuator/info"))
        .send()
        .await
        .unwrap();
    let info_text = info_text.text().await.unwrap();
    for secret in [TOKEN, PASSWORD, sys.order_config.database_url.as_str()] {
        assert!(!info_text.contains(secret), "{secret} in {info_text}");
    }
    let info: Value = serde_json::from_str(&info_text).unwrap();
    assert_eq!(info["build"]["name"], "order-service");
    assert_eq!(info["build"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(info["build"]["time"].is_string(), "{info}");
    assert!(info["git"]["commit"]["id"].is_string(), "{info}");
    let kind = if backend == Backend::Sqlite {
        "sqlite"
    } else {
        "postgresql"
    };
    assert_eq!(info["database"], json!({"kind": kind}));

    // Inventory away: the whole is DOWN (503), readiness stays UP (every
    // replica shares the one inventory; see docs/operations.md#health).
    sys.proxy.set_down(true);
    wait_until("inventory DOWN", SHOWS_WITHIN, async || {
        let (status, health) = get(&sys, "/actuator/health").await;
        status == 503
            && health["status"] == "DOWN"
            && health["components"]["inventory"]["status"] == "DOWN"
    })
    .await;
    assert_eq!(
        get(&sys, "/actuator/health/readiness").await,
        (200, json!({"status": "UP"}))
    );
    sys.proxy.set_down(false);
    wait_until("inventory UP again", SHOWS_WITHIN, async || {
        get(&sys, "/actuator/health").await.0 == 200
    })
    .await;
    sys.stop().await;
}

support::both_backends!(actuator_answers_as_spring_boot_does);
