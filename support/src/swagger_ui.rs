//! Swagger UI, where springdoc serves it: `/swagger-ui/index.html`, with
//! `/swagger-ui.html` (and `/swagger-ui`, `/swagger-ui/`) redirecting
//! there. It shows the service's own document (`/v3/api-docs`).
//!
//! The files are Swagger UI's release, embedded in the binary by
//! `utoipa-swagger-ui` (its `vendored` feature: the archive ships on
//! crates.io, so the build downloads nothing), and served from memory:
//! nothing is fetched at run time, and the page loads nothing from another
//! host (the online validator badge is switched off). A file is looked up
//! by its exact name in the embedded table, never on disk, so no path
//! (`..`, encoded slashes) can reach anything else; a name not in the
//! table is a JSON 404. Only GET and HEAD: other methods are a JSON 405.

use std::sync::{Arc, LazyLock};

use axum::{
    Router,
    http::{HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{MethodRouter, get},
};
use utoipa_swagger_ui::Config;

use crate::error_body;

#[cfg(test)]
mod tests;

/// The page, where springdoc puts it.
pub const INDEX: &str = "/swagger-ui/index.html";
/// The document the page shows: springdoc's path, which both services serve.
const DOCUMENT: &str = "/v3/api-docs";

/// The prefix of the page's files.
const FILES: &str = "/swagger-ui/";

/// The page's configuration, written into its `swagger-initializer.js`.
static CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        Config::new([DOCUMENT])
            // The default sends the document's URL to swagger.io to draw a
            // badge: a request to another host, on every page load.
            .validator_url("none"),
    )
});

/// The routes: the page's files and the redirects to it. Merged into each
/// service's router (its error middleware completes the JSON errors).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    // 302, as springdoc answers.
    let redirect = || {
        only_get(get(|| async {
            (StatusCode::FOUND, [(header::LOCATION, INDEX)])
        }))
    };
    Router::new()
        .route("/swagger-ui.html", redirect())
        .route("/swagger-ui", redirect())
        .route("/swagger-ui/", redirect())
        .route(&format!("{FILES}{{*file}}"), only_get(get(file)))
}

/// GET (and so HEAD) only; any other method is a JSON 405 (axum adds
/// `Allow`).
fn only_get<S: Clone + Send + Sync + 'static>(route: MethodRouter<S>) -> MethodRouter<S> {
    route.fallback(|| async {
        error_body::answer(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
    })
}

/// One of Swagger UI's files, by its name under [`FILES`]: the path as
/// sent, not percent-decoded (no file's name needs decoding, and a name
/// that does not decode cannot then be a 400 instead of a 404).
async fn file(uri: Uri) -> Response {
    let name = uri.path().strip_prefix(FILES).unwrap_or_default();
    match utoipa_swagger_ui::serve(name, CONFIG.clone()) {
        Ok(Some(file)) => {
            let mut response = file.bytes.into_owned().into_response();
            if let Ok(content_type) = HeaderValue::try_from(file.content_type) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type);
            }
            response
        }
        Ok(None) => error_body::answer(StatusCode::NOT_FOUND, "Not found"),
        Err(e) => {
            // Only `swagger-initializer.js` is rewritten (the config put
            // into it), from embedded text and a fixed config.
            tracing::warn!(error = %e, "cannot prepare a Swagger UI file");
            error_body::answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
        }
    }
}
