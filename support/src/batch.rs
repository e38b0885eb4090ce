//! Natural batching (group commit): concurrent calls that find their stage
//! busy wait together and go as one batch, up to a cap, the moment it is
//! free; each caller gets its own answer.
//!
//! There is no timer. A call that finds the stage idle is worked on at
//! once, alone, in the caller's own task: no hand-off to another task, so
//! one caller waits exactly as long as it would without batching. Calls
//! that arrive meanwhile queue; when the batch in progress ends, a task
//! takes whatever has queued (up to the cap) as the next batch, and goes on
//! until the queue is empty. Batches therefore grow with load, and a cost
//! paid per batch (a commit, a round trip) is shared by more calls exactly
//! when there are more of them.
//!
//! A batch, once started, always runs to its end: if the caller working on
//! it inline goes away (its request was cancelled), the rest of the batch
//! moves to a task of its own, so the other callers in it still get their
//! answers. Written here rather than taken from a crate: the batching
//! crates wait on timers or run their own executor.

use std::{
    collections::VecDeque,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
};

use futures::{FutureExt, future::BoxFuture};
use tokio::sync::{Semaphore, oneshot};
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Span};

use crate::telemetry::TRACE_TARGET;

/// The batch's work gave no answer for this call (it panicked), or the
/// service is stopping.
#[derive(Debug, thiserror::Error)]
#[error("the batch gave no answer")]
pub struct NoAnswer;

/// One batching stage. Cheap to clone: clones share the stage.
pub struct Batcher<T, R> {
    inner: Arc<Inner<T, R>>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T, R> std::fmt::Debug for Batcher<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("max_batch", &self.inner.max_batch)
            .finish_non_exhaustive()
    }
}

type Run<T, R> = Box<dyn Fn(Vec<T>) -> BoxFuture<'static, Vec<R>> + Send + Sync>;

struct Inner<T, R> {
    /// The stage's name, for its spans.
    name: &'static str,
    state: Mutex<State<T, R>>,
    run: Run<T, R>,
    max_batch: usize,
    /// Calls in the stage at once (working or queued): the bound on the
    /// queue; a caller beyond it waits for a slot.
    slots: Semaphore,
    /// Where work that leaves its caller's task runs: the service waits
    /// for it at shutdown, before its database closes.
    tasks: TaskTracker,
}

struct State<T, R> {
    /// A batch is being worked on.
    busy: bool,
    /// Calls waiting for the next batch, oldest first.
    queue: VecDeque<Call<T, R>>,
}

struct Call<T, R> {
    item: T,
    reply: oneshot::Sender<R>,
    /// The caller's span: the batch's work is part of its trace.
    span: Span,
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// A stage named `name` whose batches (at most `max_batch` items) are
    /// worked on by `run`, one batch at a time; `run` answers with one
    /// result per item, in order. At most `queue` calls are in the stage at
    /// once. Work that leaves its caller's task is spawned on `tasks`
    /// (the service's `Running::tracker`).
    pub fn new<F, Fut>(
        name: &'static str,
        (max_batch, queue): (usize, usize),
        tasks: TaskTracker,
        run: F,
    ) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        Self {
            inner: Arc::new(Inner {
                name,
                state: Mutex::new(State {
                    busy: false,
                    queue: VecDeque::new(),
                }),
                run: Box::new(move |items| run(items).boxed()),
                max_batch: max_batch.max(1),
                slots: Semaphore::new(queue.max(1)),
                tasks,
            }),
        }
    }

    /// Hands `item` to the stage and waits for its answer. Dropping the
    /// returned future withdraws the item if its batch has not started.
    pub async fn call(&self, item: T) -> Result<R, NoAnswer> {
        let _slot = self.inner.slots.acquire().await.map_err(|_| NoAnswer)?;
        let (reply, answer) = oneshot::channel();
        let call = Call {
            item,
            reply,
            span: Span::current(),
        };
        let idle = {
            let mut state = self.inner.lock();
            if state.busy {
                state.queue.push_back(call);
                None
            } else {
                state.busy = true;
                Some(call)
            }
        };
        if let Some(call) = idle {
            let tasks = self.inner.tasks.clone();
            Detach(Some(self.inner.clone().work(vec![call], true)), tasks).await;
        }
        answer.await.map_err(|_| NoAnswer)
    }
}

impl<T: Send + 'static, R: Send + 'static> Inner<T, R> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<T, R>> {
        // Nothing panics while holding it; if something did, the queue is
        // still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Works on `calls`, then on whatever queued meanwhile, until the queue
    /// is empty. `inline`: running in the task of the call that found the
    /// stage idle, which must not wait for later batches: those move to a
    /// task of their own.
    // Boxed: it spawns itself, and a recursive `async fn` cannot say it is Send.
    fn work(self: Arc<Self>, mut calls: Vec<Call<T, R>>, inline: bool) -> BoxFuture<'static, ()> {
        async move {
            loop {
                // Nobody waits for these any more: not worth working for.
                calls.retain(|c| !c.reply.is_closed());
                if !calls.is_empty() {
                    let span = self.span(&calls);
                    let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) =
                        calls.drain(..).map(|c| (c.item, c.reply)).unzip();
                    // A panicking batch fails its own callers (their replies
                    // are dropped), not the stage and every later caller.
                    match AssertUnwindSafe(async { (self.run)(items).await })
                        .catch_unwind()
                        .instrument(span)
                        .await
                    {
                        Ok(results) => {
                            for (reply, result) in replies.into_iter().zip(results) {
                                // The caller may have gone meanwhile.
                                let _ = reply.send(result);
                            }
                        }
                        Err(_) => tracing::error!(items = replies.len(), "a batch panicked"),
                    }
                }
                calls = {
                    let mut state = self.lock();
                    if state.queue.is_empty() {
                        state.busy = false;
                        return;
                    }
                    let n = state.queue.len().min(self.max_batch);
                    state.queue.drain(..n).collect()
                };
                if inline {
                    let tasks = self.tasks.clone();
                    tasks.spawn(self.work(calls, false));
                    return;
                }
            }
        }
        .boxed()
    }

    /// The span of one batch's work: a child of its first caller's span
    /// (so the work, wherever it runs, is part of that trace and its log
    /// lines carry that trace id), following from every other caller's.
    fn span(&self, calls: &[Call<T, R>]) -> Span {
        let Some(first) = calls.first() else {
            return Span::none();
        };
        if !crate::telemetry::exporting() {
            // The log lines need only a trace id: the first caller's span
            // has it, and a span of the batch's own would be created and
            // closed for nothing. When the batch runs in that caller's task
            // (inline), its span is the current one already, and entering
            // it again at every poll would cost for nothing as well.
            return if first.span == Span::current() {
                Span::none()
            } else {
                first.span.clone()
            };
        }
        let span = tracing::info_span!(
            target: TRACE_TARGET,
            parent: &first.span,
            "batch",
            otel.name = self.name,
            batch.stage = self.name,
            batch.size = calls.len(),
        );
        for call in &calls[1..] {
            span.follows_from(&call.span);
        }
        span
    }
}

/// Polls a batch's work in the caller's task; if the caller goes away
/// before it is done, the rest runs in a task of its own, on the tracker.
struct Detach(Option<BoxFuture<'static, ()>>, TaskTracker);

impl Future for Detach {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(work) = self.0.as_mut() else {
            return Poll::Ready(());
        };
        match work.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.0 = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Detach {
    fn drop(&mut self) {
        if let Some(work) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(self.1.track_future(work));
        }
    }
}

#[cfg(test)]
mod tests;
