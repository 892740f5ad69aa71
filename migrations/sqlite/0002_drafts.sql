-- Per-user drafts with optimistic versions (draft:get, draft:sync).
CREATE TABLE drafts (
    user_id    TEXT NOT NULL,
    draft_id   TEXT NOT NULL,
    version    INTEGER NOT NULL,
    content    TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, draft_id)
);
