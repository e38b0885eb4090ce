//! order-service as a real process, for tests that kill it or crash it.

use std::{
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Starts order-service as a real process (so it can be killed with
/// SIGKILL, or crash at a fault point) with `config`'s database and
/// inventory and the extra variables `env`, and returns it with its HTTP
/// address, read from its JSON "ready" log line.
pub(crate) async fn spawn(
    config: &order_service::Config,
    env: &[(&str, &str)],
) -> (tokio::process::Child, String) {
    let (child, addr, _) = spawn_logged(config, env).await;
    (child, addr)
}

/// [`spawn`], also returning every JSON log line the process writes from
/// then on, as it writes them.
pub(crate) async fn spawn_logged(
    config: &order_service::Config,
    env: &[(&str, &str)],
) -> (tokio::process::Child, String, Arc<Mutex<Vec<Value>>>) {
    let (child, ready, logged) = start(config, env, None).await;
    let addr = ready["http_addr"].as_str().expect("http_addr").to_owned();
    (child, addr, logged)
}

/// [`spawn`] under an open-file limit of `files` (soft and hard, so the
/// service cannot raise it); returns its HTTP and gRPC addresses.
pub(crate) async fn spawn_with_file_limit(
    config: &order_service::Config,
    files: u32,
) -> (tokio::process::Child, SocketAddr, SocketAddr) {
    let (child, ready, _) = start(config, &[], Some(files)).await;
    let addr = |field: &str| {
        ready[field]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{field} in {ready}"))
    };
    (child, addr("http_addr"), addr("grpc_addr"))
}

/// Starts the process; returns it, its "ready" log line, and the lines
/// logged after it.
async fn start(
    config: &order_service::Config,
    env: &[(&str, &str)],
    files: Option<u32>,
) -> (tokio::process::Child, Value, Arc<Mutex<Vec<Value>>>) {
    let binary = env!("CARGO_BIN_EXE_order-service");
    let mut command = match files {
        None => tokio::process::Command::new(binary),
        Some(files) => {
            // A shell's `ulimit`: setting a limit in the child ourselves
            // would need `unsafe` (`pre_exec`).
            let mut sh = tokio::process::Command::new("sh");
            sh.arg("-c")
                .arg(format!("ulimit -n {files} && exec \"$0\""))
                .arg(binary);
            sh
        }
    };
    let mut child = command
        .env("DATABASE_URL", &config.database_url)
        .env("INVENTORY_URL", &config.inventory_url)
        .env("BIND_ADDR", "127.0.0.1")
        .env("HTTP_PORT", "0")
        .env("GRPC_PORT", "0")
        .env("RESERVE_TIMEOUT_MS", "30000")
        .env("LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("order-service binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.expect("log line") {
            let Ok(log) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if log["message"] == "ready" {
                return log;
            }
        }
        panic!("order-service exited before it was ready");
    })
    .await
    .expect("ready within 20 s");
    let logged = Arc::new(Mutex::new(Vec::new()));
    let sink = logged.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(log) = serde_json::from_str::<Value>(&line) {
                sink.lock().unwrap().push(log);
            }
        }
    });
    (child, ready, logged)
}
