//! The webhook outbox as the senders see it: deliveries claimed in order per (endpoint,
//! ordering key) with a lease, so several nodes never send the same one at once (the
//! push queue's compare-and-set on the due time), and what became of each attempt.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, Type};

use super::SqlStore;
use super::outbox::enqueue;
use super::sql::{Column, Sql};
use crate::integration::webhooks::event::WebhookEvent;

/// One event to send to one endpoint.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WebhookDelivery {
    pub event_id: String,
    pub endpoint: String,
    pub event_type: String,
    pub ordering_key: String,
    pub key_seq: i64,
    pub body: String,
    pub created_at: i64,
    /// Attempts made before this one.
    pub attempts: i64,
    pub next_attempt_at: i64,
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WebhookOutcome {
    Delivered {
        status: u16,
    },
    RetryAt {
        at: i64,
        status: Option<u16>,
    },
    /// Retried for `webhook_retry_for`: kept, marked `dead`, no longer blocking its key.
    Dead {
        status: Option<u16>,
    },
}

/// How a sender claims: `limit` deliveries at most, runs of `run` at most per (endpoint,
/// key), the k-th of a run (from 0) leased until `now + lease_ms · (k + 1)`.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub limit: i64,
    pub run: i64,
    pub lease_ms: i64,
}

#[async_trait]
pub trait WebhookOutbox: Send + Sync + 'static {
    /// Writes an event that reports no database change of its own (presence), once per
    /// endpoint that wants it; false when none does.
    async fn enqueue(&self, event: &WebhookEvent) -> Result<bool, sqlx::Error>;
    /// Runs of due deliveries, each the oldest undelivered ones of one (endpoint, key) in
    /// order and claimed by this node. A run is cut at the first one another node holds.
    async fn claim(&self, now: i64, claim: Claim)
    -> Result<Vec<Vec<WebhookDelivery>>, sqlx::Error>;
    /// Records an attempt of a delivery this node claimed (as `d.next_attempt_at` says);
    /// false when its lease ran out and another node took it over.
    ///
    /// A run stops there: the other node sends the rest.
    async fn record(
        &self,
        d: &WebhookDelivery,
        outcome: WebhookOutcome,
        now: i64,
    ) -> Result<bool, sqlx::Error>;
    /// Gives back a claimed delivery not attempted (its run stopped before it).
    async fn release(&self, d: &WebhookDelivery, now: i64) -> Result<(), sqlx::Error>;
    /// When the oldest undelivered event happened (ms), if any: the lag.
    async fn oldest_pending(&self) -> Result<Option<i64>, sqlx::Error>;
    /// Deletes deliveries delivered before `before` (ms); dead letters are kept.
    async fn prune_delivered(&self, before: i64) -> Result<u64, sqlx::Error>;
}

mod sql {
    /// Pending deliveries of each (endpoint, key) numbered in order, kept when the first
    /// is due: only a key's oldest undelivered one, and those right behind it, may go.
    pub const READY: &str = "SELECT event_id, endpoint, event_type, ordering_key, key_seq, body, created_at, \
         attempts, next_attempt_at FROM (SELECT d.*, \
         ROW_NUMBER() OVER (PARTITION BY endpoint, ordering_key ORDER BY key_seq) AS turn, \
         FIRST_VALUE(next_attempt_at) OVER (PARTITION BY endpoint, ordering_key ORDER BY key_seq) AS head_due \
         FROM webhook_deliveries d WHERE state = 'pending') q \
         WHERE head_due <= $1 AND turn <= $2 ORDER BY turn, head_due, endpoint, ordering_key LIMIT $3";
    /// Compare-and-set on the due time: only one node's claim succeeds.
    pub const CLAIM: &str = "UPDATE webhook_deliveries SET next_attempt_at = $4 \
         WHERE event_id = $1 AND endpoint = $2 AND state = 'pending' AND next_attempt_at = $3";
    pub const RECORD: &str = "UPDATE webhook_deliveries SET state = $3, attempts = attempts + 1, \
         next_attempt_at = $4, last_status = $5, finished_at = $6 \
         WHERE event_id = $1 AND endpoint = $2 AND state = 'pending' AND next_attempt_at = $7";
    pub const RELEASE: &str = "UPDATE webhook_deliveries SET next_attempt_at = $3 \
         WHERE event_id = $1 AND endpoint = $2 AND state = 'pending' AND next_attempt_at = $4";
    pub const OLDEST: &str =
        "SELECT MIN(created_at) FROM webhook_deliveries WHERE state = 'pending'";
    pub const PRUNE: &str =
        "DELETE FROM webhook_deliveries WHERE state = 'delivered' AND finished_at < $1";
}

/// Groups rows into runs per (endpoint, key), in key order. Only a key's first pending
/// delivery is ever retried; one behind it with a due time ahead is leased, and since its
/// head is due, by a node that died (or overran its lease): the run is taken whole.
fn runs(mut rows: Vec<WebhookDelivery>) -> Vec<Vec<WebhookDelivery>> {
    rows.sort_by(|a, b| {
        (&a.endpoint, &a.ordering_key, a.key_seq).cmp(&(&b.endpoint, &b.ordering_key, b.key_seq))
    });
    let mut runs: Vec<Vec<WebhookDelivery>> = Vec::new();
    for row in rows {
        match runs.last_mut() {
            Some(run)
                if run.last().is_some_and(|last| {
                    last.endpoint == row.endpoint && last.ordering_key == row.ordering_key
                }) =>
            {
                run.push(row)
            }
            _ => runs.push(vec![row]),
        }
    }
    runs
}

fn describe(outcome: WebhookOutcome, now: i64) -> (&'static str, i64, Option<i64>, Option<i64>) {
    match outcome {
        WebhookOutcome::Delivered { status } => ("delivered", now, Some(status.into()), Some(now)),
        WebhookOutcome::RetryAt { at, status } => ("pending", at, status.map(i64::from), None),
        WebhookOutcome::Dead { status } => ("dead", now, status.map(i64::from), Some(now)),
    }
}

#[async_trait]
impl<DB: Sql> WebhookOutbox for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'s> &'s str: Encode<'s, DB> + Type<DB> + ColumnIndex<DB::Row>,
    String: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn enqueue(&self, event: &WebhookEvent) -> Result<bool, sqlx::Error> {
        let urls = self.webhooks.wanting(event.kind);
        if urls.is_empty() {
            return Ok(false);
        }
        let mut tx = self.pool.begin().await?;
        enqueue::<DB>(&mut tx, event, &urls).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn claim(
        &self,
        now: i64,
        claim: Claim,
    ) -> Result<Vec<Vec<WebhookDelivery>>, sqlx::Error> {
        let rows: Vec<WebhookDelivery> = sqlx::query_as(sql::READY)
            .bind(now)
            .bind(claim.run)
            .bind(claim.limit)
            .fetch_all(&self.pool)
            .await?;
        let mut claimed = Vec::new();
        for run in runs(rows) {
            let mut mine = Vec::with_capacity(run.len());
            for (k, mut d) in run.into_iter().enumerate() {
                let until = now + claim.lease_ms * (k as i64 + 1);
                let done = sqlx::query(sql::CLAIM)
                    .bind(d.event_id.as_str())
                    .bind(d.endpoint.as_str())
                    .bind(d.next_attempt_at)
                    .bind(until)
                    .execute(&self.pool)
                    .await?;
                if DB::rows_affected(&done) != 1 {
                    break;
                }
                d.next_attempt_at = until;
                mine.push(d);
            }
            if !mine.is_empty() {
                claimed.push(mine);
            }
        }
        Ok(claimed)
    }

    async fn record(
        &self,
        d: &WebhookDelivery,
        outcome: WebhookOutcome,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let (state, next, status, finished) = describe(outcome, now);
        let done = sqlx::query(sql::RECORD)
            .bind(d.event_id.as_str())
            .bind(d.endpoint.as_str())
            .bind(state)
            .bind(next)
            .bind(status)
            .bind(finished)
            .bind(d.next_attempt_at)
            .execute(&self.pool)
            .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn release(&self, d: &WebhookDelivery, now: i64) -> Result<(), sqlx::Error> {
        sqlx::query(sql::RELEASE)
            .bind(d.event_id.as_str())
            .bind(d.endpoint.as_str())
            .bind(now)
            .bind(d.next_attempt_at)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    async fn oldest_pending(&self) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(sql::OLDEST).fetch_one(&self.pool).await
    }

    async fn prune_delivered(&self, before: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(sql::PRUNE)
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(DB::rows_affected(&done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(endpoint: &str, key: &str, seq: i64, due: i64) -> WebhookDelivery {
        WebhookDelivery {
            event_id: format!("{key}-{seq}"),
            endpoint: endpoint.into(),
            event_type: "message.created".into(),
            ordering_key: key.into(),
            key_seq: seq,
            body: "{}".into(),
            created_at: 0,
            attempts: 0,
            next_attempt_at: due,
        }
    }

    #[test]
    fn runs_are_per_endpoint_and_key_in_key_order() {
        let rows = vec![
            row("e", "k1", 3, 0),
            row("e", "k2", 1, 0),
            row("e", "k1", 1, 0),
            row("e", "k1", 2, 99),
            row("f", "k1", 1, 0),
        ];
        let got: Vec<Vec<String>> = runs(rows)
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|d| format!("{}/{}", d.endpoint, d.event_id))
                    .collect()
            })
            .collect();
        assert_eq!(
            got,
            vec![
                vec!["e/k1-1", "e/k1-2", "e/k1-3"],
                vec!["e/k2-1"],
                vec!["f/k1-1"]
            ]
        );
    }
}
