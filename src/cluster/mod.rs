//! State shared by the sockets of a gateway: channel history and presence. One node keeps
//! it in memory; cluster mode (issue 5) will keep it in Redis behind the same ports.

pub mod memory;
pub mod redis;
