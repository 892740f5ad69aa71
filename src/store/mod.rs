//! sqlx implementations of the namespaces' store traits: SQLite (the embedded default)
//! and PostgreSQL (the cluster's store), each with its own migrations.

mod devices;
mod drafts;
mod messages;
mod notifications;
mod push_queue;
mod queries;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Postgres, Sqlite};
use switchyard_namespaces::metrics::{DB_ACQUIRE_SECONDS, DB_STATEMENT_SECONDS};
use switchyard_namespaces::ports::{DraftStore, MessageStore, NotificationStore};

pub use push_queue::{AttemptOutcome, PushQueue, QueuedPush};

/// A database error as the namespaces see it: nothing was stored. Counted, since every
/// failed store call of the namespaces passes here.
fn unavailable(err: sqlx::Error) -> switchyard_namespaces::ports::StoreError {
    metrics::counter!(switchyard_namespaces::metrics::DB_ERRORS_TOTAL).increment(1);
    switchyard_namespaces::ports::StoreError::Unavailable(Box::new(err))
}

/// One pool of one of the supported databases. Both share the SQL in [`queries`].
pub struct SqlStore<DB: sqlx::Database> {
    pool: Pool<DB>,
    /// A conversation's participants never change after it is created (the contract has
    /// no event that changes them), so every node may keep them: one query fewer per
    /// message.
    participants: moka::sync::Cache<String, Arc<[String]>>,
}

impl<DB: sqlx::Database> SqlStore<DB> {
    fn new(pool: Pool<DB>) -> Self {
        Self {
            pool,
            participants: moka::sync::Cache::new(PARTICIPANT_CACHE_CONVERSATIONS),
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
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(Arc::new(SqlStore::new(
                sqlite_pool(url).await?,
            ))))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = postgres_pool_options()
                .connect(url)
                .await
                .context("connecting to PostgreSQL")?;
            Ok(Self::Postgres(Arc::new(SqlStore::new(pool))))
        } else {
            anyhow::bail!("SWITCHYARD_DATABASE_URL must start with sqlite:// or postgres://")
        }
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(s) => sqlx::migrate!("migrations/sqlite").run(&s.pool).await,
            Self::Postgres(s) => sqlx::migrate!("migrations/postgres").run(&s.pool).await,
        }
        .context("applying migrations")
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        let probe = "SELECT 1";
        match self {
            Self::Sqlite(s) => sqlx::query(probe).execute(&s.pool).await.map(drop),
            Self::Postgres(s) => sqlx::query(probe).execute(&s.pool).await.map(drop),
        }
    }

    /// Undelivered, unexpired notifications of every user, for the pending gauge.
    pub async fn pending_notifications(&self, now: i64) -> Result<i64, sqlx::Error> {
        let count = "SELECT COUNT(*) FROM notifications WHERE delivered_at IS NULL \
             AND dropped_at IS NULL AND (expires_at IS NULL OR expires_at > $1)";
        match self {
            Self::Sqlite(s) => sqlx::query_scalar(count).bind(now).fetch_one(&s.pool).await,
            Self::Postgres(s) => sqlx::query_scalar(count).bind(now).fetch_one(&s.pool).await,
        }
    }

    pub fn message_store(&self) -> Arc<dyn MessageStore> {
        match self {
            Self::Sqlite(s) => s.clone(),
            Self::Postgres(s) => s.clone(),
        }
    }

    pub fn notification_store(&self) -> Arc<dyn NotificationStore> {
        match self {
            Self::Sqlite(s) => s.clone(),
            Self::Postgres(s) => s.clone(),
        }
    }

    pub fn push_queue(&self) -> Arc<dyn PushQueue> {
        match self {
            Self::Sqlite(s) => s.clone(),
            Self::Postgres(s) => s.clone(),
        }
    }

    pub fn draft_store(&self) -> Arc<dyn DraftStore> {
        match self {
            Self::Sqlite(s) => s.clone(),
            Self::Postgres(s) => s.clone(),
        }
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
fn postgres_pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(20)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
}

/// WAL lets readers proceed while one writer commits; the busy timeout makes concurrent
/// writers wait for the lock instead of failing.
async fn sqlite_pool(url: &str) -> anyhow::Result<Pool<Sqlite>> {
    let options = SqliteConnectOptions::from_str(url)
        .context("invalid SQLite URL")?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    // Each connection to `:memory:` would be a separate, empty database.
    let max = if url.contains(":memory:") { 1 } else { 8 };
    SqlitePoolOptions::new()
        .max_connections(max)
        .connect_with(options)
        .await
        .with_context(|| format!("opening {url}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_connections_are_not_pinged_before_each_query() {
        assert!(!postgres_pool_options().get_test_before_acquire());
    }
}
