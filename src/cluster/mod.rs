//! State shared by the sockets of a gateway: channel history and presence. One node keeps
//! it in memory; in cluster mode channel history and publish idempotency live in Redis
//! behind the same port (presence is still per node).

pub mod memory;
pub mod redis;
pub mod redis_history;
