use super::*;

fn failing(severity: Severity, failed: u64, error: &str) -> Option<Line> {
    Some(Line::Failing {
        severity,
        failed,
        error: error.into(),
    })
}

fn again(severity: Severity, failed: u64, error: &str) -> Option<Line> {
    Some(Line::Again {
        severity,
        failed,
        error: error.into(),
    })
}

#[test]
fn the_first_failure_at_once_then_a_count_per_interval_then_the_recovery() {
    let log = FailureLog::new("database writes");
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);

    assert_eq!(
        log.failed_at(at(0), Severity::Warn, &"busy"),
        failing(Severity::Warn, 1, "busy")
    );
    // Within the interval: counted, not logged, however many.
    for ms in 1..1000 {
        assert_eq!(log.failed_at(at(ms), Severity::Warn, &"busy"), None);
    }
    assert_eq!(log.failed_at(at(9_999), Severity::Error, &"full"), None);
    // The interval is up: the 1,001 since the first line (this one
    // included), at the loudest of them, with the last error.
    assert_eq!(
        log.failed_at(at(10_000), Severity::Warn, &"busy"),
        again(Severity::Error, 1001, "busy")
    );
    assert_eq!(log.failed_at(at(10_001), Severity::Warn, &"busy"), None);
    assert_eq!(
        log.failed_at(at(20_000), Severity::Warn, &"busy"),
        again(Severity::Warn, 2, "busy")
    );

    assert!(log.failing.load(Ordering::Relaxed));
    assert_eq!(
        log.succeeded_at(at(25_000)),
        Some(Line::Recovered {
            failed: 1004,
            lasted: Duration::from_secs(25)
        })
    );
    assert!(!log.failing.load(Ordering::Relaxed));
    // Nothing more to say until the next failure.
    assert_eq!(log.succeeded_at(at(25_001)), None);
    assert_eq!(
        log.failed_at(at(40_000), Severity::Error, &"full"),
        failing(Severity::Error, 1, "full")
    );
}

#[test]
fn failures_that_come_and_go_cost_one_line_per_interval() {
    let log = FailureLog::new("database writes");
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);

    assert_eq!(
        log.failed_at(at(0), Severity::Error, &"full"),
        failing(Severity::Error, 1, "full")
    );
    assert!(matches!(
        log.succeeded_at(at(1)),
        Some(Line::Recovered { failed: 1, .. })
    ));
    // A write now and then finds room: each short run of failures is
    // counted, none logged, nor its end.
    for ms in (2..9_000).step_by(2) {
        assert_eq!(log.failed_at(at(ms), Severity::Error, &"full"), None);
        assert_eq!(log.succeeded_at(at(ms + 1)), None);
    }
    // Ten seconds after the last line: all 4,499 and this one.
    assert_eq!(
        log.failed_at(at(10_001), Severity::Error, &"full"),
        failing(Severity::Error, 4_500, "full")
    );
    assert!(matches!(
        log.succeeded_at(at(10_002)),
        Some(Line::Recovered { failed: 1, .. })
    ));
}
