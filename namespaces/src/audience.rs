//! Who a room broadcast reaches, as plain data. socketioxide's operators are built from
//! it where the packet is sent (on the emitting node, or through the packet feed on every
//! node), and the packet log records it, so a resuming socket is given exactly what it
//! would have been sent.

use std::str::FromStr;

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;

use crate::ports::LoggedPacket;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audience {
    /// Every socket of the namespace when empty.
    rooms: Vec<String>,
    except: Vec<String>,
    /// The sending socket, left out (socketioxide's `socket.to`).
    sender: Option<Sid>,
}

impl Audience {
    /// The sockets in any of `rooms`.
    pub fn rooms<S: Into<String>>(rooms: impl IntoIterator<Item = S>) -> Self {
        Self {
            rooms: rooms.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The sockets in `room`.
    pub fn room(room: impl Into<String>) -> Self {
        Self::rooms([room])
    }

    /// The sockets in `rooms`, but not `sender` (socketioxide's `socket.to(rooms)`).
    pub fn others<A: Adapter, S: Into<String>>(
        sender: &SocketRef<A>,
        rooms: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            sender: Some(sender.id),
            ..Self::rooms(rooms)
        }
    }

    /// Leaves out the sockets in `rooms`.
    pub fn except<S: Into<String>>(mut self, rooms: impl IntoIterator<Item = S>) -> Self {
        self.except.extend(rooms.into_iter().map(Into::into));
        self
    }

    /// Selects the audience from `base`: a namespace's operators, or the sender's own
    /// (`socket.local()` or `socket.within([])`) when there is a sender to leave out.
    pub fn select<A: Adapter>(&self, base: BroadcastOperators<A>) -> BroadcastOperators<A> {
        let ops = base.within(self.rooms.clone());
        let ops = if self.except.is_empty() {
            ops
        } else {
            ops.except(self.except.clone())
        };
        // The broadcast flag is what leaves the operators' own socket out.
        if self.sender.is_some() {
            ops.broadcast()
        } else {
            ops
        }
    }

    /// The operators of this node only, for a packet the feed brings: the sender's own when
    /// it is connected here (so it is left out), the namespace's otherwise.
    pub fn select_local<A: Adapter>(
        &self,
        namespace: BroadcastOperators<A>,
    ) -> BroadcastOperators<A> {
        let sender = self.sender.and_then(|sid| namespace.get_socket(sid));
        match sender {
            Some(socket) => self.select(socket.local()),
            None => self.select(namespace.local()),
        }
    }

    /// The packet as the log keeps it.
    pub fn logged(&self, event: &str, data: serde_json::Value) -> LoggedPacket {
        LoggedPacket {
            rooms: self.rooms.clone(),
            except: self.except.clone(),
            except_sid: self.sender.map(|sid| sid.to_string()),
            event: event.to_owned(),
            data,
        }
    }

    /// The audience a logged packet had.
    pub fn of_logged(packet: &LoggedPacket) -> Self {
        Self {
            rooms: packet.rooms.clone(),
            except: packet.except.clone(),
            sender: packet
                .except_sid
                .as_deref()
                .and_then(|sid| Sid::from_str(sid).ok()),
        }
    }
}
