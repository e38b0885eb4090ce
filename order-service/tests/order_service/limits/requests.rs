//! Odd requests (methods, paths, names): each a JSON error with the right
//! status, nothing written, nothing grown.

use serde_json::Value;
use support::testing::{Backend, assert_spring_error};
use tokio::net::TcpStream;

use super::{exchange, parse};
use crate::common::TestSystem;

#[tokio::test]
async fn malformed_sockjs_paths_are_404_for_every_method() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let paths = [
        "/ws-orders//xhr",
        "/ws-orders////xhr",
        "/ws-orders/a//xhr",
        "/ws-orders//b/xhr",
        "/ws-orders/a/b/",
        "/ws-orders/a/b/c/xhr",
        "/ws-orders/a.b/c/xhr",
        "/ws-orders/a/b.c/xhr_send",
        "/ws-orders/a/b/nonsense",
    ];
    for path in paths {
        for method in ["GET", "POST", "OPTIONS", "PUT", "DELETE", "PATCH", "HEAD"] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let r = sys
                .http
                .request(method.clone(), sys.url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404, "{method} {path}");
        }
    }
    sys.stop().await;
}

#[tokio::test]
async fn every_error_is_json_with_the_right_status() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let addr = sys.orders.as_ref().unwrap().http_addr;
    let cases: Vec<(String, u16)> = vec![
        // A path segment longer than any file name.
        (format!("GET /{} HTTP/1.1\r\nhost: t\r\n\r\n", "a".repeat(300)), 404),
        (format!("GET /x/{}/y HTTP/1.1\r\nhost: t\r\n\r\n", "b".repeat(5000)), 404),
        // The page's files: GET and HEAD only.
        ("POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n".into(), 405),
        ("DELETE /index.html HTTP/1.1\r\nhost: t\r\n\r\n".into(), 405),
        ("TRACE / HTTP/1.1\r\nhost: t\r\n\r\n".into(), 405),
        ("PUT /app.js HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n".into(), 405),
        // Unknown paths are 404 whatever the method; known routes 405.
        ("BREW /nothing/here HTTP/1.1\r\nhost: t\r\n\r\n".into(), 404),
        ("DELETE /nothing HTTP/1.1\r\nhost: t\r\n\r\n".into(), 404),
        ("BREW /orders HTTP/1.1\r\nhost: t\r\n\r\n".into(), 405),
        ("GET /../../etc/passwd HTTP/1.1\r\nhost: t\r\n\r\n".into(), 404),
        // A broken chunked body is malformed, not too large.
        (
            "POST /orders HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".into(),
            400,
        ),
    ];
    for (request, expected) in cases {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let answer = exchange(&mut tcp, &request).await;
        let (status, body) = parse(&answer);
        let line = request.lines().next().unwrap_or_default();
        let line = &line[..line.len().min(60)];
        assert_eq!(status, expected, "{line}: {answer}");
        let target = request.split(' ').nth(1).unwrap_or_default();
        let path = target.split('?').next().unwrap_or_default();
        assert_spring_error(&body, expected, path);
        if expected == 405 {
            assert!(
                answer.to_lowercase().contains("allow: "),
                "{line}: {answer}"
            );
        }
    }
    assert!(sys.all_orders().await.is_empty(), "nothing was written");
    // The page itself still works.
    let page = sys.http.get(sys.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    sys.stop().await;
}

#[tokio::test]
async fn invented_methods_cannot_grow_the_metrics() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    let addr = sys.orders.as_ref().unwrap().http_addr;
    // Warm up the labels a client can legitimately reach.
    for request in [
        "BREW0 /orders HTTP/1.1\r\nhost: t\r\n\r\n",
        "BREW0 /x0 HTTP/1.1\r\nhost: t\r\n\r\n",
    ] {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        exchange(&mut tcp, request).await;
    }
    let before = series(&sys.get_text("/metrics").await);
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    for i in 0..1000 {
        let request = format!("BREW{i} /x{i} HTTP/1.1\r\nhost: t\r\n\r\n");
        let answer = exchange(&mut tcp, &request).await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
        if i % 2 == 0 {
            let request = format!("PROPFIND{i} /orders HTTP/1.1\r\nhost: t\r\n\r\n");
            assert!(
                exchange(&mut tcp, &request)
                    .await
                    .starts_with("HTTP/1.1 405")
            );
        }
    }
    let metrics = sys.get_text("/metrics").await;
    let after = series(&metrics);
    // At most the /metrics request's own series appear.
    assert!(after <= before + 20, "{before} -> {after} series");
    assert!(
        metrics.contains(r#"method="other",route="other",status="404""#),
        "{metrics}"
    );
    assert!(!metrics.contains("BREW"), "methods leaked into labels");
    assert!(!metrics.contains("/x1"), "paths leaked into labels");
    sys.stop().await;
}

async fn control_characters_in_names_are_400(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
    for product in ["Lap\u{0}top", "Laptop\n", "Lap\u{7f}top", "Lap\u{85}top"] {
        let r = sys.post_order(product, 1).await;
        assert_eq!(r.status(), 400, "{product:?}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains("control"),
            "{body}"
        );
    }
    let addr = sys.orders.as_ref().unwrap().grpc_addr;
    let mut client =
        proto::order_service_client::OrderServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
    let refused = client
        .create_order(proto::OrderRequest {
            product: "Lap\u{0}top".into(),
            quantity: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(sys.all_orders().await.is_empty(), "nothing was written");
    sys.stop().await;
}

support::both_backends!(control_characters_in_names_are_400);
