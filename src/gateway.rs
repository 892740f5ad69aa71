//! The running Socket.IO server as HTTP handlers and the shutdown sequence see it,
//! whichever adapter (in-process or Redis) it was built with: the adapter type stays in
//! `startup`, everything else talks to this trait.

use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::operators::BroadcastOperators;
use switchyard_namespaces::NsError;
use switchyard_namespaces::audience::Audience;
use switchyard_namespaces::broadcast::Broadcaster;
use switchyard_namespaces::emit::{Announcement, Emit, ServerDraining, tell};
use switchyard_namespaces::notifications::{self, NotificationsState};
use switchyard_namespaces::realtime::payloads::Publish;
use switchyard_namespaces::realtime::{self, PublishAck, RealtimeState};
use switchyard_namespaces::rooms::user_room;

/// Sockets and rooms of one namespace on this node.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceCounts {
    pub path: String,
    pub connections: usize,
    pub rooms: usize,
}

#[async_trait]
pub trait Gateway: Send + Sync + 'static {
    /// `announcement` to every socket of every namespace, cluster-wide (through the packet
    /// log, with an offset, when `broadcaster` logs room emits).
    async fn announce(&self, broadcaster: &Broadcaster, event: &Announcement)
    -> anyhow::Result<()>;
    /// Closes every socket of the user on every namespace, cluster-wide.
    async fn disconnect_user(&self, user_id: &str) -> anyhow::Result<()>;
    async fn publish(&self, realtime: &RealtimeState, req: Publish) -> Result<PublishAck, NsError>;
    async fn notify(
        &self,
        notifications: &NotificationsState,
        req: notifications::payloads::Create,
    ) -> Result<Vec<String>, NsError>;
    async fn counts(&self) -> anyhow::Result<Vec<NamespaceCounts>>;
    /// `server:draining` to every local socket, each with its own delay within `spread`.
    fn tell_draining(&self, spread: Duration) -> usize;
    fn open_sockets(&self) -> usize;
    /// Namespaces this node holds, the refused dynamic ones included while they exist.
    fn namespace_count(&self) -> usize;
    async fn close(&self);
}

/// The namespaces of the contract: not `/`, whose only sockets are the identity-less ones
/// protocol 4 sessions are put on (`auth::main_namespace`), nor the refused names.
fn served<A: Adapter>(io: &SocketIo<A>) -> impl Iterator<Item = BroadcastOperators<A>> {
    switchyard_namespaces::paths()
        .iter()
        .filter_map(|path| io.of(path))
}

#[async_trait]
impl<A: Adapter> Gateway for SocketIo<A> {
    async fn announce(
        &self,
        broadcaster: &Broadcaster,
        event: &Announcement,
    ) -> anyhow::Result<()> {
        if broadcaster.logs() {
            for path in switchyard_namespaces::paths() {
                if let Some(ns) = self.of(path) {
                    let everyone = Audience::rooms(Vec::<String>::new());
                    broadcaster.emit_in(ns, path, everyone, event).await;
                }
            }
            return Ok(());
        }
        for ns in served(self) {
            ns.emit(Announcement::EVENT, event)
                .await
                .map_err(|e| anyhow::anyhow!("announce failed: {e}"))?;
        }
        Ok(())
    }

    async fn disconnect_user(&self, user_id: &str) -> anyhow::Result<()> {
        for ns in served(self) {
            ns.within(user_room(user_id))
                .disconnect()
                .await
                .map_err(|e| anyhow::anyhow!("disconnect failed: {e}"))?;
        }
        Ok(())
    }

    async fn publish(&self, state: &RealtimeState, req: Publish) -> Result<PublishAck, NsError> {
        realtime::publish(self, state, req).await
    }

    async fn notify(
        &self,
        state: &NotificationsState,
        req: notifications::payloads::Create,
    ) -> Result<Vec<String>, NsError> {
        notifications::create(self, state, req).await
    }

    async fn counts(&self) -> anyhow::Result<Vec<NamespaceCounts>> {
        let mut counts = Vec::new();
        for path in switchyard_namespaces::paths() {
            let Some(ns) = self.of(path) else { continue };
            let connections = ns.clone().local().sockets().len();
            let rooms = ns
                .local()
                .rooms()
                .await
                .map_err(|e| anyhow::anyhow!("listing rooms: {e}"))?
                .len();
            counts.push(NamespaceCounts {
                path: (*path).to_owned(),
                connections,
                rooms,
            });
        }
        Ok(counts)
    }

    fn tell_draining(&self, spread: Duration) -> usize {
        let mut told = 0;
        for ns in served(self) {
            for socket in ns.local().sockets() {
                let reconnect_in_ms = rand::rng().random_range(0..=spread.as_millis() as u64);
                if tell(&socket, &ServerDraining { reconnect_in_ms }).is_ok() {
                    told += 1;
                }
            }
        }
        told
    }

    fn open_sockets(&self) -> usize {
        served(self).map(|ns| ns.local().sockets().len()).sum()
    }

    fn namespace_count(&self) -> usize {
        self.nsps().len()
    }

    async fn close(&self) {
        SocketIo::close(self).await;
    }
}
