//! Room names shared by the namespaces and the HTTP API, so both address the same sockets.

/// Every socket of a user joins this room in every namespace.
pub fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Every participant socket of a conversation joins this room on `/ws`.
pub fn conversation_room(conversation_id: &str) -> String {
    format!("conv:{conversation_id}")
}

/// Whether `user_id` has a socket on namespace `ns`, on any node. A lookup that fails
/// (the adapter cannot reach its peers) reads as no socket: the caller then falls back
/// to a push, which a device shows at most once.
pub async fn user_has_socket<A: socketioxide::adapter::Adapter>(
    io: &socketioxide::SocketIo<A>,
    ns: &str,
    user_id: &str,
) -> bool {
    let Some(op) = io.of(ns) else {
        return false;
    };
    op.within(user_room(user_id))
        .fetch_sockets()
        .await
        .is_ok_and(|s| !s.is_empty())
}
