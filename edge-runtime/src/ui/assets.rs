//! The UI's pages, styles and scripts, built into the binary: the board serves them with
//! no network and no files to install beside the program.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Every file the UI serves: name, media type, contents.
const FILES: &[(&str, &str, &str)] = &[
    ("live.html", HTML, include_str!("../../ui/live.html")),
    ("slides.html", HTML, include_str!("../../ui/slides.html")),
    ("review.html", HTML, include_str!("../../ui/review.html")),
    ("login.html", HTML, include_str!("../../ui/login.html")),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../ui/app.css"),
    ),
    ("common.js", JS, include_str!("../../ui/common.js")),
    ("live.js", JS, include_str!("../../ui/live.js")),
    ("slides.js", JS, include_str!("../../ui/slides.js")),
    ("review.js", JS, include_str!("../../ui/review.js")),
    ("login.js", JS, include_str!("../../ui/login.js")),
];

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

fn file(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, media, body)) => (
            [
                (header::CONTENT_TYPE, *media),
                // Pages and scripts change only with the program: a short cache spares a slow
                // board, and a new program is picked up within a minute.
                (header::CACHE_CONTROL, "max-age=60"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// A page.
pub async fn page(name: &'static str) -> Response {
    file(name)
}

/// `GET /assets/{file}`: a style sheet or script (never a page).
pub async fn asset(Path(name): Path<String>) -> Response {
    if name.ends_with(".html") {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    file(&name)
}
