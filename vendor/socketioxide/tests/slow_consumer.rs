//! Switchyard's patch (PATCHES.md, item 4): a connection whose outgoing queue stays full
//! for the slow-consumer timeout is closed, its sockets with
//! `DisconnectReason::SlowConsumer`; one whose queue empties in between is kept. Over
//! long-polling a client that does not poll reads nothing, so its queue fills.

use std::time::Duration;

use socketioxide::{
    SocketIo, extract::SocketRef, service::SocketIoService, socket::DisconnectReason,
};
use tokio::sync::mpsc;

mod fixture;

use engineioxide::service::NotFoundService;
use fixture::{create_polling_connection, send_req};

const TIMEOUT: Duration = Duration::from_millis(100);

type Svc = SocketIoService<NotFoundService>;

/// A server whose connections queue 4 packets, and the sockets it accepts with the
/// reason each one leaves with.
fn server(
    timeout: Option<Duration>,
) -> (
    Svc,
    mpsc::UnboundedReceiver<(SocketRef, mpsc::UnboundedReceiver<DisconnectReason>)>,
) {
    let builder = SocketIo::builder().max_buffer_size(4);
    let builder = match timeout {
        Some(timeout) => builder.slow_consumer_timeout(timeout),
        None => builder,
    };
    let (svc, io) = builder.build_svc();
    let (tx, rx) = mpsc::unbounded_channel();
    io.ns("/", async move |s: SocketRef| {
        let (reason_tx, reason_rx) = mpsc::unbounded_channel();
        s.on_disconnect(async move |r: DisconnectReason| {
            reason_tx.send(r).ok();
        });
        tx.send((s, reason_rx)).ok();
    });
    (svc, rx)
}

/// Emits until the queue refuses.
fn fill(s: &SocketRef) {
    for _ in 0..10 {
        if s.emit("tick", "data").is_err() {
            return;
        }
    }
    panic!("the queue never filled");
}

async fn reason_within(
    rx: &mut mpsc::UnboundedReceiver<DisconnectReason>,
    wait: Duration,
) -> Option<DisconnectReason> {
    tokio::time::timeout(wait, rx.recv()).await.ok().flatten()
}

#[tokio::test]
async fn a_queue_that_stays_full_closes_the_connection() {
    let (svc, mut sockets) = server(Some(TIMEOUT));
    create_polling_connection(&svc).await;
    let (s, mut reason) = sockets.recv().await.expect("a socket");
    fill(&s);
    tokio::time::sleep(TIMEOUT + Duration::from_millis(20)).await;
    assert!(s.emit("tick", "data").is_err());
    assert_eq!(
        reason_within(&mut reason, Duration::from_secs(2)).await,
        Some(DisconnectReason::SlowConsumer)
    );
}

#[tokio::test]
async fn a_queue_that_empties_in_between_starts_over() {
    let (svc, mut sockets) = server(Some(TIMEOUT));
    let sid = create_polling_connection(&svc).await;
    let (s, mut reason) = sockets.recv().await.expect("a socket");
    fill(&s);
    tokio::time::sleep(TIMEOUT + Duration::from_millis(20)).await;
    // The client polls: the queue empties, and the next send gets through.
    send_req(
        &svc,
        format!("transport=polling&sid={sid}"),
        http::Method::GET,
        None,
    )
    .await;
    fill(&s);
    assert_eq!(reason_within(&mut reason, TIMEOUT).await, None);
}

#[tokio::test]
async fn without_a_timeout_a_full_queue_only_fails_sends() {
    let (svc, mut sockets) = server(None);
    create_polling_connection(&svc).await;
    let (s, mut reason) = sockets.recv().await.expect("a socket");
    fill(&s);
    tokio::time::sleep(TIMEOUT + Duration::from_millis(20)).await;
    assert!(s.emit("tick", "data").is_err());
    assert_eq!(reason_within(&mut reason, TIMEOUT * 2).await, None);
}

/// With connection state recovery and `close_resumable_on_full_queue` (item 7), a socket
/// that can resume is closed at the first event its full queue refuses, whatever the
/// slow-consumer timeout: its client
/// resumes and gets that event replayed, instead of missing it for good.
#[tokio::test]
async fn a_socket_that_can_resume_is_closed_at_its_first_refused_event() {
    let (svc, io) = SocketIo::builder()
        .max_buffer_size(4)
        .close_resumable_on_full_queue(true)
        .with_connection_state_recovery(
            |_req: &socketioxide::recovery::RecoveryRequest<'_>| async { None },
        )
        .build_svc();
    let (tx, mut sockets) = mpsc::unbounded_channel();
    io.ns("/", async move |s: SocketRef| {
        let (reason_tx, reason_rx) = mpsc::unbounded_channel();
        s.on_disconnect(async move |r: DisconnectReason| {
            reason_tx.send(r).ok();
        });
        tx.send((s, reason_rx)).ok();
    });
    create_polling_connection(&svc).await;
    let (s, mut reason): (SocketRef, _) = sockets.recv().await.expect("a socket");
    assert!(s.pid().is_some());
    fill(&s);
    assert_eq!(
        reason_within(&mut reason, Duration::from_secs(2)).await,
        Some(DisconnectReason::SlowConsumer)
    );
}
