//! The stock log's reads (its rows are written by the triggers of
//! migrations 0004 and 0005, in the transaction of each stock change).

use sqlx::Row;
use support::{
    event_log::{Bounds, EventLog},
    with_db,
};

use super::Store;
use crate::{domain::StockChange, error::Result};

/// The stock log.
pub(crate) const EVENT_LOG: EventLog = EventLog {
    table: "stock_events",
};

impl Store {
    /// The logged changes after `seq`, oldest first, at most `limit`.
    pub(crate) async fn changes_after(
        &self,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<(i64, StockChange)>> {
        let rows = with_db!(&self.db, read, |pool| {
            // The limit as a literal: see `support::db::limit`.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT seq, product, stock, version FROM stock_events \
                 WHERE seq > $1 ORDER BY seq LIMIT {}",
                support::db::limit(limit)
            )))
            .bind(seq)
            .persistent(self.db.keeps_plans())
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    StockChange {
                        product: r.try_get(1)?,
                        stock: r.try_get(2)?,
                        version: r.try_get(3)?,
                    },
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(rows)
    }

    /// The span of the log still retained.
    pub(crate) async fn log_bounds(&self) -> Result<Bounds> {
        Ok(EVENT_LOG.bounds(&self.db).await?)
    }

    /// Every product's stock and version, and the log position they
    /// reflect: one statement, so one consistent view.
    pub(crate) async fn snapshot(&self) -> Result<(i64, Vec<StockChange>)> {
        let sql = format!(
            "SELECT p.name, p.stock, p.version, {} FROM products p \
             CROSS JOIN stock_events_seq s WHERE s.id = 1 ORDER BY p.id",
            EVENT_LOG.newest_seq(&self.db)
        );
        let rows = with_db!(&self.db, read, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get::<i64, _>(3)?,
                        StockChange {
                            product: r.try_get(0)?,
                            stock: r.try_get(1)?,
                            version: r.try_get(2)?,
                        },
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        let seq = match rows.first() {
            Some((seq, _)) => *seq,
            None => self.log_bounds().await?.last,
        };
        Ok((seq, rows.into_iter().map(|(_, c)| c).collect()))
    }
}
