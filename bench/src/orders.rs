//! The order phases: C keep-alive connections posting orders, closed loop
//! (the maximum rate) or open loop (a fixed rate), each between two scrapes
//! of order-service's batch sizes, so every phase reports what it batched.
//! A flash sale is both loops with every client ordering one product.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use serde::Serialize;

use crate::{
    load::{self, Summary},
    metrics::{self, BatchSizes, Scraper},
    ops::{self, PlaceOrder},
};

/// Figures of one flash-sale size: every client orders the same product.
#[derive(Debug, Serialize)]
pub(crate) struct FlashSale {
    pub connections: usize,
    pub max: Summary,
    pub max_batches: BatchSizes,
    pub half_rate: Summary,
    pub half_rate_batches: BatchSizes,
    /// `max` orders/s over each floor, as for the orders spread over products.
    pub ratio_to_http: f64,
    pub ratio_to_grpc: f64,
    pub ratio_to_commit: f64,
    pub ratio_to_combined: f64,
    /// `max` orders/s over `orders_max`'s, when both ran with as many
    /// connections (else null: the comparison would mix two effects).
    pub ratio_to_orders_max: Option<f64>,
}

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

    /// A flash sale: `c` connections all ordering `product`, at the
    /// maximum rate, then at half of it. Ratios are left for the report.
    pub(crate) async fn flash_sale(&self, c: usize, product: &str) -> anyhow::Result<FlashSale> {
        let products = Arc::new(vec![product.to_owned()]);
        let (max, max_batches) = self.max(c, &products).await?;
        let half = max.per_second / 2.0;
        println!("   flash sale at half that rate ({half:.0}/s)");
        let (half_rate, half_rate_batches) = self.at_rate(c, &products, half).await?;
        Ok(FlashSale {
            connections: c,
            max,
            max_batches,
            half_rate,
            half_rate_batches,
            ratio_to_http: 0.0,
            ratio_to_grpc: 0.0,
            ratio_to_commit: 0.0,
            ratio_to_combined: 0.0,
            ratio_to_orders_max: None,
        })
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
