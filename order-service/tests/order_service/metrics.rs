//! `/metrics` and `/actuator/prometheus`: every family after real traffic,
//! counters equal to what the test did, both formats held to what their
//! content type claims, and labels bounded whatever clients send.

use std::{str::FromStr, time::Duration};

use proto::{OrderRequest, OrderResponse, order_service_client::OrderServiceClient};
use reqwest::{Method, header};
use support::testing::{
    Backend,
    metrics::{Exposition, Format},
};
use tonic::transport::Channel;

use crate::common::{TestSystem, eventually};

/// The families order-service serves beyond the shared ones (as the
/// classic text names them): it calls inventory, so gRPC client ones too.
const OWN_FAMILIES: &[&str] = &[
    "grpc_client_handled_total",
    "grpc_client_handling_seconds",
    "order_service_orders_total",
    "order_service_batch_size",
    "order_service_live_connections",
    "order_service_orders_awaiting_release",
];

/// Upper bound for the relay to catch up: it fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(10);

/// What Prometheus sends.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,\
    application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// A scrape of `path` asking for `accept`: the format its content type
/// claims and its body, parsed and checked against that format.
async fn scrape(sys: &TestSystem, path: &str, accept: Option<&str>) -> (Format, Exposition) {
    let mut request = sys.http.get(sys.url(path));
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[header::VARY], "accept");
    let format = Format::of(response.headers()[header::CONTENT_TYPE].to_str().unwrap());
    let body = response.text().await.unwrap();
    (format, Exposition::parse(&body, format))
}

async fn grpc(sys: &TestSystem) -> Channel {
    let addr = sys.orders.as_ref().unwrap().grpc_addr;
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn every_family_counts_what_happened(backend: Backend) {
    let sys = TestSystem::spawn(backend).await;
    sys.order("Laptop", 1).await;
    let mut client = OrderServiceClient::new(grpc(&sys).await);
    let rejected = client
        .create_order(OrderRequest {
            product: "Laptop".into(),
            quantity: 1000,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rejected.status, "REJECTED");
    let invalid = client
        .create_order(OrderRequest {
            product: String::new(),
            quantity: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), tonic::Code::InvalidArgument);

    // The relay publishes after the commits: wait for it to catch up.
    let log = [("log", "order_events")];
    let metrics = eventually("the relay publishes both orders", PATIENCE, async || {
        let (_, m) = scrape(&sys, "/metrics", None).await;
        let written = m.value("event_log_written_seq", &log);
        (written >= 2.0 && m.value("event_log_published_seq", &log) == written).then_some(m)
    })
    .await;
    metrics.assert_families(OWN_FAMILIES);
    let count = |name: &str, labels: &[(&str, &str)]| metrics.sum(name, labels);
    let post = [("method", "POST"), ("route", "/orders")];
    assert_eq!(count("http_server_requests_total", &post), 1.0);
    assert_eq!(
        count("http_server_request_duration_seconds_count", &post),
        1.0
    );
    let create = [
        ("grpc_service", "OrderService"),
        ("grpc_method", "CreateOrder"),
    ];
    assert_eq!(count("grpc_server_handled_total", &create), 2.0);
    assert_eq!(
        count(
            "grpc_server_handled_total",
            &[create[0], create[1], ("grpc_code", "OK")]
        ),
        1.0
    );
    assert_eq!(
        count(
            "grpc_server_handled_total",
            &[create[0], create[1], ("grpc_code", "InvalidArgument")]
        ),
        1.0
    );
    assert_eq!(count("grpc_server_handling_seconds_count", &create), 2.0);
    let reserve = [
        ("grpc_service", "InventoryService"),
        ("grpc_method", "ReserveStockBatch"),
        ("grpc_code", "OK"),
    ];
    assert_eq!(count("grpc_client_handled_total", &reserve), 2.0);
    assert_eq!(
        count("grpc_client_handling_seconds_count", &reserve[..2]),
        2.0
    );
    let orders = |status, reason| {
        count(
            "order_service_orders_total",
            &[("status", status), ("reason", reason)],
        )
    };
    assert_eq!(orders("CREATED", "none"), 1.0);
    assert_eq!(orders("REJECTED", "insufficient_stock"), 1.0);
    assert_eq!(count("order_service_orders_total", &[]), 2.0);

    let process = |name| metrics.value(name, &[]);
    assert!(process("process_open_fds") > 0.0);
    assert!(process("process_max_fds") >= process("process_open_fds"));
    assert!(process("process_resident_memory_bytes") > 0.0);
    assert!(process("process_virtual_memory_bytes") >= process("process_resident_memory_bytes"));
    assert!(process("process_threads") >= 1.0);
    assert!(process("process_cpu_seconds_total") > 0.0);
    // After 2020, and not in the future.
    let started = process("process_start_time_seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(started > 1.6e9 && started <= now, "{started}");

    assert!(metrics.value("db_pool_max_connections", &[]) >= 1.0);
    assert!(count("db_pool_connections", &[]) >= 1.0);
    assert!(count("db_pool_acquire_seconds_count", &[]) >= 1.0);
    assert_eq!(
        count("db_statement_errors_total", &[("kind", "unavailable")]),
        0.0
    );
    assert!(metrics.value("event_log_retained_rows", &log) >= 2.0);
    assert!(
        count(
            "event_log_relay_wakeups_total",
            &[log[0], ("cause", "woken")]
        ) >= 1.0
    );
    sys.stop().await;
}

async fn both_paths_both_formats() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    sys.order("Laptop", 1).await;
    for path in ["/metrics", "/actuator/prometheus"] {
        for (accept, expected) in [
            (None, Format::Text),
            (Some("*/*"), Format::Text),
            (Some("text/plain"), Format::Text),
            (Some("application/openmetrics-text"), Format::OpenMetrics),
            (Some(PROMETHEUS_ACCEPT), Format::OpenMetrics),
            (
                Some("text/plain;q=0.9, application/openmetrics-text;q=0.5"),
                Format::Text,
            ),
            (Some("application/openmetrics-text;q=0"), Format::Text),
        ] {
            let (format, metrics) = scrape(&sys, path, accept).await;
            assert_eq!(format, expected, "{path} {accept:?}");
            // The same metrics in either format.
            let post = [("method", "POST"), ("route", "/orders"), ("status", "200")];
            assert_eq!(metrics.sum("http_server_requests_total", &post), 1.0);
            let orders = match format {
                Format::Text => "order_service_orders_total",
                Format::OpenMetrics => "order_service_orders",
            };
            assert_eq!(metrics.families[orders], "counter");
        }
        // GET and HEAD only.
        let head = sys.http.head(sys.url(path)).send().await.unwrap();
        assert_eq!(head.status(), 200);
        assert!(head.text().await.unwrap().is_empty());
        let post = sys.http.post(sys.url(path)).send().await.unwrap();
        assert_eq!(post.status(), 405);
    }
    sys.stop().await;
}

async fn labels_stay_bounded_whatever_clients_send() {
    let sys = TestSystem::spawn(Backend::Sqlite).await;
    let channel = grpc(&sys).await;
    const INVENTED: usize = 50;
    for i in 0..INVENTED {
        let mut generic = tonic::client::Grpc::new(channel.clone());
        generic.ready().await.unwrap();
        let path = http::uri::PathAndQuery::from_str(&format!("/evil{i}.Svc/Method{i}")).unwrap();
        let request = tonic::Request::new(OrderRequest {
            product: "Laptop".into(),
            quantity: 1,
        });
        let answer: Result<tonic::Response<OrderResponse>, tonic::Status> = generic
            .unary(request, path, tonic_prost::ProstCodec::default())
            .await;
        assert_eq!(answer.unwrap_err().code(), tonic::Code::Unimplemented);
    }
    for (i, traceparent) in [
        "garbage",
        "00-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-evil",
        "",
    ]
    .into_iter()
    .enumerate()
    {
        let method = Method::from_bytes(format!("EVIL{i}").as_bytes()).unwrap();
        for (method, path) in [
            (Method::GET, format!("/orders/{i}")),
            (method, format!("/evil/{i}")),
        ] {
            sys.http
                .request(method, sys.url(&path))
                .header("traceparent", traceparent)
                .send()
                .await
                .unwrap();
        }
    }
    let (_, metrics) = scrape(&sys, "/metrics", Some("application/openmetrics-text")).await;
    assert_eq!(
        metrics.value(
            "grpc_server_handled_total",
            &[
                ("grpc_service", "other"),
                ("grpc_method", "other"),
                ("grpc_code", "Unimplemented")
            ]
        ),
        INVENTED as f64
    );
    for service in metrics.label_values("grpc_service") {
        assert!(
            [
                "OrderService",
                "InventoryService",
                "grpc.health.v1.Health",
                "other"
            ]
            .contains(&service)
                || service.starts_with("grpc.reflection."),
            "{service}"
        );
    }
    for method in metrics.label_values("method") {
        assert!(
            [
                "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
                "other"
            ]
            .contains(&method),
            "{method}"
        );
    }
    for route in metrics.label_values("route") {
        assert!(route == "other" || route == "/orders/{id}", "{route}");
    }
    assert!(
        !metrics
            .samples
            .iter()
            .flat_map(|s| &s.labels)
            .any(|(_, v)| v.contains("evil") || v.contains("EVIL") || v.contains("zzzz")),
        "a client's words in a label"
    );
    sys.stop().await;
}

async fn failed_client_calls_by_code() {
    let mut sys = TestSystem::spawn(Backend::Sqlite).await;
    sys.stop_inventory().await;
    let answer = sys.post_order("Laptop", 1).await;
    assert_eq!(answer.status(), 503);
    let (_, metrics) = scrape(&sys, "/metrics", None).await;
    let reserve = [
        ("grpc_service", "InventoryService"),
        ("grpc_method", "ReserveStockBatch"),
    ];
    let failed = metrics.sum(
        "grpc_client_handled_total",
        &[reserve[0], reserve[1], ("grpc_code", "Unavailable")],
    );
    // Each attempt: the first and its retries.
    assert!(
        failed >= 1.0,
        "{:?}",
        metrics
            .matching("grpc_client_handled_total", &reserve)
            .collect::<Vec<_>>()
    );
    assert_eq!(metrics.sum("grpc_client_handled_total", &reserve), failed);
    assert_eq!(
        metrics.sum("grpc_client_handling_seconds_count", &reserve),
        failed
    );
    sys.stop().await;
}

support::both_backends!(every_family_counts_what_happened);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_client_calls_are_counted_by_code() {
    failed_client_calls_by_code().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_in_both_formats_on_both_paths() {
    both_paths_both_formats().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_stay_bounded() {
    labels_stay_bounded_whatever_clients_send().await;
}
