//! The technician's web UI, served by the board: the live slide, the slides, one slide's
//! review with a verdict per cell and the sign-off, and the printable report.
//!
//! - [`desk`]: the state the scan loop and the server share.
//! - [`guard`]: who may use the UI: loopback by default, an access token on the network,
//!   and a check on every state-changing request.
//! - [`api`]: the JSON API and the files it serves.
//! - [`assets`]: the pages, styles and scripts, built into the binary (no network, no CDN).
//!
//! The server runs on a thread of its own with a single-threaded tokio runtime: the scan
//! loop keeps the cores, and a slow phone on the network never slows a slide down.

pub mod api;
pub mod assets;
pub mod desk;
pub mod guard;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::Redirect;
use axum::routing::{get, post};

pub use desk::{Desk, DeskConfig, DeskMode};
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

/// Serves `desk` at `listen`. A non-loopback address needs `token`.
pub fn serve(
    listen: SocketAddr,
    token: Option<String>,
    desk: Arc<Desk>,
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
    let access = Arc::new(Access {
        token,
        bound: address,
    });
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
                let service = app.into_make_service_with_connect_info::<SocketAddr>();
                let _ = axum::serve(listener, service)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
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
        .route("/api/login", post(api::login))
        .route("/slides/{slide}/report", get(api::report))
        .route("/slides/{slide}/cells/{file}", get(api::cell_image))
        .with_state(ui)
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
mod tests {
    use std::net::SocketAddr;

    use axum::body::Body;
    use axum::extract::connect_info::MockConnectInfo;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt;

    use super::*;
    use leukoscope_core::taxonomy::Taxonomy;

    const TOKEN: &str = "a-token-of-twenty-chars";

    /// The whole app bound to the network with a token, as `peer` reaches it.
    fn app(dir: &std::path::Path, peer: [u8; 4]) -> Router {
        let desk = Desk::new(DeskConfig {
            mode: DeskMode::Run,
            journals: dir.join("journals"),
            reports: dir.join("reports"),
            cells: dir.join("cells"),
            taxonomy: Taxonomy::b_all_4(),
            rules: Default::default(),
            demonstration: false,
            can_start: true,
        });
        let access = Arc::new(Access {
            token: Some(TOKEN.into()),
            bound: "0.0.0.0:8080".parse().unwrap(),
        });
        router(Arc::new(api::Ui {
            desk,
            access: access.clone(),
        }))
        .layer(middleware::from_fn_with_state(access, guard::guard))
        .layer(MockConnectInfo(SocketAddr::from((peer, 50000))))
    }

    async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Option<String>) {
        let response = app.clone().oneshot(request).await.unwrap();
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().to_string());
        (response.status(), cookie)
    }

    fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
        let mut r = Request::get(path).header(header::HOST, "10.0.0.5:8080");
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, c);
        }
        r.body(Body::empty()).unwrap()
    }

    /// A GET as the board's own browser sends it.
    fn local(path: &str) -> Request<Body> {
        Request::get(path)
            .header(header::HOST, "127.0.0.1:8080")
            .body(Body::empty())
            .unwrap()
    }

    fn login(token: &str) -> Request<Body> {
        Request::post("/api/login")
            .header(header::HOST, "10.0.0.5:8080")
            .header(header::CONTENT_TYPE, "application/json")
            .header(guard::REQUEST_HEADER, "1")
            .body(Body::from(format!(r#"{{"token":"{token}"}}"#)))
            .unwrap()
    }

    #[tokio::test]
    async fn the_network_needs_the_token_and_the_board_itself_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let phone = app(dir.path(), [10, 0, 0, 9]);
        assert_eq!(
            send(&phone, get("/api/state", None)).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (status, _) = send(&phone, get("/live", None)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        // The login page and its assets are open; a wrong token gets nothing.
        assert_eq!(send(&phone, get("/login", None)).await.0, StatusCode::OK);
        assert_eq!(
            send(&phone, get("/assets/app.css", None)).await.0,
            StatusCode::OK
        );
        let (status, cookie) = send(&phone, login("not-the-token-at-all")).await;
        assert_eq!((status, cookie), (StatusCode::UNAUTHORIZED, None));
        let (status, cookie) = send(&phone, login(TOKEN)).await;
        assert_eq!(status, StatusCode::OK);
        let cookie = cookie.expect("a cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let pair = cookie.split(';').next().unwrap();
        assert_eq!(
            send(&phone, get("/api/state", Some(pair))).await.0,
            StatusCode::OK
        );
        let bearer = Request::get("/api/slides")
            .header(header::HOST, "10.0.0.5:8080")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&phone, bearer).await.0, StatusCode::OK);

        // The board's own screen connects over loopback and needs no token...
        let screen = app(dir.path(), [127, 0, 0, 1]);
        assert_eq!(send(&screen, local("/api/state")).await.0, StatusCode::OK);
        // ...but a page in its browser reaching it under a foreign name (DNS rebinding)
        // does.
        assert_eq!(
            send(&screen, get("/api/state", None)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn pages_are_served_with_their_guards() {
        let dir = tempfile::tempdir().unwrap();
        let screen = app(dir.path(), [127, 0, 0, 1]);
        let response = screen.clone().oneshot(local("/review/s-1")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert!(
            headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(
            send(&screen, local("/assets/live.html")).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            send(&screen, local("/assets/nothing.js")).await.0,
            StatusCode::NOT_FOUND
        );
        // A slide that does not exist, and one whose id is not an id.
        assert_eq!(
            send(&screen, local("/api/slides/s-1")).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            send(&screen, local("/api/slides/.hidden")).await.0,
            StatusCode::BAD_REQUEST
        );
        // Nothing to stop; a PUT is no way in.
        let stop = Request::post("/api/slide/stop")
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::CONTENT_TYPE, "application/json")
            .header(guard::REQUEST_HEADER, "1")
            .body(Body::from("{}"))
            .unwrap();
        assert_eq!(send(&screen, stop).await.0, StatusCode::CONFLICT);
        let put = Request::put("/api/slide/stop")
            .header(header::HOST, "127.0.0.1:8080")
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&screen, put).await.0, StatusCode::METHOD_NOT_ALLOWED);
    }
}
