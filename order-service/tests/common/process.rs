//! order-service as a real process, for tests that kill it or crash it.

use std::{
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
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_order-service"))
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
    let addr = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.expect("log line") {
            let Ok(log) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if log["message"] == "ready" {
                return log["http_addr"].as_str().expect("http_addr").to_owned();
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
    (child, addr, logged)
}
