//! What the stores ask of a database: [`Sql`], the little that differs between SQLite and
//! PostgreSQL, and the column types they bind and read on both.
//!
//! The stores are generic over the database and monomorphized for each one, so every call
//! is sqlx's native one for that database (no `Any` driver converting rows at run time).
//! Rust does not pass a trait's `where` clauses on to code that names the trait
//! (rust-lang/rust#20671), and sqlx implements `Encode` for `Option<T>` per database, so
//! each generic store impl states the bounds it uses: that `&mut` a connection runs
//! queries, which types it binds ([`Param`]) and reads ([`Column`]), and that rows are
//! read by column name (`&str`, the derived rows) or position (`usize`, scalars and
//! tuples).

use std::future::Future;

use sqlx::postgres::PgQueryResult;
use sqlx::query::QueryAs;
use sqlx::sqlite::SqliteQueryResult;
use sqlx::{
    Database, Decode, Encode, IntoArguments, PgConnection, Postgres, Sqlite, SqliteConnection, Type,
};
use switchyard_namespaces::ports::{Message, NewMessage};

use super::message_rows::MessageRow;
use super::queries::{self, MESSAGE_SQL};

/// A database the stores run on. Everything else they do is one body and one SQL text
/// for both.
pub trait Sql: Database<Arguments: IntoArguments<Self>> {
    /// Takes the conversation's next `seq` and stores the message with it, atomically. No
    /// conversation: `RowNotFound`. A resent `(sender_id, client_msg_id)`: a unique
    /// violation, with nothing stored and no `seq` taken.
    fn insert_new(
        conn: &mut Self::Connection,
        m: &NewMessage,
    ) -> impl Future<Output = Result<Message, sqlx::Error>> + Send;

    /// Rows an `UPDATE` or `DELETE` changed (each driver has its own result type).
    fn rows_affected(done: &Self::QueryResult) -> u64;
}

impl Sql for Sqlite {
    /// One transaction: SQLite has one writer at a time, which orders concurrent senders.
    async fn insert_new(
        conn: &mut SqliteConnection,
        m: &NewMessage,
    ) -> Result<Message, sqlx::Error> {
        let mut tx = sqlx::Connection::begin(conn).await?;
        let seq: i64 = sqlx::query_scalar(queries::NEXT_SEQ)
            .bind(&m.conversation_id)
            .bind(m.created_at)
            .fetch_one(&mut *tx)
            .await?;
        let insert = sqlx::query_as(MESSAGE_SQL.insert.as_str());
        let row: MessageRow = bind_message(insert, m, Some(seq))?
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row.into())
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}

impl Sql for Postgres {
    /// One statement (its own transaction, one round trip); the row lock on the
    /// conversation orders concurrent senders. SQLite does not take an UPDATE inside WITH.
    async fn insert_new(conn: &mut PgConnection, m: &NewMessage) -> Result<Message, sqlx::Error> {
        let insert = sqlx::query_as(MESSAGE_SQL.insert_with_next_seq.as_str());
        let row: MessageRow = bind_message(insert, m, None)?.fetch_one(conn).await?;
        Ok(row.into())
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }
}

/// Binds the insert statements' parameters: the message's columns in table order, with
/// `seq` third when the statement takes it (PostgreSQL's takes the next one itself).
fn bind_message<'q, DB: Database, O>(
    query: QueryAs<'q, DB, O, DB::Arguments>,
    m: &'q NewMessage,
    seq: Option<i64>,
) -> Result<QueryAs<'q, DB, O, DB::Arguments>, sqlx::Error>
where
    for<'s> &'s str: Encode<'s, DB> + Type<DB>,
    for<'s> Option<&'s str>: Encode<'s, DB> + Type<DB>,
    String: Param<DB>,
    i64: Param<DB>,
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

/// A type bound as a query parameter on `DB`. Borrowed text (`&str`, `Option<&str>`) is
/// bound as sqlx states it instead: through this blanket impl, rustc does not find its
/// `Encode` general enough for every lifetime.
pub trait Param<DB: Database>: for<'q> Encode<'q, DB> + Type<DB> {}

impl<DB: Database, T: for<'q> Encode<'q, DB> + Type<DB>> Param<DB> for T {}

/// A type bound as a parameter and read back from a row on `DB`.
pub trait Column<DB: Database>: Param<DB> + for<'r> Decode<'r, DB> {}

impl<DB: Database, T: Param<DB> + for<'r> Decode<'r, DB>> Column<DB> for T {}
