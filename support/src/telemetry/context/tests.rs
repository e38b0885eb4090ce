use http::HeaderValue;

use super::*;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn headers(tracestates: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    for t in tracestates {
        h.append(TRACESTATE, HeaderValue::from_str(t).expect("visible ASCII"));
    }
    h
}

#[test]
fn a_28_kb_tracestate_is_cut_and_the_trace_still_continued() {
    // 55 members of 510 characters: each key and value valid (≤ 256).
    let members: Vec<String> = (0..55)
        .map(|i| {
            let key = format!("k{i:02}{}", "k".repeat(250));
            format!("{key}={}", "v".repeat(510 - key.len() - 1))
        })
        .collect();
    let big = format!("{},short=1", members.join(","));
    assert!(big.len() > 28_000);
    let parent = extract(&headers(&[&big])).expect("traceparent is valid");
    assert_eq!(
        parent.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(parent.trace_state().header(), "short=1");
}

#[test]
fn several_tracestate_headers_are_one_list() {
    let parent = extract(&headers(&["a=1", "b=2,c=3"])).expect("valid");
    assert_eq!(parent.trace_state().header(), "a=1,b=2,c=3");
    let parent = extract(&headers(&["rojo=00f067aa0ba902b7"])).expect("valid");
    assert_eq!(parent.trace_state().header(), "rojo=00f067aa0ba902b7");
}

#[test]
fn traceparent_is_written_as_the_propagator_writes_it() {
    use opentelemetry::trace::SpanId;
    let ids = RandomIdGenerator::default();
    for flags in [
        TraceFlags::default(),
        TraceFlags::SAMPLED,
        TraceFlags::new(0xff),
    ] {
        for _ in 0..100 {
            let cx = SpanContext::new(
                ids.new_trace_id(),
                ids.new_span_id(),
                flags,
                true,
                TraceState::NONE,
            );
            let mut theirs = std::collections::HashMap::new();
            TraceContextPropagator::new().inject_context(
                &Context::new().with_remote_span_context(cx.clone()),
                &mut theirs,
            );
            assert_eq!(Some(&traceparent(&cx)), theirs.get("traceparent"));
        }
    }
    // Leading zeros are kept: every id is its full width.
    let small = SpanContext::new(
        TraceId::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        SpanId::from_bytes([0, 0, 0, 0, 0, 0, 0, 2]),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    );
    assert_eq!(
        traceparent(&small),
        "00-00000000000000000000000000000001-0000000000000002-01"
    );
}
