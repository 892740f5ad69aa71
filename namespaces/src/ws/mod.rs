//! `/ws`: conversations and messages (PROTOCOL.md §5).

pub mod api_payloads;
mod chat;
mod delivery;
mod handlers;
pub mod origin;
pub mod outgoing;
pub use outgoing::emits;
pub mod payloads;
mod sender;
mod server;
pub use server::{ChatApi, ServerChat, create_conversation, send_message};

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, SocketRef, State};

use crate::broadcast::Broadcaster;
use crate::dispatch::EventTable;
use crate::limits::EventClass;
use crate::namespace::Namespace;
use crate::services::Services;
pub use crate::services::WsConfig;
use crate::states::StateSet;

use crate::ports::TYPING_TIMEOUT;
pub use chat::{Chat, Created, ReadReceipt};
pub use sender::{SYSTEM_SENDER, Sender};

use crate::ports::TypingState;
use crate::presence::Presence;
use crate::rooms::{conversation_room, user_room};
use crate::{Identity, NsError};

pub const PATH: &str = "/ws";

/// Client → server events.
pub mod events {
    pub const CONVERSATION_CREATE: &str = "conversation:create";
    pub const CONVERSATION_LIST: &str = "conversation:list";
    pub const MESSAGE_SEND: &str = "message:send";
    pub const MESSAGE_EDIT: &str = "message:edit";
    pub const MESSAGE_DELETE: &str = "message:delete";
    pub const MESSAGE_HISTORY: &str = "message:history";
    pub const MESSAGE_SYNC: &str = "message:sync";
    pub const MESSAGE_READ: &str = "message:read";
    pub const TYPING_START: &str = "typing:start";
    pub const TYPING_STOP: &str = "typing:stop";
}

/// `/ws`: each event with its rate class and handler, and what it emits.
pub fn namespace<A: Adapter>() -> Namespace<A> {
    use EventClass::{All, Message, Typing};
    use handlers::*;
    let events = EventTable::default()
        .on(
            events::CONVERSATION_CREATE,
            All,
            on_conversation_create::<A>,
        )
        .on(events::CONVERSATION_LIST, All, on_conversation_list::<A>)
        .on(events::MESSAGE_SEND, Message, on_message_send::<A>)
        .on(events::MESSAGE_EDIT, All, on_message_edit::<A>)
        .on(events::MESSAGE_DELETE, All, on_message_delete::<A>)
        .on(events::MESSAGE_HISTORY, All, on_message_history::<A>)
        .on(events::MESSAGE_SYNC, All, on_message_sync::<A>)
        .on(events::MESSAGE_READ, All, on_message_read::<A>)
        .on(events::TYPING_START, Typing, on_typing_start::<A>)
        .on(events::TYPING_STOP, Typing, on_typing_stop::<A>);
    Namespace::new(PATH, prepare_socket::<A>, on_connect::<A>)
        .with_state(state::<A>)
        .events(events)
        .emits(emits::ALL)
}

/// `/ws` reads [`WsState`], and [`MessagePush`](crate::ports::MessagePush), which
/// `/notifications` provides.
fn state<A: Adapter>(services: &Services) -> StateSet<A> {
    StateSet::default().with(WsState::new(services))
}

/// Everything `/ws` handlers share. Cheap to clone.
#[derive(Clone)]
pub struct WsState {
    inner: Arc<Inner>,
}

struct Inner {
    chat: Chat,
    broadcaster: Broadcaster,
    presence: Presence,
    typing: Arc<dyn TypingState>,
    delivery_ack_timeout: Duration,
}

impl WsState {
    /// Messages to participants with no socket become notifications through the
    /// [`MessagePush`](crate::ports::MessagePush) state, when the gateway gives one.
    pub fn new(services: &Services) -> Self {
        Self {
            inner: Arc::new(Inner {
                chat: Chat::new(services.messages.clone(), services.clock.clone()),
                broadcaster: Broadcaster::new(services.packets.clone()),
                presence: services.presence.clone(),
                typing: services.typing.clone(),
                delivery_ack_timeout: services.config.ws.delivery_ack_timeout,
            }),
        }
    }

    fn chat(&self) -> &Chat {
        &self.inner.chat
    }

    fn broadcaster(&self) -> &Broadcaster {
        &self.inner.broadcaster
    }
}

/// Connect middleware, run after authentication: joins the user's rooms before the
/// connection is acknowledged (then its events are served, see [`Namespace`]). socketioxide acknowledges
/// the connect before it spawns the connect handler, so anything done there can come too
/// late for the client's first event or the first message sent to its rooms. A store
/// failure refuses the connection rather than leave it deaf.
pub async fn prepare_socket<A: Adapter>(
    s: SocketRef<A>,
    State(state): State<WsState>,
    Extension(me): Extension<Identity>,
) -> Result<(), NsError> {
    let ids = state.chat().conversation_ids_of(&me.user_id).await?;
    s.join(user_room(&me.user_id));
    s.join(
        ids.iter()
            .map(|id| conversation_room(id))
            .collect::<Vec<_>>(),
    );
    state.inner.presence.track_socket(&s, &me, PATH).await;
    Ok(())
}

/// The connect handler proper: everything was set up in [`prepare_socket`].
pub async fn on_connect<A: Adapter>(s: SocketRef<A>, Extension(me): Extension<Identity>) {
    tracing::debug!(ns = PATH, sid = %s.id, user = %me.user_id, "connected");
}
