-- Notifications (PROTOCOL.md §4), device tokens, and the push queue that survives restarts.
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,          -- UUIDv7: sorts by creation
    user_id         TEXT NOT NULL,
    type            TEXT NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    data            TEXT NOT NULL DEFAULT '{}',
    priority        INTEGER NOT NULL,          -- 0 low .. 4 critical
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    delivered_at    INTEGER,
    read_at         INTEGER,
    dropped_at      INTEGER,                   -- pushed out of the pending queue by newer ones
    idempotency_key TEXT,
    push_state      TEXT NOT NULL DEFAULT 'none',   -- none | due | queued | skipped
    push_due_at     INTEGER
);
CREATE UNIQUE INDEX notifications_by_user_key ON notifications (user_id, idempotency_key);
-- History pages and unread counts.
CREATE INDEX notifications_by_user ON notifications (user_id, id);
-- The push worker's scan for due pushes.
CREATE INDEX notifications_push_due ON notifications (push_state, push_due_at);

CREATE TABLE devices (
    token      TEXT PRIMARY KEY,               -- one token belongs to one user
    user_id    TEXT NOT NULL,
    platform   TEXT NOT NULL,
    app_id     TEXT,
    updated_at INTEGER NOT NULL
);
CREATE INDEX devices_by_user ON devices (user_id);

-- One row per (notification, device): a notification is pushed at most once per device.
CREATE TABLE push_deliveries (
    notification_id TEXT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    token           TEXT NOT NULL,
    state           TEXT NOT NULL,              -- pending | sent | failed | pruned
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    PRIMARY KEY (notification_id, token)
);
CREATE INDEX push_deliveries_ready ON push_deliveries (state, next_attempt_at);

-- Every attempt's outcome, for operators.
CREATE TABLE push_attempts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT NOT NULL,
    token           TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    outcome         TEXT NOT NULL,              -- sent | invalid_token | retry | failed
    status          INTEGER,
    at              INTEGER NOT NULL
);
