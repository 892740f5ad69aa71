//! `/notifications`: live delivery with acks, pending delivery at connect, history,
//! receipts and device tokens (PROTOCOL.md §4). Pushes are sent by the infrastructure
//! from what is stored here (`push_due_at`).

mod deliver;
mod handlers;
pub mod outgoing;
mod replay;
pub use outgoing::emits;
pub mod payloads;

use std::sync::Arc;

use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, SocketRef, State};

pub use deliver::{create, notify_user};

use crate::broadcast::Broadcaster;
use crate::dispatch::EventTable;
use crate::limits::EventClass;
use crate::namespace::Namespace;
use crate::ports::{Clock, MessagePush, NotificationStore, OfflineNotifier};
use crate::presence::Presence;
use crate::rooms::user_room;
pub use crate::services::NotificationsConfig;
use crate::services::Services;
use crate::states::StateSet;
use crate::{Identity, NsError};

pub const PATH: &str = "/notifications";

pub mod events {
    pub const LIST: &str = "notification:list";
    pub const READ: &str = "notification:read";
    pub const DEVICE_REGISTER: &str = "device:register";
    pub const DEVICE_UNREGISTER: &str = "device:unregister";
}

/// `/notifications`: each event with its rate class and handler, and what it emits.
pub fn namespace<A: Adapter>() -> Namespace<A> {
    use EventClass::{All, Device};
    use handlers::*;
    let events = EventTable::default()
        .on(events::LIST, All, on_list::<A>)
        .on(events::READ, All, on_read::<A>)
        .on(events::DEVICE_REGISTER, Device, on_device_register::<A>)
        .on(events::DEVICE_UNREGISTER, Device, on_device_unregister::<A>);
    Namespace::new(PATH, prepare_socket::<A>, on_connect::<A>)
        .with_state(state::<A>)
        .events(events)
        .emits(emits::ALL)
}

/// `/notifications` reads [`NotificationsState`], and provides `/ws` its way to notify
/// users with no socket ([`MessagePush`]): set when messages become pushes.
fn state<A: Adapter>(services: &Services) -> StateSet<A> {
    let state = NotificationsState::new(services);
    let push_messages = services.config.push_messages && state.push_enabled();
    let notifier = push_messages.then(|| Arc::new(state.clone()) as Arc<dyn OfflineNotifier<A>>);
    StateSet::default().with(state).with(MessagePush(notifier))
}

#[derive(Clone)]
pub struct NotificationsState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn NotificationStore>,
    broadcaster: Broadcaster,
    clock: Arc<dyn Clock>,
    presence: Presence,
    config: NotificationsConfig,
}

impl NotificationsState {
    pub fn new(services: &Services) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: services.notifications.clone(),
                broadcaster: Broadcaster::new(services.packets.clone()),
                clock: services.clock.clone(),
                presence: services.presence.clone(),
                config: services.config.notifications,
            }),
        }
    }

    fn broadcaster(&self) -> &Broadcaster {
        &self.inner.broadcaster
    }

    /// Whether pushes are scheduled (FCM configured).
    pub fn push_enabled(&self) -> bool {
        self.inner.config.push_enabled
    }

    fn store(&self) -> &dyn NotificationStore {
        self.inner.store.as_ref()
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }
}

/// Connect middleware after authentication: rooms and presence before the connect is
/// acknowledged (the events are served once this is done).
pub async fn prepare_socket<A: Adapter>(
    s: SocketRef<A>,
    State(state): State<NotificationsState>,
    Extension(me): Extension<Identity>,
) -> Result<(), NsError> {
    s.join(user_room(&me.user_id));
    state.inner.presence.track_socket(&s, &me, PATH).await;
    Ok(())
}

/// Runs after the client has seen `connect`, so what is sent here reaches it: the
/// pending notifications, highest priority first, then oldest first, once the store can
/// read them (the connect never waits for the database).
pub async fn on_connect<A: Adapter>(
    s: SocketRef<A>,
    State(state): State<NotificationsState>,
    Extension(me): Extension<Identity>,
) {
    replay::replay_pending(&s, &state, &me.user_id).await;
}
