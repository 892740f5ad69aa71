//! [`DraftStore`] on SQLite and PostgreSQL. A write is one conditional statement, so two
//! devices saving the same base version cannot both win.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Encode, Executor, Type};
use switchyard_namespaces::ports::{Draft, DraftStore, DraftWrite, StoreResult};

use super::sql::{Column, Sql};
use super::{SqlStore, unavailable};

const SELECT: &str =
    "SELECT version, content, updated_at FROM drafts WHERE user_id = $1 AND draft_id = $2";
/// Creates version 1 when no draft exists; does nothing when one does.
const CREATE: &str = "INSERT INTO drafts (user_id, draft_id, version, content, updated_at) \
     VALUES ($1, $2, 1, $3, $4) ON CONFLICT (user_id, draft_id) DO NOTHING \
     RETURNING version, content, updated_at";
/// Moves `base` to `base + 1` only if `base` is still current.
const ADVANCE: &str = "UPDATE drafts SET version = version + 1, content = $4, updated_at = $5 \
     WHERE user_id = $1 AND draft_id = $2 AND version = $3 RETURNING version, content, updated_at";

#[derive(sqlx::FromRow)]
struct DraftRow {
    version: i64,
    content: String,
    updated_at: i64,
}

impl From<DraftRow> for Draft {
    fn from(row: DraftRow) -> Self {
        Draft {
            version: row.version,
            content: row.content,
            updated_at: row.updated_at,
        }
    }
}

#[async_trait]
impl<DB: Sql> DraftStore for SqlStore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'s> &'s str: Encode<'s, DB> + Type<DB> + ColumnIndex<DB::Row>,
    String: Column<DB>,
    i64: Column<DB>,
{
    #[tracing::instrument(skip_all, name = "db.draft")]
    async fn draft(&self, user_id: &str, draft_id: &str) -> StoreResult<Option<Draft>> {
        let row: Option<DraftRow> = sqlx::query_as(SELECT)
            .bind(user_id)
            .bind(draft_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.map(Draft::from))
    }

    #[tracing::instrument(skip_all, name = "db.save_draft")]
    async fn save_draft(
        &self,
        user_id: &str,
        draft_id: &str,
        base_version: i64,
        content: &str,
        at: i64,
    ) -> StoreResult<DraftWrite> {
        let written: Option<DraftRow> = if base_version == 0 {
            sqlx::query_as(CREATE)
                .bind(user_id)
                .bind(draft_id)
                .bind(content)
                .bind(at)
        } else {
            sqlx::query_as(ADVANCE)
                .bind(user_id)
                .bind(draft_id)
                .bind(base_version)
                .bind(content)
                .bind(at)
        }
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        if let Some(saved) = written {
            return Ok(DraftWrite::Saved(saved.into()));
        }
        // A base version for a draft that does not exist has nothing to build on.
        let current = self.draft(user_id, draft_id).await?;
        Ok(DraftWrite::Stale(current.unwrap_or(Draft {
            version: 0,
            content: String::new(),
            updated_at: 0,
        })))
    }
}
