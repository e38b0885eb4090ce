//! Swagger UI at springdoc's paths, from the running service: the page,
//! its files, the document it shows, and nothing else (the Chromium test,
//! `e2e/swagger.test.mjs`, renders it).

use reqwest::redirect::Policy;
use serde_json::Value;
use support::testing::{Backend, assert_spring_error, raw_request};

use crate::common::TestSystem;

const INDEX: &str = "/swagger-ui/index.html";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn springdocs_paths_serve_the_page_and_its_document() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let moved = http.get(sys.url("/swagger-ui.html")).send().await.unwrap();
    assert_eq!(moved.status(), 302);
    assert_eq!(moved.headers()["location"], INDEX);

    let page = http.get(sys.url(INDEX)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().await.unwrap().contains("swagger-ui-bundle.js"));
    let script = sys.get_text("/swagger-ui/swagger-initializer.js").await;
    assert!(script.contains(r#""url": "/v3/api-docs""#), "{script}");
    let (status, doc) = sys.get_json("/v3/api-docs").await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/products"]["get"].is_object());
    // The page is not an operation of the REST API.
    assert!(doc["paths"].get(INDEX).is_none());
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_under_the_page_reaches_another_file() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let addr = sys.orders.as_ref().unwrap().http_addr;
    for target in [
        "/swagger-ui/../Cargo.toml",
        "/swagger-ui/../../Cargo.toml",
        "/swagger-ui/%2e%2e/Cargo.toml",
        "/swagger-ui/..%2f..%2fCargo.toml",
        "/swagger-ui/%2fetc%2fpasswd",
        // The page's own file, one directory up.
        "/swagger-ui/../index.html",
    ] {
        let (status, head, body) = raw_request(addr, "GET", target).await;
        assert_eq!(status, 404, "{target}: {head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_spring_error(&body, 404, target);
    }
    let (status, head, body) = raw_request(addr, "POST", INDEX).await;
    assert_eq!(status, 405, "{head}");
    assert!(head.contains("allow: GET,HEAD"), "{head}");
    assert_spring_error(&serde_json::from_str(&body).unwrap(), 405, INDEX);
    sys.stop().await;
}
