use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use super::*;
use crate::records::layout::DataDir;
use leukoscope_core::taxonomy::Taxonomy;

const TOKEN: &str = "a-token-of-twenty-chars";

/// The whole app bound to the network with a token, as `peer` reaches it.
fn app(dir: &std::path::Path, peer: [u8; 4]) -> Router {
    app_with(
        dir,
        peer,
        Access::new(Some(TOKEN.into()), "0.0.0.0:8080".parse().unwrap()),
    )
}

/// The whole app under `access`, as `peer` reaches it.
fn app_with(dir: &std::path::Path, peer: [u8; 4], access: Access) -> Router {
    let desk = Desk::new(DeskConfig {
        mode: DeskMode::Run,
        data: DataDir::new(dir),
        taxonomy: Taxonomy::b_all_4(),
        rules: Default::default(),
        demonstration: false,
        can_start: true,
        rebuild: None,
    });
    let access = Arc::new(access);
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

fn bearer(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, "10.0.0.5:8080")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test(start_paused = true)]
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
    assert_eq!(
        send(&phone, bearer("/api/slides", TOKEN)).await.0,
        StatusCode::OK
    );

    // The board's own screen connects over loopback and needs no token...
    let screen = app(dir.path(), [127, 0, 0, 1]);
    assert_eq!(send(&screen, local("/api/state")).await.0, StatusCode::OK);
    // ...but a page in its browser reaching it under a foreign name (DNS rebinding)
    // does.
    assert_eq!(
        send(&screen, get("/api/state", None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A reverse proxy on the board connects over loopback and may keep a loopback Host
    // (nginx does); what it forwards came from the network and needs the token.
    for name in [
        "X-Forwarded-For",
        "Forwarded",
        "X-Real-IP",
        "X-Forwarded-Host",
    ] {
        let proxied = Request::get("/api/state")
            .header(header::HOST, "127.0.0.1:8080")
            .header(name, "for=203.0.113.5")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            send(&screen, proxied).await.0,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
    }
    // Bound to loopback without a token, the UI is the board's alone: a proxy would hand
    // it to the network, so what it forwards is refused.
    let untokened = app_with(
        dir.path(),
        [127, 0, 0, 1],
        Access::new(None, "127.0.0.1:8080".parse().unwrap()),
    );
    assert_eq!(
        send(&untokened, local("/api/state")).await.0,
        StatusCode::OK
    );
    let proxied = Request::get("/api/state")
        .header(header::HOST, "127.0.0.1:8080")
        .header("X-Forwarded-For", "203.0.113.5")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&untokened, proxied).await.0, StatusCode::FORBIDDEN);
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

#[tokio::test(start_paused = true)]
async fn wrong_tokens_cost_their_client_a_second_each_however_many_connections_it_opens() {
    let dir = tempfile::tempdir().unwrap();
    let guesser = app(dir.path(), [10, 0, 0, 66]);
    let start = tokio::time::Instant::now();
    // Five guesses at once, as five connections would send them.
    let guesses: Vec<_> = (0..5)
        .map(|k| {
            let app = guesser.clone();
            tokio::spawn(async move {
                let status = send(&app, bearer("/api/state", &format!("guess-number-{k:08}")))
                    .await
                    .0;
                (status, start.elapsed())
            })
        })
        .collect();
    let mut answered = Vec::new();
    for guess in guesses {
        let (status, after) = guess.await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        answered.push(after.as_secs_f64());
    }
    answered.sort_by(f64::total_cmp);
    for (k, after) in answered.iter().enumerate() {
        assert!(
            *after >= (k + 1) as f64,
            "guess {k} answered after {after} s: {answered:?}"
        );
    }
    // The login form is the same door.
    let before = tokio::time::Instant::now();
    assert_eq!(
        send(&guesser, login("still-not-the-token")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(before.elapsed() >= std::time::Duration::from_secs(1));
    // Another client pays nothing, and the right token still opens, in its turn.
    let other = app(dir.path(), [10, 0, 0, 67]);
    let before = tokio::time::Instant::now();
    assert_eq!(
        send(&other, bearer("/api/state", TOKEN)).await.0,
        StatusCode::OK
    );
    assert_eq!(before.elapsed(), std::time::Duration::ZERO);
    assert_eq!(
        send(&guesser, bearer("/api/state", TOKEN)).await.0,
        StatusCode::OK
    );
    // A client that guessed for too long is refused without a check.
    let flood = app(dir.path(), [10, 0, 0, 68]);
    for k in 0..100 {
        let app = flood.clone();
        tokio::spawn(async move {
            send(&app, bearer("/api/state", &format!("flood-guess-{k:08}"))).await
        });
        tokio::task::yield_now().await;
    }
    assert_eq!(
        send(&flood, bearer("/api/state", TOKEN)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// A state-changing request as the board's own page sends it.
fn local_post(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header(guard::REQUEST_HEADER, "1")
        .body(body.into())
        .unwrap()
}

/// The answer's status and its `error`, which must come as JSON.
async fn refusal(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let kind = response.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        kind.as_ref().and_then(|k| k.to_str().ok()),
        Some("application/json"),
        "{status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    (
        status,
        json["error"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_in_json_with_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let screen = app(dir.path(), [127, 0, 0, 1]);
    // Past axum's own default limit too, so this refusal is ours whatever the limit.
    let huge = format!(r#"{{"initials":"{}"}}"#, "A".repeat(3 << 20));
    for path in ["/api/slides/s-1/sign-off", "/api/slides/s-1/cells/1"] {
        let (status, message) = refusal(&screen, local_post(path, huge.clone())).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert!(
            message.contains(&body::BODY_LIMIT.to_string()),
            "{path}: {message}"
        );
    }
    let just_over = format!(r#"{{"token":"{}"}}"#, "t".repeat(body::BODY_LIMIT));
    let phone = app(dir.path(), [10, 0, 0, 9]);
    let mut login = login("x");
    *login.body_mut() = Body::from(just_over);
    assert_eq!(
        refusal(&phone, login).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn every_body_the_api_takes_refuses_unknown_fields() {
    let dir = tempfile::tempdir().unwrap();
    let screen = app(dir.path(), [127, 0, 0, 1]);
    for body in [
        r#"{"verdict":"class","class":1,"note":"x"}"#,
        r#"{"verdict":"unidentified","by":"AB"}"#,
        r#"{"verdict":"not_a_cell","extra":null}"#,
    ] {
        let (status, message) = refusal(&screen, local_post("/api/slides/s-1/cells/1", body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {message}");
        assert!(message.contains("unknown field"), "{body}: {message}");
    }
    let signed = local_post("/api/slides/s-1/sign-off", r#"{"initials":"AB","at":1}"#);
    let (status, message) = refusal(&screen, signed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
    assert!(message.contains("unknown field"), "{message}");
    let phone = app(dir.path(), [10, 0, 0, 9]);
    let mut login = login(TOKEN);
    *login.body_mut() = Body::from(format!(r#"{{"token":"{TOKEN}","keep":true}}"#));
    let (status, message) = refusal(&phone, login).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
    assert!(message.contains("unknown field"), "{message}");
}

#[tokio::test]
async fn errors_repeat_at_most_a_short_prefix_of_a_long_input() {
    let dir = tempfile::tempdir().unwrap();
    let screen = app(dir.path(), [127, 0, 0, 1]);
    let long = "7".repeat(5000);
    let requests = [
        local(&format!("/api/slides/{long}")),
        local(&format!("/slides/{long}/cells/1.jpg")),
        local_post(
            &format!("/api/slides/s-1/cells/{long}"),
            r#"{"verdict":"unidentified"}"#,
        ),
        local_post(
            "/api/slides/s-1/cells/1",
            format!(r#"{{"verdict":"{long}"}}"#),
        ),
        local_post(
            "/api/slides/s-1/cells/1",
            format!(r#"{{"verdict":"class","{long}":1}}"#),
        ),
        local_post(
            "/api/slides/s-1/sign-off",
            format!(r#"{{"initials":"{long}"}}"#),
        ),
        local_post("/api/slides/s-1/sign-off", format!(r#"{{"{long}":1}}"#)),
    ];
    for request in requests {
        let path = request.uri().path().chars().take(40).collect::<String>();
        let (status, message) = refusal(&screen, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {message}");
        assert!(
            message.chars().count() <= 160 && message.contains("777"),
            "{path}: {} characters: {message}",
            message.chars().count()
        );
    }
}
