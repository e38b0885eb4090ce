//! The original gRPC `OrderService.CreateOrder` on 9090, on the same flow as
//! `POST /orders`.

use proto::{OrderRequest, OrderResponse, order_service_server::OrderService};
use tonic::{Request, Response, Status};

use crate::{domain::NewOrder, error::Error, flow::Flow};

#[cfg(test)]
mod tests;

/// The service implementation.
#[derive(Clone, Debug)]
pub(crate) struct Orders {
    flow: Flow,
}

impl Orders {
    /// Serves `flow`.
    pub(crate) fn new(flow: Flow) -> Self {
        Self { flow }
    }
}

#[tonic::async_trait]
impl OrderService for Orders {
    async fn create_order(
        &self,
        request: Request<OrderRequest>,
    ) -> Result<Response<OrderResponse>, Status> {
        let request = request.into_inner();
        let new = NewOrder::parse(Some(request.product), Some(i64::from(request.quantity)))
            .map_err(|e| status(e.into()))?;
        let order = self.flow.place(new, None).await.map_err(status)?;
        Ok(Response::new(OrderResponse {
            status: order.status.as_str().to_owned(),
            id: order.id,
            reason: order.reason.unwrap_or_default(),
        }))
    }
}

/// The gRPC status of each of the flow's errors, with the message a REST
/// client would read.
fn status(e: Error) -> Status {
    use tonic::Code;
    let code = match e.cause() {
        Error::Invalid(_) => Code::InvalidArgument,
        Error::OrderNotFound(_) => Code::NotFound,
        Error::NotCancellable { .. } | Error::KeyInFlight | Error::KeyReused => {
            Code::FailedPrecondition
        }
        Error::InventoryUnavailable => Code::Unavailable,
        e if e.is_database_outage() => Code::Unavailable,
        Error::Database(_) | Error::Internal(_) | Error::Batch(_) => Code::Internal,
    };
    Status::new(code, e.public_message())
}
