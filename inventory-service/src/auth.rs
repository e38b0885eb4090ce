//! The shared token that guards the mutating RPCs.
//!
//! When `INVENTORY_TOKEN` is set, every RPC that changes stock or
//! reservations must carry gRPC metadata `authorization: Bearer <token>`;
//! each such handler calls [`Auth::check`] before it parses or touches
//! anything. Reads, health and reflection stay open, so `grpcurl` can list,
//! describe and check stock without the token.

use std::{fmt, sync::Arc};

use crate::error::{Error, Result};

/// The RPCs that [`Auth::check`] guards, as the start-up warning names them
/// when no token is configured.
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
    /// Requires `token` on mutating calls; `None` or an empty token leaves
    /// them open (an empty env var is how deployments unset it).
    pub(crate) fn new(token: Option<&str>) -> Self {
        Self {
            token: token.filter(|t| !t.is_empty()).map(|t| t.as_bytes().into()),
        }
    }

    /// Whether a token is required.
    pub(crate) fn is_required(&self) -> bool {
        self.token.is_some()
    }

    /// UNAUTHENTICATED unless `request` carries `authorization: Bearer
    /// <token>` with the configured token; always OK when none is configured.
    pub(crate) fn check<T>(&self, request: &tonic::Request<T>) -> Result<()> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let Some(presented) = request
            .metadata()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> tonic::Request<()> {
        let mut r = tonic::Request::new(());
        r.metadata_mut()
            .insert("authorization", value.parse().expect("ascii"));
        r
    }

    #[test]
    fn only_the_right_bearer_token_passes() {
        let auth = Auth::new(Some("s3cret"));
        assert!(auth.is_required());
        assert!(auth.check(&with("Bearer s3cret")).is_ok());
        assert!(auth.check(&with("bearer s3cret")).is_ok());
        for wrong in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Bearer S3CRET",
            "Bearer ",
            "s3cret",
            "Basic s3cret",
            "",
        ] {
            let e = auth.check(&with(wrong)).unwrap_err();
            assert!(matches!(e, Error::Unauthenticated(_)), "{wrong:?}");
        }
        assert!(auth.check(&tonic::Request::new(())).is_err());
    }

    #[test]
    fn no_or_empty_token_leaves_everything_open() {
        for auth in [Auth::new(None), Auth::new(Some(""))] {
            assert!(!auth.is_required());
            assert!(auth.check(&tonic::Request::new(())).is_ok());
            assert!(auth.check(&with("Bearer anything")).is_ok());
        }
    }

    #[test]
    fn the_token_is_not_in_debug_output() {
        let shown = format!("{:?}", Auth::new(Some("s3cret")));
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn comparison_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcabc", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
    }
}
