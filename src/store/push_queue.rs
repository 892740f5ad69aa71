//! The push queue in the database, so pending pushes survive a restart: due
//! notifications become one delivery per device token, and every attempt is recorded.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, Type};
use switchyard_namespaces::ports::Priority;

use super::SqlStore;
use super::outbox::enqueue;
use super::sql::{Column, Param, Sql};
use crate::integration::webhooks::event::{WebhookEvent, types};

/// One push to send: a notification to one device.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedPush {
    pub notification_id: String,
    pub token: String,
    /// Attempts made before this one.
    pub attempts: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: serde_json::Map<String, serde_json::Value>,
    pub priority: Priority,
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Sent,
    /// The token is dead: forget the device.
    InvalidToken,
    /// Try again at this time (ms).
    RetryAt {
        at: i64,
        status: Option<u16>,
    },
    /// Give up on this delivery.
    Failed {
        status: Option<u16>,
    },
}

#[async_trait]
pub trait PushQueue: Send + Sync + 'static {
    /// Turns notifications whose push is due into deliveries, one per registered device,
    /// skipping those delivered, read, dropped or expired first. Returns how many
    /// notifications were queued.
    async fn schedule_due(&self, now: i64, limit: i64) -> Result<usize, sqlx::Error>;
    /// Deliveries whose next attempt is due, shared fairly between users (round-robin,
    /// each user's oldest first), each claimed for this node for
    /// [`CLAIM_LEASE_MS`] so no other node sends it meanwhile (if this node dies mid-send,
    /// the delivery is due again when the lease runs out).
    async fn ready(&self, now: i64, limit: i64) -> Result<Vec<QueuedPush>, sqlx::Error>;
    async fn record(
        &self,
        push: &QueuedPush,
        outcome: &AttemptOutcome,
        now: i64,
    ) -> Result<(), sqlx::Error>;
}

/// How long a claimed delivery is this node's alone.
pub const CLAIM_LEASE_MS: i64 = 60_000;

mod sql {
    pub const SKIP: &str = "UPDATE notifications SET push_state = 'skipped' \
         WHERE push_state = 'due' AND push_due_at <= $1 AND (delivered_at IS NOT NULL OR read_at IS NOT NULL \
         OR dropped_at IS NOT NULL OR (expires_at IS NOT NULL AND expires_at <= $1))";
    /// Round-robin over users (each user's oldest first, then each one's second, ...), so
    /// one user's flood of notifications does not hold back another user's first.
    pub const DUE: &str = "SELECT id, user_id FROM (SELECT id, user_id, push_due_at, \
         ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY push_due_at, id) AS turn \
         FROM notifications WHERE push_state = 'due' AND push_due_at <= $1) due \
         ORDER BY turn, push_due_at, id LIMIT $2";
    pub const FAN_OUT: &str = "INSERT INTO push_deliveries (notification_id, token, state, attempts, next_attempt_at) \
         SELECT $1, token, 'pending', 0, $2 FROM devices WHERE user_id = $3 \
         ON CONFLICT (notification_id, token) DO NOTHING";
    pub const QUEUED: &str =
        "UPDATE notifications SET push_state = 'queued' WHERE id = $1 AND push_state = 'due'";
    /// A notification a socket took or the user read meanwhile needs no more retries.
    /// Round-robin over users as [`DUE`] is: a batch holds every waiting user's oldest
    /// delivery before anyone's second, so a user with thousands of deliveries queued
    /// delays another user's first push by one batch at most.
    pub const READY: &str = "SELECT notification_id, token, attempts, next_attempt_at, type, title, body, data, priority \
         FROM (SELECT d.notification_id, d.token, d.attempts, d.next_attempt_at, n.type, n.title, n.body, n.data, n.priority, \
         ROW_NUMBER() OVER (PARTITION BY n.user_id ORDER BY d.next_attempt_at, d.notification_id, d.token) AS turn \
         FROM push_deliveries d JOIN notifications n ON n.id = d.notification_id \
         WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND n.delivered_at IS NULL AND n.read_at IS NULL) ready \
         ORDER BY turn, next_attempt_at, notification_id, token LIMIT $2";
    /// Compare-and-set on the due time: only one node's claim of a delivery succeeds.
    pub const CLAIM: &str = "UPDATE push_deliveries SET next_attempt_at = $4 \
         WHERE notification_id = $1 AND token = $2 AND state = 'pending' AND next_attempt_at = $3";
    pub const UPDATE_DELIVERY: &str = "UPDATE push_deliveries SET state = $3, attempts = attempts + 1, \
         next_attempt_at = $4 WHERE notification_id = $1 AND token = $2";
    pub const FORGET_DEVICE: &str = "DELETE FROM devices WHERE token = $1";
    pub const OWNER: &str = "SELECT user_id FROM notifications WHERE id = $1";
    pub const LOG_ATTEMPT: &str = "INSERT INTO push_attempts (notification_id, token, attempt, outcome, status, at) \
         VALUES ($1, $2, $3, $4, $5, $6)";
}

#[derive(sqlx::FromRow)]
struct ReadyRow {
    notification_id: String,
    token: String,
    attempts: i64,
    next_attempt_at: i64,
    #[sqlx(rename = "type")]
    kind: String,
    title: String,
    body: String,
    data: String,
    priority: i64,
}

impl From<ReadyRow> for QueuedPush {
    fn from(row: ReadyRow) -> Self {
        let data = serde_json::from_str(&row.data).unwrap_or_default();
        QueuedPush {
            notification_id: row.notification_id,
            token: row.token,
            attempts: row.attempts,
            kind: row.kind,
            title: row.title,
            body: row.body,
            data,
            priority: Priority::from_rank(row.priority),
        }
    }
}

/// The delivery state, next attempt time, logged outcome and HTTP status of an outcome.
fn describe(outcome: &AttemptOutcome, now: i64) -> (&'static str, i64, &'static str, Option<i64>) {
    match outcome {
        AttemptOutcome::Sent => ("sent", now, "sent", Some(200)),
        AttemptOutcome::InvalidToken => ("pruned", now, "invalid_token", None),
        AttemptOutcome::RetryAt { at, status } => ("pending", *at, "retry", status.map(i64::from)),
        AttemptOutcome::Failed { status } => ("failed", now, "failed", status.map(i64::from)),
    }
}

#[async_trait]
impl<DB: Sql> PushQueue for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'s> &'s str: Encode<'s, DB> + Type<DB> + ColumnIndex<DB::Row>,
    String: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Param<DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn schedule_due(&self, now: i64, limit: i64) -> Result<usize, sqlx::Error> {
        sqlx::query(sql::SKIP).bind(now).execute(&self.pool).await?;
        let due: Vec<(String, String)> = sqlx::query_as(sql::DUE)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        for (id, user_id) in &due {
            let mut tx = self.pool.begin().await?;
            sqlx::query(sql::FAN_OUT)
                .bind(id)
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(sql::QUEUED).bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
        }
        Ok(due.len())
    }

    async fn ready(&self, now: i64, limit: i64) -> Result<Vec<QueuedPush>, sqlx::Error> {
        let rows: Vec<ReadyRow> = sqlx::query_as(sql::READY)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let claim = sqlx::query(sql::CLAIM)
                .bind(&row.notification_id)
                .bind(&row.token)
                .bind(row.next_attempt_at)
                .bind(now + CLAIM_LEASE_MS)
                .execute(&self.pool)
                .await?;
            if DB::rows_affected(&claim) == 1 {
                claimed.push(QueuedPush::from(row));
            }
        }
        Ok(claimed)
    }

    async fn record(
        &self,
        push: &QueuedPush,
        outcome: &AttemptOutcome,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let (state, next, logged, status) = describe(outcome, now);
        let mut tx = self.pool.begin().await?;
        sqlx::query(sql::UPDATE_DELIVERY)
            .bind(&push.notification_id)
            .bind(&push.token)
            .bind(state)
            .bind(next)
            .execute(&mut *tx)
            .await?;
        if *outcome == AttemptOutcome::InvalidToken {
            sqlx::query(sql::FORGET_DEVICE)
                .bind(&push.token)
                .execute(&mut *tx)
                .await?;
        }
        if let AttemptOutcome::Failed { status } = outcome {
            let urls = self.webhooks.wanting(types::PUSH_FAILED);
            let owner: Option<String> = match urls.is_empty() {
                true => None,
                false => {
                    sqlx::query_scalar(sql::OWNER)
                        .bind(&push.notification_id)
                        .fetch_optional(&mut *tx)
                        .await?
                }
            };
            if let Some(user_id) = owner {
                let status = status.map(i64::from);
                let (id, attempts) = (&push.notification_id, push.attempts + 1);
                let event = WebhookEvent::push_failed(&user_id, id, attempts, status, now);
                enqueue::<DB>(&mut tx, &event, &urls).await?;
            }
        }
        sqlx::query(sql::LOG_ATTEMPT)
            .bind(&push.notification_id)
            .bind(&push.token)
            .bind(push.attempts + 1)
            .bind(logged)
            .bind(status)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}
