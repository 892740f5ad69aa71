//! A draining node forgetting its own sockets before it exits, so the cluster sees its
//! users leave at once instead of when their entries expire.

use futures_util::StreamExt;

use super::Presence;

/// Sockets forgotten at once: each is a few round trips to the registry, and a node may
/// hold tens of thousands.
const FORGOTTEN_AT_ONCE: usize = 64;

impl Presence {
    /// Forgets every socket this node holds, leaving its channels and telling watchers and
    /// channels as each socket's close would. Returns how many there were.
    ///
    /// The drain calls this before it closes the sockets: the disconnect handlers of
    /// sockets closed at exit do not finish before the process ends, and once the
    /// namespaces are closed there is nothing left to tell others through. A handler that
    /// still runs afterwards finds its socket gone and changes nothing.
    pub async fn close_local_sockets(&self) -> usize {
        let sockets = self.registry().local_sockets();
        let count = sockets.len();
        futures_util::stream::iter(sockets)
            .for_each_concurrent(FORGOTTEN_AT_ONCE, |(user, sid)| async move {
                self.socket_closed(&user, &sid).await;
            })
            .await;
        count
    }
}
