//! The port of collaborative drafts: per-user documents with optimistic versions.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Draft {
    pub version: i64,
    pub content: String,
    pub updated_at: i64,
}

/// The outcome of a versioned write.
#[derive(Debug, Clone, PartialEq)]
pub enum DraftWrite {
    Saved(Draft),
    /// `base_version` was not the current one; nothing was written.
    Stale(Draft),
}

#[async_trait]
pub trait DraftStore: Send + Sync + 'static {
    async fn draft(&self, user_id: &str, draft_id: &str) -> StoreResult<Option<Draft>>;
    /// Writes `content` as version `base_version + 1` if `base_version` is current
    /// (0 for a draft that does not exist yet).
    async fn save_draft(
        &self,
        user_id: &str,
        draft_id: &str,
        base_version: i64,
        content: &str,
        at: i64,
    ) -> StoreResult<DraftWrite>;
}
