//! `/notifications` socket handlers: list, read, device tokens.

use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, SocketRef, State};

use super::outgoing::{NotificationPage, NotificationRead, Unread};
use super::payloads::{DeviceRegister, DeviceUnregister, List, Read};
use super::{NotificationsState, PATH};
use crate::Identity;
use crate::audience::Audience;
use crate::incoming::Incoming;
use crate::ports::DeviceRegistration;

pub(super) async fn on_list<A: Adapter>(
    State(st): State<NotificationsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: List| {
        let before = body.before.as_ref().map(|id| id.as_str());
        let now = st.now();
        let items = st
            .store()
            .list_notifications(&me.user_id, before, body.limit.get(), body.unread_only, now)
            .await?;
        let unread = st.store().unread_count(&me.user_id, now).await?;
        Ok(NotificationPage { items, unread })
    })
    .await;
}

pub(super) async fn on_read<A: Adapter>(
    s: SocketRef<A>,
    State(st): State<NotificationsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |Read(which)| {
        let now = st.now();
        let ids = st.store().mark_read(&me.user_id, &which, now).await?;
        let unread = st.store().unread_count(&me.user_id, now).await?;
        if !ids.is_empty() {
            let others = Audience::others(&s, [crate::rooms::user_room(&me.user_id)]);
            let read = NotificationRead { ids, unread };
            st.broadcaster().emit_from(&s, PATH, others, &read).await;
        }
        Ok(Unread { unread })
    })
    .await;
}

pub(super) async fn on_device_register<A: Adapter>(
    State(st): State<NotificationsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: DeviceRegister| {
        let device = DeviceRegistration {
            token: &body.token.0,
            platform: body.platform,
            app_id: body.app_id.as_ref().map(|a| a.as_str()),
            installation_id: body.installation_id.as_ref().map(|i| i.as_str()),
        };
        let max_devices = st.inner.config.max_devices;
        st.store()
            .register_device(&me.user_id, device, max_devices, st.now())
            .await?;
        Ok(())
    })
    .await;
}

pub(super) async fn on_device_unregister<A: Adapter>(
    State(st): State<NotificationsState>,
    Extension(me): Extension<Identity>,
    req: Incoming<A>,
) {
    req.respond(async |body: DeviceUnregister| {
        st.store()
            .unregister_device(&me.user_id, &body.token.0)
            .await?;
        Ok(())
    })
    .await;
}
