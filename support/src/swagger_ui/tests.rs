use axum::{
    Router,
    body::{Body, to_bytes},
    http::{Method, Request, StatusCode, header},
    middleware,
};
use tower::ServiceExt;

use super::*;
use crate::error_body::ErrorBody;

/// The routes as a service mounts them: under the error middleware.
async fn call(method: Method, uri: &str) -> (StatusCode, header::HeaderMap, Vec<u8>) {
    let app: Router = routes().layer(middleware::from_fn(error_body::complete));
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.expect("body").to_vec();
    (parts.status, parts.headers, body)
}

fn content_type(headers: &header::HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_index_is_swagger_ui_loading_only_its_own_files() {
    let (status, headers, body) = call(Method::GET, INDEX).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type(&headers).starts_with("text/html"));
    let html = String::from_utf8(body).expect("UTF-8");
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(!html.contains("http"), "no other host: {html}");
}

#[tokio::test]
async fn springdocs_paths_redirect_to_the_index() {
    for path in ["/swagger-ui.html", "/swagger-ui", "/swagger-ui/"] {
        let (status, headers, _) = call(Method::GET, path).await;
        assert_eq!(status, StatusCode::FOUND, "{path}");
        assert_eq!(headers[header::LOCATION], INDEX, "{path}");
    }
}

#[tokio::test]
async fn assets_have_their_content_types() {
    for (file, expected) in [
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui-standalone-preset.js", "javascript"),
        ("swagger-ui.css", "text/css"),
        ("index.css", "text/css"),
        ("favicon-32x32.png", "image/png"),
    ] {
        let (status, headers, body) = call(Method::GET, &format!("/swagger-ui/{file}")).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        assert!(
            content_type(&headers).contains(expected),
            "{file}: {headers:?}"
        );
        assert!(!body.is_empty(), "{file}");
    }
}

#[tokio::test]
async fn the_initializer_shows_the_services_document_without_the_online_validator() {
    let (status, _, body) = call(Method::GET, "/swagger-ui/swagger-initializer.js").await;
    assert_eq!(status, StatusCode::OK);
    let script = String::from_utf8(body).expect("UTF-8");
    assert!(script.contains(r#""url": "/v3/api-docs""#), "{script}");
    assert!(script.contains(r#""validatorUrl": "none""#), "{script}");
}

#[tokio::test]
async fn head_is_answered_like_get() {
    let (status, headers, _) = call(Method::HEAD, "/swagger-ui/swagger-ui.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type(&headers).starts_with("text/css"));
}

#[tokio::test]
async fn no_path_reaches_outside_its_files() {
    for path in [
        "/swagger-ui/../Cargo.toml",
        "/swagger-ui/%2e%2e/Cargo.toml",
        "/swagger-ui/..%2fCargo.toml",
        "/swagger-ui/%2e%2e%2f%2e%2e%2fCargo.toml",
        "/swagger-ui/%2fetc%2fpasswd",
        "/swagger-ui//etc/passwd",
        "/swagger-ui/index.html%00",
        "/swagger-ui/%ff",
        "/swagger-ui/nothing.js",
    ] {
        let (status, headers, body) = call(Method::GET, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(content_type(&headers), "application/json", "{path}");
        let body: ErrorBody = serde_json::from_slice(&body).expect("an error body");
        assert_eq!((body.status, body.message.as_str()), (404, "Not found"));
        assert_eq!(body.path, path);
    }
}

#[tokio::test]
async fn other_methods_are_a_json_405_with_allow() {
    for path in [INDEX, "/swagger-ui.html", "/swagger-ui/nothing.js"] {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let (status, headers, body) = call(method.clone(), path).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(headers[header::ALLOW], "GET,HEAD", "{method} {path}");
            let body: ErrorBody = serde_json::from_slice(&body).expect("an error body");
            assert_eq!(body.error, "Method Not Allowed");
        }
    }
}
