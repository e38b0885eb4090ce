//! Running a service: its servers and background tasks as one set, stopped
//! together and gracefully; and the `healthcheck` subcommand's reporting.

use std::{net::IpAddr, process::ExitCode, time::Duration};

use anyhow::Context;
use tokio::net::TcpListener;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{actuator::Readiness, db::Db};

/// How long in-flight requests get to finish after a shutdown signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The tasks of a running service and what stops them.
pub struct Running {
    draining: CancellationToken,
    shutdown: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
    db: Db,
    readiness: Readiness,
}

impl Running {
    /// The tasks of a service using `db`: at first only the one that
    /// keeps its [`Readiness`] following the database and draining. Call
    /// it within a Tokio runtime.
    pub fn new(db: Db) -> Self {
        let draining = CancellationToken::new();
        let (readiness, follow) = Readiness::follow(&db, draining.clone());
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            follow.await;
            Ok(())
        });
        Self {
            draining,
            shutdown: CancellationToken::new(),
            tasks,
            db,
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
        self.draining.clone()
    }

    /// Cancelled when the service stops; servers and loops watch it.
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Adds a server or background task.
    pub fn spawn(&mut self, task: impl Future<Output = anyhow::Result<()>> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Runs background work (a relay, a sweeper) until it ends at shutdown:
    /// it never fails the service, and logs its own trouble.
    pub fn spawn_background(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(async move {
            task.await;
            Ok(())
        });
    }

    /// Stops accepting, lets in-flight requests finish (up to
    /// [`DRAIN_TIMEOUT`]), then closes the database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.draining.cancel();
        self.shutdown.cancel();
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while let Some(joined) = self.tasks.join_next().await {
                joined??;
            }
            anyhow::Ok(())
        })
        .await;
        self.db.close().await;
        match drained {
            Ok(result) => result,
            Err(_) => anyhow::bail!("in-flight requests did not finish within {DRAIN_TIMEOUT:?}"),
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
