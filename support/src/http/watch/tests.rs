use super::*;

const HEADER: Duration = Duration::from_secs(10);
const IDLE: Duration = Duration::from_secs(75);

#[test]
fn phases_move_the_deadline() {
    let t0 = Instant::now();
    let activity = Arc::new(Activity::new(t0));
    // New: the first head must come within the header timeout.
    assert_eq!(activity.deadline(HEADER, IDLE), Some(t0 + HEADER));
    let in_flight = activity.request_started();
    assert_eq!(activity.deadline(HEADER, IDLE), None, "busy");
    // Bytes of a pipelined request while busy change nothing.
    activity.received();
    assert_eq!(activity.deadline(HEADER, IDLE), None);
    drop(in_flight);
    let idle_until = activity.deadline(HEADER, IDLE).unwrap();
    assert!(idle_until >= t0 + IDLE, "idle");
    activity.received();
    let head_until = activity.deadline(HEADER, IDLE).unwrap();
    assert!(head_until < idle_until, "a started head has less time");
    assert!(!activity.expired(Instant::now(), HEADER, IDLE));
    assert!(activity.expired(head_until, HEADER, IDLE));
}

#[test]
fn concurrent_requests_keep_it_busy() {
    let activity = Arc::new(Activity::new(Instant::now()));
    let a = activity.request_started();
    let b = activity.request_started();
    drop(a);
    assert_eq!(activity.deadline(HEADER, IDLE), None);
    drop(b);
    assert!(activity.deadline(HEADER, IDLE).is_some());
}
