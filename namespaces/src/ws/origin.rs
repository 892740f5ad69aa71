//! Where a `/ws` change comes from: a client's socket, which is left out of the broadcasts
//! it causes (socket.io's `socket.to`) and has its ack instead, or the server itself (the
//! HTTP API), whose broadcasts reach every socket of the audience.

use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;

use super::{PATH, WsState};
use crate::audience::Audience;
use crate::emit::Emit;

pub struct Origin<A: Adapter> {
    io: SocketIo<A>,
    socket: Option<SocketRef<A>>,
}

impl<A: Adapter> Clone for Origin<A> {
    fn clone(&self) -> Self {
        Self {
            io: self.io.clone(),
            socket: self.socket.clone(),
        }
    }
}

impl<A: Adapter> Origin<A> {
    /// A client event on socket `s`.
    pub fn socket(io: SocketIo<A>, s: SocketRef<A>) -> Self {
        Self {
            io,
            socket: Some(s),
        }
    }

    /// The server itself, with no socket to leave out.
    pub fn server(io: SocketIo<A>) -> Self {
        Self { io, socket: None }
    }

    pub fn io(&self) -> &SocketIo<A> {
        &self.io
    }

    /// The sockets in `rooms`, but the origin's own socket.
    pub fn audience<S: Into<String>>(&self, rooms: impl IntoIterator<Item = S>) -> Audience {
        match &self.socket {
            Some(s) => Audience::others(s, rooms),
            None => Audience::rooms(rooms),
        }
    }

    /// `/ws`'s operators, from the origin's socket when there is one; `None` only when
    /// the namespace is not mounted (logged).
    pub fn operators(&self) -> Option<BroadcastOperators<A>> {
        if let Some(s) = &self.socket {
            return Some(s.within(Vec::<String>::new()));
        }
        let ns = self.io.of(PATH);
        if ns.is_none() {
            tracing::error!(ns = PATH, "namespace not mounted");
        }
        ns
    }

    /// Emits `payload` on `/ws` to `audience`, as [`Broadcaster`](crate::broadcast::Broadcaster) does.
    pub async fn emit<E: Emit>(&self, st: &WsState, audience: Audience, payload: &E) {
        match &self.socket {
            Some(s) => st.broadcaster().emit_from(s, PATH, audience, payload).await,
            None => {
                if let Some(ns) = self.operators() {
                    st.broadcaster().emit_in(ns, PATH, audience, payload).await
                }
            }
        }
    }
}
