-- Webhooks (PROTOCOL.md §9): the transactional outbox. One row per (event, endpoint),
-- written in the same transaction as the change it reports, sent by any node's sender.

-- The last sequence number taken per ordering key (`conversation:<id>`, `user:<id>`).
-- Taking the next one locks the key's row until the writing transaction ends, so the
-- numbers of one key become visible in the order they were taken: the sender's order.
CREATE TABLE webhook_keys (
    ordering_key TEXT PRIMARY KEY,
    last_seq     BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    event_id        TEXT NOT NULL,              -- `msg_` + UUIDv7: `webhook-id`, the same on every retry
    endpoint        TEXT NOT NULL,              -- the endpoint's URL
    event_type      TEXT NOT NULL,
    ordering_key    TEXT NOT NULL,
    key_seq         BIGINT NOT NULL,            -- order within (endpoint, ordering_key)
    body            TEXT NOT NULL,              -- the JSON body, as signed and sent
    created_at      BIGINT NOT NULL,            -- ms: when the event happened
    state           TEXT NOT NULL DEFAULT 'pending',  -- pending | delivered | dead
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,            -- ms; a claim moves it to the lease's end
    last_status     BIGINT,                     -- the last answer's HTTP status
    finished_at     BIGINT,                     -- ms: delivered or dead-lettered
    PRIMARY KEY (event_id, endpoint)
);
-- The sender's scan: pending deliveries of each (endpoint, key) in order.
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (state, endpoint, ordering_key, key_seq);
-- Pruning delivered rows.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (state, finished_at);
