//! `user.online` / `user.offline` in a cluster: told once however many nodes the user is
//! on, and told for a user whose node was SIGKILLed (by a surviving node, within the
//! presence TTL).

use std::time::Duration;

use serde_json::json;

use super::{endpoint, types};
use crate::support::process::{Gateway, listening_addr};
use crate::support::receiver::{Received, Receiver, SECRET};
use crate::support::{Connect, Db, SioClient, TestApp};

fn of_user<'a>(got: &'a [Received], user: &str) -> Vec<&'a Received> {
    got.iter()
        .filter(|r| r.body["data"]["userId"] == json!(user))
        .collect()
}

async fn connect(addr: &str, app: &TestApp, user: &str) -> SioClient {
    let opts = Connect {
        auth: Some(json!({ "token": app.token(user) })),
        ..Connect::default()
    };
    SioClient::connect(addr, "/realtime", opts)
        .await
        .expect("connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_on_two_nodes_is_told_online_once_and_offline_once_their_node_dies() {
    let receiver = Receiver::start().await;
    let prefix = format!("switchyard-test-{}", uuid::Uuid::new_v4().simple());
    let url = receiver.url.clone();
    let a = TestApp::spawn_with(Db::Postgres, move |s| {
        s.redis.url = Some("redis://127.0.0.1:6379".into());
        s.redis.prefix = prefix;
        s.presence.ttl = Duration::from_secs(3);
        s.integration.webhooks = vec![endpoint(&url, Some(&["user.online", "user.offline"]))];
    })
    .await;
    let s = &a.settings;
    let env = [
        ("SWITCHYARD_DATABASE_URL", s.database.url.clone()),
        ("SWITCHYARD_REDIS_URL", "redis://127.0.0.1:6379".to_owned()),
        ("SWITCHYARD_REDIS_PREFIX", s.redis.prefix.clone()),
        ("SWITCHYARD_PRESENCE_TTL_SECS", "3".to_owned()),
        ("SWITCHYARD_WEBHOOK_URL", receiver.url.clone()),
        ("SWITCHYARD_WEBHOOK_SECRET", SECRET.to_owned()),
    ];
    let mut b = Gateway::spawn(&env, listening_addr);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let on_a = connect(&a.addr.to_string(), &a, "alice").await;
    let _on_b = connect(&b.addr, &a, "alice").await;
    let _second_on_b = connect(&b.addr, &a, "alice").await;
    let got = receiver.wait_for(1, super::WAIT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        types(&receiver.accepted()),
        ["user.online"],
        "once, for three sockets on two nodes"
    );
    let online = &got[0].body["data"];
    assert_eq!(
        (&online["userId"], &online["status"]),
        (&json!("alice"), &json!("online"))
    );

    // Her socket on A closes: she is still online on B, nothing is told.
    on_a.disconnect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.accepted().len(), 1);

    // B dies without closing anything: A finds her sockets expired and tells it once.
    b.kill();
    let got = receiver.wait_for(2, super::WAIT).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got_now = receiver.accepted();
    assert_eq!(types(&got_now), ["user.online", "user.offline"], "{got:?}");
    let offline = &of_user(&got_now, "alice")[1].body["data"];
    assert_eq!(offline["status"], json!("offline"));
    assert!(
        offline["lastSeen"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000)
    );
}
