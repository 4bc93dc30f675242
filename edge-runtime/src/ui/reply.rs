//! How the server answers in JSON: every body marked not to be cached (it holds a
//! patient's slide), and every refusal as `{"error": "..."}` the pages can show.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Most characters of a request an error repeats: enough to recognise what was sent, too
/// few to turn a refusal into an amplifier or a log flood.
pub const ECHO_LIMIT: usize = 64;

/// `text` from a request as an error may repeat it: at most [`ECHO_LIMIT`] characters,
/// and `…` where it was cut. Every error that quotes a request goes through here.
pub fn echo(text: &str) -> String {
    match text.char_indices().nth(ECHO_LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

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
