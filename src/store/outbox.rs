//! Writing webhook events into the outbox (migration 0005): inside the transaction of the
//! change they report, so an event is stored exactly when its change is, and only for the
//! endpoints that want its type (no endpoint: no statement at all).

use std::sync::OnceLock;

use sqlx::{ColumnIndex, Encode, Executor, Type};

use super::sql::{Column, Sql};
use crate::config::WebhookEndpoint;
use crate::integration::webhooks::event::WebhookEvent;

mod sql {
    /// Takes the key's next number; the row stays locked until the transaction ends.
    pub const NEXT_KEY_SEQ: &str = "INSERT INTO webhook_keys (ordering_key, last_seq) VALUES ($1, 1) \
         ON CONFLICT (ordering_key) DO UPDATE SET last_seq = webhook_keys.last_seq + 1 RETURNING last_seq";
    pub const INSERT: &str = "INSERT INTO webhook_deliveries (event_id, endpoint, event_type, ordering_key, \
         key_seq, body, created_at, state, attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $7)";
}

/// The configured endpoints, set once at startup (before any store call).
#[derive(Default)]
pub struct Routes(OnceLock<Vec<WebhookEndpoint>>);

impl Routes {
    pub fn set(&self, endpoints: Vec<WebhookEndpoint>) {
        if self.0.set(endpoints).is_err() {
            tracing::warn!("webhook endpoints were already set; keeping the first ones");
        }
    }

    /// URLs of the endpoints sent events of `kind`; empty (no allocation) when none.
    pub fn wanting(&self, kind: &str) -> Vec<String> {
        let Some(endpoints) = self.0.get() else {
            return Vec::new();
        };
        endpoints
            .iter()
            .filter(|e| e.wants(kind))
            .map(|e| e.url.clone())
            .collect()
    }
}

/// Writes `event` once per endpoint in `urls`, on `conn` (a transaction's connection when
/// it reports a change).
pub async fn enqueue<DB: Sql>(
    conn: &mut DB::Connection,
    event: &WebhookEvent,
    urls: &[String],
) -> Result<(), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'s> &'s str: Encode<'s, DB> + Type<DB>,
    String: Column<DB>,
    i64: Column<DB>,
    usize: ColumnIndex<DB::Row>,
{
    if urls.is_empty() {
        return Ok(());
    }
    let seq: i64 = sqlx::query_scalar(sql::NEXT_KEY_SEQ)
        .bind(event.key.as_str())
        .fetch_one(&mut *conn)
        .await?;
    for url in urls {
        sqlx::query(sql::INSERT)
            .bind(event.id.as_str())
            .bind(url.as_str())
            .bind(event.kind)
            .bind(event.key.as_str())
            .bind(seq)
            .bind(event.body.as_str())
            .bind(event.created_at)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// An event that cannot be written as JSON fails its change's call as an encode error.
pub fn encode_error(err: serde_json::Error) -> sqlx::Error {
    sqlx::Error::Encode(Box::new(err))
}
