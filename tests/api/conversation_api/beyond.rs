//! The conversation API beyond one healthy node: the push to a participant with no
//! socket, a database that does not answer, and sockets on another node of a cluster.

use std::time::Duration;

use serde_json::json;

use super::{QUIET, create_over_http, post_over_http};
use crate::conversations::{create, send};
use crate::support::Db;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_away_is_503_unavailable_and_tells_no_one() {
    let (app, proxy) = crate::faults::postgres::node_behind_proxy().await;
    let mut alice = app.connect("/ws", "alice").await;
    let id = create(&alice, &["bob"]).await;
    proxy.blackhole();
    let hi = json!({ "system": true, "clientMsgId": "s1", "content": "hi" });
    let (status, body) = post_over_http(&app, &id, hi.clone()).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("unavailable"))
    );
    let keyed = json!({ "participantIds": ["alice"], "idempotencyKey": "k" });
    let (status, body) = create_over_http(&app, keyed.clone()).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("unavailable"))
    );
    alice.expect_none("message:new", QUIET).await;
    alice.expect_none("conversation:new", QUIET).await;
    proxy.heal();
    // Once the database is back the same requests succeed, each once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = post_over_http(&app, &id, hi.clone()).await;
        if status == 201 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    alice.expect("message:new").await;
    let (status, _) = create_over_http(&app, keyed).await;
    assert_eq!(status, 201);
    alice.expect("conversation:new").await;
}

#[tokio::test]
async fn a_posted_message_is_pushed_to_a_participant_with_no_socket() {
    use crate::push::{app_with_push, pushes, register};
    use crate::support::fake_fcm::FakeFcm;
    let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
    let app = app_with_push(Db::Sqlite, &fcm, &dir).await;
    let gus = app.connect("/notifications", "gus").await;
    register(&gus, "gus-ios", "ios").await;
    gus.disconnect();
    let body = json!({ "participantIds": ["gus", "hal"] });
    let (_, created) = create_over_http(&app, body).await;
    let id = created["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let note = json!({ "system": true, "clientMsgId": "n1", "content": "Your pitch was viewed" });
    let (status, posted) = post_over_http(&app, &id, note).await;
    assert_eq!(status, 201);
    let pushed = pushes(&fcm, 1).await;
    let tokens: Vec<&str> = pushed.iter().map(|r| r.token.as_str()).collect();
    assert_eq!(tokens, vec!["gus-ios"]);
    let message = &pushed[0].body["message"];
    assert_eq!(
        message["notification"]["body"],
        json!("Your pitch was viewed")
    );
    assert_eq!(message["data"]["messageId"], posted["message"]["id"]);
    assert_eq!(message["data"]["senderId"], json!("{system}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_node_is_asked_reaches_sockets_on_another() {
    let (a, b) = crate::cluster::cluster_with(|_| {}).await;
    let mut alice = b.connect("/ws", "alice").await;
    let mut bob = b.connect("/ws", "bob").await;
    let body = json!({ "participantIds": ["alice", "bob"], "idempotencyKey": "x-node" });
    let (status, created) = create_over_http(&a, body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for s in [&mut alice, &mut bob] {
        let told = s.expect("conversation:new").await;
        assert_eq!(told.data["conversation"]["id"], json!(id));
    }
    let hi = json!({ "senderId": "alice", "clientMsgId": "x1", "content": "across" });
    let (status, posted) = post_over_http(&a, &id, hi).await;
    assert_eq!(status, 201, "{posted}");
    assert_eq!(
        bob.expect("message:new").await.data["message"],
        posted["message"]
    );
    // The sender's own sockets hear of it too, then of bob's ack.
    assert_eq!(
        alice.expect("message:new").await.data["message"],
        posted["message"]
    );
    let delivered = alice.expect("message:delivered").await.data;
    assert_eq!(delivered["userId"], json!("bob"));
    // Node a joined their sockets on node b to the room: a socket message gets through.
    send(&bob, &id, "x2", "back").await;
    let new = alice.expect("message:new").await;
    assert_eq!(new.data["message"]["content"], json!("back"));
}
