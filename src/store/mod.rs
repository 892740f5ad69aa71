//! sqlx implementations of the namespaces' store traits: SQLite (the embedded default)
//! and PostgreSQL (the cluster's store), each with its own migrations.

mod deadline;
mod devices;
mod drafts;
mod message_rows;
mod messages;
mod notifications;
mod outbox;
mod push_queue;
mod queries;
mod sql;
mod webhook_queue;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Postgres, Sqlite};
use switchyard_namespaces::ports::{DraftStore, MessageStore, NotificationStore};

use crate::telemetry::metrics::{DB_ACQUIRE_SECONDS, DB_ERRORS_TOTAL, DB_STATEMENT_SECONDS};

use deadline::Deadline;
pub use push_queue::{AttemptOutcome, PushQueue, QueuedPush};
pub use webhook_queue::{Claim, WebhookDelivery, WebhookOutbox, WebhookOutcome};

/// A database error as the namespaces see it: nothing was stored. Counted, since every
/// failed store call of the namespaces passes here.
fn unavailable(err: sqlx::Error) -> switchyard_namespaces::ports::StoreError {
    metrics::counter!(DB_ERRORS_TOTAL).increment(1);
    switchyard_namespaces::ports::StoreError::Unavailable(Box::new(err))
}

/// One pool of one of the supported databases. Both share the SQL in [`queries`].
pub struct SqlStore<DB: sqlx::Database> {
    pool: Pool<DB>,
    /// A conversation's participants never change after it is created (the contract has
    /// no event that changes them), so every node may keep them: one query fewer per
    /// message.
    participants: moka::sync::Cache<String, Arc<[String]>>,
    /// `database_timeout_ms`: what a store call may take, acquire and statements.
    deadline: Duration,
    /// The webhook endpoints: which events a change writes to the outbox with it.
    webhooks: outbox::Routes,
}

impl<DB: sqlx::Database> SqlStore<DB> {
    fn new(pool: Pool<DB>, deadline: Duration) -> Self {
        Self {
            pool,
            participants: moka::sync::Cache::new(PARTICIPANT_CACHE_CONVERSATIONS),
            deadline,
            webhooks: outbox::Routes::default(),
        }
    }

    /// A pooled connection for `call`, the wait recorded. A wait grows when every
    /// connection is busy: with many calls at once, or held by a database that stalls
    /// them all (a slow commit flush holds every statement behind it).
    async fn acquire(&self, call: &'static str) -> Result<PoolConnection<DB>, sqlx::Error> {
        let started = Instant::now();
        let conn = self.pool.acquire().await;
        metrics::histogram!(DB_ACQUIRE_SECONDS, "call" => call).record(started.elapsed());
        conn
    }
}

/// Runs `call`'s statements on a connection already held, recording how long the database
/// took to answer (on PostgreSQL, after the commit's WAL flush).
async fn timed<T>(call: &'static str, statements: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let answer = statements.await;
    metrics::histogram!(DB_STATEMENT_SECONDS, "call" => call).record(started.elapsed());
    answer
}

/// Conversations whose participants a node keeps in memory.
const PARTICIPANT_CACHE_CONVERSATIONS: u64 = 100_000;

/// The database chosen by `SWITCHYARD_DATABASE_URL`.
#[derive(Clone)]
pub enum Database {
    Sqlite(Arc<SqlStore<Sqlite>>),
    Postgres(Arc<SqlStore<Postgres>>),
}

impl Database {
    /// Every call of the stores made from it is answered within `deadline`.
    pub async fn connect(url: &str, deadline: Duration) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            let pool = sqlite_pool(url, deadline).await?;
            Ok(Self::Sqlite(Arc::new(SqlStore::new(pool, deadline))))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = postgres_pool_options(deadline)
                .connect_with(postgres_options(url, deadline)?)
                .await
                .context("connecting to PostgreSQL")?;
            Ok(Self::Postgres(Arc::new(SqlStore::new(pool, deadline))))
        } else {
            anyhow::bail!("SWITCHYARD_DATABASE_URL must start with sqlite:// or postgres://")
        }
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(s) => sqlx::migrate!("migrations/sqlite").run(&s.pool).await,
            Self::Postgres(s) => {
                // A migration (an index on a large table) may outrun the statement
                // timeout meant for requests: it runs on a connection of its own without
                // one, closed afterwards rather than returned to the pool.
                let mut conn = s.pool.acquire().await.context("connecting to migrate")?;
                conn.close_on_drop();
                sqlx::query("SET statement_timeout = 0")
                    .execute(&mut *conn)
                    .await
                    .context("lifting the statement timeout for migrations")?;
                sqlx::migrate!("migrations/postgres").run(&mut *conn).await
            }
        }
        .context("applying migrations")
    }

    /// The webhook endpoints (`[[webhooks]]`): set once, before the stores are used, so
    /// each change writes its events to the outbox in its own transaction.
    pub fn set_webhooks(&self, endpoints: Vec<crate::config::WebhookEndpoint>) {
        match self {
            Self::Sqlite(s) => s.webhooks.set(endpoints),
            Self::Postgres(s) => s.webhooks.set(endpoints),
        }
    }

    fn deadline(&self) -> Duration {
        match self {
            Self::Sqlite(s) => s.deadline,
            Self::Postgres(s) => s.deadline,
        }
    }

    /// Whether the database answers within the deadline (readiness).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        let probe = "SELECT 1";
        let ping = async {
            match self {
                Self::Sqlite(s) => sqlx::query(probe).execute(&s.pool).await.map(drop),
                Self::Postgres(s) => sqlx::query(probe).execute(&s.pool).await.map(drop),
            }
        };
        tokio::time::timeout(self.deadline(), ping)
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    }

    /// Undelivered, unexpired notifications of every user, for the pending gauge.
    pub async fn pending_notifications(&self, now: i64) -> Result<i64, sqlx::Error> {
        let count = "SELECT COUNT(*) FROM notifications WHERE delivered_at IS NULL \
             AND dropped_at IS NULL AND (expires_at IS NULL OR expires_at > $1)";
        let query = async {
            match self {
                Self::Sqlite(s) => sqlx::query_scalar(count).bind(now).fetch_one(&s.pool).await,
                Self::Postgres(s) => sqlx::query_scalar(count).bind(now).fetch_one(&s.pool).await,
            }
        };
        tokio::time::timeout(self.deadline(), query)
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    }

    pub fn message_store(&self) -> Arc<dyn MessageStore> {
        let inner: Arc<dyn MessageStore> = match self {
            Self::Sqlite(s) => s.clone(),
            Self::Postgres(s) => s.clone(),
        };
        Deadline::new(inner, self.deadline())
    }

    pub fn notification_store(&self) -> Arc<dyn NotificationStore> {
        let inner: Arc<dyn NotificationStore> = match self {
            Self::Sqlite(s) => s.clone(),
            Self::Postgres(s) => s.clone(),
        };
        Deadline::new(inner, self.deadline())
    }

    pub fn push_queue(&self) -> Arc<dyn PushQueue> {
        let inner: Arc<dyn PushQueue> = match self {
            Self::Sqlite(s) => s.clone(),
            Self::Postgres(s) => s.clone(),
        };
        Deadline::new(inner, self.deadline())
    }

    pub fn webhook_outbox(&self) -> Arc<dyn WebhookOutbox> {
        let inner: Arc<dyn WebhookOutbox> = match self {
            Self::Sqlite(s) => s.clone(),
            Self::Postgres(s) => s.clone(),
        };
        Deadline::new(inner, self.deadline())
    }

    pub fn draft_store(&self) -> Arc<dyn DraftStore> {
        let inner: Arc<dyn DraftStore> = match self {
            Self::Sqlite(s) => s.clone(),
            Self::Postgres(s) => s.clone(),
        };
        Deadline::new(inner, self.deadline())
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.pool.close().await,
            Self::Postgres(s) => s.pool.close().await,
        }
    }
}

/// The PostgreSQL pool. sqlx pings an idle connection before every acquire by default: a
/// round trip more, on the caller's path, for every message sent (it pings again on
/// release, off the caller's path, which no option turns off). A connection that died is
/// found by the query itself instead: that one call is answered `unavailable` (nothing is
/// acked as stored), and the release ping drops the connection.
///
/// A caller waits for a pooled connection at most the database deadline.
fn postgres_pool_options(deadline: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(20)
        .acquire_timeout(deadline)
        .test_before_acquire(false)
}

/// The server ends any statement that runs longer than the deadline (`statement_timeout`,
/// set on every connection at startup), so a slow query frees its connection and locks
/// instead of holding them after its caller was answered.
fn postgres_options(url: &str, deadline: Duration) -> anyhow::Result<PgConnectOptions> {
    let options = PgConnectOptions::from_str(url).context("invalid PostgreSQL URL")?;
    let ms = deadline.as_millis().to_string();
    Ok(options.options([("statement_timeout", ms)]))
}

/// WAL lets readers proceed while one writer commits; the busy timeout (the database
/// deadline) makes concurrent writers wait for the lock, but no longer than a caller may.
async fn sqlite_pool(url: &str, deadline: Duration) -> anyhow::Result<Pool<Sqlite>> {
    let options = SqliteConnectOptions::from_str(url)
        .context("invalid SQLite URL")?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(deadline);
    // Each connection to `:memory:` would be a separate, empty database.
    let max = if url.contains(":memory:") { 1 } else { 8 };
    SqlitePoolOptions::new()
        .max_connections(max)
        .acquire_timeout(deadline)
        .connect_with(options)
        .await
        .with_context(|| format!("opening {url}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server itself ends a statement past the deadline, so a slow query frees its
    /// connection and locks even when no caller is left to give up on it.
    #[tokio::test]
    async fn postgres_ends_a_statement_past_the_deadline() {
        let url = std::env::var("SWITCHYARD_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let db = Database::connect(&url, Duration::from_millis(300))
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (scripts/services starts it)");
        let Database::Postgres(store) = &db else {
            panic!("a postgres:// URL gives PostgreSQL");
        };
        let sleep = sqlx::query("SELECT pg_sleep(2)").execute(&store.pool).await;
        let code = sleep
            .expect_err("cancelled by statement_timeout")
            .as_database_error()
            .and_then(|e| e.code().map(|c| c.into_owned()));
        assert_eq!(code.as_deref(), Some("57014"), "query_canceled");
        db.close().await;
    }

    #[test]
    fn postgres_connections_are_not_pinged_before_each_query() {
        assert!(!postgres_pool_options(Duration::from_secs(2)).get_test_before_acquire());
    }
}
