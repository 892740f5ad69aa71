-- Conversations, their participants with read cursors, and messages (PROTOCOL.md §5).
-- Timestamps are milliseconds since the Unix epoch.
CREATE TABLE conversations (
    id              TEXT PRIMARY KEY,
    title           TEXT,
    created_at      INTEGER NOT NULL,
    last_seq        INTEGER NOT NULL DEFAULT 0,
    last_message_at INTEGER NOT NULL
);

CREATE TABLE participants (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    last_read_seq   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);
-- Conversations of a user (auto-join at connect, conversation:list).
CREATE INDEX participants_by_user ON participants (user_id, conversation_id);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    sender_id       TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL,
    content         TEXT NOT NULL,
    attachments     TEXT NOT NULL DEFAULT '[]',
    reply_to        TEXT,
    created_at      INTEGER NOT NULL,
    edited_at       INTEGER,
    deleted_at      INTEGER
);
-- History, sync and unread counts all walk a conversation by seq.
CREATE UNIQUE INDEX messages_by_conversation_seq ON messages (conversation_id, seq);
-- message:send is idempotent on (senderId, clientMsgId).
CREATE UNIQUE INDEX messages_by_sender_client_id ON messages (sender_id, client_msg_id);
