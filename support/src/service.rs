//! Running a service: its servers and background tasks as one set, stopped
//! together and gracefully; and the `healthcheck` subcommand's reporting.
//!
//! Stopping goes in steps (`Running::stop`), so that nothing in flight is
//! lost: draining (readiness down, HTTP/1 answers say `Connection: close`,
//! serving goes on), `SHUTDOWN_DELAY_MS` for a load balancer to notice,
//! then the listeners close and in-flight work (requests, live sessions
//! told to reconnect, work that outlived its request) gets
//! `SHUTDOWN_TIMEOUT_MS`, and last the database closes.

use std::{
    net::IpAddr,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::Context;
use tokio::net::TcpListener;

use tokio::task::JoinSet;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{actuator::Readiness, db::Db};

/// [`ShutdownSettings::shutdown_delay_ms`]'s default: nothing to wait for
/// unless a load balancer follows readiness.
const DEFAULT_DELAY_MS: u64 = 0;

/// [`ShutdownSettings::shutdown_timeout_ms`]'s default (why 20 s: there).
const DEFAULT_TIMEOUT_MS: u64 = 20_000;

/// How a service stops, from the environment or CLI flags (flattened into
/// each service's configuration; the launcher shares one for both).
#[derive(Clone, Debug, clap::Args)]
pub struct ShutdownSettings {
    /// After SIGTERM, how long the service goes on serving, with readiness
    /// and gRPC health already down, before its listeners close, in
    /// milliseconds: the time a load balancer needs to stop sending it
    /// work. 0 closes them at once (nothing routes by readiness).
    #[arg(long, env = "SHUTDOWN_DELAY_MS", default_value_t = DEFAULT_DELAY_MS)]
    pub shutdown_delay_ms: u64,
    /// Once the listeners closed, how long in-flight requests, order
    /// batches and live connections get to finish, in milliseconds; the
    /// database closes after them or after this. 20 s: an order's longest
    /// path (a batch waiting on inventory's reserve timeout, then its
    /// commit) takes a few seconds at worst, and a container manager's
    /// grace period (compose's `stop_grace_period`) must exceed the delay
    /// plus this, or SIGKILL cuts the database close.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_MS", default_value_t = DEFAULT_TIMEOUT_MS)]
    pub shutdown_timeout_ms: u64,
}

impl Default for ShutdownSettings {
    /// The defaults the services run with.
    fn default() -> Self {
        Self {
            shutdown_delay_ms: DEFAULT_DELAY_MS,
            shutdown_timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }
}

impl ShutdownSettings {
    /// The pre-stop delay.
    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.shutdown_delay_ms)
    }

    /// The drain timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

/// The two moments of stopping, as servers watch them: `draining` first
/// (serve on, but tell HTTP/1 clients to close their connections), then
/// `shutdown` (stop accepting, finish what is in flight).
#[derive(Clone, Debug)]
pub struct Stopping {
    /// Cancelled when stopping begins.
    pub draining: CancellationToken,
    /// Cancelled when the listeners close, after the delay.
    pub shutdown: CancellationToken,
}

/// The tasks of a running service and what stops them.
pub struct Running {
    stopping: Stopping,
    tasks: JoinSet<anyhow::Result<()>>,
    /// Work that outlives the request that began it.
    detached: TaskTracker,
    db: Db,
    settings: ShutdownSettings,
    /// When draining began, once it has.
    draining_since: Option<Instant>,
    readiness: Readiness,
}

impl Running {
    /// The tasks of a service using `db`, stopping as `settings` say: at
    /// first only the one that keeps its [`Readiness`] following the
    /// database and draining. Call it within a Tokio runtime.
    pub fn new(db: Db, settings: ShutdownSettings) -> Self {
        let draining = CancellationToken::new();
        let (readiness, follow) = Readiness::follow(&db, draining.clone());
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            follow.await;
            Ok(())
        });
        Self {
            stopping: Stopping {
                draining,
                shutdown: CancellationToken::new(),
            },
            tasks,
            detached: TaskTracker::new(),
            db,
            settings,
            draining_since: None,
            readiness,
        }
    }

    /// Whether the service should get new work: what
    /// `/actuator/health/readiness` and the gRPC health service report.
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// Cancelled the moment the service begins to stop, before its
    /// listeners close: readiness and the gRPC health service watch it, so
    /// a load balancer stops sending new work while in-flight work ends.
    pub fn draining(&self) -> CancellationToken {
        self.stopping.draining.clone()
    }

    /// Cancelled when the service stops; servers and loops watch it.
    pub fn shutdown(&self) -> CancellationToken {
        self.stopping.shutdown.clone()
    }

    /// Both moments, for a server that behaves differently in each.
    pub fn stopping(&self) -> Stopping {
        self.stopping.clone()
    }

    /// Adds a server or background task.
    pub fn spawn(&mut self, task: impl Future<Output = anyhow::Result<()>> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Where work that outlives the request that began it runs (a batch
    /// its caller left, a release after a rejection): stopping waits for
    /// it, once the servers have ended, before the database closes.
    pub fn tracker(&self) -> TaskTracker {
        self.detached.clone()
    }

    /// Runs background work (a relay, a sweeper) until it ends at shutdown:
    /// it never fails the service, and logs its own trouble.
    pub fn spawn_background(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(async move {
            task.await;
            Ok(())
        });
    }

    /// Begins stopping: readiness and gRPC health go down, HTTP/1 answers
    /// carry `Connection: close`, and serving goes on until [`Self::stop`]
    /// has waited out `SHUTDOWN_DELAY_MS` from now. The launcher calls it
    /// on both services at once, so their delays run together. Calling it
    /// again changes nothing.
    pub fn drain(&mut self) {
        if self.draining_since.is_some() {
            return;
        }
        self.draining_since = Some(Instant::now());
        tracing::info!(
            delay_ms = self.settings.shutdown_delay_ms,
            "draining: readiness down, serving on until the listeners close (SHUTDOWN_DELAY_MS)"
        );
        self.stopping.draining.cancel();
    }

    /// Stops in order: draining (if not begun yet), serving on for the
    /// rest of `SHUTDOWN_DELAY_MS`, closing the listeners, letting
    /// in-flight requests, batches and live connections finish (up to
    /// `SHUTDOWN_TIMEOUT_MS`), then closing the database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.drain();
        let since = self.draining_since.unwrap_or_else(Instant::now);
        tokio::time::sleep_until((since + self.settings.delay()).into()).await;
        tracing::info!(
            timeout_ms = self.settings.shutdown_timeout_ms,
            "closing the listeners; waiting for in-flight work (SHUTDOWN_TIMEOUT_MS)"
        );
        self.stopping.shutdown.cancel();
        let drained = tokio::time::timeout(self.settings.timeout(), async {
            while let Some(joined) = self.tasks.join_next().await {
                joined??;
            }
            // No request is left to start more.
            self.detached.close();
            self.detached.wait().await;
            anyhow::Ok(())
        })
        .await;
        // Whatever did not finish is aborted before the pool closes, so
        // nothing waits on a closed pool.
        self.tasks.abort_all();
        self.db.close().await;
        match drained {
            Ok(result) => result,
            Err(_) => anyhow::bail!(
                "in-flight work did not finish within SHUTDOWN_TIMEOUT_MS ({} ms); the database was closed regardless",
                self.settings.shutdown_timeout_ms
            ),
        }
    }

    /// Serves until `signal` resolves or a task fails, then stops gracefully.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::select! {
            () = signal => {}
            Some(joined) = self.tasks.join_next() => {
                joined??;
                anyhow::bail!("a server stopped unexpectedly");
            }
        }
        self.stop().await
    }
}

/// Runs a service's start-up, the future that `start_up` makes, to its
/// end inside `runtime` on a thread of its own, and returns its output.
/// The tasks it spawns go on running on `runtime`.
///
/// Why not on the main thread: start-up polls futures whose frames are
/// tens of KiB each and nest (in order-service the server's start, the
/// database's opening with its migrations and the OpenAPI document's merge
/// are 40-50 KiB each), and a thread keeps every page of stack it has
/// touched for as long as it runs. On the main thread, which runs until
/// the process ends, that was ~180 KiB of stack, and with what start-up
/// left in the thread's allocator cache 0.6-0.8 MiB of order-service's
/// idle RSS; a thread that ends gives both back (bench/README.md, "Where
/// one order's CPU goes").
pub fn start_up<T: Send, F: Future<Output = anyhow::Result<T>>>(
    runtime: &tokio::runtime::Runtime,
    start_up: impl FnOnce() -> F + Send,
) -> anyhow::Result<T> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("start-up".to_owned())
            .spawn_scoped(scope, || runtime.block_on(start_up()))
            .context("starting the start-up thread")?
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Runs a health probe with a 3 s limit, prints its verdict and turns it
/// into the process exit code. The probe answers (healthy, what it saw).
pub async fn healthcheck(probe: impl Future<Output = anyhow::Result<(bool, String)>>) -> ExitCode {
    match tokio::time::timeout(Duration::from_secs(3), probe).await {
        Ok(Ok((true, seen))) => {
            println!("{seen}");
            ExitCode::SUCCESS
        }
        Ok(Ok((false, seen))) => {
            println!("unhealthy: {seen}");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            println!("unhealthy: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            println!("unhealthy: no answer within 3 s");
            ExitCode::FAILURE
        }
    }
}

/// Raises this process's soft limit on open files to its hard limit, as Go
/// and nginx do: every WebSocket subscriber is a descriptor, and a soft
/// limit of 1,024 (common outside containers) would refuse the 1,021st.
pub fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open file limit"),
    }
}

/// Descriptors kept out of the connection caps: database connections,
/// files being served, listeners, logs, the gRPC side.
const RESERVED_FILES: u64 = 256;

/// Scales `caps` (connection limits that together may use as many
/// descriptors) down, in proportion, so that their sum plus a reserve fits
/// this process's open-file limit; returns the caps to use. Then the caps,
/// which refuse politely and keep serving everyone else, are what stops a
/// flood, and not the kernel's `EMFILE`, which stops the accept loop and
/// fails database connections too.
pub fn fit_to_open_files<const N: usize>(caps: [usize; N]) -> [usize; N] {
    let Ok((soft, _)) = rlimit::Resource::NOFILE.get() else {
        return caps;
    };
    fit(caps, soft)
}

fn fit<const N: usize>(caps: [usize; N], open_files: u64) -> [usize; N] {
    let wanted: u64 = caps.iter().map(|&c| c as u64).sum();
    let room = open_files.saturating_sub(RESERVED_FILES);
    if wanted <= room {
        return caps;
    }
    let fitted = caps.map(|c| {
        usize::try_from(c as u64 * room / wanted)
            .unwrap_or(c)
            .max(1)
    });
    tracing::warn!(
        open_files,
        ?caps,
        ?fitted,
        "the open-file limit is below the connection caps; lowering the caps to fit (raise `ulimit -n` to keep them)"
    );
    fitted
}

/// A service's two listeners.
pub struct Listeners {
    /// REST (and, in order-service, the page and `/ws-orders`).
    pub http: TcpListener,
    /// gRPC.
    pub grpc: TcpListener,
}

/// Binds both ports before anything is served, so a port in use fails
/// start-up with a message naming it (port 0 picks a free one).
pub async fn bind(ip: IpAddr, http_port: u16, grpc_port: u16) -> anyhow::Result<Listeners> {
    let http = TcpListener::bind((ip, http_port))
        .await
        .with_context(|| format!("binding the HTTP port {http_port}"))?;
    let grpc = TcpListener::bind((ip, grpc_port))
        .await
        .with_context(|| format!("binding the gRPC port {grpc_port}"))?;
    Ok(Listeners { http, grpc })
}

#[cfg(test)]
mod tests;
