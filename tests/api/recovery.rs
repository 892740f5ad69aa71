//! Connection-state recovery, the sending half: with `connection_recovery` on, every room
//! emit without an ack request carries its offset as the last argument (as socket.io
//! appends it), the same offset for every socket it reaches, in log order on every node,
//! and who it reaches is unchanged (the sender is still left out).

use serde_json::json;

use crate::cluster::cluster_with;
use crate::conversations::create;
use crate::support::sio::Event;
use crate::support::{Db, SioClient, TestApp};

const QUIET: std::time::Duration = std::time::Duration::from_millis(300);

async fn typing(s: &SioClient, conversation: &str, start: bool) {
    let event = if start { "typing:start" } else { "typing:stop" };
    let ack = s
        .emit_ack(event, json!({ "conversationId": conversation }))
        .await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
}

/// The offsets of `n` `typing` events `s` receives, checking they alternate true/false.
async fn typing_offsets(s: &mut SioClient, n: usize) -> Vec<String> {
    let mut offsets = Vec::new();
    for i in 0..n {
        let Event { data, offset, .. } = s.expect("typing").await;
        assert_eq!(
            data["typing"],
            json!(i % 2 == 0),
            "in the order sent: {data}"
        );
        offsets.push(offset.expect("an offset after the payload"));
    }
    offsets
}

/// Offsets as the log gives them: numbers on one node, `ms-seq` stream ids in Redis.
fn ordered(offsets: &[String]) -> bool {
    let key = |o: &String| -> (u64, u64) {
        let (ms, seq) = o.split_once('-').unwrap_or((o.as_str(), "0"));
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    };
    offsets.windows(2).all(|w| key(&w[0]) < key(&w[1]))
}

#[tokio::test]
async fn room_emits_carry_increasing_offsets_and_still_leave_the_sender_out() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.recovery.enabled = true).await;
    let mut alice = app.connect("/ws", "alice").await;
    let mut alice_too = app.connect("/ws", "alice").await;
    let mut bob = app.connect("/ws", "bob").await;
    let id = create(&alice, &["bob"]).await;
    let new = bob.expect("conversation:new").await;
    assert!(new.offset.is_some(), "conversation:new is a room emit");
    alice_too.expect("conversation:new").await;
    alice.expect_none("conversation:new", QUIET).await;
    for _ in 0..3 {
        typing(&bob, &id, true).await;
        typing(&bob, &id, false).await;
    }
    let seen = typing_offsets(&mut alice, 6).await;
    assert!(ordered(&seen), "increasing: {seen:?}");
    assert_eq!(
        typing_offsets(&mut alice_too, 6).await,
        seen,
        "one offset per packet"
    );
    bob.expect_none("typing", QUIET).await;
}

#[tokio::test]
async fn without_recovery_room_emits_carry_no_offset() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.recovery.enabled = false).await;
    let alice = app.connect("/ws", "alice").await;
    let mut bob = app.connect("/ws", "bob").await;
    create(&alice, &["bob"]).await;
    assert_eq!(bob.expect("conversation:new").await.offset, None);
}

#[tokio::test]
async fn every_node_sends_the_cluster_log_order_with_the_same_offsets() {
    let (a, b) = cluster_with(|s| s.recovery.enabled = true).await;
    let alice = a.connect("/ws", "alice").await;
    let bob = b.connect("/ws", "bob").await;
    let mut carol_a = a.connect("/ws", "carol").await;
    let mut carol_b = b.connect("/ws", "carol").await;
    let id = create(&alice, &["bob", "carol"]).await;
    carol_a.expect("conversation:new").await;
    carol_b.expect("conversation:new").await;
    // Typists on both nodes at once: each node must still send one order, the log's.
    tokio::join!(
        async {
            for _ in 0..5 {
                typing(&alice, &id, true).await;
                typing(&alice, &id, false).await;
            }
        },
        async {
            for _ in 0..5 {
                typing(&bob, &id, true).await;
                typing(&bob, &id, false).await;
            }
        }
    );
    let mut on_a = Vec::new();
    let mut on_b = Vec::new();
    for _ in 0..20 {
        on_a.push(carol_a.expect("typing").await.offset.expect("offset"));
        on_b.push(carol_b.expect("typing").await.offset.expect("offset"));
    }
    assert!(ordered(&on_a), "node a in log order: {on_a:?}");
    assert_eq!(
        on_a, on_b,
        "both nodes send the same packets in the same order"
    );
}
