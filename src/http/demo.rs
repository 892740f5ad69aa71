//! The demo page (`GET /demo`): `client-examples/browser/`, embedded in the binary so the
//! gateway serves it from its own origin, which its origin check always allows.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX: &str = include_str!("../../client-examples/browser/index.html");
const APP: &str = include_str!("../../client-examples/browser/app.js");
const STYLE: &str = include_str!("../../client-examples/browser/style.css");
/// socket.io-client's browser ES module build, vendored (MIT, see the folder's licence file).
const SOCKET_IO: &str = include_str!("../../client-examples/browser/socket.io.esm.min.js");

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/demo", get(|| asset("text/html; charset=utf-8", INDEX)))
        .route("/demo/", get(|| asset("text/html; charset=utf-8", INDEX)))
        .route("/demo/app.js", get(|| asset(JS, APP)))
        .route("/demo/socket.io.esm.min.js", get(|| asset(JS, SOCKET_IO)))
        .route(
            "/demo/style.css",
            get(|| asset("text/css; charset=utf-8", STYLE)),
        )
}

const JS: &str = "text/javascript; charset=utf-8";

/// The page holds no secrets (the token comes from its address or a form), but a token in
/// the address must not leak to other sites through `Referer`.
async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
}
