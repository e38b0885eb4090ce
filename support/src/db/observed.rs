//! The pools as statements see them. `with_db!` hands a statement an
//! [`Observed`] pool rather than the pool itself: an executor like the pool,
//! whose statements, and the transactions begun on it, report their outcome
//! to the handle's [`Outcomes`]. Every statement of the services goes
//! through `with_db!`, so none can forget to report.
//!
//! A write is known to have gone through when a statement that changes data
//! (`INSERT`, `UPDATE`, `DELETE`, …) changed rows and is committed: on its
//! own, or by the commit of its transaction. A `SELECT` on the writer, or an
//! `UPDATE` that matched nothing, succeeds on a full disk too, so it says
//! nothing about writes.

use std::{fmt, future, time::Instant};

use futures::{
    FutureExt as _, StreamExt as _, TryStreamExt as _,
    future::BoxFuture,
    stream::{self, BoxStream},
};
use sqlx::{Database, Describe, Either, Error, Execute, Executor, SqlStr, error::BoxDynError};

use super::outcomes::{Outcomes, Role};

/// One step of a statement's results.
type Step<DB> = Result<Either<<DB as Database>::QueryResult, <DB as Database>::Row>, Error>;

/// A pool of a [`Db`](super::Db), for reads or for writes, as `with_db!`
/// hands it to a statement: use it as the pool (`.execute(pool)`,
/// `pool.begin()`); each outcome is reported. Copied freely.
pub struct Observed<'a, DB: Backend> {
    pool: &'a DB::Pool,
    outcomes: &'a Outcomes,
    role: Role,
}

impl<DB: Backend> Clone for Observed<'_, DB> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<DB: Backend> Copy for Observed<'_, DB> {}

impl<DB: Backend> fmt::Debug for Observed<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observed")
            .field("pool", self.pool)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl<'a, DB: Backend> Observed<'a, DB> {
    pub(crate) fn new(pool: &'a DB::Pool, outcomes: &'a Outcomes, role: Role) -> Self {
        Self {
            pool,
            outcomes,
            role,
        }
    }
}

impl<'a, DB: Backend> Observed<'a, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Begins a transaction whose statements, commit and rollback are
    /// observed as well.
    pub async fn begin(self) -> Result<Tx<'a, DB>, Error> {
        // What `Pool::begin` does, with the wait for the connection timed;
        // the transaction is ours (`Tx`), as the connection may not be a
        // `sqlx::Pool`'s.
        let begun = match self.acquire().await {
            Ok(conn) => Tx::begin(conn, self.outcomes, self.role).await,
            Err(e) => Err(e),
        };
        begun.inspect_err(|e| self.outcomes.failed(self.role, e))
    }

    /// A connection of the pool, the wait for it timed
    /// (`db_pool_acquire_seconds`).
    async fn acquire(&self) -> Result<DB::Lease, Error> {
        let started = Instant::now();
        let conn = DB::acquire(self.pool).await;
        self.outcomes.metrics.acquired(started.elapsed());
        conn
    }

    fn watch(&self, query: &Peeked<DB>) -> Watch<'a> {
        Watch {
            outcomes: self.outcomes,
            role: self.role,
            changes_data: query.changes_data,
        }
    }

    /// Runs `query`; a write that changed rows is committed by then.
    fn steps<'e>(self, query: Peeked<DB>) -> BoxStream<'e, Step<DB>>
    where
        'a: 'e,
    {
        let watch = self.watch(&query);
        // What the pool's own `fetch_many` does, with the wait for the
        // connection timed; a stream that owns the connection it borrows
        // from, hence `async-stream`.
        // In doubt until its last step is read: a stream dropped before
        // then, or one that failed, leaves its connection to be tidied.
        let steps = async_stream::try_stream! {
            let mut conn = self.acquire().await?;
            DB::doubt(&mut conn);
            let mut steps = (&mut *conn).fetch_many(query);
            while let Some(step) = steps.try_next().await? {
                yield step;
            }
            drop(steps);
            DB::trust(&mut conn);
        };
        steps
            .inspect(move |step| {
                if watch.saw::<DB>(step) {
                    watch.outcomes.wrote();
                }
            })
            .boxed()
    }
}

impl<'a, DB: Backend> Executor<'a> for Observed<'a, DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Step<DB>>
    where
        'a: 'e,
        E: 'q + Execute<'q, DB>,
    {
        match Peeked::of(query) {
            Ok(query) => self.steps(query),
            Err(e) => stream::once(future::ready(Err(e))).boxed(),
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, Error>>
    where
        'a: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let query = match Peeked::of(query) {
            Ok(query) => query,
            Err(e) => return future::ready(Err(e)).boxed(),
        };
        if query.changes_data {
            return first_row::<DB>(self.steps(query));
        }
        let watch = self.watch(&query);
        Box::pin(async move {
            let row = match self.acquire().await {
                Ok(mut conn) => {
                    DB::doubt(&mut conn);
                    let row = (&mut *conn).fetch_optional(query).await;
                    if row.is_ok() {
                        DB::trust(&mut conn);
                    }
                    row
                }
                Err(e) => Err(e),
            };
            watch.saw_outcome(&row);
            row
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, Error>>
    where
        'a: 'e,
    {
        Box::pin(async move {
            let mut conn = self.acquire().await?;
            DB::doubt(&mut conn);
            let prepared = (&mut *conn).prepare_with(sql, parameters).await?;
            DB::trust(&mut conn);
            Ok(prepared)
        })
    }

    // Required while sqlx's `offline` feature is on, which its `macros`
    // feature (a workspace dependency setting) turns on.
    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<DB>, Error>>
    where
        'a: 'e,
    {
        Box::pin(async move {
            let mut conn = self.acquire().await?;
            DB::doubt(&mut conn);
            let described = (&mut *conn).describe(sql).await?;
            DB::trust(&mut conn);
            Ok(described)
        })
    }
}

/// What one statement's steps say, reported as they come.
#[derive(Clone, Copy)]
struct Watch<'a> {
    outcomes: &'a Outcomes,
    role: Role,
    changes_data: bool,
}

impl Watch<'_> {
    /// Reports `step`; true when it says the statement changed rows.
    fn saw<DB: Backend>(&self, step: &Step<DB>) -> bool {
        match step {
            Err(e) => {
                self.outcomes.failed(self.role, e);
                false
            }
            Ok(step) => {
                if self.role == Role::Read {
                    self.outcomes.read();
                }
                match step {
                    Either::Left(done) => self.changes_data && DB::rows_changed(done) > 0,
                    Either::Right(_) => false,
                }
            }
        }
    }

    /// Reports the outcome of a statement that changes no data.
    fn saw_outcome<T>(&self, outcome: &Result<T, Error>) {
        match outcome {
            Err(e) => self.outcomes.failed(self.role, e),
            Ok(_) if self.role == Role::Read => self.outcomes.read(),
            Ok(_) => {}
        }
    }
}

/// The first row of `steps`, after running them to the end: a write's
/// count of changed rows comes last (and PostgreSQL's own `fetch_optional`
/// reads to the end anyway, for deferred constraints).
fn first_row<'e, DB: Database>(
    mut steps: BoxStream<'e, Step<DB>>,
) -> BoxFuture<'e, Result<Option<DB::Row>, Error>> {
    Box::pin(async move {
        let mut first = None;
        while let Some(step) = steps.try_next().await? {
            if let Either::Right(row) = step
                && first.is_none()
            {
                first = Some(row);
            }
        }
        Ok(first)
    })
}

/// A statement taken apart to read its text (is it a write?), then passed
/// on unchanged.
struct Peeked<DB: Database> {
    sql: SqlStr,
    arguments: Option<DB::Arguments>,
    statement: Option<DB::Statement>,
    persistent: bool,
    changes_data: bool,
}

impl<DB: Database> Peeked<DB> {
    fn of<'q>(mut query: impl Execute<'q, DB>) -> Result<Self, Error> {
        let statement = query.statement().cloned();
        let arguments = query.take_arguments().map_err(Error::Encode)?;
        let persistent = query.persistent();
        let sql = query.sql();
        let changes_data = changes_data(sql.as_str());
        Ok(Self {
            sql,
            arguments,
            statement,
            persistent,
            changes_data,
        })
    }
}

impl<'q, DB: Database> Execute<'q, DB> for Peeked<DB> {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, BoxDynError> {
        Ok(self.arguments.take())
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

/// Whether `sql` changes data, by its first word: the services' writes
/// start with `INSERT`, `UPDATE` or `DELETE`. A statement it does not
/// recognise (a `WITH` before an `UPDATE`, a leading comment) only never
/// counts as a write that went through; its failures are reported all
/// the same.
fn changes_data(sql: &str) -> bool {
    let word = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    ["INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE"]
        .iter()
        .any(|w| word.eq_ignore_ascii_case(w))
}

mod backend;
mod tx;

pub use backend::Backend;
pub use tx::{Tx, TxConn};

#[cfg(test)]
mod tests;
