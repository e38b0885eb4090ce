//! The original gRPC `OrderService.CreateOrder` on 9090, on the same flow as
//! `POST /orders`.

use proto::{OrderRequest, OrderResponse, order_service_server::OrderService};
use tonic::{Request, Response, Status};

use crate::{domain::NewOrder, flow::Flow};

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
        let new = NewOrder::parse(Some(request.product), Some(i64::from(request.quantity)))?;
        let order = self.flow.place(new, None).await?;
        Ok(Response::new(OrderResponse {
            status: order.status.as_str().to_owned(),
            id: order.id,
            reason: order.reason.unwrap_or_default(),
        }))
    }
}
