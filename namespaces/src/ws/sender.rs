//! Who a `/ws` message is from: a user, or the system sender of the HTTP API.

/// The sender id of system messages: braces, which no token's `sub` may hold, keep it
/// apart from every user.
pub const SYSTEM_SENDER: &str = "{system}";

/// Who a message is from.
#[derive(Debug, Clone, PartialEq)]
pub enum Sender {
    /// A participant: a socket's user, or the user the HTTP API posts for.
    User { id: String, name: Option<String> },
    /// The backend itself (the HTTP API's `system: true`), stored as [`SYSTEM_SENDER`].
    System,
}

impl Sender {
    pub fn user(id: impl Into<String>) -> Self {
        Self::User {
            id: id.into(),
            name: None,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::User { id, .. } => id,
            Self::System => SYSTEM_SENDER,
        }
    }

    /// How a push names the sender.
    pub fn display_name(&self) -> &str {
        match self {
            Self::User {
                name: Some(name), ..
            } => name,
            Self::User { id, .. } => id,
            Self::System => "system",
        }
    }
}
