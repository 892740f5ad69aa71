//! [`MessageStore`] on SQLite and PostgreSQL: one generic body, monomorphized for each
//! database (see [`Sql`] for the one statement that differs), one SQL text for both.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, Type};
use switchyard_namespaces::ports::{
    Conversation, ConversationSummary, Inserted, Message, MessagePage, MessageStore, NewMessage,
    StoreError, StoreResult,
};

use super::message_rows::{ConversationRow, MessageRow, page, summaries};
use super::outbox::{encode_error, enqueue};
use super::queries::{self, MESSAGE_SQL as SQL};
use super::sql::{Column, Sql};
use super::{SqlStore, timed, unavailable};
use crate::integration::webhooks::event::{WebhookEvent, now_ms, types};

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Stores a new message; with endpoints that want `message.created`, in one transaction
/// with its webhook (a message acked as stored has its webhook stored). Without any, the
/// one statement it always was.
async fn insert_reported<DB: Sql>(
    conn: &mut DB::Connection,
    m: &NewMessage,
    urls: &[String],
) -> Result<Message, sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'s> &'s str: Encode<'s, DB> + Type<DB>,
    String: Column<DB>,
    i64: Column<DB>,
    usize: ColumnIndex<DB::Row>,
{
    if urls.is_empty() {
        return DB::insert_new(conn, m).await;
    }
    let mut tx = sqlx::Connection::begin(conn).await?;
    let message = DB::insert_new(&mut tx, m).await?;
    let event = WebhookEvent::message(types::MESSAGE_CREATED, &message, message.created_at);
    enqueue::<DB>(&mut tx, &event.map_err(encode_error)?, urls).await?;
    tx.commit().await?;
    Ok(message)
}

/// Runs `query`, a statement changing one message and returning it; with endpoints that
/// want `kind` (`urls`), in one transaction with its webhook. Not found: `NotFound`.
async fn change_reported<'q, DB: Sql>(
    pool: &sqlx::Pool<DB>,
    query: sqlx::query::QueryAs<'q, DB, MessageRow, <DB as sqlx::Database>::Arguments>,
    urls: &[String],
    kind: &'static str,
    at: i64,
) -> StoreResult<Message>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'c> &'c sqlx::Pool<DB>: Executor<'c, Database = DB>,
    for<'s> &'s str: Encode<'s, DB> + Type<DB>,
    String: Column<DB>,
    i64: Column<DB>,
    usize: ColumnIndex<DB::Row>,
    MessageRow: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    if urls.is_empty() {
        let row: Option<MessageRow> = query.fetch_optional(pool).await.map_err(unavailable)?;
        return row.map(Message::from).ok_or(StoreError::NotFound);
    }
    let mut tx = pool.begin().await.map_err(unavailable)?;
    let row: Option<MessageRow> = query.fetch_optional(&mut *tx).await.map_err(unavailable)?;
    let message = row.map(Message::from).ok_or(StoreError::NotFound)?;
    let event = WebhookEvent::message(kind, &message, at);
    let event = event.map_err(encode_error).map_err(unavailable)?;
    enqueue::<DB>(&mut tx, &event, urls)
        .await
        .map_err(unavailable)?;
    tx.commit().await.map_err(unavailable)?;
    Ok(message)
}

#[async_trait]
impl<DB: Sql> MessageStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'s> &'s str: Encode<'s, DB> + Type<DB> + ColumnIndex<DB::Row>,
    for<'s> Option<&'s str>: Encode<'s, DB> + Type<DB>,
    String: Column<DB>,
    i64: Column<DB>,
    usize: ColumnIndex<DB::Row>,
{
    #[tracing::instrument(skip_all, name = "db.create_conversation")]
    async fn create_conversation(&self, c: &Conversation) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query(queries::INSERT_CONVERSATION)
            .bind(&c.id)
            .bind(c.title.as_deref())
            .bind(c.created_at)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        for user_id in &c.participant_ids {
            sqlx::query(queries::INSERT_PARTICIPANT)
                .bind(&c.id)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        let urls = self.webhooks.wanting(types::CONVERSATION_CREATED);
        if !urls.is_empty() {
            let event = WebhookEvent::conversation(c).map_err(encode_error);
            let event = event.map_err(unavailable)?;
            enqueue::<DB>(&mut tx, &event, &urls)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }

    #[tracing::instrument(skip_all, name = "db.participants")]
    async fn participants(&self, conversation_id: &str) -> StoreResult<Vec<String>> {
        if let Some(ids) = self.participants.get(conversation_id) {
            return Ok(ids.to_vec());
        }
        let ids: Vec<String> = sqlx::query_scalar(queries::PARTICIPANTS)
            .bind(conversation_id)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        // Every conversation has its creator: no participants means no conversation
        // (not cached: it may be created on another node a moment later).
        if ids.is_empty() {
            return Err(StoreError::NotFound);
        }
        self.participants
            .insert(conversation_id.to_owned(), ids.clone().into());
        Ok(ids)
    }

    #[tracing::instrument(skip_all, name = "db.conversation_ids_of")]
    async fn conversation_ids_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(queries::CONVERSATION_IDS_OF)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)
    }

    #[tracing::instrument(skip_all, name = "db.list_conversations")]
    async fn list_conversations(&self, user_id: &str) -> StoreResult<Vec<ConversationSummary>> {
        let rows: Vec<ConversationRow> = sqlx::query_as(queries::CONVERSATIONS_OF)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        let members: Vec<(String, String)> = sqlx::query_as(queries::CO_PARTICIPANTS_OF)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        let last: Vec<MessageRow> = sqlx::query_as(SQL.last_of_user_conversations.as_str())
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(summaries(rows, members, last))
    }

    #[tracing::instrument(skip_all, name = "db.insert_message")]
    async fn insert_message(&self, m: NewMessage) -> StoreResult<Inserted> {
        const CALL: &str = "insert_message";
        let mut conn = self.acquire(CALL).await.map_err(unavailable)?;
        // Insert first: a new message (nearly every send) costs one statement. A
        // resend breaks the unique `(sender_id, client_msg_id)` index, its whole
        // transaction (the `seq` taken too) rolls back, and the stored one answers.
        let urls = self.webhooks.wanting(types::MESSAGE_CREATED);
        match timed(CALL, insert_reported::<DB>(&mut conn, &m, &urls)).await {
            Ok(message) => Ok(Inserted::New(message)),
            Err(err) if is_unique_violation(&err) => {
                // The message the sender already sent under this `client_msg_id`.
                let stored: Option<MessageRow> = sqlx::query_as(SQL.by_client_id.as_str())
                    .bind(m.sender_id.as_str())
                    .bind(m.client_msg_id.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(unavailable)?;
                let existing = stored.map(|row| Inserted::Existing(row.into()));
                existing.ok_or_else(|| unavailable(err))
            }
            Err(sqlx::Error::RowNotFound) => Err(StoreError::NotFound),
            Err(err) => Err(unavailable(err)),
        }
    }

    #[tracing::instrument(skip_all, name = "db.message")]
    async fn message(&self, message_id: &str) -> StoreResult<Message> {
        let row: Option<MessageRow> = sqlx::query_as(SQL.by_id.as_str())
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(Message::from).ok_or(StoreError::NotFound)
    }

    #[tracing::instrument(skip_all, name = "db.edit_message")]
    async fn edit_message(&self, message_id: &str, content: &str, at: i64) -> StoreResult<Message> {
        let query = sqlx::query_as(SQL.edit.as_str())
            .bind(message_id)
            .bind(content)
            .bind(at);
        change_reported(
            &self.pool,
            query,
            &self.webhooks.wanting(types::MESSAGE_EDITED),
            types::MESSAGE_EDITED,
            at,
        )
        .await
    }

    #[tracing::instrument(skip_all, name = "db.delete_message")]
    async fn delete_message(&self, message_id: &str, at: i64) -> StoreResult<Message> {
        let query = sqlx::query_as(SQL.delete.as_str())
            .bind(message_id)
            .bind(at);
        change_reported(
            &self.pool,
            query,
            &self.webhooks.wanting(types::MESSAGE_DELETED),
            types::MESSAGE_DELETED,
            at,
        )
        .await
    }

    #[tracing::instrument(skip_all, name = "db.history")]
    async fn history(
        &self,
        conversation_id: &str,
        before_seq: Option<i64>,
        limit: i64,
    ) -> StoreResult<MessagePage> {
        let rows: Vec<MessageRow> = sqlx::query_as(SQL.before.as_str())
            .bind(conversation_id)
            .bind(before_seq.unwrap_or(i64::MAX))
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        let mut result = page(rows, limit);
        result.messages.reverse();
        Ok(result)
    }

    #[tracing::instrument(skip_all, name = "db.messages_after")]
    async fn messages_after(
        &self,
        conversation_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<MessagePage> {
        let rows: Vec<MessageRow> = sqlx::query_as(SQL.after.as_str())
            .bind(conversation_id)
            .bind(after_seq)
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(page(rows, limit))
    }

    #[tracing::instrument(skip_all, name = "db.mark_read")]
    async fn mark_read(&self, conversation_id: &str, user_id: &str, seq: i64) -> StoreResult<i64> {
        let last: Option<i64> = sqlx::query_scalar(queries::LAST_SEQ)
            .bind(conversation_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        // Reading past the newest message would hide messages not yet sent.
        let target = seq.min(last.ok_or(StoreError::NotFound)?);
        let advance = sqlx::query(queries::ADVANCE_READ)
            .bind(conversation_id)
            .bind(user_id)
            .bind(target);
        let urls = self.webhooks.wanting(types::MESSAGE_READ);
        if urls.is_empty() {
            advance.execute(&self.pool).await.map_err(unavailable)?;
        } else {
            // Told only when the cursor moved: a receipt for what was read already is not news.
            let mut tx = self.pool.begin().await.map_err(unavailable)?;
            let done = advance.execute(&mut *tx).await.map_err(unavailable)?;
            if DB::rows_affected(&done) == 1 {
                let event = WebhookEvent::message_read(conversation_id, user_id, target, now_ms());
                enqueue::<DB>(&mut tx, &event, &urls)
                    .await
                    .map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)?;
        }
        let cursor: Option<i64> = sqlx::query_scalar(queries::READ_CURSOR)
            .bind(conversation_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        cursor.ok_or(StoreError::NotFound)
    }
}
