//! The packets waiting to be written to one client: a bounded queue that allocates nothing
//! until a packet is queued, and a slot for the latest volatile packet.
//!
//! Switchyard's patch: upstream uses a tokio `mpsc` channel here, which allocates its first
//! block of 32 slots (32 × 168 bytes) when the socket is created, and a `watch` channel for
//! volatile packets, together about 6.4 KB for every connection, idle or not. This queue
//! keeps the same semantics (a capacity, permits that hold a slot, closing the receiving
//! half while buffered packets can still be drained) in one small allocation.

use std::{
    collections::VecDeque,
    pin::pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
};

use engineioxide_core::PacketBuf;
use tokio::sync::{Notify, mpsc::error::TrySendError};

/// Creates a queue holding at most `capacity` packets (queued and reserved together).
pub(crate) fn channel(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        closed: Notify::new(),
        capacity,
    });
    (Sender(shared.clone()), Receiver(shared))
}

struct Shared {
    state: Mutex<State>,
    /// Wakes [`Sender::closed`] waiters when the receiving half closes.
    closed: Notify,
    capacity: usize,
}

#[derive(Default)]
struct State {
    queue: VecDeque<PacketBuf>,
    /// Slots held by permits that have not sent yet.
    reserved: usize,
    /// Boxed: volatile packets are rare, and a `PacketBuf` inline is 168 bytes.
    volatile: Option<Box<PacketBuf>>,
    closed: bool,
    rx_waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code holding this lock can panic, but a poisoned queue is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, mut state: MutexGuard<'_, State>, packets: PacketBuf) {
        state.queue.push_back(packets);
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The sending half, kept by the [`Socket`](crate::Socket).
pub(crate) struct Sender(Arc<Shared>);

impl Sender {
    // The packets come back in the error, as with tokio's `try_send`, which callers expect.
    #[allow(clippy::result_large_err)]
    pub(crate) fn try_send(&self, packets: PacketBuf) -> Result<(), TrySendError<PacketBuf>> {
        let state = self.0.lock();
        if state.closed {
            return Err(TrySendError::Closed(packets));
        }
        if state.queue.len() + state.reserved >= self.0.capacity {
            return Err(TrySendError::Full(packets));
        }
        self.0.push(state, packets);
        Ok(())
    }

    /// Queues a packet whatever the capacity: for the one Noop an upgrade sends, which
    /// upstream waited for room to send. False once the queue is closed.
    pub(crate) fn send_unbounded(&self, packets: PacketBuf) -> bool {
        let state = self.0.lock();
        if state.closed {
            return false;
        }
        self.0.push(state, packets);
        true
    }

    pub(crate) fn try_reserve(&self) -> Result<Permit<'_>, TrySendError<()>> {
        let mut state = self.0.lock();
        if state.closed {
            return Err(TrySendError::Closed(()));
        }
        if state.queue.len() + state.reserved >= self.0.capacity {
            return Err(TrySendError::Full(()));
        }
        state.reserved += 1;
        Ok(Permit { tx: self })
    }

    /// Replaces the waiting volatile packet, if any. False once the queue is closed.
    pub(crate) fn send_volatile(&self, packets: PacketBuf) -> bool {
        let mut state = self.0.lock();
        if state.closed {
            return false;
        }
        state.volatile = Some(Box::new(packets));
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.0.lock().closed
    }

    /// Resolves once the receiving half is closed.
    pub(crate) async fn closed(&self) {
        loop {
            let mut notified = pin!(self.0.closed.notified());
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }
}

/// A slot held in the queue: sending through it cannot fail for lack of room. Dropped
/// unsent, it gives the slot back.
pub(crate) struct Permit<'a> {
    tx: &'a Sender,
}

impl Permit<'_> {
    pub(crate) fn send(self, packets: PacketBuf) {
        let mut state = self.tx.0.lock();
        state.reserved -= 1;
        // As with tokio's permits, a permit taken before the queue closed still sends.
        self.tx.0.push(state, packets);
        std::mem::forget(self);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.tx.0.lock().reserved -= 1;
    }
}

/// The receiving half, held behind the socket's `internal_rx` lock by whichever transport
/// is writing to the client.
pub(crate) struct Receiver(Arc<Shared>);

impl Receiver {
    /// The next buffered packet, then the volatile one; `None` once closed and drained.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<PacketBuf>> {
        let mut state = self.0.lock();
        if let Some(packets) = state.queue.pop_front() {
            return Poll::Ready(Some(packets));
        }
        if let Some(packets) = state.volatile.take() {
            return Poll::Ready(Some(*packets));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        // The writer goes idle: give back the queue's room (4 slots, 672 bytes, once a
        // packet was queued) rather than keep it for every idle connection.
        if state.queue.capacity() > 0 {
            state.queue = VecDeque::new();
        }
        match &mut state.rx_waker {
            Some(waker) => waker.clone_from(cx.waker()),
            none => *none = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    pub(crate) async fn next(&mut self) -> Option<PacketBuf> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The next buffered packet, then the volatile one, without waiting.
    pub(crate) fn try_next(&mut self) -> Option<PacketBuf> {
        let mut state = self.0.lock();
        if let Some(packets) = state.queue.pop_front() {
            return Some(packets);
        }
        state.volatile.take().map(|packets| *packets)
    }

    /// Refuses further packets; those already queued can still be drained.
    pub(crate) fn close(&mut self) {
        let mut state = self.0.lock();
        state.closed = true;
        state.volatile = None;
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        self.0.closed.notify_waiters();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.0.lock();
        f.debug_struct("Receiver")
            .field("queued", &state.queue.len())
            .field("closed", &state.closed)
            .finish()
    }
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.0.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engineioxide_core::Packet;
    use smallvec::smallvec;

    fn ping() -> PacketBuf {
        smallvec![Packet::Ping]
    }

    #[test]
    fn nothing_is_allocated_for_an_empty_queue() {
        let (tx, mut rx) = channel(128);
        assert_eq!(rx.0.lock().queue.capacity(), 0);
        tx.try_send(ping()).unwrap();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(rx.poll_next(&mut cx).is_ready());
        assert!(rx.poll_next(&mut cx).is_pending());
        assert_eq!(
            rx.0.lock().queue.capacity(),
            0,
            "an idle queue gives its room back"
        );
    }

    #[test]
    fn queued_and_reserved_packets_share_the_capacity() {
        let (tx, mut rx) = channel(2);
        let permit = tx.try_reserve().unwrap();
        tx.try_send(ping()).unwrap();
        assert!(matches!(tx.try_send(ping()), Err(TrySendError::Full(_))));
        assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
        drop(permit);
        tx.try_send(ping()).unwrap();
        assert!(rx.try_next().is_some());
        assert!(rx.try_next().is_some());
        assert!(rx.try_next().is_none());
    }

    #[tokio::test]
    async fn buffered_packets_come_before_the_volatile_one_and_drain_after_close() {
        let (tx, mut rx) = channel(4);
        assert!(tx.send_volatile(ping()));
        assert!(tx.send_volatile(smallvec![Packet::Pong]));
        tx.try_send(smallvec![Packet::Noop]).unwrap();
        let first = rx.next().await.expect("the buffered packet");
        assert!(
            matches!(first[0], Packet::Noop),
            "buffered packets come first"
        );
        let latest = rx.next().await.expect("then the volatile one");
        assert!(
            matches!(latest[0], Packet::Pong),
            "only the latest volatile is kept"
        );

        let permit = tx.try_reserve().unwrap();
        tx.try_send(ping()).unwrap();
        rx.close();
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(ping()), Err(TrySendError::Closed(_))));
        assert!(!tx.send_volatile(ping()));
        permit.send(ping());
        assert!(rx.next().await.is_some());
        assert!(rx.next().await.is_some());
        assert!(rx.next().await.is_none());
    }

    #[tokio::test]
    async fn a_waiting_receiver_and_closed_waiters_are_woken() {
        let (tx, mut rx) = channel(4);
        let reader = tokio::spawn(async move {
            let first = rx.next().await.is_some();
            rx.close();
            first
        });
        tokio::task::yield_now().await;
        tx.try_send(ping()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), tx.closed())
            .await
            .expect("closed() should resolve once the receiver closes");
        assert!(reader.await.unwrap());
    }
}
