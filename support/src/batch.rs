//! Natural batching (group commit): concurrent callers hand their items to
//! one worker, which takes whatever is queued, up to a cap, as one batch
//! the moment it is free, and answers each caller.
//!
//! There is no timer: an item that arrives while the worker is idle is
//! worked on at once, alone, so one caller waits no longer than it would
//! without batching; items that arrive while a batch is being worked on
//! wait for it and then go together. Batches therefore grow with load, and
//! a cost paid per batch (a commit, a round trip) is shared by more items
//! exactly when there are more of them.

use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};

/// The worker is gone (the service is stopping), or its batch failed
/// without an answer for this item.
#[derive(Debug, thiserror::Error)]
#[error("the batch worker gave no answer")]
pub struct NoAnswer;

/// A handle on one batching worker. Cheap to clone; the worker stops when
/// the last handle is dropped.
#[derive(Debug)]
pub struct Batcher<T, R> {
    queue: mpsc::Sender<Call<T, R>>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

#[derive(Debug)]
struct Call<T, R> {
    item: T,
    reply: oneshot::Sender<R>,
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts a worker that calls `run` with batches of at most `max_batch`
    /// items, one batch at a time; `run` answers with one result per item,
    /// in order. At most `queue` items wait (callers beyond that wait to
    /// enqueue: the queue is bounded). Must be called within a Tokio runtime.
    pub fn spawn<F, Fut>(max_batch: usize, queue: usize, run: F) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(queue.max(1));
        tokio::spawn(work(rx, max_batch.max(1), run));
        Self { queue: tx }
    }

    /// Hands `item` to the worker and waits for its answer. Dropping the
    /// returned future withdraws the item if its batch has not started.
    pub async fn call(&self, item: T) -> Result<R, NoAnswer> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Call { item, reply })
            .await
            .map_err(|_| NoAnswer)?;
        answer.await.map_err(|_| NoAnswer)
    }
}

async fn work<T, R, F, Fut>(mut queue: mpsc::Receiver<Call<T, R>>, max_batch: usize, mut run: F)
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<R>>,
{
    let mut calls = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut calls, max_batch).await > 0 {
        // Nobody waits for these any more (the request was cancelled or
        // gave up): not worth working for.
        calls.retain(|c: &Call<T, R>| !c.reply.is_closed());
        if calls.is_empty() {
            continue;
        }
        let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) =
            calls.drain(..).map(|c| (c.item, c.reply)).unzip();
        // A panicking batch fails its own callers (their replies are
        // dropped), not the worker and every later caller with it.
        match AssertUnwindSafe(async { run(items).await })
            .catch_unwind()
            .await
        {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    // The caller may have gone meanwhile; nothing to do.
                    let _ = reply.send(result);
                }
            }
            Err(_) => tracing::error!(items = replies.len(), "a batch panicked"),
        }
    }
}

#[cfg(test)]
mod tests;
