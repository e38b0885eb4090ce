//! The system under test, as separate processes: this binary re-executes
//! itself as `bench serve inventory|order`, so the services run exactly the
//! library code of the build being measured, in their own processes (as in
//! production), while the load client stays in this one.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use proto::{RestockRequest, inventory_service_client::InventoryServiceClient};
use support::testing::{Backend, TestDatabase};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::{Child, Command},
};

use crate::sql::{self, Sql};

/// Where a service exports its spans (none unless passed).
pub(crate) const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// What the services log unless a phase passes its own `RUST_LOG`: their
/// own INFO lines (the "ready" line the bench waits for among them).
pub(crate) const DEFAULT_LOG_FILTER: &str =
    "warn,inventory_service=info,order_service=info,live=info";

/// The variables every role applies besides its own: how it logs.
const LOGGING: [&str; 2] = ["ACCESS_LOG", "RUST_LOG"];

/// Which service a child process runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Role {
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

    /// The variables [`serve`] applies for this role; any other would be
    /// silently ignored.
    fn settings(self) -> impl Iterator<Item = &'static str> {
        let own: &[&str] = match self {
            Role::Inventory => &["DATABASE_URL", OTLP_ENDPOINT],
            Role::Order => &["DATABASE_URL", "INVENTORY_URL", OTLP_ENDPOINT],
        };
        own.iter().chain(&LOGGING).copied()
    }
}

/// A running service process.
pub(crate) struct Service {
    child: Child,
    /// REST address.
    pub http_addr: SocketAddr,
    /// gRPC address.
    pub grpc_addr: SocketAddr,
    /// From spawning the process to its "ready" line.
    pub startup: Duration,
    /// Its database, through its process (see `sql`).
    pub sql: Sql,
    /// Bytes it has logged since it was ready.
    log_bytes: Arc<AtomicU64>,
}

impl Service {
    /// Starts `role` with the settings in `env` (see [`Role::settings`]) on
    /// free loopback ports and waits until it is ready.
    pub(crate) async fn spawn(role: Role, env: &[(&str, String)]) -> anyhow::Result<Self> {
        for (name, _) in env {
            ensure!(
                role.settings().any(|s| s == *name),
                "{role:?} does not apply {name}"
            );
        }
        let started = Instant::now();
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", role.arg()])
            // Traces are exported, and the access log written, only when
            // a phase asks for it, whatever the shell that started the
            // bench has set.
            .env_remove(OTLP_ENDPOINT)
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("ACCESS_LOG")
            .env("RUST_LOG", DEFAULT_LOG_FILTER)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("spawning a service process")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut sql_addr = None;
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if log["message"] == sql::SQL_LINE {
                    sql_addr = log["addr"].as_str().and_then(|a| a.parse().ok());
                }
                if log["message"] == "ready" {
                    return anyhow::Ok(log);
                }
            }
            bail!("{role:?} exited before it was ready")
        })
        .await
        .context("service start-up timed out")??;
        let startup = started.elapsed();
        // Keep draining its logs so it never blocks on a full pipe: bytes
        // counted and discarded as read, as little of the shared CPU as a
        // log shipper's.
        let mut rest = lines.into_inner();
        let log_bytes = Arc::new(AtomicU64::new(0));
        let counted = log_bytes.clone();
        tokio::spawn(async move {
            let mut buf = vec![0; 64 * 1024];
            while let Ok(n @ 1..) = rest.read(&mut buf).await {
                counted.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
        let addr = |k: &str| -> anyhow::Result<SocketAddr> {
            Ok(ready[k]
                .as_str()
                .context("address in ready line")?
                .parse()?)
        };
        let database_url = env
            .iter()
            .find(|(k, _)| *k == "DATABASE_URL")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        Ok(Self {
            http_addr: addr("http_addr")?,
            grpc_addr: addr("grpc_addr")?,
            sql: Sql::new(sql_addr.context("no SQL port logged")?, database_url),
            child,
            startup,
            log_bytes,
        })
    }

    /// Resident memory of the process, in KiB (from /proc).
    pub(crate) fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// The part of [`Service::rss_kib`] that is the process's own (heap,
    /// stacks), in KiB: the rest is pages of files, mostly this binary's
    /// code, which holds the bench and both services and is larger than a
    /// service's own binary.
    pub(crate) fn rss_anon_kib(&self) -> u64 {
        self.status_kib("RssAnon:")
    }

    /// A figure of /proc/PID/status, in KiB (0 when unreadable).
    fn status_kib(&self, field: &str) -> u64 {
        let Some(pid) = self.child.id() else { return 0 };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
            })
            .unwrap_or(0)
    }

    /// Bytes the process has logged since it was ready (read so far).
    pub(crate) fn log_bytes(&self) -> u64 {
        self.log_bytes.load(Ordering::Relaxed)
    }

    /// CPU time the process has used so far, user and system, all threads.
    pub(crate) fn cpu_time(&self) -> anyhow::Result<Duration> {
        let pid = self.child.id().context("the process has exited")?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name (which may hold spaces, inside
        // parentheses): state is the first, utime the 12th, stime the 13th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .context("/proc/PID/stat")?
            .1
            .split_whitespace()
            .collect();
        let ticks = |i: usize| -> anyhow::Result<u64> {
            Ok(fields.get(i).context("/proc/PID/stat field")?.parse()?)
        };
        // In USER_HZ, which Linux fixes at 100 for user space.
        Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
    }

    /// Stops the process.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Whether the bench passed `ACCESS_LOG=true`.
fn access_log() -> bool {
    std::env::var("ACCESS_LOG").is_ok_and(|v| v == "true")
}

/// Runs a service in this process (the child side of [`Service::spawn`]):
/// at its defaults on free loopback ports, with only the settings
/// [`Service::spawn`] passed taken from the environment. Anything else
/// exported in the shell that started the bench (a connection cap, a
/// timeout, a token) would otherwise change what is measured.
pub(crate) async fn serve(role: &str) -> anyhow::Result<()> {
    let service = match role {
        "inventory" => "inventory-service",
        _ => "order-service",
    };
    // Traces are exported when the bench passed OTEL_EXPORTER_OTLP_ENDPOINT.
    let telemetry = support::telemetry::init(support::telemetry::Settings::from_env(
        service,
        support::telemetry::LogFormat::Json,
    ));
    let given = |name: &str| std::env::var(name).with_context(|| format!("{name} not passed"));
    let loopback = IpAddr::from(Ipv4Addr::LOCALHOST);
    let served = match role {
        "inventory" => {
            let mut config: inventory_service::Config = support::config::defaults();
            (config.bind_addr, config.http_port, config.grpc_port) = (loopback, 0, 0);
            config.database_url = given("DATABASE_URL")?;
            let sql =
                sql::Port::bind(config.database_url.clone(), inventory_service::migrations).await?;
            // The load client is one address standing in for many clients:
            // the per-client shares would otherwise measure themselves.
            config.http.max_http_connections_per_client = config.http.max_http_connections;
            config.grpc.max_grpc_connections_per_client = config.grpc.max_grpc_connections;
            config.max_watch_streams_per_client = config.max_watch_streams;
            config.access.access_log = access_log();
            let server = inventory_service::Server::start(&config).await?;
            sql.serve_beside(server.run_until(support::shutdown::signal()))
                .await
        }
        "order" => {
            let mut config: order_service::Config = support::config::defaults();
            (config.bind_addr, config.http_port, config.grpc_port) = (loopback, 0, 0);
            config.database_url = given("DATABASE_URL")?;
            let sql =
                sql::Port::bind(config.database_url.clone(), order_service::migrations).await?;
            config.inventory_url = given("INVENTORY_URL")?;
            // As above: one address standing in for many clients.
            config.http.max_http_connections_per_client = config.http.max_http_connections;
            config.grpc.max_grpc_connections_per_client = config.grpc.max_grpc_connections;
            config.max_live_connections_per_client = config.max_live_connections;
            config.max_live_handshakes_per_client = config.max_live_handshakes;
            config.access.access_log = access_log();
            let server = order_service::Server::start(&config).await?;
            sql.serve_beside(server.run_until(support::shutdown::signal()))
                .await
        }
        other => Err(anyhow::anyhow!("unknown role {other:?}")),
    };
    telemetry.shutdown().await;
    served
}

/// The seeded products, which every order phase cycles through.
pub(crate) const PRODUCTS: [&str; 5] = ["Laptop", "Phone", "Tablet", "Headphones", "Monitor"];

/// Gives every product enough stock that nothing is rejected, flash sales
/// included (4,000,000 each: stock is an int32 on the wire, so far below
/// its limit).
pub(crate) async fn restock(inventory: &Service) -> anyhow::Result<()> {
    let mut grpc =
        InventoryServiceClient::connect(format!("http://{}", inventory.grpc_addr)).await?;
    for p in PRODUCTS {
        for _ in 0..4 {
            grpc.restock(RestockRequest {
                product: p.to_owned(),
                quantity: 1_000_000,
            })
            .await?;
        }
    }
    Ok(())
}

/// Both services as processes on fresh databases, restocked: the system
/// of the comparisons that differ only in one setting (`sides`, `traces`).
pub(crate) struct Pair {
    pub(crate) inventory: Service,
    pub(crate) order: Service,
    /// inventory-service's database, then order-service's.
    pub(crate) dbs: [TestDatabase; 2],
}

impl Pair {
    /// Starts both on `backend` with `env` added to each one's environment;
    /// `name` names their databases.
    pub(crate) async fn start(
        name: &str,
        backend: Backend,
        env: &[(&'static str, String)],
    ) -> anyhow::Result<Self> {
        let inventory_db = TestDatabase::create(backend, &format!("{name}_inventory")).await;
        let orders_db = inventory_db.sibling(&format!("{name}_orders")).await;
        let with = |own: Vec<(&'static str, String)>| [own, env.to_vec()].concat();
        let inventory = Service::spawn(
            Role::Inventory,
            &with(vec![("DATABASE_URL", inventory_db.url.clone())]),
        )
        .await?;
        let order = Service::spawn(
            Role::Order,
            &with(vec![
                ("DATABASE_URL", orders_db.url.clone()),
                ("INVENTORY_URL", format!("http://{}", inventory.grpc_addr)),
            ]),
        )
        .await?;
        restock(&inventory).await?;
        Ok(Self {
            inventory,
            order,
            dbs: [inventory_db, orders_db],
        })
    }

    /// Switches off the triggers that write both services' event logs
    /// (order events, stock events): disabled on PostgreSQL, dropped on
    /// SQLite (which cannot disable one). Fails if a trigger is not there,
    /// so a renamed one cannot go unnoticed.
    pub(crate) async fn switch_off_event_logs(&self) -> anyhow::Result<()> {
        let logs = [
            (
                &self.inventory.sql,
                "products",
                ["stock_events_on_insert", "stock_events_on_update"],
            ),
            (
                &self.order.sql,
                "orders",
                ["order_events_on_insert", "order_events_on_update"],
            ),
        ];
        for (sql, table, triggers) in logs {
            for trigger in triggers {
                let statement = if sql.postgres {
                    format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}")
                } else {
                    format!("DROP TRIGGER {trigger}")
                };
                sql.execute(&statement, &[]).await?;
            }
        }
        Ok(())
    }

    /// Stops both and deletes their databases.
    pub(crate) async fn stop(self) {
        self.order.stop().await;
        self.inventory.stop().await;
        for db in self.dbs {
            db.cleanup().await;
        }
    }
}
