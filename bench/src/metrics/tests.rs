use super::*;

/// What prometheus-client writes (le first, then the family's labels),
/// plus a series with the labels the other way round and an exemplar,
/// and metrics that must be ignored.
fn exposition(reserve_sum: f64, reserve: [u64; 4]) -> String {
    let [b1, b2, b4, inf] = reserve;
    format!(
        "# HELP order_service_orders Orders settled since start, by final status.\n\
         # TYPE order_service_orders counter\n\
         order_service_orders_total{{status=\"CREATED\"}} 100\n\
         # HELP order_service_batch_size Items per batch, by stage.\n\
         # TYPE order_service_batch_size histogram\n\
         order_service_batch_size_sum{{stage=\"reserve\"}} {reserve_sum:.1}\n\
         order_service_batch_size_count{{stage=\"reserve\"}} {inf}\n\
         order_service_batch_size_bucket{{le=\"1.0\",stage=\"reserve\"}} {b1}\n\
         order_service_batch_size_bucket{{le=\"2.0\",stage=\"reserve\"}} {b2}\n\
         order_service_batch_size_bucket{{le=\"4.0\",stage=\"reserve\"}} {b4} # {{trace_id=\"x\"}} 3.0\n\
         order_service_batch_size_bucket{{le=\"+Inf\",stage=\"reserve\"}} {inf}\n\
         order_service_batch_size_sum{{stage=\"record\"}} 6.0\n\
         order_service_batch_size_count{{stage=\"record\"}} 2\n\
         order_service_batch_size_bucket{{stage=\"record\", le=\"1.0\"}} 0\n\
         order_service_batch_size_bucket{{stage=\"record\", le=\"2.0\"}} 1\n\
         order_service_batch_size_bucket{{stage=\"record\", le=\"4.0\"}} 2\n\
         order_service_batch_size_bucket{{stage=\"record\", le=\"+Inf\"}} 2\n\
         order_service_batch_size_other{{stage=\"settle\"}} 9\n\
         order_service_batch_sizes_count{{stage=\"settle\"}} 9\n\
         # EOF\n"
    )
}

#[test]
fn parses_by_name_and_labels_in_any_order() {
    let s = parse(&exposition(30.0, [3, 5, 9, 10]));
    assert_eq!(s.stages.len(), 2, "{s:?}");
    let reserve = &s.stages["reserve"];
    assert_eq!((reserve.sum, reserve.count), (30.0, 10.0));
    assert_eq!(
        reserve.buckets,
        [(1.0, 3.0), (2.0, 5.0), (4.0, 9.0), (f64::INFINITY, 10.0)]
    );
    assert_eq!(s.stages["record"].at(2.0), 1.0);
}

#[test]
fn figures_are_the_difference_between_scrapes() {
    let before = parse(&exposition(30.0, [3, 5, 9, 10]));
    // 10 more batches: 1 of size 1, 4 of size 2, 3 of size 4, 2 of size 8.
    let after = parse(&exposition(67.0, [4, 10, 17, 20]));
    let b = between(&before, &after);
    let reserve = b.reserve.clone().expect("reserve");
    assert_eq!(reserve.batches, 10);
    assert_eq!(reserve.mean, Some(3.7));
    assert_eq!(reserve.p50, Some(2.0));
    assert_eq!(reserve.max, Some(f64::INFINITY));
    // Unchanged: no batches, no figures.
    let record = b.record.clone().expect("record");
    assert_eq!((record.batches, record.mean, record.p50), (0, None, None));
    assert_eq!(b.settle, None);
    let json = serde_json::to_value(&b).expect("json");
    assert_eq!(json["reserve"]["max"], "+Inf");
    assert_eq!(json["reserve"]["p50"], 2.0);
    assert!(json["settle"].is_null());
}

#[test]
fn a_series_first_seen_after_counts_from_zero() {
    // 4 of 10 up to 2, 9 up to 4: the median is in the bucket up to 4.
    let after = parse(&exposition(30.0, [3, 4, 9, 10]));
    let reserve = between(&Scrape::default(), &after)
        .reserve
        .expect("reserve");
    assert_eq!(reserve.batches, 10);
    assert_eq!(reserve.p50, Some(4.0));
    assert_eq!(reserve.max, Some(f64::INFINITY));
}

#[test]
fn without_the_metric_nothing_is_reported() {
    let text = "# HELP order_service_orders x\norder_service_orders_total{status=\"CREATED\"} 1\n";
    let b = between(&parse(text), &parse(text));
    assert_eq!(b, BatchSizes::default());
}

#[test]
fn escaped_label_values_parse() {
    let (name, labels, value) =
        sample(r#"m_bucket{a="x\"}y",le="2.0"} 7 1700000000"#).expect("sample");
    assert_eq!((name, value), ("m_bucket", 7.0));
    assert_eq!(label(&labels, "a"), Some("x\"}y"));
    assert_eq!(label(&labels, "le").and_then(bound), Some(2.0));
}
