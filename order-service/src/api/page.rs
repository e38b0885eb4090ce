//! The single page's files, served for every path no route claims, with
//! the API's JSON errors: an unknown path is a 404 whatever the method, a
//! file asked with a method other than GET or HEAD is a 405, and nothing a
//! client puts in a path can make a file-system error (a 500, an ERROR log
//! line) out of it.

use std::{io, path::Path};

use axum::{
    extract::Request,
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use tower_http::services::ServeDir;

use super::error::ApiError;

/// Longest path segment looked up: Linux's `NAME_MAX`. A longer one cannot
/// name a file, and asking the file system would fail with ENAMETOOLONG.
const MAX_SEGMENT: usize = 255;
/// Longest path looked up (well inside `PATH_MAX`); the page's own paths
/// are a few dozen bytes.
const MAX_PATH: usize = 1024;

/// Serves the files under `dir`.
#[derive(Clone, Debug)]
pub(super) struct Page {
    files: ServeDir,
}

impl Page {
    /// Files under `dir`, `index.html` for directories.
    pub(super) fn new(dir: &Path) -> Self {
        Self {
            files: ServeDir::new(dir).append_index_html_on_directories(true),
        }
    }

    /// Answers any request no route matched.
    pub(super) async fn serve(self, request: Request) -> Response {
        let path = request.uri().path();
        if path.len() > MAX_PATH || path.split('/').any(|s| s.len() > MAX_SEGMENT) {
            return not_found();
        }
        let method = request.method().clone();
        if method == Method::GET || method == Method::HEAD {
            return self.file(request).await;
        }
        // Another method: 405 if there is a file here, else 404, so an
        // unknown path is a 404 whatever the method.
        let (mut parts, _) = request.into_parts();
        parts.method = Method::HEAD;
        let probe = self
            .file(Request::from_parts(parts, Default::default()))
            .await;
        if probe.status().is_success() || probe.status() == StatusCode::NOT_MODIFIED {
            let mut response = ApiError::MethodNotAllowed.into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        not_found()
    }

    async fn file(&self, request: Request) -> Response {
        match self.files.clone().try_call(request).await {
            Ok(response) if response.status().is_client_error() => not_found_or(response.status()),
            Ok(response) => response.map(axum::body::Body::new),
            Err(e) if is_not_found(&e) => not_found(),
            Err(e) => {
                // Our own files failing to read is ours to fix, but one
                // client can repeat it at will: warn, not error.
                tracing::warn!(error = %e, "cannot read a frontend file");
                ApiError::UnreadableFile.into_response()
            }
        }
    }
}

/// ServeDir answers some requests with bare statuses (404 for a missing
/// file, 412/416 for failed preconditions and ranges); give them a body.
fn not_found_or(status: StatusCode) -> Response {
    if status == StatusCode::NOT_FOUND {
        return not_found();
    }
    support::error_body::answer(status, status.canonical_reason().unwrap_or("Bad request"))
}

fn not_found() -> Response {
    ApiError::NoRoute.into_response()
}

/// The errors a lookup of a client-chosen path meets when there is no such
/// file: missing, not a directory, not ours to read, not a valid name.
fn is_not_found(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound
            | io::ErrorKind::PermissionDenied
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::IsADirectory
            | io::ErrorKind::InvalidInput
    )
}
