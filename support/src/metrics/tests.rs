use axum::http::{HeaderMap, HeaderValue, header::ACCEPT};
use prometheus_client::{
    metrics::{
        counter::Counter, exemplar::CounterWithExemplar, family::Family, gauge::Gauge,
        histogram::Histogram,
    },
    registry::{Registry, Unit},
};

use super::{Format, grpc};
use crate::testing::metrics::{self as parsed, Exposition};

fn negotiate(accept: &[&str]) -> Format {
    let mut headers = HeaderMap::new();
    for value in accept {
        headers.append(
            ACCEPT,
            HeaderValue::from_str(value).expect("a header value"),
        );
    }
    Format::negotiate(headers.get_all(ACCEPT))
}

#[test]
fn openmetrics_only_when_asked_for_and_preferred() {
    assert_eq!(negotiate(&[]), Format::Text);
    assert_eq!(negotiate(&["*/*"]), Format::Text);
    assert_eq!(negotiate(&["text/plain"]), Format::Text);
    assert_eq!(negotiate(&["application/json"]), Format::Text);
    assert_eq!(
        negotiate(&["application/openmetrics-text"]),
        Format::OpenMetrics
    );
    // What Prometheus 2.x and 3.x send.
    assert_eq!(
        negotiate(&[
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        ]),
        Format::OpenMetrics
    );
    assert_eq!(
        negotiate(&["text/plain;q=1", "application/openmetrics-text; q=0.5"]),
        Format::Text
    );
    assert_eq!(
        negotiate(&["application/openmetrics-text;q=0"]),
        Format::Text
    );
    assert_eq!(
        negotiate(&["APPLICATION/OpenMetrics-Text; version=1.0.0"]),
        Format::OpenMetrics
    );
}

/// A registry with one of each kind the services use, and the parts of
/// OpenMetrics the classic text has no room for (a unit, an exemplar).
fn registry() -> Registry {
    let mut registry = Registry::default();
    let counter: Family<Vec<(String, String)>, Counter> = Family::default();
    counter
        .get_or_create(&vec![("route".into(), "/a\"b\\c\nd".into())])
        .inc();
    registry.register("requests", "Requests", counter);
    let gauge: Gauge = Gauge::default();
    gauge.set(-3);
    registry.register("open", "Open things", gauge);
    let histogram = Histogram::new([0.1, 1.0]);
    histogram.observe(0.5);
    registry.register_with_unit("wait", "Waits", Unit::Seconds, histogram);
    let exemplars = CounterWithExemplar::<Vec<(String, String)>>::default();
    exemplars.inc_by(2, Some(vec![("trace_id".into(), "abc".into())]), None);
    registry.register("traced", "Traced", exemplars);
    registry
}

#[test]
fn each_format_is_what_its_content_type_claims() {
    let registry = registry();
    let text = Format::Text.encode(&registry);
    let parsed = Exposition::parse(&text, parsed::Format::of(Format::Text.content_type()));
    assert_eq!(parsed.families["requests_total"], "counter", "{text}");
    assert_eq!(
        parsed.value("requests_total", &[("route", "/a\"b\\c\nd")]),
        1.0
    );
    assert_eq!(parsed.value("traced_total", &[]), 2.0);
    assert_eq!(parsed.value("open", &[]), -3.0);
    assert_eq!(parsed.value("wait_seconds_count", &[]), 1.0);
    assert_eq!(parsed.value("wait_seconds_bucket", &[("le", "+Inf")]), 1.0);
    assert!(!text.contains("trace_id"), "exemplar kept: {text}");

    let openmetrics = Format::OpenMetrics.encode(&registry);
    let parsed = Exposition::parse(
        &openmetrics,
        parsed::Format::of(Format::OpenMetrics.content_type()),
    );
    assert_eq!(parsed.families["requests"], "counter", "{openmetrics}");
    assert_eq!(parsed.value("requests_total", &[]), 1.0);
    assert_eq!(parsed.value("wait_seconds_sum", &[]), 0.5);
    assert!(openmetrics.contains("# UNIT wait_seconds seconds"));
    assert!(openmetrics.ends_with("# EOF\n"));
}

#[test]
fn grpc_codes_are_grpc_go_names() {
    let code = |value: &str| {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", value.parse().expect("a header value"));
        grpc::tests_only::code(&headers)
    };
    assert_eq!(code("0"), Some("OK"));
    assert_eq!(code("1"), Some("Canceled"));
    assert_eq!(code("5"), Some("NotFound"));
    assert_eq!(code("14"), Some("Unavailable"));
    assert_eq!(code("16"), Some("Unauthenticated"));
    // Not a code: counted, without inventing a label value.
    assert_eq!(code("99"), Some("Unknown"));
    assert_eq!(code("x"), Some("Unknown"));
    assert_eq!(grpc::tests_only::code(&http::HeaderMap::new()), None);
}
