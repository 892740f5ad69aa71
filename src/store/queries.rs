//! The SQL both databases run. `$n` placeholders work on PostgreSQL and on SQLite, and
//! nothing here uses a feature only one of them has.

use std::sync::LazyLock;

pub const MESSAGE_COLUMNS: &str = "id, conversation_id, seq, sender_id, client_msg_id, content, \
     attachments, reply_to, created_at, edited_at, deleted_at";

pub const INSERT_CONVERSATION: &str = "INSERT INTO conversations (id, title, created_at, last_seq, last_message_at) \
     VALUES ($1, $2, $3, 0, $3)";
pub const INSERT_PARTICIPANT: &str =
    "INSERT INTO participants (conversation_id, user_id) VALUES ($1, $2)";
pub const PARTICIPANTS: &str =
    "SELECT user_id FROM participants WHERE conversation_id = $1 ORDER BY user_id";
pub const CONVERSATION_IDS_OF: &str = "SELECT conversation_id FROM participants WHERE user_id = $1";

pub const CONVERSATIONS_OF: &str = "SELECT c.id, c.title, c.created_at, \
       (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id \
          AND m.seq > p.last_read_seq AND m.sender_id <> p.user_id AND m.deleted_at IS NULL) AS unread \
     FROM participants p JOIN conversations c ON c.id = p.conversation_id \
     WHERE p.user_id = $1 ORDER BY c.last_message_at DESC, c.id";
pub const CO_PARTICIPANTS_OF: &str = "SELECT other.conversation_id, other.user_id \
     FROM participants mine JOIN participants other ON other.conversation_id = mine.conversation_id \
     WHERE mine.user_id = $1 ORDER BY other.user_id";

pub const NEXT_SEQ: &str = "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = $2 \
     WHERE id = $1 RETURNING last_seq";
pub const LAST_SEQ: &str = "SELECT last_seq FROM conversations WHERE id = $1";
pub const ADVANCE_READ: &str = "UPDATE participants SET last_read_seq = $3 \
     WHERE conversation_id = $1 AND user_id = $2 AND last_read_seq < $3";
pub const READ_CURSOR: &str =
    "SELECT last_read_seq FROM participants WHERE conversation_id = $1 AND user_id = $2";

/// The statements that return message rows, built on first use.
pub static MESSAGE_SQL: LazyLock<MessageSql> = LazyLock::new(MessageSql::new);

/// Statements that return message rows, built once from [`MESSAGE_COLUMNS`].
pub struct MessageSql {
    pub insert: String,
    /// PostgreSQL only: the next `seq` and the row in one statement, so one round trip
    /// (SQLite does not take an UPDATE inside WITH).
    pub insert_with_next_seq: String,
    pub by_id: String,
    pub by_client_id: String,
    pub last_of_user_conversations: String,
    pub edit: String,
    pub delete: String,
    pub before: String,
    pub after: String,
}

impl MessageSql {
    pub fn new() -> Self {
        let c = MESSAGE_COLUMNS;
        Self {
            insert: format!(
                "INSERT INTO messages ({c}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL) RETURNING {c}"
            ),
            insert_with_next_seq: format!(
                "WITH next AS (UPDATE conversations SET last_seq = last_seq + 1, last_message_at = $8 \
                 WHERE id = $2 RETURNING last_seq) \
                 INSERT INTO messages ({c}) SELECT $1, $2, next.last_seq, $3, $4, $5, $6, $7, $8, NULL, NULL \
                 FROM next RETURNING {c}"
            ),
            by_id: format!("SELECT {c} FROM messages WHERE id = $1"),
            by_client_id: format!(
                "SELECT {c} FROM messages WHERE sender_id = $1 AND client_msg_id = $2"
            ),
            last_of_user_conversations: format!(
                "SELECT {} FROM participants p JOIN conversations cv ON cv.id = p.conversation_id \
                 JOIN messages m ON m.conversation_id = cv.id AND m.seq = cv.last_seq WHERE p.user_id = $1",
                c.split(", ")
                    .map(|col| format!("m.{col}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            edit: format!(
                "UPDATE messages SET content = $2, edited_at = $3 WHERE id = $1 AND deleted_at IS NULL RETURNING {c}"
            ),
            delete: format!(
                "UPDATE messages SET content = '', attachments = '[]', edited_at = $2, deleted_at = $2 \
                 WHERE id = $1 RETURNING {c}"
            ),
            before: format!(
                "SELECT {c} FROM messages WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
            ),
            after: format!(
                "SELECT {c} FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq ASC LIMIT $3"
            ),
        }
    }
}
