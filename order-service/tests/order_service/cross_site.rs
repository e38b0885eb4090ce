//! What another web site can and cannot make a visitor's browser do here,
//! and CORS as an Angular app on another origin expects it (Spring's
//! `allowedOriginPatterns`, preflights that allow the headers asked for).

use clap::Parser;
use reqwest::{Method, header::HeaderMap};
use serde_json::{Value, json};
use support::testing::Backend;

use crate::common::TestSystem;

const ORDER: &str = r#"{"product":"Laptop","quantity":1}"#;

/// Sends a request with the given headers; returns status, headers, body.
async fn send(
    sys: &TestSystem,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, HeaderMap, String) {
    let mut request = sys.http.request(method, sys.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn message(body: &str) -> String {
    let json: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    json["message"].as_str().unwrap().to_owned()
}

async fn other_sites_cannot_place_or_cancel_orders(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
    let created = sys.order("Phone", 1).await;
    let cancel = format!("/orders/{}/cancel", created["id"]);

    // fetch(url, {method:'POST', mode:'no-cors', body: new Blob([json])})
    // sends no content type, and no preflight.
    let (status, _, body) = send(&sys, Method::POST, "/orders", &[], Some(ORDER)).await;
    assert_eq!(status, 415, "{body}");
    // An HTML form posts text/plain or a form encoding.
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (status, _, _) = send(
            &sys,
            Method::POST,
            "/orders",
            &[("content-type", ct)],
            Some(ORDER),
        )
        .await;
        assert_eq!(status, 415, "{ct}");
    }
    // A refused origin may not write, whatever the content type.
    let evil = [
        ("origin", "http://evil.example"),
        ("content-type", "application/json"),
    ];
    let (status, _, body) = send(&sys, Method::POST, "/orders", &evil, Some(ORDER)).await;
    assert_eq!(status, 403);
    assert!(!message(&body).is_empty());
    let (status, _, _) = send(&sys, Method::POST, &cancel, &evil, None).await;
    assert_eq!(status, 403);
    // A browser hiding its origin but saying it is cross-site.
    let hidden = [
        ("sec-fetch-site", "cross-site"),
        ("content-type", "application/json"),
    ];
    let (status, _, _) = send(&sys, Method::POST, &cancel, &hidden, None).await;
    assert_eq!(status, 403);
    // `null` (sandboxed frames, file: pages) is no allowed origin either.
    let null = [("origin", "null"), ("content-type", "application/json")];
    let (status, _, _) = send(&sys, Method::POST, "/orders", &null, Some(ORDER)).await;
    assert_eq!(status, 403);
    // Nothing was written.
    let (_, order) = sys.get_json(&format!("/orders/{}", created["id"])).await;
    assert_eq!(order["status"], "CREATED");
    assert_eq!(sys.all_orders().await.len(), 1);

    // Allowed origins, the same origin and non-browser clients still write.
    let same = sys.base_url.clone();
    for origin in [Some("http://localhost:4200"), Some(same.as_str()), None] {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(o) = origin {
            headers.push(("origin", o));
        }
        let (status, _, body) = send(&sys, Method::POST, "/orders", &headers, Some(ORDER)).await;
        assert_eq!(status, 200, "{origin:?}: {body}");
    }
    let same_site = [
        ("origin", "http://localhost:4200"),
        ("sec-fetch-site", "same-site"),
    ];
    let (status, _, body) = send(&sys, Method::POST, &cancel, &same_site, None).await;
    assert_eq!(status, 200, "{body}");
    // A refused origin may still read (it cannot see the answer: no CORS headers).
    let (status, headers, _) = send(
        &sys,
        Method::GET,
        "/orders",
        &[("origin", "http://evil.example")],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        !headers
            .keys()
            .any(|k| k.as_str().starts_with("access-control-"))
    );
    sys.stop().await;
}

async fn preflights_answer_as_spring_does(backend: Backend) {
    let sys = TestSystem::spawn_with(backend, |c| {
        c.allowed_origins = vec![
            "http://localhost:[*]".into(),
            "https://*.shop.example".into(),
        ];
    })
    .await;
    let preflight = |origin: &'static str| {
        let sys = &sys;
        async move {
            let headers = [
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "content-type,authorization,x-requested-with,idempotency-key",
                ),
            ];
            send(sys, Method::OPTIONS, "/orders", &headers, None).await
        }
    };
    for origin in [
        "http://localhost:4200",
        "http://localhost",
        "https://eu.shop.example",
    ] {
        let (status, headers, _) = preflight(origin).await;
        assert!((200..300).contains(&status), "{origin}: {status}");
        assert_eq!(headers["access-control-allow-origin"], origin);
        let allowed = headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        for asked in [
            "content-type",
            "authorization",
            "x-requested-with",
            "idempotency-key",
        ] {
            assert!(allowed.contains(asked), "{asked} not in {allowed}");
        }
        assert!(
            headers["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("POST")
        );
    }
    // Refused: 403 and no CORS headers, as Spring's "Invalid CORS request".
    for origin in [
        "http://evil.example",
        "https://shop.example",
        "http://localhost.evil:4200",
    ] {
        let (status, headers, body) = preflight(origin).await;
        assert_eq!(status, 403, "{origin}");
        assert_eq!(message(&body), "Invalid CORS request");
        assert!(
            !headers
                .keys()
                .any(|k| k.as_str().starts_with("access-control-"))
        );
    }
    // An actual request exposes the headers a client needs.
    let headers = [("origin", "http://localhost:4200")];
    let (status, headers, _) = send(&sys, Method::GET, "/orders?limit=1", &headers, None).await;
    assert_eq!(status, 200);
    let exposed = headers["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        exposed.contains("link") && exposed.contains("retry-after"),
        "{exposed}"
    );
    sys.stop().await;
}

async fn a_star_allows_every_site_without_a_literal_star(backend: Backend) {
    let sys = TestSystem::spawn_with(backend, |c| c.allowed_origins = vec!["*".into()]).await;
    let headers = [
        ("origin", "https://anyone.example"),
        ("content-type", "application/json"),
    ];
    let (status, headers, body) = send(&sys, Method::POST, "/orders", &headers, Some(ORDER)).await;
    assert_eq!(status, 200, "{body}");
    // Echoed, never `*`, so it can never meet credentials in a way browsers reject.
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://anyone.example"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        json!("CREATED")
    );
    sys.stop().await;
}

#[tokio::test]
async fn a_mistyped_origin_stops_the_service_from_starting() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let mut config = sys.order_config.clone();
    config.allowed_origins = vec!["localhost:4200".into()];
    let error = order_service::Server::start(&config)
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{error:#}").contains("ALLOWED_ORIGINS"),
        "{error:#}"
    );
    sys.stop().await;
}

/// `ALLOWED_ORIGINS` as the environment or the flag gives it: one value.
fn allowed_origins(value: &str) -> Vec<String> {
    order_service::Config::try_parse_from(["order-service", "--allowed-origins", value])
        .unwrap()
        .allowed_origins
}

#[tokio::test]
async fn a_port_list_and_a_leading_star_work_as_documented() {
    let origins = allowed_origins("https://*.example.com:[8443,9443],http://localhost:4200");
    let sys = TestSystem::spawn_with(Backend::Sqlite, move |c| c.allowed_origins = origins).await;
    let preflight = |origin: &'static str| {
        let sys = &sys;
        async move {
            let headers = [
                ("origin", origin),
                ("access-control-request-method", "POST"),
            ];
            send(sys, Method::OPTIONS, "/orders", &headers, None).await
        }
    };
    for origin in [
        "https://a.example.com:9443",
        "https://a.example.com:8443",
        "http://localhost:4200",
    ] {
        let (status, headers, _) = preflight(origin).await;
        assert!((200..300).contains(&status), "{origin}: {status}");
        assert_eq!(headers["access-control-allow-origin"], origin);
    }
    for origin in [
        "https://evilexample.org",
        "https://evil.example.org:9443",
        "https://a.example.com",
        "https://example.com:9443",
    ] {
        let (status, _, _) = preflight(origin).await;
        assert_eq!(status, 403, "{origin}");
    }

    // A star inside a label would allow other sites: start-up stops,
    // naming the entry.
    for bad in [
        "https://*example.org",
        "https://x.*.com",
        "https://a*.b.com",
    ] {
        let mut config = sys.order_config.clone();
        config.allowed_origins = allowed_origins(&format!("http://localhost,{bad}"));
        let error = order_service::Server::start(&config)
            .await
            .err()
            .expect("refused");
        let error = format!("{error:#}");
        assert!(
            error.contains("ALLOWED_ORIGINS") && error.contains(bad),
            "{error}"
        );
    }
    sys.stop().await;
}

support::both_backends!(
    other_sites_cannot_place_or_cancel_orders,
    preflights_answer_as_spring_does,
    a_star_allows_every_site_without_a_literal_star,
);
