//! The gRPC `InventoryService`: parses each request into domain types, calls
//! the store, publishes stock changes, and answers in the original contract's
//! words where it has them.
//!
//! No handler checks the token: `auth::RequireToken` wraps the whole
//! service and lets a call reach a handler only if its method is a read or
//! it carries the token, so no handler can forget it.

use std::{net::IpAddr, pin::Pin};

use futures::Stream;
use proto::{
    ListProductsRequest, ListProductsResponse, Product as PbProduct, ReleaseStockRequest,
    ReleaseStockResponse, ReservationError, ReservationOutcome, ReserveStockBatchRequest,
    ReserveStockBatchResponse, ReserveStockRequest, ReserveStockResponse, ReserveStockResult,
    RestockRequest, StockChange as PbStockChange, StockRequest, StockResponse, UpdateStockRequest,
    WatchStockRequest, inventory_service_server::InventoryService, reserve_stock_result,
};
use support::http::Client;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::{
    domain::{ProductName, Quantity, ReservationKey, ReservationState},
    error::Error,
    metrics::{self, Metrics},
    store::{Reservation, ReserveRequest, Store},
    watch::StockWatch,
};

/// Events queued per watcher between its task and its HTTP/2 stream.
const WATCH_QUEUE: usize = 64;

/// The service implementation: a store (its database logs every change,
/// and it wakes the log's relay), the change feed, and the shutdown token
/// that ends watch streams (they would otherwise never finish, and a
/// graceful shutdown waits for every open call).
#[derive(Clone, Debug)]
pub(crate) struct Inventory {
    store: Store,
    watch: StockWatch,
    shutdown: CancellationToken,
    metrics: Metrics,
}

impl Inventory {
    /// Builds the service.
    pub(crate) fn new(
        store: Store,
        watch: StockWatch,
        shutdown: CancellationToken,
        metrics: Metrics,
    ) -> Self {
        Self {
            metrics,
            store,
            watch,
            shutdown,
        }
    }
}

/// Reservations one `ReserveStockBatch` call may carry: far above the
/// batches order-service sends, small enough to bound one transaction.
const MAX_BATCH: usize = 1024;

/// A reservation's answer, as `ReserveStock` gives it and each entry of
/// `ReserveStockBatch`.
fn answer(r: &Reservation) -> ReserveStockResponse {
    let (outcome, message) = match r.state {
        ReservationState::Reserved => (ReservationOutcome::Reserved, "Stock reserved"),
        ReservationState::InsufficientStock => {
            (ReservationOutcome::InsufficientStock, "Insufficient stock")
        }
        ReservationState::Released => (ReservationOutcome::Released, "Reservation was released"),
    };
    ReserveStockResponse {
        outcome: outcome.into(),
        stock_quantity: wire(r.stock),
        message: message.into(),
    }
}

/// A reservation's outcome as `inventory_service_reservations_total` counts it.
fn reserve_outcome(r: &Result<Reservation, Error>) -> metrics::Reserve {
    match r {
        Ok(r) => match r.state {
            ReservationState::Reserved => metrics::Reserve::Reserved,
            ReservationState::InsufficientStock => metrics::Reserve::InsufficientStock,
            ReservationState::Released => metrics::Reserve::Released,
        },
        Err(e) if e.is_refusal() => metrics::Reserve::Refused,
        Err(_) => metrics::Reserve::Failed,
    }
}

/// Stock is stored as BIGINT but bounded to the int32 range by a CHECK.
fn wire(stock: i64) -> i32 {
    i32::try_from(stock).unwrap_or(i32::MAX)
}

#[tonic::async_trait]
impl InventoryService for Inventory {
    async fn check_stock(
        &self,
        req: Request<StockRequest>,
    ) -> Result<Response<StockResponse>, Status> {
        let req = req.into_inner();
        let product = ProductName::parse(req.product)?;
        let quantity = Quantity::parse(req.quantity)?;
        let reply = match self.store.stock_of(&product).await? {
            Some(stock) if stock >= quantity.get() => StockResponse {
                available: true,
                stock_quantity: wire(stock),
                message: "Stock available".into(),
            },
            Some(stock) => StockResponse {
                available: false,
                stock_quantity: wire(stock),
                message: "Insufficient stock".into(),
            },
            // The original contract answers unknown products, rather than failing.
            None => StockResponse {
                available: false,
                stock_quantity: 0,
                message: "Unknown product".into(),
            },
        };
        Ok(Response::new(reply))
    }

    async fn update_stock(
        &self,
        req: Request<UpdateStockRequest>,
    ) -> Result<Response<StockResponse>, Status> {
        let req = req.into_inner();
        let product = ProductName::parse(req.product)?;
        let quantity = Quantity::parse(req.quantity)?;
        let outcome = self.store.decrement(&product, quantity).await?;
        let available = outcome.change.is_some();
        Ok(Response::new(StockResponse {
            available,
            stock_quantity: wire(outcome.stock),
            message: if available {
                "Stock updated"
            } else {
                "Insufficient stock"
            }
            .into(),
        }))
    }

    async fn list_products(
        &self,
        _req: Request<ListProductsRequest>,
    ) -> Result<Response<ListProductsResponse>, Status> {
        let products = self
            .store
            .list_products()
            .await?
            .into_iter()
            .map(|p| PbProduct {
                id: p.id,
                name: p.name,
                stock_quantity: wire(p.stock_quantity),
            })
            .collect();
        Ok(Response::new(ListProductsResponse { products }))
    }

    async fn reserve_stock(
        &self,
        req: Request<ReserveStockRequest>,
    ) -> Result<Response<ReserveStockResponse>, Status> {
        let req = req.into_inner();
        let r = async {
            let key = ReservationKey::parse(req.reservation_key)?;
            let product = ProductName::parse(req.product)?;
            let quantity = Quantity::parse(req.quantity)?;
            self.store.reserve(&key, &product, quantity).await
        }
        .await;
        self.metrics.reserved(reserve_outcome(&r));
        Ok(Response::new(answer(&r?)))
    }

    async fn reserve_stock_batch(
        &self,
        req: Request<ReserveStockBatchRequest>,
    ) -> Result<Response<ReserveStockBatchResponse>, Status> {
        let entries = req.into_inner().reservations;
        if entries.len() > MAX_BATCH {
            return Err(Status::invalid_argument(format!(
                "at most {MAX_BATCH} reservations per batch"
            )));
        }
        // Invalid entries are answered on their own; the rest go to the store.
        let parsed: Vec<Result<ReserveRequest, Error>> = entries
            .into_iter()
            .map(|e| {
                Ok(ReserveRequest {
                    key: ReservationKey::parse(e.reservation_key)?,
                    product: ProductName::parse(e.product)?,
                    quantity: Quantity::parse(e.quantity)?,
                })
            })
            .collect();
        let valid: Vec<ReserveRequest> = parsed
            .iter()
            .filter_map(|p| p.as_ref().ok().cloned())
            .collect();
        let mut decided = match self.store.reserve_batch(&valid).await {
            Ok(decided) => decided.into_iter(),
            Err(e) => {
                for _ in &parsed {
                    self.metrics.reserved(metrics::Reserve::Failed);
                }
                return Err(e.into());
            }
        };
        let results = parsed
            .into_iter()
            .map(|p| {
                let outcome = match p {
                    Ok(_) => decided.next().unwrap_or_else(|| {
                        Err(Error::Internal("a batch answer is missing".into()))
                    }),
                    Err(e) => Err(e),
                };
                self.metrics.reserved(reserve_outcome(&outcome));
                let result = match outcome {
                    Ok(r) => reserve_stock_result::Result::Answer(answer(&r)),
                    Err(e) => {
                        let status = Status::from(e);
                        reserve_stock_result::Result::Error(ReservationError {
                            code: status.code() as i32,
                            message: status.message().to_owned(),
                        })
                    }
                };
                ReserveStockResult {
                    result: Some(result),
                }
            })
            .collect();
        Ok(Response::new(ReserveStockBatchResponse { results }))
    }

    async fn release_stock(
        &self,
        req: Request<ReleaseStockRequest>,
    ) -> Result<Response<ReleaseStockResponse>, Status> {
        let released = async {
            let key = ReservationKey::parse(req.into_inner().reservation_key)?;
            self.store.release(&key).await
        }
        .await;
        self.metrics.released(match &released {
            Ok(r) if r.change.is_some() => metrics::Release::Returned,
            Ok(_) => metrics::Release::Nothing,
            Err(e) if e.is_refusal() => metrics::Release::Refused,
            Err(_) => metrics::Release::Failed,
        });
        let released = released?;
        let reply = match &released.change {
            Some(c) => ReleaseStockResponse {
                returned_stock: true,
                product: c.product.clone(),
                stock_quantity: wire(c.stock),
            },
            None => ReleaseStockResponse::default(),
        };
        Ok(Response::new(reply))
    }

    async fn restock(
        &self,
        req: Request<RestockRequest>,
    ) -> Result<Response<StockResponse>, Status> {
        let req = req.into_inner();
        let product = ProductName::parse(req.product)?;
        let quantity = Quantity::parse_restock(req.quantity)?;
        let change = self.store.restock(&product, quantity).await?;
        let stock = wire(change.stock);
        Ok(Response::new(StockResponse {
            available: true,
            stock_quantity: stock,
            message: "Restocked".into(),
        }))
    }

    type WatchStockStream = Pin<Box<dyn Stream<Item = Result<PbStockChange, Status>> + Send>>;

    async fn watch_stock(
        &self,
        req: Request<WatchStockRequest>,
    ) -> Result<Response<Self::WatchStockStream>, Status> {
        // Requests served by `support::grpc` always say who they are from.
        let client = req
            .extensions()
            .get::<Client>()
            .copied()
            .unwrap_or(Client::direct(IpAddr::from([0, 0, 0, 0])));
        let from_seq = req.into_inner().from_seq;
        let (tx, rx) = mpsc::channel(WATCH_QUEUE);
        self.watch
            .watch(client.claim(), from_seq, tx, self.shutdown.clone())
            .map_err(|refused| {
                Status::resource_exhausted(format!(
                    "too many WatchStock streams ({refused}); close one or retry later"
                ))
            })?;
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
