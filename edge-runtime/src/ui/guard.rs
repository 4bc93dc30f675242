//! Who may use the UI, checked on every request before any handler runs.
//!
//! - Bound to loopback (the default), only the board itself can connect; the `Host` header
//!   must then name loopback too, so a web page elsewhere cannot reach the UI through a
//!   DNS name re-pointed at 127.0.0.1 (DNS rebinding).
//! - Bound to the network, every request must carry the access token (the
//!   `leukoscope_token` cookie set by `/api/login`, or an `Authorization: Bearer` header),
//!   except the board's own browser asking for a loopback name.
//! - Every state-changing request is a `POST` with `Content-Type: application/json` and
//!   `X-Leukoscope: 1`, and any `Origin` it has must be the UI's own. A page on another
//!   site can send neither header without the browser asking first (a CORS preflight,
//!   which this server never grants), so it cannot change anything in the technician's name.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::reply::error;

/// The cookie that carries the access token.
pub const TOKEN_COOKIE: &str = "leukoscope_token";

/// Fewest characters an access token may have.
pub const MIN_TOKEN_LEN: usize = 16;

/// The header every state-changing request carries.
pub const REQUEST_HEADER: &str = "x-leukoscope";

/// What the guard knows.
#[derive(Clone, Debug)]
pub struct Access {
    /// The access token for requests from the network, if one is configured.
    pub token: Option<String>,
    /// The address the server is bound to.
    pub bound: SocketAddr,
}

impl Access {
    /// Whether `presented` is the token, compared in constant time.
    pub fn token_matches(&self, presented: &str) -> bool {
        let Some(token) = &self.token else {
            return false;
        };
        let (a, b) = (token.as_bytes(), presented.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
    }
}

/// The middleware: refuses what the rules above refuse.
pub async fn guard(
    State(access): State<Arc<Access>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if access.bound.ip().is_loopback() && !is_loopback_host(host) {
        return error(
            StatusCode::FORBIDDEN,
            "this UI answers only to the board's own address",
        );
    }
    let path = request.uri().path();
    let open_path = path == "/login" || path == "/api/login" || path.starts_with("/assets/");
    // The board's own screen needs no token, but only under a loopback name: a page that
    // re-pointed its own DNS name at the board and runs in the board's browser does not.
    let own_screen = peer.ip().is_loopback() && is_loopback_host(host);
    if access.token.is_some() && !own_screen && !open_path && !carries_token(&access, headers) {
        return if path.starts_with("/api/") {
            error(
                StatusCode::UNAUTHORIZED,
                "log in with the board's access token",
            )
        } else {
            Redirect::to(&format!("/login?next={}", encode_next(path))).into_response()
        };
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        if request.method() != Method::POST {
            return error(StatusCode::METHOD_NOT_ALLOWED, "only GET and POST are used");
        }
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let marked = headers
            .get(REQUEST_HEADER)
            .is_some_and(|v| v.as_bytes() == b"1");
        let same_origin = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|origin| {
                origin
                    .strip_prefix("http://")
                    .or(origin.strip_prefix("https://"))
                    == Some(host)
            });
        if !(json && marked && same_origin) {
            return error(
                StatusCode::FORBIDDEN,
                "refused: changes come only from the UI's own pages",
            );
        }
    }
    next.run(request).await
}

/// `Host` values that name this machine's loopback interface.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

fn carries_token(access: &Access, headers: &HeaderMap) -> bool {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == TOKEN_COOKIE)
        .map(|(_, value)| value);
    bearer.or(cookie).is_some_and(|t| access.token_matches(t))
}

/// A path kept only if it is one of ours (`/...`, never `//host`), for `?next=`.
fn encode_next(path: &str) -> String {
    if path.starts_with('/') && !path.starts_with("//") {
        path.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
            .collect()
    } else {
        "/".to_string()
    }
}

#[cfg(test)]
mod tests;
