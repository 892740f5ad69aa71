//! Room names shared by the namespaces and the HTTP API, so both address the same sockets.

/// Every socket of a user joins this room in every namespace.
pub fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Every participant socket of a conversation joins this room on `/ws`.
pub fn conversation_room(conversation_id: &str) -> String {
    format!("conv:{conversation_id}")
}
