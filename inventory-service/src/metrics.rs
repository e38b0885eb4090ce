//! inventory-service's own metrics (reservations, releases, stock per
//! product), beside the shared ones of `support::metrics`, in one registry
//! per service instance, served at `GET /metrics` and
//! `GET /actuator/prometheus` on the REST port. Labels come from closed
//! sets; product names come from the database, at most
//! [`MAX_STOCK_SERIES`] of them.

use std::sync::Arc;

use futures::future::BoxFuture;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use support::db::Db;

use crate::store::Store;

/// Products whose stock `inventory_service_stock` shows: every product of
/// a real catalogue of this service (a handful), while a table grown by
/// mistake or by a client cannot make a scrape unbounded.
pub(crate) const MAX_STOCK_SERIES: i64 = 500;

/// What a reservation came to.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Reserve {
    /// Stock is held under the key (now, or by an earlier call).
    Reserved,
    /// Not enough stock.
    InsufficientStock,
    /// The key was released before.
    Released,
    /// Refused: an invalid request or an unknown product.
    Refused,
    /// The store failed (the database is unavailable, or a bug).
    Failed,
}

/// What a release came to.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Release {
    /// Stock went back to its product.
    Returned,
    /// Nothing to return: released before, or never reserved.
    Nothing,
    /// Refused: an invalid key.
    Refused,
    /// The store failed.
    Failed,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProductLabels {
    product: String,
}

/// Every metric of the service. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    shared: support::metrics::Metrics,
    own: Arc<Own>,
}

#[derive(Debug)]
struct Own {
    reservations: Family<OutcomeLabels, Counter>,
    releases: Family<OutcomeLabels, Counter>,
}

impl Metrics {
    /// The metrics of the service whose database is `db` and store `store`.
    pub(crate) fn new(db: &Db, store: Store) -> Self {
        let mut builder = support::metrics::Metrics::builder(db);
        let registry: &mut Registry = builder
            .registry()
            .sub_registry_with_prefix("inventory_service");
        let reservations = Family::default();
        registry.register(
            "reservations",
            "Reservations decided (each entry of a batch), by outcome",
            reservations.clone(),
        );
        let releases = Family::default();
        registry.register(
            "releases",
            "Releases of reservations, by outcome",
            releases.clone(),
        );
        let stock = Family::default();
        registry.register(
            "stock",
            "Units in stock, by product (read at scrape time)",
            stock.clone(),
        );
        builder.sample(StockSample { store, stock });
        Self {
            shared: builder.build(),
            own: Arc::new(Own {
                reservations,
                releases,
            }),
        }
    }

    /// The shared families, for the HTTP middleware, the gRPC server and
    /// the scrape.
    pub(crate) fn shared(&self) -> &support::metrics::Metrics {
        &self.shared
    }

    /// Counts one reservation's outcome.
    pub(crate) fn reserved(&self, outcome: Reserve) {
        let outcome = match outcome {
            Reserve::Reserved => "reserved",
            Reserve::InsufficientStock => "insufficient_stock",
            Reserve::Released => "released",
            Reserve::Refused => "refused",
            Reserve::Failed => "failed",
        };
        self.own
            .reservations
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts one release's outcome.
    pub(crate) fn released(&self, outcome: Release) {
        let outcome = match outcome {
            Release::Returned => "returned",
            Release::Nothing => "nothing",
            Release::Refused => "refused",
            Release::Failed => "failed",
        };
        self.own
            .releases
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }
}

/// Refreshes `inventory_service_stock` from the database before a scrape.
struct StockSample {
    store: Store,
    stock: Family<ProductLabels, Gauge>,
}

impl support::metrics::Sample for StockSample {
    fn sample(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let Ok(products) = self.store.stock_sample(MAX_STOCK_SERIES).await else {
                return;
            };
            // Afresh, so a deleted product's series goes.
            self.stock.clear();
            for (product, stock) in products {
                self.stock
                    .get_or_create(&ProductLabels { product })
                    .set(stock);
            }
        })
    }
}
