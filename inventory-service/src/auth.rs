//! The shared token, required by a tower layer around the whole
//! `InventoryService`: every method needs it unless it is listed as a read.
//!
//! When `INVENTORY_TOKEN` is set, a call must carry gRPC metadata
//! `authorization: Bearer <token>` unless its full method path
//! (`/InventoryService/<Method>`) is one of [`READ_METHODS`]. The layer,
//! [`RequireToken`], wraps the service once, where the server is assembled
//! (`Server::start`), and refuses before tonic decodes, validates or
//! touches anything.
//!
//! Why a layer keyed by method and not a check in each handler: the check
//! used to be the first line of every mutating handler, by convention, and
//! a new RPC that forgot it compiled and was open to anyone. Here the
//! default is the other way round (deny by default): a method is open only
//! if it is listed here, so a new RPC needs the token until someone decides,
//! in this file, that it is a read. A tonic interceptor could not do this:
//! it does not see which method is called; a tower layer sees the path.
//!
//! The layer wraps `InventoryService` only. Health and reflection are
//! separate services on the same port (see `support::grpc`) and stay open,
//! as they always were: they tell the service's status and its proto,
//! nothing else, and `grpcurl` and orchestrators use them without a token.

use std::{
    fmt,
    future::{Ready, ready},
    sync::Arc,
    task::{Context, Poll},
};

use axum::http::{HeaderMap, Request, Response};
use futures::future::Either;
use tonic::{body::Body, server::NamedService};

use crate::error::{Error, Result};

/// The methods anyone may call when a token is configured: the full gRPC
/// paths of the reads. Every other method of the service needs the token.
pub const READ_METHODS: [&str; 3] = [
    "/InventoryService/CheckStock",
    "/InventoryService/ListProducts",
    "/InventoryService/WatchStock",
];

/// The RPCs that need the token (every method but [`READ_METHODS`]), as
/// the start-up warning names them when no token is configured. A unit
/// test holds it to the proto.
pub(crate) const GUARDED_RPCS: &str =
    "UpdateStock, ReserveStock, ReserveStockBatch, ReleaseStock, Restock";

/// The configured token, or none (everything open).
#[derive(Clone, Default)]
pub(crate) struct Auth {
    token: Option<Arc<[u8]>>,
}

impl fmt::Debug for Auth {
    // The token must not end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.token.is_some() {
            "token required"
        } else {
            "open"
        };
        f.debug_tuple("Auth").field(&state).finish()
    }
}

impl Auth {
    /// Requires `token` on every call but the reads; `None` or an empty
    /// token leaves them open (an empty env var is how deployments unset it).
    pub(crate) fn new(token: Option<&str>) -> Self {
        Self {
            token: token.filter(|t| !t.is_empty()).map(|t| t.as_bytes().into()),
        }
    }

    /// Whether a token is required.
    pub(crate) fn is_required(&self) -> bool {
        self.token.is_some()
    }

    /// UNAUTHENTICATED unless `headers` (a call's metadata) carry
    /// `authorization: Bearer <token>` with the configured token; always OK
    /// when none is configured.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<()> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let Some(presented) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
        else {
            return Err(Error::Unauthenticated(
                "this call needs metadata \"authorization: Bearer <token>\"".into(),
            ));
        };
        if constant_time_eq(presented.as_bytes(), expected) {
            Ok(())
        } else {
            Err(Error::Unauthenticated("invalid token".into()))
        }
    }
}

/// The token of a `Bearer <token>` credential; the scheme is
/// case-insensitive (RFC 7235).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim_start())
}

/// Compares in a time that depends only on the length of what the client
/// sent, never on where it first differs from the token, so the token cannot
/// be found byte by byte from response times. Hand-written rather than a
/// crate such as `subtle`: a few lines with one caller do not justify a new
/// dependency.
fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(presented.len() != expected.len());
    for (p, e) in presented.iter().zip(expected.iter().cycle()) {
        diff |= p ^ e;
    }
    // Keeps the optimiser from turning the loop into an early exit.
    std::hint::black_box(diff) == 0
}

/// Lets a call through to the service only if its method is one of
/// [`READ_METHODS`] or it carries the token ([`Auth::check`]); answers any
/// other call UNAUTHENTICATED itself.
#[derive(Clone, Debug)]
pub(crate) struct RequireToken {
    auth: Auth,
}

impl RequireToken {
    /// The layer for `auth`'s token (none: every call passes).
    pub(crate) fn new(auth: Auth) -> Self {
        Self { auth }
    }
}

impl<S> tower::Layer<S> for RequireToken {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// [`RequireToken`]'s service: the gRPC service behind the token.
#[derive(Clone, Debug)]
pub(crate) struct Guarded<S> {
    inner: S,
    auth: Auth,
}

/// Served under the wrapped service's name, in its place.
impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tower::Service<Request<B>> for Guarded<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response<Body>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let allowed = if READ_METHODS.contains(&request.uri().path()) {
            Ok(())
        } else {
            self.auth.check(request.headers())
        };
        match allowed {
            Ok(()) => Either::Right(self.inner.call(request)),
            // The same answer a handler's error gets from tonic.
            Err(refused) => Either::Left(ready(Ok(tonic::Status::from(refused).into_http()))),
        }
    }
}

#[cfg(test)]
mod tests;
