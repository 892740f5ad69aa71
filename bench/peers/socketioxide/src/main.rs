//! A bare socketioxide server speaking the benchmark subset of Switchyard's wire contract
//! (bench/peers/README.md): `/realtime` with a JWT connect middleware, `subscribe`,
//! `latency:ping`, and `POST /api/v1/publish`. Written the way socketioxide's docs show,
//! with no Switchyard code, so the benchmarks measure what a user of the library gets.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State as HttpState;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;

const NAMESPACE: &str = "/realtime";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// ---- JWT ------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize)]
struct Claims {
    #[allow(dead_code, reason = "required by the validation; kept on the socket as its user")]
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// HS256 with the secret from `BENCH_JWT_SECRET`; `sub` and `exp` required.
struct Jwt {
    key: DecodingKey,
    validation: Validation,
}

impl Jwt {
    fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5; // as Switchyard
        Self {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .ok()
            .map(|t| t.claims)
    }
}

#[derive(Debug)]
enum AuthError {
    Missing,
    Invalid,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "missing_token",
            Self::Invalid => "invalid_token",
        })
    }
}

// ---- Socket.IO ------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Auth {
    token: Option<String>,
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_owned())
}

/// Connect middleware: handshake `auth.token`, else `?token=`.
async fn authenticate(
    s: SocketRef,
    TryData(auth): TryData<Auth>,
    State(jwt): State<Arc<Jwt>>,
) -> Result<(), AuthError> {
    let token = auth
        .ok()
        .and_then(|a| a.token)
        .or_else(|| query_token(s.req_parts().uri.query()))
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Missing)?;
    let claims = jwt.verify(&token).ok_or(AuthError::Invalid)?;
    s.extensions.insert(claims);
    Ok(())
}

#[derive(Debug, Deserialize)]
struct Subscribe {
    channels: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Ping {
    t: Value,
}

async fn on_connect(s: SocketRef) {
    s.on("subscribe", async |s: SocketRef, Data(req): Data<Subscribe>, ack: AckSender| {
        s.join(req.channels.clone());
        ack.send(&json!({
            "ok": true,
            "subscribed": req.channels,
            "denied": [],
            "recovered": {},
            "missed": {},
        }))
        .ok();
    });
    s.on("latency:ping", async |Data(ping): Data<Ping>, ack: AckSender| {
        ack.send(&json!({ "ok": true, "t": ping.t, "serverTime": now_ms() }))
            .ok();
    });
}

// ---- HTTP publish ---------------------------------------------------------------------

#[derive(Clone)]
struct App {
    io: SocketIo,
    jwt: Arc<Jwt>,
    epoch: Arc<str>,
    /// The last offset of each channel. The per-channel async lock is held until the
    /// broadcast is handed to the sockets, so subscribers see offsets in order.
    offsets: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<u64>>>>>,
}

#[derive(Debug, Deserialize)]
struct Publish {
    channel: String,
    event: String,
    #[serde(default)]
    data: Value,
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": { "code": code, "message": message } }))).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn publish(
    HttpState(app): HttpState<App>,
    headers: HeaderMap,
    body: Result<Json<Publish>, JsonRejection>,
) -> Response {
    let Some(token) = bearer(&headers).filter(|t| !t.is_empty()) else {
        return error(StatusCode::UNAUTHORIZED, "missing_token", "a valid bearer token is required");
    };
    let Some(claims) = app.jwt.verify(token) else {
        return error(StatusCode::UNAUTHORIZED, "invalid_token", "a valid bearer token is required");
    };
    if !claims.roles.iter().any(|r| r == "service") {
        return error(StatusCode::FORBIDDEN, "forbidden", "requires role service");
    }
    let req = match body {
        Ok(Json(req)) if !req.channel.is_empty() && !req.event.is_empty() => req,
        Ok(_) => return error(StatusCode::BAD_REQUEST, "invalid_payload", "channel and event are required"),
        Err(rejection) => return error(StatusCode::BAD_REQUEST, "invalid_payload", &rejection.body_text()),
    };
    let counter = app
        .offsets
        .lock()
        .expect("offsets lock")
        .entry(req.channel.clone())
        .or_default()
        .clone();
    let mut last = counter.lock().await;
    *last += 1;
    let offset = *last;
    let publication = json!({
        "channel": req.channel,
        "event": req.event,
        "data": req.data,
        "offset": offset,
        "epoch": &*app.epoch,
        "ts": now_ms(),
    });
    if let Some(ns) = app.io.of(NAMESPACE) {
        ns.to(req.channel).emit("event", &publication).await.ok();
    }
    drop(last);
    (StatusCode::ACCEPTED, Json(json!({ "offset": offset, "epoch": &*app.epoch }))).into_response()
}

// ---- main -----------------------------------------------------------------------------

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("BENCH_JWT_SECRET").map_err(|_| "BENCH_JWT_SECRET is not set")?;
    let port: u16 = std::env::var("PORT").ok().map_or(Ok(0), |p| p.parse())?;
    let jwt = Arc::new(Jwt::new(&secret));

    let (layer, io) = SocketIo::builder().with_state(jwt.clone()).build_layer();
    io.ns(NAMESPACE, on_connect.with(authenticate));

    let app = App {
        io,
        jwt,
        // A random 12-hex-digit string, new for every process.
        epoch: format!("{:012x}", RandomState::new().hash_one(now_ms()) >> 16).into(),
        offsets: Arc::default(),
    };
    let router = Router::new()
        .route("/api/v1/publish", post(publish))
        .with_state(app)
        .layer(layer);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
