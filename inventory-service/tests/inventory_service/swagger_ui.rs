//! Swagger UI at springdoc's paths, and Spring's error body, from the
//! running service (the Chromium test, `e2e/swagger.test.mjs`, renders the
//! page).

use reqwest::redirect::Policy;
use serde_json::Value;
use support::testing::{Backend, assert_spring_error, raw_request};

use crate::common::TestInventory;

const INDEX: &str = "/swagger-ui/index.html";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn springdocs_paths_serve_the_page_and_nothing_else() {
    let inventory = TestInventory::spawn(Backend::Sqlite).await;
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let url = |path: &str| format!("{}{path}", inventory.base_url);
    let moved = http.get(url("/swagger-ui.html")).send().await.unwrap();
    assert_eq!(moved.status(), 302);
    assert_eq!(moved.headers()["location"], INDEX);
    let page = http.get(url(INDEX)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("swagger-ui-bundle.js"));
    let script = http
        .get(url("/swagger-ui/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert!(
        script
            .text()
            .await
            .unwrap()
            .contains(r#""url": "/v3/api-docs""#)
    );

    let addr = inventory.server.http_addr;
    for target in [
        "/swagger-ui/../Cargo.toml",
        "/swagger-ui/%2e%2e/Cargo.toml",
        "/swagger-ui/..%2fCargo.toml",
        "/swagger-ui/%2fetc%2fpasswd",
    ] {
        let (status, head, body) = raw_request(addr, "GET", target).await;
        assert_eq!(status, 404, "{target}: {head}");
        assert_spring_error(&serde_json::from_str(&body).unwrap(), 404, target);
    }
    let (status, head, body) = raw_request(addr, "POST", INDEX).await;
    assert_eq!(status, 405, "{head}");
    assert!(head.contains("allow: GET,HEAD"), "{head}");
    assert_spring_error(&serde_json::from_str(&body).unwrap(), 405, INDEX);
    inventory.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_springs_fields_with_the_path() {
    let inventory = TestInventory::spawn(Backend::Sqlite).await;
    let url = |path: &str| format!("{}{path}", inventory.base_url);
    let missing = inventory
        .http
        .get(url("/nothing?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "application/json");
    let body: Value = missing.json().await.unwrap();
    assert_spring_error(&body, 404, "/nothing");
    assert_eq!(body["message"], "Not found");
    let wrong = inventory
        .http
        .post(url("/inventory/products"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);
    let body: Value = wrong.json().await.unwrap();
    assert_spring_error(&body, 405, "/inventory/products");
    inventory.stop().await;
}
