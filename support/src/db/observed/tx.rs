//! Transactions begun on an [`Observed`](super::Observed) pool: their
//! statements report as the pool's do, and their commit decides whether
//! what they changed is a write that went through.

use std::{
    fmt, future,
    ops::{Deref, DerefMut},
};

use futures::{
    FutureExt as _, StreamExt as _,
    future::BoxFuture,
    stream::{self, BoxStream},
};
use sqlx::{Describe, Error, Execute, Executor, SqlStr};

use super::{Backend, Peeked, Step, Watch, first_row};
use crate::db::outcomes::{Outcomes, Role};

/// A transaction begun on an [`Observed`] pool: used as sqlx's own
/// (`&mut *tx` runs a statement in it, then `commit` or `rollback`).
#[derive(Debug)]
pub struct Tx<'a, DB: Backend> {
    conn: TxConn<'a, DB>,
}

/// What `&mut *tx` runs statements on.
///
/// What sqlx's `Transaction` does, on a lent connection of either kind
/// (sqlx's takes only its own pool's): dropped while open, it starts a
/// rollback, which the connection runs before its next statement (on
/// PostgreSQL, as it goes back to its pool: see `conns::postgres`).
pub struct TxConn<'a, DB: Backend> {
    conn: DB::Lease,
    /// Begun and neither committed nor rolled back.
    open: bool,
    outcomes: &'a Outcomes,
    role: Role,
    /// A statement changed rows: the commit is a write that went through.
    wrote: bool,
}

impl<DB: Backend> fmt::Debug for TxConn<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TxConn")
            .field("role", &self.role)
            .field("open", &self.open)
            .field("wrote", &self.wrote)
            .finish_non_exhaustive()
    }
}

impl<DB: Backend> Drop for TxConn<'_, DB> {
    fn drop(&mut self) {
        if self.open {
            DB::abandon(&mut self.conn);
        }
    }
}

impl<'a, DB: Backend> Deref for Tx<'a, DB> {
    type Target = TxConn<'a, DB>;

    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl<DB: Backend> DerefMut for Tx<'_, DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}

impl<'a, DB: Backend> Tx<'a, DB> {
    /// Begins a transaction on `conn`, lent by a pool with `role`,
    /// reporting to `outcomes` (but not the failure to begin: the caller
    /// does).
    pub(super) async fn begin(
        conn: DB::Lease,
        outcomes: &'a Outcomes,
        role: Role,
    ) -> Result<Self, Error> {
        // Open before the BEGIN, as in sqlx's `Transaction::begin`: if it
        // fails or is cancelled, dropping this starts a rollback in case
        // the transaction began.
        let mut tx = Self {
            conn: TxConn {
                conn,
                open: true,
                outcomes,
                role,
                wrote: false,
            },
        };
        DB::begin(&mut tx.conn.conn).await?;
        Ok(tx)
    }

    /// Commits; a transaction that changed rows is then a write that went
    /// through.
    pub async fn commit(mut self) -> Result<(), Error> {
        let tx = &mut self.conn;
        match DB::commit(&mut tx.conn).await {
            Ok(()) => {
                tx.open = false;
                if tx.wrote && tx.role == Role::Write {
                    tx.outcomes.wrote();
                }
                Ok(())
            }
            Err(e) => {
                tx.outcomes.failed(tx.role, &e);
                Err(e)
            }
        }
    }

    /// Rolls back.
    pub async fn rollback(mut self) -> Result<(), Error> {
        let tx = &mut self.conn;
        DB::rollback(&mut tx.conn)
            .await
            .map(|()| tx.open = false)
            .inspect_err(|e| tx.outcomes.failed(tx.role, e))
    }
}

impl<'a, DB: Backend> TxConn<'a, DB>
where
    for<'x> &'x mut DB::Connection: Executor<'x, Database = DB>,
{
    fn watch(&self, query: &Peeked<DB>) -> Watch<'a> {
        Watch {
            outcomes: self.outcomes,
            role: self.role,
            changes_data: query.changes_data,
        }
    }

    /// Runs `query` in the transaction; rows it changed make the commit a
    /// write.
    fn steps<'c, 'e>(&'c mut self, mut query: Peeked<DB>) -> BoxStream<'e, Step<DB>>
    where
        'c: 'e,
    {
        let watch = self.watch(&query);
        query.sql = DB::in_transaction(&mut self.conn, query.sql);
        let TxConn { conn, wrote, .. } = self;
        let conn: &'c mut DB::Connection = conn;
        conn.fetch_many(query)
            .inspect(move |step| {
                // Not a write yet: the commit decides.
                if watch.saw::<DB>(step) {
                    *wrote = true;
                }
            })
            .boxed()
    }
}

impl<'c, 'a, DB: Backend> Executor<'c> for &'c mut TxConn<'a, DB>
where
    for<'x> &'x mut DB::Connection: Executor<'x, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Step<DB>>
    where
        'c: 'e,
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
        'c: 'e,
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
        let mut query = query;
        query.sql = DB::in_transaction(&mut self.conn, query.sql);
        let conn: &'c mut DB::Connection = &mut self.conn;
        Box::pin(async move {
            let row = conn.fetch_optional(query).await;
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
        'c: 'e,
    {
        let conn: &'c mut DB::Connection = &mut self.conn;
        conn.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<DB>, Error>>
    where
        'c: 'e,
    {
        let conn: &'c mut DB::Connection = &mut self.conn;
        conn.describe(sql)
    }
}
