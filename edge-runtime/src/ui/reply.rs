//! How the server answers in JSON: every body marked not to be cached (it holds a
//! patient's slide), and every refusal as `{"error": "..."}` the pages can show.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error as the pages show it: `{"error": "..."}` with `status`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({ "error": message.into() })),
    )
        .into_response()
}

/// A JSON answer.
pub fn ok(value: Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(value)).into_response()
}
