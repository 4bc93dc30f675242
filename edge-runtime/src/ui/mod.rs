//! The technician's web UI, served by the board: the live slide, the slides, one slide's
//! review with a verdict per cell and the sign-off, and the printable report.
//!
//! - [`desk`]: the state the scan loop and the server share.
//! - [`guard`]: who may use the UI: loopback by default, an access token on the network,
//!   and a check on every state-changing request.
//! - [`api`]: the JSON API and the files it serves.
//! - [`body`]: the bodies the API takes, and how they are read.
//! - [`conn`]: the connections: timeouts, and a cap that leaves the scan its files.
//! - [`throttle`]: failed token checks cost their client time, however many connections
//!   it opens.
//! - [`reply`]: how the server answers in JSON, refusals included.
//! - [`assets`]: the pages, styles and scripts, built into the binary (no network, no CDN).
//!
//! The server runs on a thread of its own with a single-threaded tokio runtime: the scan
//! loop keeps the cores, and a slow phone on the network never slows a slide down.

pub mod api;
pub mod assets;
pub mod body;
pub mod conn;
pub mod desk;
pub mod guard;
pub mod reply;
pub mod throttle;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::Redirect;
use axum::routing::{get, post};

pub use conn::Limits;
pub use desk::{Desk, DeskConfig, DeskMode, ReportRebuild};
pub use guard::{Access, MIN_TOKEN_LEN};

/// Why the UI could not start.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// Listening beyond the board itself needs an access token.
    #[error(
        "the UI would listen on {0}, reachable from the network, without an access token; set [ui] token_file in board.toml (or --token-file, or LEUKOSCOPE_UI_TOKEN), or listen on 127.0.0.1"
    )]
    NeedsToken(SocketAddr),
    /// The token is too short to resist guessing.
    #[error("the UI access token has {0} characters; it needs at least {MIN_TOKEN_LEN}")]
    WeakToken(usize),
    /// The address could not be bound.
    #[error("cannot listen on {address} (is another leukoscope-edge already serving there?)")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server's thread or runtime could not start.
    #[error("cannot start the UI server")]
    Start(#[source] std::io::Error),
}

/// The running server; it stops when dropped.
pub struct UiServer {
    address: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl UiServer {
    /// The address it listens on (with the real port when asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address as a URL to open.
    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }
}

impl Drop for UiServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves `desk` at `listen`. A non-loopback address needs `token`. The process's soft
/// limit on open files is raised to its hard one, and the connections are bounded by
/// [`Limits::default`] within a quarter of it.
pub fn serve(
    listen: SocketAddr,
    token: Option<String>,
    desk: Arc<Desk>,
) -> Result<UiServer, UiError> {
    let limits = Limits::default().within(conn::raise_open_file_limit());
    serve_with(listen, token, desk, limits)
}

/// [`serve`] with the connections bounded by `limits` as they are.
pub fn serve_with(
    listen: SocketAddr,
    token: Option<String>,
    desk: Arc<Desk>,
    limits: Limits,
) -> Result<UiServer, UiError> {
    let token = token.map(|t| t.trim().to_string());
    if let Some(t) = &token
        && t.chars().count() < MIN_TOKEN_LEN
    {
        return Err(UiError::WeakToken(t.chars().count()));
    }
    if !listen.ip().is_loopback() && token.is_none() {
        return Err(UiError::NeedsToken(listen));
    }
    let listener = std::net::TcpListener::bind(listen).map_err(|source| UiError::Bind {
        address: listen,
        source,
    })?;
    let address = listener.local_addr().map_err(UiError::Start)?;
    listener.set_nonblocking(true).map_err(UiError::Start)?;
    let access = Arc::new(Access::new(token, address));
    let app = router(Arc::new(api::Ui {
        desk,
        access: access.clone(),
    }))
    .layer(middleware::from_fn_with_state(access, guard::guard));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(UiError::Start)?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("leukoscope-ui".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                conn::accept(listener, app, conn::Registry::new(limits), rx).await;
            });
        })
        .map_err(UiError::Start)?;
    Ok(UiServer {
        address,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

fn router(ui: Arc<api::Ui>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/live") }))
        .route("/live", get(|| assets::page("live.html")))
        .route("/slides", get(|| assets::page("slides.html")))
        .route("/review/{slide}", get(|| assets::page("review.html")))
        .route("/login", get(|| assets::page("login.html")))
        .route("/assets/{file}", get(assets::asset))
        .route("/api/state", get(api::state))
        .route("/api/live/frame.jpg", get(api::frame))
        .route("/api/slide/start", post(api::start))
        .route("/api/slide/stop", post(api::stop))
        .route("/api/slides", get(api::slides))
        .route("/api/slides/{slide}", get(api::slide))
        .route("/api/slides/{slide}/cells/{cell}", post(api::correct))
        .route("/api/slides/{slide}/sign-off", post(api::sign_off))
        .route("/api/slides/{slide}/report", post(api::rebuild))
        .route("/api/login", post(api::login))
        .route("/slides/{slide}/report", get(api::report))
        .route("/slides/{slide}/cells/{file}", get(api::cell_image))
        .with_state(ui)
        .layer(DefaultBodyLimit::max(body::BODY_LIMIT))
        .layer(middleware::map_response(
            |mut response: axum::response::Response| async {
                let headers = response.headers_mut();
                headers.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
                headers
                    .entry(header::CONTENT_SECURITY_POLICY)
                    .or_insert(HeaderValue::from_static(
                        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                    ));
                response
            },
        ))
}

#[cfg(test)]
mod tests;
