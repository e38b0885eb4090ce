//! The order phases: C keep-alive connections posting orders, closed loop
//! (the maximum rate) or open loop (a fixed rate), each between two scrapes
//! of order-service's batch sizes, so every phase reports what it batched.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use crate::{
    load::{self, Summary},
    metrics::{self, BatchSizes, Scraper},
    ops::{self, PlaceOrder},
};

/// Where and for how long order phases run.
pub(crate) struct Orders {
    url: String,
    scraper: Scraper,
    duration: Duration,
}

impl Orders {
    /// Phases of `duration` against order-service at `addr`.
    pub(crate) fn new(addr: SocketAddr, duration: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            url: format!("http://{addr}/orders"),
            scraper: Scraper::new(addr)?,
            duration,
        })
    }

    /// `c` clients, each its own connection, cycling through `products`
    /// from its own offset.
    fn clients(&self, c: usize, products: &Arc<Vec<String>>) -> Vec<PlaceOrder> {
        (0..c)
            .map(|i| PlaceOrder {
                client: ops::http_client(),
                url: self.url.clone(),
                products: products.clone(),
                next: i,
            })
            .collect()
    }

    /// The maximum rate of `c` connections (closed loop).
    pub(crate) async fn max(
        &self,
        c: usize,
        products: &Arc<Vec<String>>,
    ) -> anyhow::Result<(Summary, BatchSizes)> {
        let ops = self.clients(c, products);
        self.measured(load::closed_loop(ops, self.duration)).await
    }

    /// `c` connections at `rate` orders/s in all (open loop).
    pub(crate) async fn at_rate(
        &self,
        c: usize,
        products: &Arc<Vec<String>>,
        rate: f64,
    ) -> anyhow::Result<(Summary, BatchSizes)> {
        let ops = self.clients(c, products);
        self.measured(load::open_loop(ops, rate, self.duration))
            .await
    }

    /// Runs `phase` between two scrapes of the batch sizes.
    async fn measured(
        &self,
        phase: impl Future<Output = load::Stats>,
    ) -> anyhow::Result<(Summary, BatchSizes)> {
        let before = self.scraper.scrape().await?;
        let stats = phase.await;
        let after = self.scraper.scrape().await?;
        Ok((stats.summary(), metrics::between(&before, &after)))
    }
}
