//! Device tokens on SQLite and PostgreSQL: who holds a token, the per-user cap, and the
//! queued pushes that must not outlive a token's owner (PROTOCOL.md §4).

use sqlx::{ColumnIndex, Encode, Executor, Type};
use switchyard_namespaces::ports::{DeviceRegistration, StoreError, StoreResult};

use super::sql::{Column, Param, Sql};
use super::{SqlStore, unavailable};

mod sql {
    /// The update runs only for the token's holder or for the same installation, in one
    /// statement, so two users racing for a token cannot both take it; no row back means
    /// someone else holds it.
    pub const UPSERT: &str = "INSERT INTO devices (token, user_id, platform, app_id, installation_id, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token) DO UPDATE SET user_id = excluded.user_id, \
         platform = excluded.platform, app_id = excluded.app_id, installation_id = excluded.installation_id, \
         updated_at = excluded.updated_at \
         WHERE devices.user_id = excluded.user_id OR devices.installation_id = excluded.installation_id \
         RETURNING token";
    /// A token that moved must not receive the pushes queued for its previous holder.
    /// Runs on every registration, so it looks up only the token's own deliveries.
    pub const DROP_OTHERS_PUSHES: &str = "DELETE FROM push_deliveries WHERE token = $1 AND state = 'pending' \
         AND EXISTS (SELECT 1 FROM notifications n WHERE n.id = push_deliveries.notification_id AND n.user_id <> $2)";
    /// Keeps the `$3` registered last, the token just registered always among them (it may
    /// share its millisecond with others).
    pub const EVICT: &str = "DELETE FROM devices WHERE user_id = $1 AND token NOT IN \
         (SELECT token FROM devices WHERE user_id = $1 \
          ORDER BY CASE WHEN token = $2 THEN 0 ELSE 1 END, updated_at DESC, token DESC LIMIT $3) \
         RETURNING token";
    pub const UNREGISTER: &str = "DELETE FROM devices WHERE token = $1 AND user_id = $2";
    /// A token no user holds any more gets nothing still queued for it.
    pub const DROP_PUSHES: &str =
        "DELETE FROM push_deliveries WHERE token = $1 AND state = 'pending'";
}

fn held_by_another() -> StoreError {
    StoreError::Conflict(
        "this token is registered to another user; only the same installationId moves it".into(),
    )
}

impl<DB: Sql> SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'s> &'s str: Encode<'s, DB> + Type<DB> + ColumnIndex<DB::Row>,
    for<'s> Option<&'s str>: Encode<'s, DB> + Type<DB>,
    String: Column<DB>,
    i64: Param<DB>,
    usize: ColumnIndex<DB::Row>,
{
    pub(super) async fn store_device(
        &self,
        user_id: &str,
        device: DeviceRegistration<'_>,
        max_devices: i64,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let stored: Option<String> = sqlx::query_scalar(sql::UPSERT)
            .bind(device.token)
            .bind(user_id)
            .bind(device.platform.as_str())
            .bind(device.app_id)
            .bind(device.installation_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        if stored.is_none() {
            return Err(held_by_another());
        }
        sqlx::query(sql::DROP_OTHERS_PUSHES)
            .bind(device.token)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        Self::evict(&mut tx, user_id, device.token, max_devices).await?;
        tx.commit().await.map_err(unavailable)
    }

    /// Removes the user's devices beyond `max_devices`, oldest registration first,
    /// with the pushes still queued for them.
    async fn evict(
        tx: &mut sqlx::Transaction<'_, DB>,
        user_id: &str,
        kept_token: &str,
        max_devices: i64,
    ) -> StoreResult<()> {
        let evicted: Vec<String> = sqlx::query_scalar(sql::EVICT)
            .bind(user_id)
            .bind(kept_token)
            .bind(max_devices)
            .fetch_all(&mut **tx)
            .await
            .map_err(unavailable)?;
        for token in &evicted {
            sqlx::query(sql::DROP_PUSHES)
                .bind(token)
                .execute(&mut **tx)
                .await
                .map_err(unavailable)?;
        }
        if !evicted.is_empty() {
            tracing::info!(evicted = evicted.len(), "oldest devices evicted");
        }
        Ok(())
    }

    pub(super) async fn remove_device(&self, user_id: &str, token: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let removed = sqlx::query(sql::UNREGISTER)
            .bind(token)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        if DB::rows_affected(&removed) == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(sql::DROP_PUSHES)
            .bind(token)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }
}
