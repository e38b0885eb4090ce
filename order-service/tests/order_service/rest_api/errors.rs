//! Every kind of JSON error, from each place that makes one (handlers,
//! extractors, the router's fallbacks, the page's files, the cross-site
//! guard), has Spring Boot's error body with the request's path. (Socket-
//! level answers, timeouts and the live transport's are checked in
//! `limits`.)

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use support::testing::{Backend, assert_spring_error};

use crate::common::TestSystem;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_error_has_springs_fields() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let order = sys.order("Laptop", 1).await;
    let id = order["id"].as_i64().unwrap();
    let cancel = format!("/orders/{id}/cancel");
    assert_eq!(
        sys.http
            .post(sys.url(&cancel))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let keyed = |body: Value| {
        sys.http
            .post(sys.url("/orders"))
            .header("idempotency-key", "errors-test")
            .json(&body)
    };
    keyed(json!({"product": "Phone", "quantity": 1}))
        .send()
        .await
        .unwrap();
    let request = |method: Method, path: &str| sys.http.request(method, sys.url(path));
    let cases: Vec<(&str, RequestBuilder, u16, &str)> = vec![
        (
            "unknown path",
            request(Method::GET, "/nothing/here?x=1"),
            404,
            "/nothing/here",
        ),
        (
            "unknown method",
            request(Method::DELETE, "/orders"),
            405,
            "/orders",
        ),
        (
            "bad id",
            request(Method::GET, "/orders/abc"),
            400,
            "/orders/abc",
        ),
        (
            "no such order",
            request(Method::GET, "/orders/99999"),
            404,
            "/orders/99999",
        ),
        (
            "bad query",
            request(Method::GET, "/orders?limit=0"),
            400,
            "/orders",
        ),
        (
            "not cancellable",
            request(Method::POST, &cancel),
            409,
            &cancel,
        ),
        (
            "malformed JSON",
            request(Method::POST, "/orders")
                .header("content-type", "application/json")
                .body("{"),
            400,
            "/orders",
        ),
        (
            "not JSON",
            request(Method::POST, "/orders")
                .header("content-type", "text/plain")
                .body("x"),
            415,
            "/orders",
        ),
        (
            "too large",
            request(Method::POST, "/orders")
                .header("content-type", "application/json")
                .body(vec![b' '; 64 * 1024]),
            413,
            "/orders",
        ),
        (
            "key reused",
            keyed(json!({"product": "Tablet", "quantity": 1})),
            422,
            "/orders",
        ),
        (
            "refused origin",
            request(Method::POST, "/orders")
                .header("origin", "http://elsewhere.example")
                .json(&json!({"product": "Laptop", "quantity": 1})),
            403,
            "/orders",
        ),
        (
            "a page file, posted",
            request(Method::POST, "/index.html"),
            405,
            "/index.html",
        ),
        (
            "a page file, out of range",
            request(Method::GET, "/index.html").header("range", "bytes=99999999-"),
            416,
            "/index.html",
        ),
    ];
    for (name, request, status, path) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{name}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, "application/json", "{name}");
        let body: Value = response.json().await.unwrap();
        assert_spring_error(&body, status, path);
    }
    sys.stop().await;
}
