//! Sessions of the SockJS HTTP transports: a session outlives each request.
//!
//! The handler's outgoing queue (bounded in bytes, see `outgoing`) belongs to the
//! session. A receiving request (xhr, xhr_streaming, eventsource,
//! htmlfile) borrows it as a [`Lease`] while it is attached and gives it
//! back when it ends, so messages sent between two requests wait in that
//! one bounded queue and reach the next request in order. One lease at a
//! time: a second receiver is refused with `c[2010,…]`.
//!
//! A session without a receiver for `disconnect_delay` is closed, which
//! ends the handler's `incoming`; so is one whose queue passed its byte
//! budget, at once, receiver or not (the client is not keeping up).
//! Between two polls the messages wait in that budget, so a client that
//! stops polling holds no more than it. A closed session keeps answering its
//! close frame for another `disconnect_delay`, then is forgotten. One
//! reaper task per session does both with timers; locks are `std` mutexes
//! held for a few instructions, never across an await.

use std::{
    collections::HashMap,
    net::SocketAddr,
    pin::pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use tokio::{
    sync::{Notify, mpsc},
    time::{Instant, sleep, sleep_until},
};
use tokio_util::sync::CancellationToken;

use super::frames;
use support::http::Client;

use crate::transport::{
    Admission, Connection, INCOMING_CAPACITY, SHUTDOWN_GOODBYE, Shared, outgoing::Queued,
};

/// Longest session id accepted. SockJS clients use 8 random characters
/// (UUIDs in the protocol tests); the bound keeps a client from parking
/// kilobytes of path in the registry per session.
pub(super) const MAX_SESSION_ID: usize = 128;

/// All live (and recently closed) HTTP-transport sessions, by id. Their
/// number is bounded by the seats ([`Admission`]) each one holds.
#[derive(Clone, Default)]
pub(in crate::transport) struct Sessions(Arc<Mutex<HashMap<String, Arc<Session>>>>);

/// What a receiving request finds.
pub(super) enum Attach {
    /// It is now the receiver; `fresh` when it created the session (send
    /// the open frame first).
    Receiver { lease: Lease, fresh: bool },
    /// Answer with this close frame and end: the session is closed, or
    /// another receiver is attached.
    Refused(&'static str),
    /// Too many connections.
    Full,
}

/// One session.
pub(super) struct Session {
    state: Mutex<State>,
    /// Wakes the reaper when a receiver detaches.
    detached: Notify,
    /// Cancelled when the session closes: wakes its receiver and reaper.
    closed: CancellationToken,
    /// Cancelled when the handler's queue passed its byte budget: the
    /// session is then closed.
    overflowed: CancellationToken,
    /// The service's shutdown: a handler that ends after it closes the
    /// session with the restart frame, not the usual one.
    stopping: CancellationToken,
}

struct State {
    /// The handler's messages; `None` while a lease holds them, or closed.
    from_app: Option<Queued>,
    /// Where xhr_send delivers; `None` once closed, which ends `incoming`.
    to_app: Option<mpsc::Sender<String>>,
    receiving: bool,
    /// The close frame later requests get, once closed.
    close_frame: Option<&'static str>,
    idle_since: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these small states half-updated in a
    // way that matters more than refusing every later request would.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sessions {
    /// The session `id`, if it exists.
    pub(super) fn get(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.0).get(id).cloned()
    }

    /// Attaches a receiving request to session `id`, creating the session
    /// (and starting the handler on it) when it is new.
    pub(super) fn attach(
        &self,
        id: &str,
        shared: &Shared,
        (peer, client): (Option<SocketAddr>, Client),
    ) -> Attach {
        let mut sessions = lock(&self.0);
        if let Some(session) = sessions.get(id) {
            let mut state = lock(&session.state);
            if let Some(frame) = state.close_frame {
                return Attach::Refused(frame);
            }
            if state.receiving {
                return Attach::Refused(frames::ANOTHER_CONNECTION);
            }
            state.receiving = true;
            let from_app = state.from_app.take();
            return Attach::Receiver {
                lease: Lease::new(session.clone(), from_app),
                fresh: false,
            };
        }
        let Some(admission) = shared.budgets.enter(client) else {
            return Attach::Full;
        };
        let (to_app, incoming) = mpsc::channel(INCOMING_CAPACITY);
        let (outgoing, from_app) = shared.outgoing();
        let session = Arc::new(Session {
            state: Mutex::new(State {
                from_app: None,
                to_app: Some(to_app),
                receiving: true,
                close_frame: None,
                idle_since: Instant::now(),
            }),
            detached: Notify::new(),
            closed: CancellationToken::new(),
            overflowed: from_app.overflow(),
            stopping: shared.shutdown.clone(),
        });
        sessions.insert(id.to_owned(), session.clone());
        shared.spawn_handler(Connection {
            incoming,
            outgoing,
            peer,
            admission: admission.clone(),
            stopping: shared.shutdown.clone(),
        });
        tokio::spawn(reap(
            self.clone(),
            id.to_owned(),
            session.clone(),
            shared.clone(),
            admission,
        ));
        Attach::Receiver {
            lease: Lease::new(session, Some(from_app)),
            fresh: true,
        }
    }

    /// Forgets `id` if it still names `session` (not a newer one).
    fn remove(&self, id: &str, session: &Arc<Session>) {
        let mut sessions = lock(&self.0);
        if sessions.get(id).is_some_and(|s| Arc::ptr_eq(s, session)) {
            sessions.remove(id);
        }
    }
}

/// Closes `session` after `disconnect_delay` without a receiver (or at
/// shutdown, once the handler has said goodbye or [`SHUTDOWN_GOODBYE`]
/// passed), and forgets it `disconnect_delay` after it closed; late
/// requests meanwhile get its close frame.
async fn reap(
    sessions: Sessions,
    id: String,
    session: Arc<Session>,
    shared: Shared,
    seat: Admission,
) {
    let delay = shared.config.disconnect_delay;
    let shed = seat.shed();
    // Set at shutdown: when the session closes whether or not the handler
    // has ended (its goodbye, a STOMP ERROR, reaches a receiver first).
    let mut goodbye_by: Option<Instant> = None;
    while !session.closed.is_cancelled() {
        let mut detached = pin!(session.detached.notified());
        detached.as_mut().enable();
        let idle_since = {
            let state = lock(&session.state);
            (!state.receiving).then_some(state.idle_since)
        };
        let deadline = idle_since.map_or_else(Instant::now, |t| t + delay);
        tokio::select! {
            () = &mut detached => {}
            () = session.closed.cancelled() => {}
            () = shared.shutdown.cancelled(), if goodbye_by.is_none() => {
                goodbye_by = Some(Instant::now() + SHUTDOWN_GOODBYE);
            }
            () = sleep_until(goodbye_by.unwrap_or_else(Instant::now)), if goodbye_by.is_some() => {
                session.close(frames::RESTART);
            }
            // Its handshake seat went to another client.
            () = shed.cancelled() => session.close(frames::GO_AWAY),
            () = session.overflowed.cancelled() => session.close(frames::GO_AWAY),
            () = sleep_until(deadline), if idle_since.is_some() => session.close_if_idle(delay),
        }
    }
    sleep(delay).await;
    sessions.remove(&id, &session);
}

impl Session {
    /// Where xhr_send delivers; `None` once closed.
    pub(super) fn to_app(&self) -> Option<mpsc::Sender<String>> {
        lock(&self.state).to_app.clone()
    }

    /// Ends the session: the handler's `incoming` ends, its `outgoing`
    /// fails, later requests get `frame`. Closing twice keeps the first.
    pub(super) fn close(&self, frame: &'static str) {
        {
            let mut state = lock(&self.state);
            state.close_frame.get_or_insert(frame);
            state.to_app = None;
            state.from_app = None;
        }
        self.closed.cancel();
    }

    /// The close frame for a handler that ended.
    fn goodbye(&self) -> &'static str {
        if self.stopping.is_cancelled() {
            frames::RESTART
        } else {
            frames::GO_AWAY
        }
    }

    fn close_if_idle(&self, delay: Duration) {
        let idle = {
            let state = lock(&self.state);
            !state.receiving && state.idle_since.elapsed() >= delay
        };
        if idle {
            self.close(frames::GO_AWAY);
        }
    }
}

/// The right to receive on a session, held by one request at a time.
/// Dropped without [`Lease::finish`] (the client aborted the request, the
/// writer failed) it closes the session with `c[1002,…]`: frames may have
/// been lost, and the protocol lets a server close such a session.
pub(super) struct Lease {
    session: Arc<Session>,
    from_app: Option<Queued>,
    finished: bool,
}

/// The next frame for a receiver.
pub(super) enum Next {
    /// An `a[…]` frame of queued messages.
    Messages(String),
    /// Nothing for a heart-beat period.
    Heartbeat,
    /// The session is closed; send this frame and end.
    Closed(&'static str),
}

impl Lease {
    fn new(session: Arc<Session>, from_app: Option<Queued>) -> Self {
        Self {
            session,
            from_app,
            finished: false,
        }
    }

    /// Waits for the next frame: queued messages, the close frame, or a
    /// heart-beat after `heartbeat` of silence.
    pub(super) async fn next(&mut self, heartbeat: Duration) -> Next {
        let Some(from_app) = self.from_app.as_mut() else {
            return Next::Closed(self.close_frame());
        };
        tokio::select! {
            // Before the queue: an overflowed queue is not drained.
            biased;
            () = self.session.overflowed.cancelled() => {
                self.session.close(frames::GO_AWAY);
                Next::Closed(self.close_frame())
            }
            message = from_app.recv() => match message {
                Some(m) => Next::Messages(frames::batch(m, from_app)),
                // The handler dropped its sender and everything it sent
                // has been delivered: the session is over.
                None => {
                    self.session.close(self.session.goodbye());
                    Next::Closed(self.close_frame())
                }
            },
            () = self.session.closed.cancelled() => Next::Closed(self.close_frame()),
            () = sleep(heartbeat) => Next::Heartbeat,
        }
    }

    /// Cancelled when the session's queue passes its byte budget.
    pub(super) fn overflowed(&self) -> CancellationToken {
        self.session.overflowed.clone()
    }

    fn close_frame(&self) -> &'static str {
        lock(&self.session.state)
            .close_frame
            .unwrap_or(frames::GO_AWAY)
    }

    /// The request ended normally: the next request may receive.
    pub(super) fn finish(mut self) {
        self.finished = true;
    }

    /// Ends the session (the client is too slow, or the service stops);
    /// later requests get `frame`.
    pub(super) fn end_session(&self, frame: &'static str) {
        self.session.close(frame);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.finished {
            self.session.close(frames::INTERRUPTED);
        }
        {
            let mut state = lock(&self.session.state);
            if state.close_frame.is_none() {
                state.from_app = self.from_app.take();
            }
            state.receiving = false;
            state.idle_since = Instant::now();
        }
        self.session.detached.notify_waiters();
    }
}
