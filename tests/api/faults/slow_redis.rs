//! Cross-node acks over a slow Redis (issue 19 item 4): with 500 ms added to every Redis
//! round trip (under the 1 s deadline), delivery receipts and live notifications still
//! cross nodes. They were lost when the adapter gave up on Redis after 250 ms and so
//! expected no answer from other nodes.

use std::time::Duration;

use serde_json::json;

use crate::cluster::private_redis::PrivateRedis;
use crate::conversations::{create, send};
use crate::notifications::{notify, simple};
use crate::support::fault_proxy::FaultProxy;
use crate::support::{Db, TestApp};

/// The ack window plus several slow round trips.
const ACKED_WITHIN: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_and_notifications_cross_nodes_over_a_slow_redis() {
    let redis = PrivateRedis::start();
    let proxy = FaultProxy::start(([127, 0, 0, 1], redis.port).into()).await;
    let (url, prefix) = (
        format!("redis://{}", proxy.addr()),
        format!("switchyard-test-{}", uuid::Uuid::new_v4().simple()),
    );
    let a = TestApp::spawn_with(Db::Postgres, |s| {
        s.redis.url = Some(url);
        s.redis.prefix = prefix;
    })
    .await;
    let b = a.another_node().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut alice = a.connect("/ws", "alice").await;
    let mut bob = b.connect("/ws", "bob").await;
    bob.manual_acks();
    let mut bob_notified = b.connect("/notifications", "bob").await;
    let conversation = create(&alice, &["bob"]).await;
    bob.expect("conversation:new").await;

    proxy.delay(Duration::from_millis(250));
    for n in 1..=5 {
        send(
            &alice,
            &conversation,
            &format!("slow-{n}"),
            "over a slow link",
        )
        .await;
        let incoming = bob.within("message:new", ACKED_WITHIN).await;
        let incoming = incoming.expect("message:new crosses");
        bob.ack(incoming.ack_id.expect("ack requested"), json!({}));
        let receipt = alice.within("message:delivered", ACKED_WITHIN).await;
        let receipt = receipt.unwrap_or_else(|| panic!("receipt {n} lost"));
        assert_eq!(receipt.data["seq"], json!(n));
    }

    let (status, created) = notify(&a, simple("bob", "slow", "high")).await;
    assert_eq!(status, 202, "{created}");
    let live = bob_notified.within("notification", ACKED_WITHIN).await;
    let live = live.expect("a notification for bob's socket on the other node");
    assert_eq!(live.data["id"], created["ids"][0]);
}
