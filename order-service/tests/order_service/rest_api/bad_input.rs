//! Input the API refuses: each a JSON error with the right status, and
//! nothing written.

use serde_json::Value;
use support::testing::Backend;

use crate::common::TestSystem;

async fn bad_input_is_refused_and_writes_nothing(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
    let cases: Vec<(&str, Option<&str>, Vec<u8>, u16)> = vec![
        (
            "malformed",
            Some("application/json"),
            b"{\"product\":".to_vec(),
            400,
        ),
        (
            "not an object",
            Some("application/json"),
            b"[1,2]".to_vec(),
            400,
        ),
        (
            "wrong type",
            Some("application/json"),
            br#"{"product":"Laptop","quantity":"2"}"#.to_vec(),
            400,
        ),
        (
            "fraction",
            Some("application/json"),
            br#"{"product":"Laptop","quantity":1.5}"#.to_vec(),
            400,
        ),
        (
            "huge number",
            Some("application/json"),
            br#"{"product":"Laptop","quantity":1e30}"#.to_vec(),
            400,
        ),
        (
            "product number",
            Some("application/json"),
            br#"{"product":5,"quantity":1}"#.to_vec(),
            400,
        ),
        (
            "missing product",
            Some("application/json"),
            br#"{"quantity":1}"#.to_vec(),
            400,
        ),
        (
            "empty product",
            Some("application/json"),
            br#"{"product":"","quantity":1}"#.to_vec(),
            400,
        ),
        (
            "missing quantity",
            Some("application/json"),
            br#"{"product":"Laptop"}"#.to_vec(),
            400,
        ),
        (
            "zero",
            Some("application/json"),
            br#"{"product":"Laptop","quantity":0}"#.to_vec(),
            400,
        ),
        (
            "negative",
            Some("application/json"),
            br#"{"product":"Laptop","quantity":-1}"#.to_vec(),
            400,
        ),
        (
            "absurd",
            Some("application/json"),
            br#"{"product":"Laptop","quantity":1000000}"#.to_vec(),
            400,
        ),
        ("empty body", Some("application/json"), Vec::new(), 400),
        (
            "text",
            Some("text/plain"),
            br#"{"product":"Laptop","quantity":1}"#.to_vec(),
            415,
        ),
        (
            "oversized",
            Some("application/json"),
            format!(r#"{{"product":"{}","quantity":1}}"#, "x".repeat(100_000)).into_bytes(),
            413,
        ),
    ];
    for (name, content_type, body, expected) in cases {
        let mut request = sys.http.post(sys.url("/orders")).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{name}");
        if expected == 413 {
            // The body is left unread: the server closes this connection
            // and says so, so the next request goes on a fresh one.
            assert_eq!(response.headers()["connection"], "close", "{name}");
        }
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{name}: JSON error body: {e}"));
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}: {body}"
        );
    }
    for (path, expected) in [
        ("/orders/abc", 400),
        ("/orders/0", 400),
        ("/orders/99999", 404),
        ("/nothing/here", 404),
    ] {
        let (status, body) = sys.get_json(path).await;
        assert_eq!(status, expected, "{path}");
        assert!(body["message"].is_string(), "{path}");
    }
    let delete = sys.http.delete(sys.url("/orders")).send().await.unwrap();
    assert_eq!(delete.status(), 405);
    assert!(sys.all_orders().await.is_empty(), "nothing was written");
    assert_eq!(sys.stock().await["Laptop"], 10);
    // The service is unaffected.
    assert_eq!(sys.order("Laptop", 1).await["status"], "CREATED");
    sys.stop().await;
}

support::both_backends!(bad_input_is_refused_and_writes_nothing);
