//! SockJS sessions of the HTTP transports: a session outlives each request.
//! Messages for the client wait in a bounded queue until a receiving request
//! (xhr, xhr_streaming, eventsource, htmlfile) takes them; one receiver at a
//! time. A session without a receiver for `disconnect_delay` is closed, which
//! ends its STOMP session. Locks are `std` mutexes held for a few
//! instructions, never across an await.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use tokio::{
    sync::{Notify, OwnedSemaphorePermit, mpsc},
    time::Instant,
};

use super::frames;
use crate::transport::{Connection, Shared};

/// Messages buffered from xhr_send before the STOMP session takes them.
const INCOMING_CAPACITY: usize = 32;

/// All live HTTP-transport sessions, by id.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, Arc<Session>>>>);

/// What a receiving request finds.
pub enum Attach {
    /// It is now the receiver; `fresh` when it created the session.
    Receiver {
        /// The session.
        session: Arc<Session>,
        /// Send `o` first.
        fresh: bool,
    },
    /// Answer with this frame and end (closed, or another receiver).
    Refused(&'static str),
    /// Too many connections.
    Full,
}

/// One session.
pub struct Session {
    state: Mutex<State>,
    /// Wakes receivers (new messages, close) and the pump (room in the queue).
    changed: Notify,
    capacity: usize,
}

struct State {
    queue: VecDeque<String>,
    receiving: bool,
    closed: bool,
    idle_since: Instant,
    to_app: Option<mpsc::Sender<String>>,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session `id`, if it exists.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.lock().get(id).cloned()
    }

    /// Attaches a receiving request to session `id`, creating the session
    /// (and its STOMP session) if it is new.
    pub fn attach(&self, id: &str, shared: &Shared, peer: Option<SocketAddr>) -> Attach {
        let mut sessions = self.lock();
        if let Some(session) = sessions.get(id) {
            let mut state = session.lock();
            if state.closed {
                return Attach::Refused(frames::GO_AWAY);
            }
            if state.receiving {
                return Attach::Refused(frames::ANOTHER_CONNECTION);
            }
            state.receiving = true;
            return Attach::Receiver {
                session: session.clone(),
                fresh: false,
            };
        }
        let Ok(permit) = shared.slots.clone().try_acquire_owned() else {
            return Attach::Full;
        };
        let config = &shared.config;
        let (to_app, incoming) = mpsc::channel(INCOMING_CAPACITY);
        let (outgoing, from_app) = mpsc::channel(config.outgoing_capacity);
        let session = Arc::new(Session {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                receiving: true,
                closed: false,
                idle_since: Instant::now(),
                to_app: Some(to_app),
            }),
            changed: Notify::new(),
            capacity: config.outgoing_capacity,
        });
        sessions.insert(id.to_owned(), session.clone());
        tokio::spawn((shared.handler)(Connection {
            incoming,
            outgoing,
            peer,
        }));
        tokio::spawn(pump(session.clone(), from_app));
        tokio::spawn(reap(
            self.clone(),
            id.to_owned(),
            session.clone(),
            config.disconnect_delay,
            permit,
        ));
        Attach::Receiver {
            session,
            fresh: true,
        }
    }
}

/// Moves the STOMP session's messages into the queue; closes the session
/// when the STOMP session ends.
async fn pump(session: Arc<Session>, mut from_app: mpsc::Receiver<String>) {
    while let Some(message) = from_app.recv().await {
        loop {
            let room = session.changed.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut state = session.lock();
                if state.closed {
                    return;
                }
                if state.queue.len() < session.capacity {
                    state.queue.push_back(message);
                    break;
                }
            }
            // Full: the STOMP session's own send timeout drops a client
            // that never reads; here we just wait for room.
            room.await;
        }
        session.changed.notify_waiters();
    }
    session.close();
}

/// Closes the session after `delay` without a receiver, and forgets it
/// `delay` after it closed (late requests meanwhile get the close frame).
async fn reap(
    sessions: Sessions,
    id: String,
    session: Arc<Session>,
    delay: Duration,
    permit: OwnedSemaphorePermit,
) {
    loop {
        let wake = {
            let state = session.lock();
            if state.closed {
                break;
            }
            if state.receiving {
                Instant::now() + delay
            } else {
                state.idle_since + delay
            }
        };
        tokio::time::sleep_until(wake).await;
        let state = session.lock();
        if !state.closed && !state.receiving && state.idle_since.elapsed() >= delay {
            drop(state);
            session.close();
        }
    }
    drop(permit);
    tokio::time::sleep(delay).await;
    sessions.lock().remove(&id);
}

impl Session {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ends the session: the STOMP session's input ends, receivers get `c[3000,…]`.
    pub fn close(&self) {
        {
            let mut state = self.lock();
            state.closed = true;
            state.to_app = None;
        }
        self.changed.notify_waiters();
    }

    /// The receiver went away.
    pub fn detach(&self) {
        let mut state = self.lock();
        state.receiving = false;
        state.idle_since = Instant::now();
    }

    /// Where xhr_send delivers; `None` once closed.
    pub fn to_app(&self) -> Option<mpsc::Sender<String>> {
        self.lock().to_app.clone()
    }

    /// The next frame for the receiver: queued messages as one `a[…]`, the
    /// close frame, or `h` after `heartbeat` of silence.
    pub async fn next_frame(&self, heartbeat: Duration) -> (String, bool) {
        let deadline = Instant::now() + heartbeat;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut state = self.lock();
                if !state.queue.is_empty() {
                    let batch: Vec<String> = state.queue.drain(..).collect();
                    drop(state);
                    self.changed.notify_waiters();
                    return (frames::messages(&batch), false);
                }
                if state.closed {
                    return (frames::GO_AWAY.to_owned(), true);
                }
            }
            tokio::select! {
                () = &mut changed => {}
                () = tokio::time::sleep_until(deadline) => return ("h".to_owned(), false),
            }
        }
    }
}
