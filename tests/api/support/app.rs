//! `TestApp`: the real server on port 0 with a fresh database, SQLite or PostgreSQL.

use std::net::SocketAddr;

use serde_json::{Value, json};
use switchyard::config::Settings;
use switchyard::startup::Application;
use tokio::sync::oneshot;

use super::sio::{Connect, SioClient};

pub const SECRET: &str = "integration-test-secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

type Running = (
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
);

async fn start(settings: &Settings) -> Running {
    let secret = settings.auth.jwt_secret.clone();
    let app = Application::build(settings, secret.as_deref())
        .await
        .expect("app builds");
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

/// The server an admin connection makes test databases on.
fn postgres_admin_url() -> String {
    std::env::var("SWITCHYARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub settings: Settings,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pg_database: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn spawn(db: Db) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: Db, configure: impl FnOnce(&mut Settings)) -> TestApp {
        switchyard::telemetry::init();
        switchyard::tls::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let (database_url, pg_database) = match db {
            Db::Sqlite => (
                format!("sqlite://{}", dir.path().join("test.db").display()),
                None,
            ),
            Db::Postgres => {
                let name = format!("switchyard_test_{}", uuid::Uuid::new_v4().simple());
                create_postgres_database(&name).await;
                let base = postgres_admin_url();
                let url = base
                    .rsplit_once('/')
                    .map(|(server, _)| format!("{server}/{name}"))
                    .expect("url");
                (url, Some(name))
            }
        };
        let mut settings = Settings::default();
        settings.http.bind = "127.0.0.1:0".parse().expect("addr");
        settings.database.url = database_url;
        settings.auth.jwt_secret = Some(SECRET.into());
        configure(&mut settings);
        let (addr, stop, server) = start(&settings).await;
        TestApp {
            addr,
            settings,
            stop: Some(stop),
            server: Some(server),
            pg_database,
            _dir: dir,
        }
    }

    /// A second node of the same gateway: same settings, database and Redis, its own port.
    /// The first node owns the database and must outlive this one.
    pub async fn another_node(&self) -> TestApp {
        self.another_node_with(|_| {}).await
    }

    /// As [`Self::another_node`], with settings of its own (a Redis URL through another
    /// path, say).
    pub async fn another_node_with(&self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.settings.clone();
        configure(&mut settings);
        let (addr, stop, server) = start(&settings).await;
        TestApp {
            addr,
            settings,
            stop: Some(stop),
            server: Some(server),
            pg_database: None,
            _dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Signals the server to stop (as SIGTERM would) without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops this server and starts a new one on the same database and settings, as a
    /// process restart would (in-memory state is gone, stored state is not).
    pub async fn restart(mut self) -> TestApp {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
        }
        let (addr, stop, server) = start(&self.settings).await;
        self.addr = addr;
        self.stop = Some(stop);
        self.server = Some(server);
        self
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn token(&self, sub: &str) -> String {
        self.token_with(json!({ "sub": sub }))
    }

    /// `GET /api/v1/stats` of this node, as an admin.
    pub async fn stats(&self) -> Value {
        reqwest::Client::new()
            .get(self.url("/api/v1/stats"))
            .bearer_auth(self.admin_token())
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats body")
    }

    pub fn admin_token(&self) -> String {
        self.token_with(json!({ "sub": "root", "roles": ["admin"] }))
    }

    /// An HS256 token with `claims`, plus an `exp` an hour away unless given.
    pub fn token_with(&self, mut claims: Value) -> String {
        if claims.get("exp").is_none() {
            claims["exp"] = json!(jsonwebtoken::get_current_timestamp() + 3600);
        }
        let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("token")
    }

    /// A socket of `user` on `ns`, authenticated with `auth.token`.
    pub async fn connect(&self, ns: &str, user: &str) -> SioClient {
        self.connect_as(ns, user, false).await
    }

    /// As [`TestApp::connect`], but the socket never acks by itself, not even what the
    /// server sends at connect.
    pub async fn connect_without_acks(&self, ns: &str, user: &str) -> SioClient {
        self.connect_as(ns, user, true).await
    }

    async fn connect_as(&self, ns: &str, user: &str, manual_acks: bool) -> SioClient {
        let opts = Connect {
            auth: Some(json!({ "token": self.token(user) })),
            manual_acks,
            ..Connect::default()
        };
        SioClient::connect(&self.addr.to_string(), ns, opts)
            .await
            .expect("connects")
    }

    pub async fn try_connect(&self, ns: &str, opts: Connect) -> Result<SioClient, String> {
        SioClient::connect(&self.addr.to_string(), ns, opts).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(name) = self.pg_database.take() {
            // Drop runs outside async: a short-lived runtime of its own removes the database.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("rt");
                rt.block_on(drop_postgres_database(&name));
            })
            .join();
        }
    }
}

async fn admin() -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&postgres_admin_url())
        .await
        .expect("PostgreSQL reachable for tests")
}

async fn create_postgres_database(name: &str) {
    use sqlx::Executor;
    let mut conn = admin().await;
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create database");
}

async fn drop_postgres_database(name: &str) {
    use sqlx::Executor;
    let mut conn = admin().await;
    let _ = conn
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await;
}
