//! A publication as channel history keeps it in Redis and the feed carries it to every
//! node: what it holds besides its channel, offset and epoch. Its own module, so that the
//! history (which writes it) and the feed (which reads it) need not import each other.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Serialize, Deserialize)]
pub(super) struct Entry {
    pub event: String,
    pub data: Value,
    pub ts: i64,
}
