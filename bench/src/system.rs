//! The system under test, as separate processes: this binary re-executes
//! itself as `bench serve inventory|order`, so the services run exactly the
//! library code of the build being measured, in their own processes (as in
//! production), while the load client stays in this one.

use std::{
    net::SocketAddr,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// Which service a child process runs.
#[derive(Clone, Copy, Debug)]
pub enum Role {
    /// inventory-service
    Inventory,
    /// order-service
    Order,
}

impl Role {
    fn arg(self) -> &'static str {
        match self {
            Role::Inventory => "inventory",
            Role::Order => "order",
        }
    }
}

/// A running service process.
pub struct Service {
    child: Child,
    /// REST address.
    pub http_addr: SocketAddr,
    /// gRPC address.
    pub grpc_addr: SocketAddr,
    /// From spawning the process to its "ready" line.
    pub startup: Duration,
}

impl Service {
    /// Starts `role` with `env` on free loopback ports and waits until it is ready.
    pub async fn spawn(role: Role, env: &[(&str, String)]) -> anyhow::Result<Self> {
        let started = Instant::now();
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", role.arg()])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn,inventory_service=info,order_service=info")
            .env("BIND_ADDR", "127.0.0.1")
            .env("HTTP_PORT", "0")
            .env("GRPC_PORT", "0")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("spawning a service process")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if log["message"] == "ready" {
                    return anyhow::Ok(log);
                }
            }
            bail!("{role:?} exited before it was ready")
        })
        .await
        .context("service start-up timed out")??;
        let startup = started.elapsed();
        // Keep draining its logs so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let addr = |k: &str| -> anyhow::Result<SocketAddr> {
            Ok(ready[k]
                .as_str()
                .context("address in ready line")?
                .parse()?)
        };
        Ok(Self {
            http_addr: addr("http_addr")?,
            grpc_addr: addr("grpc_addr")?,
            child,
            startup,
        })
    }

    /// Resident memory of the process, in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let Some(pid) = self.child.id() else { return 0 };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
            })
            .unwrap_or(0)
    }

    /// Stops the process.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Runs a service in this process (the child side of [`Service::spawn`]).
pub async fn serve(role: &str) -> anyhow::Result<()> {
    use clap::Parser;
    support::telemetry::init(support::telemetry::LogFormat::Json);
    match role {
        "inventory" => {
            let config = inventory_service::Config::parse_from(["inventory-service"]);
            inventory_service::Server::start(&config)
                .await?
                .run_until(support::shutdown::signal())
                .await
        }
        "order" => {
            let config = order_service::Config::parse_from(["order-service"]);
            order_service::Server::start(&config)
                .await?
                .run_until(support::shutdown::signal())
                .await
        }
        other => bail!("unknown role {other:?}"),
    }
}
