//! The gRPC client of inventory-service.
//!
//! One lazily connected `Channel` is shared by every request (HTTP/2
//! multiplexes them; no per-request connection set-up) and reconnects by
//! itself after inventory restarts. Each call has a deadline. Only the
//! idempotent calls (reserve and release are keyed; listing reads) are
//! retried, a bounded number of times and only for failures that say the
//! call did not reach inventory, within the same overall deadline.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use support::metrics::grpc::Metered;

use proto::{
    ListProductsRequest, ReleaseStockRequest, ReservationOutcome, ReserveStockBatchRequest,
    ReserveStockRequest, WatchStockRequest, inventory_service_client::InventoryServiceClient,
    reserve_stock_result,
};
use tonic::{
    Code, Status,
    metadata::{AsciiMetadataValue, MetadataValue},
    transport::Channel,
};

use crate::metrics::Metrics;

/// Attempts per idempotent call (the first try plus retries).
const ATTEMPTS: u32 = 3;
/// Pause before the first retry; doubled for each next one.
const RETRY_BACKOFF: Duration = Duration::from_millis(50);
/// How long establishing a TCP connection to inventory may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What a reservation came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reserved {
    /// Stock is held under the order's key.
    Yes,
    /// Not enough stock.
    InsufficientStock,
    /// Inventory does not know the product.
    UnknownProduct,
    /// The key was released first (the order was abandoned meanwhile).
    Released,
}

/// The channel as every call uses it: each attempt is counted and timed
/// (`grpc_client_*`, see `support::metrics::grpc`).
type Calls = Metered<Channel>;

/// Why a call failed.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// Unreachable, too slow, or answered with a server-side failure: the
    /// outcome is unknown and the caller must treat stock as possibly held.
    #[error("inventory unavailable: {0}")]
    Unavailable(Status),
    /// Inventory refused the request itself (a bug on our side).
    #[error("inventory refused the request: {0}")]
    Refused(Status),
}

impl CallError {
    /// True when inventory could not be reached or did not answer in time:
    /// a failure of the connection, not of the request, so every other
    /// call now would most likely fail the same way.
    pub(crate) fn is_unreachable(&self) -> bool {
        matches!(
            self,
            CallError::Unavailable(s) if matches!(
                s.code(),
                Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown
            )
        )
    }
}

/// A product as inventory lists it.
/// Its published schema is `api::schema::Product`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Product {
    /// Inventory's id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Units in stock.
    pub stock_quantity: i32,
}

/// Cheap to clone: clones share one [`Shared`]. Every request clones the
/// application state (several times, through axum's layers), so cloning
/// this is one reference count, not a clone of each channel (a tonic
/// `Channel` clone allocates).
#[derive(Clone)]
pub(crate) struct Inventory {
    shared: Arc<Shared>,
}

/// What the clones of an [`Inventory`] share.
struct Shared {
    client: InventoryServiceClient<Calls>,
    channel: Calls,
    timeout: Duration,
    /// `Bearer <INVENTORY_TOKEN>`, sent with every call.
    authorization: Option<AsciiMetadataValue>,
}

impl std::fmt::Debug for Inventory {
    // By hand, so the token can never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inventory")
            .field("timeout", &self.shared.timeout)
            .field(
                "token",
                &self.shared.authorization.as_ref().map(|_| "<set>"),
            )
            .finish_non_exhaustive()
    }
}

impl Inventory {
    /// A client of `url` (e.g. `http://127.0.0.1:9091`); connects on first
    /// use. With a `token`, every call carries `authorization: Bearer <token>`
    /// (inventory's mutating RPCs require it when it has one configured).
    pub(crate) fn new(
        url: &str,
        timeout: Duration,
        metrics: Metrics,
        token: Option<&str>,
    ) -> anyhow::Result<Self> {
        let authorization = token
            .filter(|t| !t.is_empty())
            .map(|t| MetadataValue::try_from(format!("Bearer {t}")))
            .transpose()
            .map_err(|_| anyhow::anyhow!("INVENTORY_TOKEN must be visible ASCII"))?;
        let channel = Channel::from_shared(url.to_owned())?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            // Notice a dead peer (a killed container) without waiting for TCP.
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5))
            .connect_lazy();
        let channel = metrics.shared().grpc_client(
            channel,
            &[
                proto::INVENTORY_DESCRIPTOR_SET,
                tonic_health::pb::FILE_DESCRIPTOR_SET,
            ],
        );
        Ok(Self {
            shared: Arc::new(Shared {
                client: InventoryServiceClient::new(channel.clone()),
                channel,
                timeout,
                authorization,
            }),
        })
    }

    /// Reserves stock for many orders in one call (`ReserveStockBatch`,
    /// one transaction at inventory). Per entry and in order: what
    /// [`Inventory::reserve`] would have answered. Fails as a whole only
    /// when the call does (then nothing is known about any entry).
    pub(crate) async fn reserve_batch(
        &self,
        reservations: Vec<ReserveStockRequest>,
    ) -> Result<Vec<Result<Reserved, CallError>>, CallError> {
        let n = reservations.len();
        let request = ReserveStockBatchRequest { reservations };
        let answer = self
            .idempotent(("reserve_batch", "ReserveStockBatch"), |mut c, deadline| {
                let request = self.batch_request(request.clone(), deadline);
                async move { c.reserve_stock_batch(request).await }
            })
            .await?;
        if answer.results.len() != n {
            return Err(CallError::Unavailable(Status::internal(format!(
                "{} answers to {n} reservations",
                answer.results.len()
            ))));
        }
        Ok(answer
            .results
            .into_iter()
            .map(|r| {
                reserved(match r.result {
                    Some(reserve_stock_result::Result::Answer(a)) => Ok(a.outcome()),
                    Some(reserve_stock_result::Result::Error(e)) => {
                        Err(call_error(Status::new(Code::from(e.code), e.message)))
                    }
                    None => Err(CallError::Unavailable(Status::unknown(
                        "no answer for a reservation",
                    ))),
                })
            })
            .collect())
    }

    /// Releases an order's reservation (idempotent; safe to repeat).
    pub(crate) async fn release(&self, key: &str) -> Result<(), CallError> {
        let request = ReleaseStockRequest {
            reservation_key: key.to_owned(),
        };
        self.idempotent(("release", "ReleaseStock"), |mut c, deadline| {
            let request = self.request(request.clone(), deadline);
            async move { c.release_stock(request).await }
        })
        .await
        .map(drop)
    }

    /// Every product with its stock.
    pub(crate) async fn products(&self) -> Result<Vec<Product>, CallError> {
        let listed = self
            .idempotent(("list_products", "ListProducts"), |mut c, deadline| {
                let request = self.request(ListProductsRequest {}, deadline);
                async move { c.list_products(request).await }
            })
            .await?;
        Ok(listed
            .products
            .into_iter()
            .map(|p| Product {
                id: p.id,
                name: p.name,
                stock_quantity: p.stock_quantity,
            })
            .collect())
    }

    /// True when inventory's gRPC health service says it is serving.
    pub(crate) async fn ping(&self) -> bool {
        let mut health =
            tonic_health::pb::health_client::HealthClient::new(self.shared.channel.clone());
        let request = self.request(
            tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            },
            self.shared.timeout,
        );
        matches!(
            tokio::time::timeout(self.shared.timeout, health.check(request)).await,
            Ok(Ok(r)) if r.get_ref().status() == tonic_health::pb::health_check_response::ServingStatus::Serving
        )
    }

    /// Opens the stock-change stream (no deadline: it lives as long as
    /// inventory), resuming after `from_seq` of inventory's stock log.
    pub(crate) async fn watch(
        &self,
        from_seq: Option<i64>,
    ) -> Result<tonic::Streaming<proto::StockChange>, Status> {
        let mut request = tonic::Request::new(WatchStockRequest { from_seq });
        if let Some(value) = &self.shared.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        self.shared
            .client
            .clone()
            .watch_stock(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Runs `call` with retries for failures that mean "did not get there",
    /// all within one deadline (each attempt is counted by the channel).
    /// `rpc` is the method's name in logs and its RPC name.
    ///
    /// The whole call, retries included, is one client span (exported only:
    /// DEBUG), and each attempt carries it as the callee's parent.
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(
            otel.name = format!("InventoryService/{}", rpc.1),
            otel.kind = "client",
            rpc.system = "grpc",
            rpc.service = "InventoryService",
            rpc.method = rpc.1,
        )
    )]
    async fn idempotent<T, F, Fut>(
        &self,
        rpc: (&'static str, &'static str),
        call: F,
    ) -> Result<T, CallError>
    where
        F: Fn(InventoryServiceClient<Calls>, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let (method, _) = rpc;
        let deadline = Instant::now() + self.shared.timeout;
        let mut backoff = RETRY_BACKOFF;
        let mut attempt = 1;
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let outcome = tokio::time::timeout(left, call(self.shared.client.clone(), left)).await;
            let status = match outcome {
                Ok(Ok(reply)) => break Ok(reply.into_inner()),
                Ok(Err(status)) => status,
                Err(_) => Status::deadline_exceeded("inventory did not answer in time"),
            };
            let retryable = status.code() == Code::Unavailable;
            if !retryable || attempt >= ATTEMPTS || Instant::now() + backoff >= deadline {
                break Err(status);
            }
            tracing::debug!(method, attempt, error = %status, "retrying inventory call");
            tokio::time::sleep(backoff).await;
            backoff *= 2;
            attempt += 1;
        };
        result.map_err(call_error)
    }
}

/// Whether a failed call says inventory refused the request itself or that
/// its outcome is unknown.
fn call_error(status: Status) -> CallError {
    match status.code() {
        Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition | Code::AlreadyExists => {
            CallError::Refused(status)
        }
        _ => CallError::Unavailable(status),
    }
}

/// A reservation's outcome as the flow reads it.
fn reserved(outcome: Result<ReservationOutcome, CallError>) -> Result<Reserved, CallError> {
    match outcome {
        Ok(ReservationOutcome::Reserved) => Ok(Reserved::Yes),
        Ok(ReservationOutcome::InsufficientStock) => Ok(Reserved::InsufficientStock),
        Ok(ReservationOutcome::Released) => Ok(Reserved::Released),
        Ok(ReservationOutcome::Unspecified) => Err(CallError::Unavailable(Status::unknown(
            "no reservation outcome",
        ))),
        Err(CallError::Refused(s)) if s.code() == Code::NotFound => Ok(Reserved::UnknownProduct),
        Err(e) => Err(e),
    }
}

impl Inventory {
    /// A request with the remaining time as its gRPC deadline too (so
    /// inventory can stop working on a call nobody waits for), the current
    /// trace, and the token, if any.
    fn request<T>(&self, message: T, left: Duration) -> tonic::Request<T> {
        self.request_with(message, left, support::telemetry::grpc::inject)
    }

    /// [`Inventory::request`] for a call made for a batch of orders: it
    /// carries the trace it runs in (the first caller's, or the batch's
    /// span when exporting, which links the others) but no `tracestate`,
    /// which is one caller's and none of the others'.
    fn batch_request<T>(&self, message: T, left: Duration) -> tonic::Request<T> {
        self.request_with(message, left, support::telemetry::grpc::inject_traceparent)
    }

    fn request_with<T>(
        &self,
        message: T,
        left: Duration,
        trace: fn(&mut tonic::metadata::MetadataMap),
    ) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(left);
        trace(request.metadata_mut());
        if let Some(value) = &self.shared.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        request
    }
}
