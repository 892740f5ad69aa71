//! The authenticated user behind a socket, as proven by its token.

use serde::{Deserialize, Serialize};

/// Who a socket belongs to. Set by the connect middleware from the verified token and
/// stored in the socket's extensions; handlers never take a user id from a payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user_id: String,
    pub roles: Vec<String>,
    pub channels: Vec<String>,
    pub name: Option<String>,
    /// Token expiry, seconds since the Unix epoch.
    pub expires_at: i64,
}

impl Identity {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}
