//! [`MessageStore`] on SQLite and PostgreSQL. One body serves both: the macro below is
//! expanded once per database so each gets concrete, natively typed sqlx calls.

use std::collections::HashMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::{Postgres, Sqlite};
use switchyard_namespaces::ports::{
    Conversation, ConversationSummary, Inserted, Message, MessagePage, MessageStore, NewMessage,
    StoreError, StoreResult,
};

use super::queries::{self, MessageSql};
use super::{SqlStore, timed, unavailable};

static SQL: LazyLock<MessageSql> = LazyLock::new(MessageSql::new);

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: String,
    conversation_id: String,
    seq: i64,
    sender_id: String,
    client_msg_id: String,
    content: String,
    attachments: String,
    reply_to: Option<String>,
    created_at: i64,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        let attachments = serde_json::from_str(&row.attachments).unwrap_or_else(|err| {
            tracing::warn!(message_id = %row.id, error = %err, "stored attachments are not JSON");
            Vec::new()
        });
        Message {
            id: row.id,
            conversation_id: row.conversation_id,
            seq: row.seq,
            sender_id: row.sender_id,
            client_msg_id: row.client_msg_id,
            content: row.content,
            attachments,
            reply_to: row.reply_to,
            created_at: row.created_at,
            edited_at: row.edited_at,
            deleted: row.deleted_at.is_some(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct ConversationRow {
    id: String,
    title: Option<String>,
    created_at: i64,
    unread: i64,
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Rows fetched one beyond `limit` tell whether there are more.
fn page(rows: Vec<MessageRow>, limit: i64) -> MessagePage {
    let more = rows.len() as i64 > limit;
    let messages = rows
        .into_iter()
        .take(limit as usize)
        .map(Message::from)
        .collect();
    MessagePage { messages, more }
}

/// Joins conversations with their participants and newest messages.
fn summaries(
    rows: Vec<ConversationRow>,
    members: Vec<(String, String)>,
    last: Vec<MessageRow>,
) -> Vec<ConversationSummary> {
    let mut by_conversation: HashMap<String, Vec<String>> = HashMap::new();
    for (conversation_id, user_id) in members {
        by_conversation
            .entry(conversation_id)
            .or_default()
            .push(user_id);
    }
    let mut last: HashMap<String, Message> = last
        .into_iter()
        .map(|m| (m.conversation_id.clone(), Message::from(m)))
        .collect();
    rows.into_iter()
        .map(|row| ConversationSummary {
            participant_ids: by_conversation.remove(&row.id).unwrap_or_default(),
            last_message: last.remove(&row.id),
            id: row.id,
            title: row.title,
            created_at: row.created_at,
            unread: row.unread,
        })
        .collect()
}

macro_rules! sql_message_store {
    ($db:ty) => {
        #[async_trait]
        impl MessageStore for SqlStore<$db> {
            #[tracing::instrument(skip_all, name = "db.create_conversation")]
            async fn create_conversation(&self, c: &Conversation) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(unavailable)?;
                sqlx::query(queries::INSERT_CONVERSATION)
                    .bind(&c.id)
                    .bind(&c.title)
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
            async fn list_conversations(
                &self,
                user_id: &str,
            ) -> StoreResult<Vec<ConversationSummary>> {
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
                match timed(CALL, Self::insert_new(&mut conn, &m)).await {
                    Ok(message) => Ok(Inserted::New(message)),
                    Err(err) if is_unique_violation(&err) => {
                        Self::by_client_id(&mut conn, &m.sender_id, &m.client_msg_id)
                            .await
                            .map_err(unavailable)?
                            .map(Inserted::Existing)
                            .ok_or_else(|| unavailable(err))
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
            async fn edit_message(
                &self,
                message_id: &str,
                content: &str,
                at: i64,
            ) -> StoreResult<Message> {
                let row: Option<MessageRow> = sqlx::query_as(SQL.edit.as_str())
                    .bind(message_id)
                    .bind(content)
                    .bind(at)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                row.map(Message::from).ok_or(StoreError::NotFound)
            }

            #[tracing::instrument(skip_all, name = "db.delete_message")]
            async fn delete_message(&self, message_id: &str, at: i64) -> StoreResult<Message> {
                let row: Option<MessageRow> = sqlx::query_as(SQL.delete.as_str())
                    .bind(message_id)
                    .bind(at)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                row.map(Message::from).ok_or(StoreError::NotFound)
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
            async fn mark_read(
                &self,
                conversation_id: &str,
                user_id: &str,
                seq: i64,
            ) -> StoreResult<i64> {
                let last: Option<i64> = sqlx::query_scalar(queries::LAST_SEQ)
                    .bind(conversation_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                // Reading past the newest message would hide messages not yet sent.
                let target = seq.min(last.ok_or(StoreError::NotFound)?);
                sqlx::query(queries::ADVANCE_READ)
                    .bind(conversation_id)
                    .bind(user_id)
                    .bind(target)
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                let cursor: Option<i64> = sqlx::query_scalar(queries::READ_CURSOR)
                    .bind(conversation_id)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                cursor.ok_or(StoreError::NotFound)
            }
        }

        impl SqlStore<$db> {
            /// The message a sender already sent under `client_msg_id`, if any.
            async fn by_client_id(
                conn: &mut <$db as sqlx::Database>::Connection,
                sender_id: &str,
                client_msg_id: &str,
            ) -> Result<Option<Message>, sqlx::Error> {
                let row: Option<MessageRow> = sqlx::query_as(SQL.by_client_id.as_str())
                    .bind(sender_id)
                    .bind(client_msg_id)
                    .fetch_optional(conn)
                    .await?;
                Ok(row.map(Message::from))
            }
        }
    };
}

sql_message_store!(Sqlite);
sql_message_store!(Postgres);

impl SqlStore<Sqlite> {
    /// Takes the next `seq` and stores the message in one transaction; SQLite has one
    /// writer at a time, which orders concurrent senders.
    async fn insert_new(
        conn: &mut sqlx::SqliteConnection,
        m: &NewMessage,
    ) -> Result<Message, sqlx::Error> {
        let mut tx = sqlx::Connection::begin(conn).await?;
        let seq: i64 = sqlx::query_scalar(queries::NEXT_SEQ)
            .bind(&m.conversation_id)
            .bind(m.created_at)
            .fetch_one(&mut *tx)
            .await?;
        let row: MessageRow = bind_message(sqlx::query_as(SQL.insert.as_str()), m, Some(seq))?
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row.into())
    }
}

impl SqlStore<Postgres> {
    /// Takes the next `seq` and stores the message in one statement (its own
    /// transaction); the row lock on the conversation orders concurrent senders. No
    /// conversation, no row: `RowNotFound`.
    async fn insert_new(
        conn: &mut sqlx::PgConnection,
        m: &NewMessage,
    ) -> Result<Message, sqlx::Error> {
        let row: MessageRow =
            bind_message(sqlx::query_as(SQL.insert_with_next_seq.as_str()), m, None)?
                .fetch_one(conn)
                .await?;
        Ok(row.into())
    }
}

/// Binds the insert statements' parameters: the message's columns in table order, with
/// `seq` third when the statement takes it (PostgreSQL's takes the next one itself).
fn bind_message<'q, DB, O>(
    query: sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>,
    m: &'q NewMessage,
    seq: Option<i64>,
) -> Result<sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>, sqlx::Error>
where
    DB: sqlx::Database,
    for<'e> String: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    for<'e> &'e str: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    for<'e> i64: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    for<'e> Option<&'e str>: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
{
    let attachments =
        serde_json::to_string(&m.attachments).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let query = query.bind(m.id.as_str()).bind(m.conversation_id.as_str());
    let query = match seq {
        Some(seq) => query.bind(seq),
        None => query,
    };
    Ok(query
        .bind(m.sender_id.as_str())
        .bind(m.client_msg_id.as_str())
        .bind(m.content.as_str())
        .bind(attachments)
        .bind(m.reply_to.as_deref())
        .bind(m.created_at))
}
