use std::sync::Mutex;

use bytes::Bytes;

use super::*;

#[derive(Default)]
struct Recorder(Mutex<Vec<Option<i64>>>);

impl Publish for Recorder {
    fn publish_traced(&self, _: &'static str, seq: Option<i64>, _: Bytes, _: Option<String>) {
        self.0.lock().unwrap().push(seq);
    }
}

fn seqs(replay: Replay) -> Vec<i64> {
    match replay {
        Replay::Events(events) => events.into_iter().map(|e| e.seq).collect(),
        Replay::Resync => panic!("expected events"),
    }
}

#[test]
fn replays_what_the_window_holds_and_nothing_else() {
    let sink = Arc::new(Recorder::default());
    let log = StockEvents::new(sink.clone());
    assert_eq!(log.after(0, 10), Replay::Resync, "no position known yet");
    assert_eq!(log.last(), None);
    log.restart_at(40);
    log.snapshot_value("Laptop", 10);
    assert_eq!(log.after(40, 10), Replay::Events(vec![]));
    for seq in 41..=45 {
        log.changed(seq, "Laptop", 9);
    }
    assert_eq!(log.last(), Some(45));
    assert_eq!(seqs(log.after(42, 10)), vec![43, 44, 45]);
    assert_eq!(seqs(log.after(40, 2)), vec![41, 42]);
    assert_eq!(log.after(39, 10), Replay::Resync, "before the window");
    assert_eq!(log.after(46, 10), Replay::Resync, "from the future");
    assert_eq!(
        *sink.0.lock().unwrap(),
        vec![None, Some(41), Some(42), Some(43), Some(44), Some(45)]
    );
    log.restart_at(100);
    assert_eq!(log.after(45, 10), Replay::Resync, "the window was reset");
}

#[test]
fn the_window_is_bounded() {
    let log = StockEvents::new(Arc::new(Recorder::default()));
    for seq in 1..=(WINDOW as i64 + 5) {
        log.changed(seq, "Phone", 1);
    }
    assert_eq!(log.after(4, 1), Replay::Resync);
    assert_eq!(seqs(log.after(5, 2)), vec![6, 7]);
}
