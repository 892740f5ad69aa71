//! [`NotificationStore`] on SQLite and PostgreSQL, one SQL text for both.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, Type};
use switchyard_namespaces::ports::{
    DeviceRegistration, NewNotification, Notification, NotificationStore, Priority, ReadSelection,
    StoreResult,
};

use super::outbox::enqueue;
use super::sql::{Column, Param, Sql};
use super::{SqlStore, unavailable};
use crate::integration::webhooks::event::{WebhookEvent, types};

mod sql {
    pub const CREATE: &str = "INSERT INTO notifications (id, user_id, type, title, body, data, priority, created_at, \
         expires_at, idempotency_key, push_state, push_due_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (user_id, idempotency_key) DO NOTHING \
         RETURNING id, type, title, body, data, priority, created_at, read_at";
    pub const BY_KEY: &str = "SELECT id, type, title, body, data, priority, created_at, read_at \
         FROM notifications WHERE user_id = $1 AND idempotency_key = $2";
    /// Pending = not delivered, not dropped; keep the newest `$2`, drop older ones.
    pub const DROP_OVERFLOW: &str = "UPDATE notifications SET dropped_at = $3 \
         WHERE user_id = $1 AND delivered_at IS NULL AND dropped_at IS NULL AND id < \
         (SELECT id FROM notifications WHERE user_id = $1 AND delivered_at IS NULL AND dropped_at IS NULL \
          ORDER BY id DESC LIMIT 1 OFFSET $2)";
    pub const PENDING: &str = "SELECT id, type, title, body, data, priority, created_at, read_at \
         FROM notifications WHERE user_id = $1 AND delivered_at IS NULL AND dropped_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2) ORDER BY priority DESC, id ASC LIMIT $3";
    pub const MARK_DELIVERED: &str = "UPDATE notifications SET delivered_at = $3 WHERE user_id = $1 AND id = $2 AND delivered_at IS NULL";
    /// `$2 = ''` means no cursor; `$4 = 1` means unread only.
    pub const LIST: &str = "SELECT id, type, title, body, data, priority, created_at, read_at \
         FROM notifications WHERE user_id = $1 AND ($2 = '' OR id < $2) AND ($4 = 0 OR read_at IS NULL) \
         AND (expires_at IS NULL OR expires_at > $5) ORDER BY id DESC LIMIT $3";
    pub const UNREAD: &str = "SELECT COUNT(*) FROM notifications \
         WHERE user_id = $1 AND read_at IS NULL AND (expires_at IS NULL OR expires_at > $2)";
    pub const READ_ONE: &str = "UPDATE notifications SET read_at = $3 WHERE user_id = $1 AND id = $2 AND read_at IS NULL RETURNING id";
    pub const READ_ALL: &str =
        "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL RETURNING id";
}

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: String,
    #[sqlx(rename = "type")]
    kind: String,
    title: String,
    body: String,
    data: String,
    priority: i64,
    created_at: i64,
    read_at: Option<i64>,
}

impl From<NotificationRow> for Notification {
    fn from(row: NotificationRow) -> Self {
        let data = serde_json::from_str(&row.data).unwrap_or_else(|err| {
            tracing::warn!(id = %row.id, error = %err, "stored notification data is not JSON");
            serde_json::Value::Object(Default::default())
        });
        Notification {
            id: row.id,
            kind: row.kind,
            title: row.title,
            body: row.body,
            data,
            priority: Priority::from_rank(row.priority),
            created_at: row.created_at,
            read_at: row.read_at,
        }
    }
}

fn rows(rows: Vec<NotificationRow>) -> Vec<Notification> {
    rows.into_iter().map(Notification::from).collect()
}

#[async_trait]
impl<DB: Sql> NotificationStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'s> &'s str: Encode<'s, DB> + Type<DB> + ColumnIndex<DB::Row>,
    for<'s> Option<&'s str>: Encode<'s, DB> + Type<DB>,
    String: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Param<DB>,
    usize: ColumnIndex<DB::Row>,
{
    #[tracing::instrument(skip_all, name = "db.create_notification")]
    async fn create_notification(&self, n: NewNotification) -> StoreResult<(Notification, bool)> {
        let push_state = if n.push_due_at.is_some() {
            "due"
        } else {
            "none"
        };
        let created: Option<NotificationRow> = sqlx::query_as(sql::CREATE)
            .bind(&n.id)
            .bind(&n.user_id)
            .bind(&n.kind)
            .bind(&n.title)
            .bind(&n.body)
            .bind(n.data.to_string())
            .bind(n.priority.rank())
            .bind(n.created_at)
            .bind(n.expires_at)
            .bind(n.idempotency_key.as_deref())
            .bind(push_state)
            .bind(n.push_due_at)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        if let Some(row) = created {
            return Ok((row.into(), true));
        }
        let existing: NotificationRow = sqlx::query_as(sql::BY_KEY)
            .bind(&n.user_id)
            .bind(n.idempotency_key.as_deref())
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok((existing.into(), false))
    }

    #[tracing::instrument(skip_all, name = "db.drop_overflow")]
    async fn drop_overflow(&self, user_id: &str, keep: i64, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(sql::DROP_OVERFLOW)
            .bind(user_id)
            .bind(keep - 1)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(DB::rows_affected(&done))
    }

    #[tracing::instrument(skip_all, name = "db.pending")]
    async fn pending(&self, user_id: &str, now: i64, limit: i64) -> StoreResult<Vec<Notification>> {
        let found: Vec<NotificationRow> = sqlx::query_as(sql::PENDING)
            .bind(user_id)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(rows(found))
    }

    #[tracing::instrument(skip_all, name = "db.mark_delivered")]
    async fn mark_delivered(&self, user_id: &str, id: &str, now: i64) -> StoreResult<bool> {
        let mark = sqlx::query(sql::MARK_DELIVERED)
            .bind(user_id)
            .bind(id)
            .bind(now);
        let urls = self.webhooks.wanting(types::NOTIFICATION_DELIVERED);
        if urls.is_empty() {
            let done = mark.execute(&self.pool).await.map_err(unavailable)?;
            return Ok(DB::rows_affected(&done) == 1);
        }
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let done = mark.execute(&mut *tx).await.map_err(unavailable)?;
        let marked = DB::rows_affected(&done) == 1;
        if marked {
            let event = WebhookEvent::notification(types::NOTIFICATION_DELIVERED, user_id, id, now);
            enqueue::<DB>(&mut tx, &event, &urls)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(marked)
    }

    #[tracing::instrument(skip_all, name = "db.list_notifications")]
    async fn list_notifications(
        &self,
        user_id: &str,
        before: Option<&str>,
        limit: i64,
        unread_only: bool,
        now: i64,
    ) -> StoreResult<Vec<Notification>> {
        let found: Vec<NotificationRow> = sqlx::query_as(sql::LIST)
            .bind(user_id)
            .bind(before.unwrap_or(""))
            .bind(limit)
            .bind(i64::from(unread_only))
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(rows(found))
    }

    #[tracing::instrument(skip_all, name = "db.unread_count")]
    async fn unread_count(&self, user_id: &str, now: i64) -> StoreResult<i64> {
        sqlx::query_scalar(sql::UNREAD)
            .bind(user_id)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)
    }

    #[tracing::instrument(skip_all, name = "db.mark_read")]
    async fn mark_read(
        &self,
        user_id: &str,
        which: &ReadSelection,
        now: i64,
    ) -> StoreResult<Vec<String>> {
        let urls = self.webhooks.wanting(types::NOTIFICATION_READ);
        if urls.is_empty() && *which == ReadSelection::All {
            // One statement: no transaction needed when no webhook goes with it.
            return sqlx::query_scalar(sql::READ_ALL)
                .bind(user_id)
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable);
        }
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let marked: Vec<String> = match which {
            ReadSelection::All => sqlx::query_scalar(sql::READ_ALL)
                .bind(user_id)
                .bind(now)
                .fetch_all(&mut *tx)
                .await
                .map_err(unavailable)?,
            ReadSelection::Ids(ids) => {
                let mut marked = Vec::new();
                for id in ids {
                    let done: Option<String> = sqlx::query_scalar(sql::READ_ONE)
                        .bind(user_id)
                        .bind(id)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    marked.extend(done);
                }
                marked
            }
        };
        // One event per notification that became read, in the transaction that read it.
        for id in marked.iter().filter(|_| !urls.is_empty()) {
            let event = WebhookEvent::notification(types::NOTIFICATION_READ, user_id, id, now);
            enqueue::<DB>(&mut tx, &event, &urls)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(marked)
    }

    #[tracing::instrument(skip_all, name = "db.register_device")]
    async fn register_device(
        &self,
        user_id: &str,
        device: DeviceRegistration<'_>,
        max_devices: i64,
        now: i64,
    ) -> StoreResult<()> {
        self.store_device(user_id, device, max_devices, now).await
    }

    #[tracing::instrument(skip_all, name = "db.unregister_device")]
    async fn unregister_device(&self, user_id: &str, token: &str) -> StoreResult<()> {
        self.remove_device(user_id, token).await
    }
}

/// Every query that returns rows names the columns of `NotificationRow` in one order.
#[cfg(test)]
mod tests {
    const COLUMNS: &str = "id, type, title, body, data, priority, created_at, read_at";

    #[test]
    fn queries_select_the_row_columns() {
        for q in [
            super::sql::CREATE,
            super::sql::BY_KEY,
            super::sql::PENDING,
            super::sql::LIST,
        ] {
            assert!(q.contains(COLUMNS), "{q}");
        }
    }
}
