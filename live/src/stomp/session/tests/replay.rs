//! Resuming subscriptions (`from-seq`): replay from the history, then live,
//! with nothing missed and nothing twice.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;

use super::{
    super::replay::{MAX_REPLAY, MAX_SESSION_REPLAY},
    Client, header, start, start_with_budget,
};
use crate::{
    error::Result,
    events::{History, Publish, Replay, Retained},
    stomp::{Broker, StompConfig},
};

/// A history in memory: events `first..=last` of `/topic/orders`.
struct Memory {
    events: Mutex<Vec<(i64, Bytes)>>,
}

impl Memory {
    fn new(seqs: std::ops::RangeInclusive<i64>) -> Arc<Self> {
        Arc::new(Self {
            events: Mutex::new(seqs.map(|seq| (seq, body(seq))).collect()),
        })
    }
}

impl History for Memory {
    fn after(
        &self,
        destination: &str,
        seq: i64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Replay>> {
        assert_eq!(destination, "/topic/orders");
        let events = self.events.lock().unwrap();
        let (first, last) = (events[0].0, events[events.len() - 1].0);
        let replay = if seq < first - 1 || seq > last {
            Replay::Resync
        } else {
            Replay::Events(
                events
                    .iter()
                    .filter(|(s, _)| *s > seq)
                    .take(limit)
                    .map(|(seq, body)| Retained::untraced(*seq, body.clone()))
                    .collect(),
            )
        };
        Box::pin(async move { Ok(replay) })
    }
}

fn body(seq: i64) -> Bytes {
    Bytes::from(format!("{{\"id\":{seq}}}"))
}

async fn resume(c: &mut Client, from_seq: &str) {
    c.send(&format!(
        "SUBSCRIBE\nid:0\ndestination:/topic/orders\nfrom-seq:{from_seq}\nreceipt:r\n\n\0"
    ))
    .await;
    assert_eq!(c.frame().await, "RECEIPT\nreceipt-id:r\n\n\0");
}

/// The seqs of the next `n` messages, checking each body matches its seq.
async fn seqs(c: &mut Client, n: usize) -> Vec<i64> {
    let mut seqs = Vec::with_capacity(n);
    for _ in 0..n {
        let m = c.frame().await;
        let seq: i64 = header(&m, "seq").expect("a seq header").parse().unwrap();
        assert!(m.ends_with(&format!("{{\"id\":{seq}}}\0")), "{m}");
        seqs.push(seq);
    }
    seqs
}

#[tokio::test]
async fn resumes_from_the_history_then_goes_live_with_no_gap_and_nothing_twice() {
    let history = Memory::new(1..=600);
    let broker = Broker::default().with_history(history.clone());
    let mut c = start(&broker, StompConfig::default(), 1024);
    c.connect().await;
    resume(&mut c, "100").await;
    // Published while the replay runs: the last two are in the history too
    // (as when the relay lags the database); the rest are new.
    for seq in 599..=603 {
        if seq > 600 {
            history.events.lock().unwrap().push((seq, body(seq)));
        }
        broker.publish("/topic/orders", Some(seq), body(seq));
    }
    assert_eq!(seqs(&mut c, 503).await, (101..=603).collect::<Vec<_>>());
    broker.publish("/topic/orders", Some(604), body(604));
    assert_eq!(seqs(&mut c, 1).await, vec![604]);
}

#[tokio::test]
async fn resuming_from_the_newest_seq_replays_nothing() {
    let broker = Broker::default().with_history(Memory::new(1..=5));
    let mut c = start(&broker, StompConfig::default(), 8);
    c.connect().await;
    resume(&mut c, "5").await;
    broker.publish("/topic/orders", Some(5), body(5));
    broker.publish("/topic/orders", Some(6), body(6));
    assert_eq!(seqs(&mut c, 1).await, vec![6]);
}

#[tokio::test]
async fn a_seq_the_history_no_longer_has_gets_resync_then_live_events() {
    for broker in [
        Broker::default().with_history(Memory::new(50..=60)),
        // No history at all: every resume is told to resync.
        Broker::default(),
    ] {
        let mut c = start(&broker, StompConfig::default(), 8);
        c.connect().await;
        resume(&mut c, "10").await;
        let resync = c.frame().await;
        assert!(resync.starts_with("MESSAGE\n"), "{resync}");
        assert_eq!(header(&resync, "resync"), Some("required"));
        assert_eq!(header(&resync, "subscription"), Some("0"));
        assert_eq!(header(&resync, "seq"), None);
        assert!(resync.ends_with("\n\n\0"), "no body: {resync}");
        broker.publish("/topic/orders", Some(61), body(61));
        assert_eq!(seqs(&mut c, 1).await, vec![61]);
    }
}

#[tokio::test]
async fn a_replay_is_bounded_beyond_that_the_client_resyncs() {
    let broker = Broker::default().with_history(Memory::new(1..=10_300));
    let mut c = start(&broker, StompConfig::default(), 1024);
    c.connect().await;
    resume(&mut c, "0").await;
    let most = MAX_REPLAY as usize;
    assert_eq!(
        seqs(&mut c, most).await,
        (1..=most as i64).collect::<Vec<_>>()
    );
    assert_eq!(header(&c.frame().await, "resync"), Some("required"));
}

#[tokio::test]
async fn an_invalid_from_seq_is_refused() {
    let broker = Broker::default().with_history(Memory::new(1..=5));
    for bad in ["abc", "-1", "1.5", ""] {
        let mut c = start(&broker, StompConfig::default(), 8);
        c.connect().await;
        c.send(&format!(
            "SUBSCRIBE\nid:0\ndestination:/topic/orders\nfrom-seq:{bad}\n\n\0"
        ))
        .await;
        let error = c.frame().await;
        assert_eq!(
            header(&error, "message"),
            Some("invalid from-seq"),
            "{bad:?}"
        );
        assert!(c.closed().await);
    }
}

/// A replay to a client that reads slowly never queues more than its share
/// of the budget (it waits for room; it is not dropped) and is complete, in
/// order, followed by the live events published meanwhile, with no gap and
/// nothing twice.
#[tokio::test]
async fn a_replay_to_a_slow_reader_is_paced_by_what_it_reads() {
    const BUDGET: usize = 4096;
    let history = Memory::new(1..=2_000);
    let broker = Broker::default().with_history(history.clone());
    let mut c = start_with_budget(&broker, StompConfig::default(), 4096, BUDGET);
    c.connect().await;
    resume(&mut c, "0").await;
    let mut got = Vec::new();
    let mut most_queued = 0;
    while got.len() < 2_010 {
        // Slow: the session gets every chance to queue more first.
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
        most_queued = most_queued.max(c.from_server.queued());
        got.extend(seqs(&mut c, 1).await);
        if got.len() == 1_000 {
            // Published mid-replay: the first two are in the history too
            // (the relay lagging the database), the rest are new.
            for seq in 1_999..=2_010 {
                if seq > 2_000 {
                    history.events.lock().unwrap().push((seq, body(seq)));
                }
                broker.publish("/topic/orders", Some(seq), body(seq));
            }
        }
    }
    assert_eq!(got, (1..=2_010).collect::<Vec<_>>());
    assert!(
        most_queued <= BUDGET / 2,
        "a replay queued {most_queued} bytes, past half of {BUDGET}"
    );
    assert!(!c.task.is_finished(), "the slow reader was not dropped");
}

/// One session is replayed at most MAX_SESSION_REPLAY events whatever its
/// number of subscriptions; a subscription past it is told to resync, then
/// goes live.
#[tokio::test]
async fn a_session_is_replayed_a_bounded_number_of_events() {
    const LOGGED: u64 = 8_000;
    let broker = Broker::default().with_history(Memory::new(1..=LOGGED as i64));
    let mut c = start(&broker, StompConfig::default(), 1024);
    c.connect().await;
    for id in ["a", "b", "c"] {
        c.send(&format!(
            "SUBSCRIBE\nid:{id}\ndestination:/topic/orders\nfrom-seq:0\n\n\0"
        ))
        .await;
    }
    let mut replayed = std::collections::HashMap::<String, u64>::new();
    let mut resynced = Vec::new();
    while resynced.is_empty() {
        let m = c.frame().await;
        let sub = header(&m, "subscription").unwrap().to_owned();
        if header(&m, "resync") == Some("required") {
            resynced.push(sub);
        } else {
            *replayed.entry(sub).or_default() += 1;
        }
    }
    assert_eq!(resynced, ["c"]);
    assert_eq!(replayed["a"], LOGGED);
    assert_eq!(replayed["b"], LOGGED);
    assert_eq!(replayed["c"], MAX_SESSION_REPLAY - 2 * LOGGED);
    // Then live, for every subscription.
    broker.publish("/topic/orders", Some(8_001), body(8_001));
    let mut live = Vec::new();
    for _ in 0..3 {
        let m = c.frame().await;
        assert_eq!(header(&m, "seq"), Some("8001"), "{m}");
        live.push(header(&m, "subscription").unwrap().to_owned());
    }
    live.sort();
    assert_eq!(live, ["a", "b", "c"]);
}
