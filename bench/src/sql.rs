//! The services' databases, read and written by the bench through the
//! service's own process.
//!
//! A service holds its SQLite file for its process alone (SQLite's
//! `unix-excl`; see `support::db`), so the bench cannot open it beside the
//! service to check stock or stage a backlog. Instead each `bench serve`
//! child also answers SQL from the bench on a loopback port of its own,
//! through a handle it opens on the service's database in its own process
//! (on the first request, so that the idle figures see none of it). Both
//! backends go this way, so the checks are the same on each.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context;
use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Column as _, Row as _};
use support::{
    db::{Db, Migrations},
    with_db,
};
use tokio::sync::{mpsc, oneshot};

/// The log line (JSON `message`) that gives the SQL port, before "ready".
pub(crate) const SQL_LINE: &str = "bench sql";

/// One statement from the bench.
#[derive(Debug, Deserialize, Serialize)]
struct Statement {
    sql: String,
    /// Bound in order (`$1`, `$2`, …).
    binds: Vec<i64>,
    /// A write, run on the writer (which answers its count); otherwise a
    /// read, run on a reader (which answers its rows).
    write: bool,
}

/// What it did: its rows (each column an integer, a string or null), and
/// the rows it changed.
#[derive(Debug, Default, Deserialize, Serialize)]
struct Outcome {
    rows: Vec<Vec<Value>>,
    changed: u64,
}

/// A statement and where its outcome goes.
type Request = (Statement, oneshot::Sender<Result<Outcome, String>>);

/// The child's side: a loopback port taking statements for the service's
/// database (see [`Port::serve_beside`]).
pub(crate) struct Port {
    url: String,
    migrations: fn() -> Migrations,
    requests: mpsc::Receiver<Request>,
}

impl Port {
    /// Listens on a free loopback port, logged as [`SQL_LINE`], for the
    /// database at `url`.
    pub(crate) async fn bind(url: String, migrations: fn() -> Migrations) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        println!(
            "{}",
            serde_json::json!({ "message": SQL_LINE, "addr": addr })
        );
        let (sender, requests) = mpsc::channel(16);
        let app = Router::new()
            .route("/sql", post(forward))
            .with_state(sender);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("bench sql: {e}");
            }
        });
        Ok(Self {
            url,
            migrations,
            requests,
        })
    }

    /// Runs `service` and, beside it in the same task, the statements that
    /// come in, one at a time, through a handle opened on the first; ends
    /// when `service` does.
    pub(crate) async fn serve_beside<T>(mut self, service: impl Future<Output = T>) -> T {
        let statements = async {
            let mut db: Option<Db> = None;
            while let Some((statement, reply)) = self.requests.recv().await {
                let outcome = async {
                    if db.is_none() {
                        db = Some(Db::connect(&self.url, &(self.migrations)()).await?);
                    }
                    let db = db.as_ref().context("the handle")?;
                    execute(db, &statement).await
                }
                .await;
                let _ = reply.send(outcome.map_err(|e| format!("{e:#}")));
            }
            std::future::pending::<()>().await;
        };
        tokio::select! {
            done = service => done,
            () = statements => unreachable!("pending forever"),
        }
    }
}

/// Hands a statement to [`Port::serve_beside`] and answers its outcome.
async fn forward(
    State(statements): State<mpsc::Sender<Request>>,
    Json(statement): Json<Statement>,
) -> Result<Json<Outcome>, (StatusCode, String)> {
    let failed = |e: String| (StatusCode::INTERNAL_SERVER_ERROR, e);
    let (reply, outcome) = oneshot::channel();
    statements
        .send((statement, reply))
        .await
        .map_err(|_| failed("the service has stopped".into()))?;
    outcome
        .await
        .map_err(|_| failed("the service has stopped".into()))?
        .map(Json)
        .map_err(failed)
}

/// Runs `statement` on `db`: rows if it answers any, else its count.
async fn execute(db: &Db, statement: &Statement) -> anyhow::Result<Outcome> {
    // A macro, not a function: the query's type differs per backend.
    macro_rules! bound {
        () => {{
            let mut query = sqlx::query(sqlx::AssertSqlSafe(statement.sql.clone()));
            for b in &statement.binds {
                query = query.bind(*b);
            }
            query
        }};
    }
    if statement.write {
        let changed = with_db!(db, write, |pool| bound!()
            .execute(pool)
            .await?
            .rows_affected());
        return Ok(Outcome {
            rows: Vec::new(),
            changed,
        });
    }
    let rows = with_db!(db, read, |pool| {
        let mut rows = Vec::new();
        for row in bound!().fetch_all(pool).await? {
            let values = (0..row.columns().len())
                .map(|i| {
                    row.try_get::<Option<i64>, _>(i)
                        .map(|v| v.map_or(Value::Null, Value::from))
                        .or_else(|_| {
                            row.try_get::<Option<String>, _>(i)
                                .map(|v| v.map_or(Value::Null, Value::from))
                        })
                        .with_context(|| format!("column {}", row.columns()[i].name()))
                })
                .collect::<anyhow::Result<Vec<Value>>>()?;
            rows.push(values);
        }
        rows
    });
    Ok(Outcome { rows, changed: 0 })
}

/// The bench's side: the SQL port of one service process.
#[derive(Clone, Debug)]
pub(crate) struct Sql {
    url: String,
    client: reqwest::Client,
    /// Whether the service's database is PostgreSQL (some statements differ).
    pub postgres: bool,
}

impl Sql {
    /// The port at `addr` of a service on the database at `database_url`.
    pub(crate) fn new(addr: SocketAddr, database_url: &str) -> Self {
        Self {
            url: format!("http://{addr}/sql"),
            client: reqwest::Client::new(),
            postgres: database_url.starts_with("postgres"),
        }
    }

    async fn send(&self, statement: Statement) -> anyhow::Result<Outcome> {
        let answer = self
            .client
            .post(&self.url)
            .json(&statement)
            .send()
            .await
            .with_context(|| format!("POST {}", self.url))?;
        let status = answer.status();
        anyhow::ensure!(
            status.is_success(),
            "{}: {status} {}",
            statement.sql,
            answer.text().await.unwrap_or_default()
        );
        Ok(answer.json().await?)
    }

    /// The rows `sql` answers, read on a reader.
    pub(crate) async fn rows(&self, sql: &str, binds: &[i64]) -> anyhow::Result<Vec<Vec<Value>>> {
        let statement = Statement {
            sql: sql.to_owned(),
            binds: binds.to_vec(),
            write: false,
        };
        Ok(self.send(statement).await?.rows)
    }

    /// The one integer `sql` answers.
    pub(crate) async fn scalar(&self, sql: &str) -> anyhow::Result<i64> {
        self.rows(sql, &[])
            .await?
            .first()
            .and_then(|row| row.first())
            .and_then(Value::as_i64)
            .with_context(|| format!("{sql}: no integer"))
    }

    /// Runs `sql` on the writer; the rows it changed.
    pub(crate) async fn execute(&self, sql: &str, binds: &[i64]) -> anyhow::Result<u64> {
        let statement = Statement {
            sql: sql.to_owned(),
            binds: binds.to_vec(),
            write: true,
        };
        Ok(self.send(statement).await?.changed)
    }
}
