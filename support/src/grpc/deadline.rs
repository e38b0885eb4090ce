//! The caller's deadline (`grpc-timeout`) on the server side: a call still
//! running when its caller has given up is dropped, answered
//! DEADLINE_EXCEEDED, so no work is done for nobody (tonic's own server
//! does the same; this port is served by `crate::http`).

use std::{
    convert::Infallible,
    task::{Context, Poll},
    time::Duration,
};

use axum::response::Response;
use futures::{
    FutureExt,
    future::{Either, Map},
};
use tokio::time::{Timeout, error::Elapsed};

/// Bounds every call by its `grpc-timeout`, when it has one.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct DeadlineLayer;

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline { inner }
    }
}

/// [`DeadlineLayer`]'s service.
#[derive(Clone, Debug)]
pub(super) struct Deadline<S> {
    inner: S,
}

type Expired<F> = Map<
    Timeout<F>,
    fn(Result<Result<Response, Infallible>, Elapsed>) -> Result<Response, Infallible>,
>;

impl<S, B> tower::Service<http::Request<B>> for Deadline<S>
where
    S: tower::Service<http::Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Expired<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let timeout = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse);
        let call = self.inner.call(request);
        match timeout {
            None => Either::Left(call),
            Some(timeout) => Either::Right(tokio::time::timeout(timeout, call).map(expired)),
        }
    }
}

fn expired(outcome: Result<Result<Response, Infallible>, Elapsed>) -> Result<Response, Infallible> {
    outcome.unwrap_or_else(|_| {
        Ok(tonic::Status::deadline_exceeded("the call's deadline passed").into_http())
    })
}

/// `grpc-timeout`'s value: at most eight digits and a unit (`H`ours,
/// `M`inutes, `S`econds, `m`illi-, `u`micro-, `n`anoseconds).
fn parse(value: &str) -> Option<Duration> {
    let unit = value.chars().last()?;
    let digits = &value[..value.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(n * 3600),
        'M' => Duration::from_secs(n * 60),
        'S' => Duration::from_secs(n),
        'm' => Duration::from_millis(n),
        'u' => Duration::from_micros(n),
        'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
