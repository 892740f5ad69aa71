-- Per-user drafts with optimistic versions (draft:get, draft:sync).
CREATE TABLE drafts (
    user_id    TEXT NOT NULL,
    draft_id   TEXT NOT NULL,
    version    BIGINT NOT NULL,
    content    TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, draft_id)
);
