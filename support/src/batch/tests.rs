use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::Semaphore;

use super::*;

/// Every batch the worker started, in order.
type Seen = Arc<Mutex<Vec<Vec<u32>>>>;

/// A worker that records each batch and holds it until the test lets it go
/// (one permit per batch), answering each item doubled.
fn gated(max: usize) -> (Batcher<u32, u32>, Seen, Arc<Semaphore>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let gate = Arc::new(Semaphore::new(0));
    let batcher = Batcher::new("test", (max, 1024), TaskTracker::new(), {
        let seen = seen.clone();
        let gate = gate.clone();
        move |items: Vec<u32>| {
            seen.lock().unwrap().push(items.clone());
            let gate = gate.clone();
            async move {
                gate.acquire().await.unwrap().forget();
                if items.contains(&13) {
                    panic!("unlucky batch");
                }
                items.into_iter().map(|i| i * 2).collect()
            }
        }
    });
    (batcher, seen, gate)
}

/// Lets the other tasks run until `condition` holds (it depends on nothing
/// else); fails the test if that takes longer than 10 s.
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let polling = async {
        while !condition() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), polling)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within 10 s"));
}

/// Waits until `n` items wait for the next batch.
async fn queued(b: &Batcher<u32, u32>, n: usize) {
    let what = format!("{n} calls queued");
    wait_until(&what, || b.inner.lock().queue.len() >= n).await;
}

/// Waits until `n` batches have started.
async fn started(seen: &Mutex<Vec<Vec<u32>>>, n: usize) {
    let what = format!("{n} batches started");
    wait_until(&what, || seen.lock().unwrap().len() >= n).await;
}

#[tokio::test]
async fn a_lone_call_goes_at_once_and_later_ones_go_together() {
    let (b, seen, gate) = gated(64);
    gate.add_permits(1);
    assert_eq!(b.call(1).await.unwrap(), 2);
    assert_eq!(*seen.lock().unwrap(), vec![vec![1]]);

    // While a batch is being worked on, others queue and then go as one.
    let first = tokio::spawn({
        let b = b.clone();
        async move { b.call(10).await }
    });
    started(&seen, 2).await;
    let rest: Vec<_> = (20..30)
        .map(|i| {
            let b = b.clone();
            tokio::spawn(async move { b.call(i).await })
        })
        .collect();
    queued(&b, 10).await;
    gate.add_permits(2);
    assert_eq!(first.await.unwrap().unwrap(), 20);
    for (i, r) in (20..30).zip(rest) {
        assert_eq!(r.await.unwrap().unwrap(), i * 2);
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    let mut last = seen[2].clone();
    last.sort_unstable();
    assert_eq!(last, (20..30).collect::<Vec<_>>());
}

#[tokio::test]
async fn batches_are_capped() {
    let (b, seen, gate) = gated(4);
    let hold = tokio::spawn({
        let b = b.clone();
        async move { b.call(0).await }
    });
    started(&seen, 1).await;
    let calls: Vec<_> = (1..=10)
        .map(|i| {
            let b = b.clone();
            tokio::spawn(async move { b.call(i).await })
        })
        .collect();
    queued(&b, 10).await;
    gate.add_permits(4);
    hold.await.unwrap().unwrap();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    let sizes: Vec<usize> = seen.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![1, 4, 4, 2]);
}

#[tokio::test]
async fn a_panicking_batch_fails_its_callers_only() {
    let (b, _seen, gate) = gated(64);
    gate.add_permits(3);
    assert!(b.call(13).await.is_err());
    assert_eq!(b.call(4).await.unwrap(), 8);
}

#[tokio::test]
async fn a_withdrawn_call_is_not_worked_on() {
    let (b, seen, gate) = gated(64);
    let hold = tokio::spawn({
        let b = b.clone();
        async move { b.call(0).await }
    });
    started(&seen, 1).await;
    let withdrawn = tokio::spawn({
        let b = b.clone();
        async move { b.call(99).await }
    });
    queued(&b, 1).await;
    withdrawn.abort();
    assert!(withdrawn.await.unwrap_err().is_cancelled());
    let kept = tokio::spawn({
        let b = b.clone();
        async move { b.call(5).await }
    });
    queued(&b, 2).await;
    gate.add_permits(2);
    hold.await.unwrap().unwrap();
    assert_eq!(kept.await.unwrap().unwrap(), 10);
    assert_eq!(*seen.lock().unwrap(), vec![vec![0], vec![5]]);
}

#[tokio::test]
async fn a_batch_outlives_the_caller_working_on_it() {
    let (b, seen, gate) = gated(64);
    // The first caller works on its batch in its own task, and is
    // cancelled in the middle of it, with another call queued behind.
    let leader = tokio::spawn({
        let b = b.clone();
        async move { b.call(1).await }
    });
    started(&seen, 1).await;
    let follower = tokio::spawn({
        let b = b.clone();
        async move { b.call(2).await }
    });
    queued(&b, 1).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    // Its batch still ends, and the stage goes on.
    gate.add_permits(3);
    assert_eq!(follower.await.unwrap().unwrap(), 4);
    assert_eq!(b.call(3).await.unwrap(), 6);
    assert_eq!(*seen.lock().unwrap(), vec![vec![1], vec![2], vec![3]]);
}

#[tokio::test]
async fn a_lone_call_is_worked_on_in_the_callers_task() {
    let task = Arc::new(Mutex::new(None));
    let b = Batcher::new("test", (8, 8), TaskTracker::new(), {
        let task = task.clone();
        move |items: Vec<u32>| {
            let task = task.clone();
            async move {
                *task.lock().unwrap() = tokio::task::try_id();
                items
            }
        }
    });
    let caller = tokio::spawn(async move {
        b.call(7).await.unwrap();
        tokio::task::id()
    });
    let id = caller.await.unwrap();
    assert_eq!(*task.lock().unwrap(), Some(id));
}
