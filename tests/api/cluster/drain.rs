//! SIGTERM on one node of a cluster: its clients are told to go, come back on another
//! node, and find everything the draining node acknowledged; watchers elsewhere are told
//! at once that the users it closed went offline.

use std::time::Duration;

use serde_json::json;

use super::{ProcessNode, cluster};
use crate::conversations::create;

#[tokio::test]
async fn a_drained_nodes_clients_move_on_and_nothing_acked_is_lost() {
    let (survivor, _other) = cluster().await;
    let doomed = ProcessNode::spawn_with(
        &survivor.settings,
        &[
            ("SWITCHYARD_SHUTDOWN_GRACE_SECS", "5"),
            ("SWITCHYARD_DRAIN_RECONNECT_SPREAD_MS", "500"),
        ],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let carol = survivor.connect("/ws", "carol").await;
    let conversation = create(&carol, &["bob"]).await;
    let mut bob = doomed.connect(&survivor, "/ws", "bob").await;

    // Bob keeps sending through the draining node until it stops answering.
    let sender = {
        let conversation = conversation.clone();
        let bob = doomed.connect(&survivor, "/ws", "bob").await;
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in 0..200 {
                let body = json!({
                    "conversationId": conversation,
                    "clientMsgId": format!("m{n}"),
                    "content": format!("message {n}"),
                });
                match bob.try_emit_ack("message:send", body).await {
                    Some(ack) if ack["ok"] == json!(true) => {
                        acked.push(ack["message"]["seq"].as_i64().expect("seq"));
                    }
                    _ => break,
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &doomed.gateway.pid().to_string()])
        .status()
        .expect("kill");
    assert!(terminated.success());
    let told = bob.expect("server:draining").await.data;
    let delay = told["reconnectInMs"].as_u64().expect("reconnectInMs");
    assert!(delay <= 500, "within the configured spread: {delay}");

    let acked = sender.await.expect("sender");
    assert!(!acked.is_empty(), "bob got some messages through first");
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let back = survivor.connect("/ws", "bob").await;
    let sync = back
        .emit_ack(
            "message:sync",
            json!({ "cursors": { conversation.clone(): 0 } }),
        )
        .await;
    let stored: Vec<i64> = sync["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["seq"].as_i64())
        .collect();
    for seq in &acked {
        assert!(
            stored.contains(seq),
            "acked message {seq} was lost: {stored:?}"
        );
    }
    assert_eq!(
        stored,
        (1..=stored.len() as i64).collect::<Vec<_>>(),
        "no gaps, no duplicates"
    );
}

/// Well under the presence TTL (30 s here): a drained node's sockets must not wait for
/// their entries to expire, as those of a node that died do.
const TOLD_WITHIN: Duration = Duration::from_secs(4);

#[tokio::test]
async fn a_drain_unregisters_the_sockets_it_closes() {
    let (survivor, _other) = cluster().await;
    let mut doomed = ProcessNode::spawn_with(
        &survivor.settings,
        &[
            ("SWITCHYARD_SHUTDOWN_GRACE_SECS", "5"),
            ("SWITCHYARD_DRAIN_RECONNECT_SPREAD_MS", "200"),
        ],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut watcher = survivor.connect("/realtime", "erin").await;
    let room = json!({ "channels": ["public:lobby"] });
    watcher.emit_ack("subscribe", room.clone()).await;
    // Alice stays through the drain's whole wait: the drain closes her socket.
    let alice = doomed.connect(&survivor, "/realtime", "alice").await;
    alice.emit_ack("subscribe", room).await;
    let watched = watcher
        .emit_ack("presence:watch", json!({ "userIds": ["alice"] }))
        .await;
    assert_eq!(watched["users"][0]["status"], json!("online"));
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &doomed.gateway.pid().to_string()])
        .status()
        .expect("kill");
    assert!(terminated.success());

    let told = watcher
        .within("presence", TOLD_WITHIN)
        .await
        .expect("watcher told alice went offline");
    assert_eq!(
        (told.data["userId"].clone(), told.data["status"].clone()),
        (json!("alice"), json!("offline"))
    );
    let got = watcher
        .emit_ack("presence:get", json!({ "userIds": ["alice"] }))
        .await;
    assert_eq!(
        (
            got["users"][0]["status"].clone(),
            got["users"][0]["devices"].clone()
        ),
        (json!("offline"), json!(0))
    );
    let members = watcher
        .emit_ack("presence:members", json!({ "channel": "public:lobby" }))
        .await;
    assert_eq!(
        members["members"],
        json!([{ "userId": "erin", "status": "online" }]),
        "alice's channel membership went with her socket"
    );
    let exited = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            if let Some(status) = doomed.gateway.try_wait() {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let status = exited.await.expect("exits within the grace period");
    assert!(status.success(), "a clean drain exits 0: {status:?}");
}
