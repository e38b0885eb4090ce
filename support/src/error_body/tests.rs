use axum::{
    Router,
    body::{Body, to_bytes},
    http::{Request, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
};
use tower::ServiceExt;

use super::*;

/// A router whose routes answer the ways handlers do, under [`complete`].
fn app() -> Router {
    Router::new()
        .route(
            "/missing",
            get(|| async { answer(StatusCode::NOT_FOUND, "No such thing") }),
        )
        .route(
            "/busy",
            get(|| async {
                let mut response = answer(StatusCode::SERVICE_UNAVAILABLE, "Busy");
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }),
        )
        .route(
            "/ok",
            get(|| async { Json(serde_json::json!({"message": "fine"})) }),
        )
        .route(
            "/text",
            get(|| async { (StatusCode::BAD_REQUEST, "plain words").into_response() }),
        )
        .route(
            "/down",
            get(|| async {
                let body = serde_json::json!({"status": "DOWN", "message": "db"});
                (StatusCode::SERVICE_UNAVAILABLE, Json(body))
            }),
        )
        .route(
            "/endless",
            get(|| async {
                let body = Body::from_stream(futures::stream::pending::<
                    Result<Vec<u8>, std::io::Error>,
                >());
                ([(header::CONTENT_TYPE, "application/json")], body).into_response()
            }),
        )
        .route(
            "/endless-error",
            get(|| async {
                let body = Body::from_stream(futures::stream::pending::<
                    Result<Vec<u8>, std::io::Error>,
                >());
                (
                    StatusCode::BAD_GATEWAY,
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response()
            }),
        )
        .route(
            "/other-json",
            get(|| async { (StatusCode::CONFLICT, Json(serde_json::json!([1, 2]))) }),
        )
        .layer(middleware::from_fn(complete))
}

async fn call(uri: &str) -> (Response, Vec<u8>) {
    let response = app()
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.expect("body").to_vec();
    (Response::from_parts(parts, Body::empty()), bytes)
}

#[tokio::test]
async fn an_error_gets_springs_fields_with_the_path_without_its_query() {
    let (response, body) = call("/missing?x=1").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let length: usize = response.headers()[header::CONTENT_LENGTH]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("a number");
    assert_eq!(length, body.len());
    let body: ErrorBody = serde_json::from_slice(&body).expect("the whole body");
    assert_eq!(body.status, 404);
    assert_eq!(body.error, "Not Found");
    assert_eq!(body.path, "/missing");
    assert_eq!(body.message, "No such thing");
    let at = humantime::parse_rfc3339(&body.timestamp).expect("RFC 3339");
    assert!(at <= SystemTime::now());
    // Milliseconds and UTC, like an order's `createdAt`.
    assert_eq!(body.timestamp.len(), "2026-11-25T03:58:48.925Z".len());
    assert!(body.timestamp.ends_with('Z'));
}

#[tokio::test]
async fn fields_come_in_springs_order_and_headers_stay() {
    let (response, body) = call("/busy").await;
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    let text = String::from_utf8(body).expect("UTF-8");
    let keys: Vec<usize> = ["timestamp", "status", "error", "path", "message"]
        .iter()
        .map(|k| text.find(&format!("\"{k}\"")).expect("every field"))
        .collect();
    assert!(keys.is_sorted(), "{text}");
    assert!(text.contains(r#""status":503,"error":"Service Unavailable","path":"/busy""#));
}

#[tokio::test]
async fn successes_and_other_bodies_pass_untouched() {
    let (_, body) = call("/ok").await;
    assert_eq!(body, br#"{"message":"fine"}"#);
    let (_, body) = call("/text").await;
    assert_eq!(body, b"plain words");
    let (response, body) = call("/other-json").await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(body, b"[1,2]");
    let (_, body) = call("/down").await;
    assert_eq!(body, br#"{"message":"db","status":"DOWN"}"#);
}

#[test]
fn a_socket_level_answer_has_every_field_and_an_empty_path() {
    let line = ErrorBody::new(StatusCode::BAD_REQUEST, "", "Malformed request head").to_line();
    assert!(line.ends_with("}\n"));
    let body: ErrorBody = serde_json::from_str(&line).expect("JSON");
    assert_eq!((body.status, body.error.as_str()), (400, "Bad Request"));
    assert_eq!(body.path, "");
}

/// A body the middleware would wait for forever if it read it: a success,
/// and an error of unknown length, come back at once, their bodies unread.
#[tokio::test]
async fn bodies_it_does_not_complete_are_never_read() {
    for (uri, status) in [
        ("/endless", StatusCode::OK),
        ("/endless-error", StatusCode::BAD_GATEWAY),
    ] {
        let request = Request::get(uri).body(Body::empty()).expect("request");
        let response =
            tokio::time::timeout(std::time::Duration::from_secs(10), app().oneshot(request))
                .await
                .unwrap_or_else(|_| panic!("{uri}: the middleware waited for the body"))
                .expect("infallible");
        assert_eq!(response.status(), status);
    }
}
