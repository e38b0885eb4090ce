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
