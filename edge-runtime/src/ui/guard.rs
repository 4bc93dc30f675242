//! Who may use the UI, checked on every request before any handler runs.
//!
//! - Bound to loopback (the default), only the board itself can connect; the `Host` header
//!   must then name loopback too, so a web page elsewhere cannot reach the UI through a
//!   DNS name re-pointed at 127.0.0.1 (DNS rebinding).
//! - Bound to the network, every request must carry the access token (the
//!   `leukoscope_token` cookie set by `/api/login`, or an `Authorization: Bearer` header),
//!   except the board's own browser asking for a loopback name. A request with a proxy's
//!   forwarding headers (`Forwarded`, `X-Forwarded-For`, `X-Forwarded-Host`, `X-Real-IP`)
//!   is never the board's own, so a reverse proxy on the board cannot let the network in;
//!   without a token, such a request is refused.
//!   Wrong tokens cost their client time ([`super::throttle`]).
//! - Every state-changing request is a `POST` with `Content-Type: application/json` and
//!   `X-Leukoscope: 1`, and any `Origin` it has must be the UI's own. A page on another
//!   site can send neither header without the browser asking first (a CORS preflight,
//!   which this server never grants), so it cannot change anything in the technician's name.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::reply::error;
use super::throttle::{Throttle, Turn};

/// The cookie that carries the access token.
pub const TOKEN_COOKIE: &str = "leukoscope_token";

/// Fewest characters an access token may have.
pub const MIN_TOKEN_LEN: usize = 16;

/// The header every state-changing request carries.
pub const REQUEST_HEADER: &str = "x-leukoscope";

/// What the guard knows.
#[derive(Debug)]
pub struct Access {
    /// The access token for requests from the network, if one is configured.
    pub token: Option<String>,
    /// The address the server is bound to.
    pub bound: SocketAddr,
    /// The clients whose tokens failed lately.
    throttle: Throttle,
}

/// How a presented token fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// It is the token.
    Passed,
    /// It is not, and the refusal waited its client's turn.
    Failed,
    /// Not compared: the client owes too much time for failed checks.
    TooMany,
}

impl Access {
    /// Access for the server bound to `bound`, with `token` for the network.
    pub fn new(token: Option<String>, bound: SocketAddr) -> Self {
        Access {
            token,
            bound,
            throttle: Throttle::default(),
        }
    }

    /// Compares the token `client` presents, in its turn ([`throttle`](super::throttle)):
    /// a client that failed lately waits before the comparison, and a failure waits
    /// before it is answered.
    pub async fn check(&self, client: IpAddr, presented: &str) -> Check {
        match self.throttle.turn(client) {
            Turn::Refused => return Check::TooMany,
            Turn::At(turn) => tokio::time::sleep_until(turn).await,
            Turn::Now => {}
        }
        if self.token_matches(presented) {
            self.throttle.passed(client);
            Check::Passed
        } else {
            let answer = self.throttle.failed(client);
            tokio::time::sleep_until(answer).await;
            Check::Failed
        }
    }

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
    // Without a token the UI is the board's alone; a proxy would hand it to the network.
    if access.token.is_none() && forwarded(headers) {
        return error(
            StatusCode::FORBIDDEN,
            "this UI is reached through a proxy: give it an access token ([ui] token_file)",
        );
    }
    let path = request.uri().path();
    let open_path = path == "/login" || path == "/api/login" || path.starts_with("/assets/");
    // The board's own screen needs no token, but only under a loopback name: a page that
    // re-pointed its own DNS name at the board and runs in the board's browser does not.
    // Nor does a request a proxy on the board passed on: it came from the network, even
    // though the proxy connects over loopback and may keep `Host: 127.0.0.1`.
    let own_screen = peer.ip().is_loopback() && is_loopback_host(host) && !forwarded(headers);
    if access.token.is_some() && !own_screen && !open_path {
        let check = match presented_token(headers) {
            Some(token) => access.check(peer.ip(), token).await,
            None => Check::Failed,
        };
        match check {
            Check::Passed => {}
            Check::TooMany => return too_many(),
            Check::Failed if path.starts_with("/api/") => {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "log in with the board's access token",
                );
            }
            Check::Failed => {
                return Redirect::to(&format!("/login?next={}", encode_next(path))).into_response();
            }
        }
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

/// Whether a proxy says it passed the request on (any of the usual headers).
fn forwarded(headers: &HeaderMap) -> bool {
    [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-real-ip",
    ]
    .iter()
    .any(|name| headers.contains_key(*name))
}

/// The refusal of a client that failed too many token checks lately.
pub fn too_many() -> Response {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "too many wrong access tokens from this address; wait a minute",
    )
}

/// The token a request carries: its bearer token, else its cookie.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
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
    bearer.or(cookie)
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
