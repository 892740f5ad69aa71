-- Devices (PROTOCOL.md §4): the installation a token was registered from, so a token moves
-- to another user only from the same installation, and an index to find a user's oldest
-- devices when the per-user cap evicts them.
ALTER TABLE devices ADD COLUMN installation_id TEXT;
CREATE INDEX devices_by_user_registered ON devices (user_id, updated_at);
-- The new index serves every lookup by user the old one did.
DROP INDEX devices_by_user;
-- Registering, unregistering and evicting a device drop the pushes still queued for its
-- token: found by token, not by scanning every pending delivery.
CREATE INDEX push_deliveries_by_token ON push_deliveries (token, state);
