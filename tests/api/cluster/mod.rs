//! Cluster mode: nodes sharing one Redis (a prefix of their own per test) and one
//! PostgreSQL database, with the two sides of each interaction on different nodes.

use std::time::Duration;

use serde_json::json;

use crate::conversations::{create, send};
use crate::notifications::{notify, simple};
use crate::realtime::publish;
use crate::support::process::{Gateway, listening_addr};
use crate::support::{Db, TestApp};

mod drain;
pub mod private_redis;
mod topologies;

use private_redis::PrivateRedis;

/// Two nodes of one cluster.
async fn cluster() -> (TestApp, TestApp) {
    cluster_with(|_| {}).await
}

pub async fn cluster_with(
    configure: impl FnOnce(&mut switchyard::config::Settings) + Send + 'static,
) -> (TestApp, TestApp) {
    let prefix = format!("switchyard-test-{}", uuid::Uuid::new_v4().simple());
    let a = TestApp::spawn_with(Db::Postgres, move |s| {
        s.redis.url = Some("redis://127.0.0.1:6379".into());
        s.redis.prefix = prefix;
        configure(s);
    })
    .await;
    let b = a.another_node().await;
    // Let both adapters finish subscribing before traffic crosses.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (a, b)
}

/// Three nodes of one cluster.
async fn trio() -> (TestApp, TestApp, TestApp) {
    let (a, b) = cluster().await;
    let c = a.another_node().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    (a, b, c)
}

#[tokio::test]
async fn messages_receipts_and_typing_cross_nodes() {
    let (a, b, c) = trio().await;
    let mut alice = a.connect("/ws", "alice").await;
    let mut bob = b.connect("/ws", "bob").await;
    let mut carol = c.connect("/ws", "carol").await;
    bob.manual_acks();
    // Carol does not ack: only bob's delivery receipt comes back.
    carol.manual_acks();
    let id = create(&alice, &["bob", "carol"]).await;
    assert_eq!(
        bob.expect("conversation:new").await.data["conversation"]["id"],
        json!(id)
    );
    carol.expect("conversation:new").await;
    send(&alice, &id, "c1", "across").await;
    let incoming = bob.expect("message:new").await;
    assert_eq!(incoming.data["message"]["content"], json!("across"));
    assert_eq!(
        carol.expect("message:new").await.data["message"]["content"],
        json!("across"),
        "the third node too"
    );
    bob.ack(incoming.ack_id.expect("ack requested"), json!({}));
    let delivered = alice.expect("message:delivered").await.data;
    assert_eq!(
        delivered,
        json!({ "conversationId": id, "userId": "bob", "seq": 1 })
    );
    bob.emit_ack("typing:start", json!({ "conversationId": id }))
        .await;
    assert_eq!(alice.expect("typing").await.data["typing"], json!(true));
    assert_eq!(carol.expect("typing").await.data["userId"], json!("bob"));
    bob.emit_ack("message:read", json!({ "conversationId": id, "seq": 1 }))
        .await;
    assert_eq!(
        alice.expect("message:read").await.data["userId"],
        json!("bob")
    );
    assert_eq!(
        carol.expect("message:read").await.data["userId"],
        json!("bob")
    );
}

#[tokio::test]
async fn a_user_typing_on_two_nodes_is_one_typist() {
    let (a, b) = cluster().await;
    let mut alice = a.connect("/ws", "alice").await;
    let bob_phone = a.connect("/ws", "bob").await;
    let bob_laptop = b.connect("/ws", "bob").await;
    let id = create(&alice, &["bob"]).await;
    let typing = json!({ "conversationId": id });
    bob_laptop.emit_ack("typing:start", typing.clone()).await;
    assert_eq!(alice.expect("typing").await.data["typing"], json!(true));
    bob_phone.emit_ack("typing:start", typing.clone()).await;
    alice
        .expect_none("typing", Duration::from_millis(300))
        .await;
    bob_phone.emit_ack("typing:stop", typing.clone()).await;
    assert_eq!(alice.expect("typing").await.data["typing"], json!(false));
    bob_laptop.emit_ack("typing:stop", typing).await;
    alice
        .expect_none("typing", Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn announcements_publications_and_disconnects_reach_other_nodes() {
    let (a, b) = cluster().await;
    let mut carol = b.connect("/realtime", "carol").await;
    carol
        .emit_ack("subscribe", json!({ "channels": ["public:news"] }))
        .await;
    let (status, _) = publish(&a, "public:news", json!("hello"), None).await;
    assert_eq!(status, 202);
    assert_eq!(carol.expect("event").await.data["data"], json!("hello"));
    let http = reqwest::Client::new();
    let body = json!({ "title": "t", "body": "b" });
    let res = http
        .post(a.url("/api/v1/announce"))
        .bearer_auth(a.admin_token())
        .json(&body)
        .send()
        .await
        .expect("res");
    assert_eq!(res.status().as_u16(), 202);
    assert_eq!(carol.expect("announcement").await.data["title"], json!("t"));
    let res = http
        .post(a.url("/api/v1/users/carol/disconnect"))
        .bearer_auth(a.admin_token())
        .send()
        .await
        .expect("res");
    assert_eq!(res.status().as_u16(), 200);
    carol.expect("disconnect").await;
}

#[tokio::test]
async fn notifications_reach_a_user_connected_to_another_node() {
    let (a, b, c) = trio().await;
    let mut dave = b.connect("/notifications", "dave").await;
    let mut daves_laptop = c.connect("/notifications", "dave").await;
    notify(&a, simple("dave", "from a", "high")).await;
    assert_eq!(
        dave.expect("notification").await.data["title"],
        json!("from a")
    );
    assert_eq!(
        daves_laptop.expect("notification").await.data["title"],
        json!("from a"),
        "both devices, each on its own node"
    );
    // Acked on node b: not pending any more, whichever node dave comes back to.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = a.connect("/notifications", "dave").await;
    again
        .expect_none("notification", Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn presence_devices_channels_and_status_span_the_nodes() {
    let (a, b) = cluster().await;
    let mut alice = a.connect("/realtime", "alice").await;
    alice
        .emit_ack("subscribe", json!({ "channels": ["public:room"] }))
        .await;
    alice
        .emit_ack("presence:watch", json!({ "userIds": ["bob"] }))
        .await;
    let bob_b = b.connect("/realtime", "bob").await;
    assert_eq!(
        alice.expect("presence").await.data["status"],
        json!("online")
    );
    let bob_a = a.connect("/ws", "bob").await;
    let got = alice
        .emit_ack("presence:get", json!({ "userIds": ["bob"] }))
        .await;
    assert_eq!(got["users"][0]["devices"], json!(2), "one socket per node");
    alice
        .expect_none("presence", Duration::from_millis(300))
        .await;
    bob_b
        .emit_ack("subscribe", json!({ "channels": ["public:room"] }))
        .await;
    assert_eq!(
        alice.expect("presence:join").await.data,
        json!({ "channel": "public:room", "userId": "bob" })
    );
    let members = alice
        .emit_ack("presence:members", json!({ "channel": "public:room" }))
        .await;
    let mut ids: Vec<&str> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["userId"].as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["alice", "bob"]);
    bob_b
        .emit_ack("presence:set", json!({ "status": "dnd" }))
        .await;
    assert_eq!(alice.expect("presence").await.data["status"], json!("dnd"));
    bob_b.disconnect();
    assert_eq!(
        alice.expect("presence:leave").await.data["userId"],
        json!("bob")
    );
    alice
        .expect_none("presence", Duration::from_millis(300))
        .await;
    bob_a.disconnect();
    assert_eq!(
        alice.expect("presence").await.data["status"],
        json!("offline"),
        "offline once the last socket, on the other node, closes"
    );
    alice
        .expect_none("presence", Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn readiness_reports_redis() {
    let (a, _b) = cluster().await;
    let body: serde_json::Value = reqwest::get(a.url("/health/ready"))
        .await
        .expect("res")
        .json()
        .await
        .expect("json");
    assert_eq!(body["redis"], json!("ok"));
}

#[tokio::test]
async fn channel_offsets_history_and_idempotency_are_shared_by_the_nodes() {
    let (a, b) = cluster().await;
    let (_, first) = publish(&a, "public:shared", json!(1), None).await;
    let (_, second) = publish(&b, "public:shared", json!(2), None).await;
    assert_eq!(
        (first["offset"].clone(), second["offset"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(
        first["epoch"], second["epoch"],
        "one epoch per channel across the cluster"
    );
    let (_, keyed) = publish(&a, "public:shared", json!(3), Some("once")).await;
    let (_, repeated) = publish(&b, "public:shared", json!(4), Some("once")).await;
    assert_eq!(keyed, repeated);
    // A subscriber of node b misses two publications made on node a, and recovers them on
    // node a.
    for n in [5, 6] {
        publish(&a, "public:shared", json!(n), None).await;
    }
    let back = a.connect("/realtime", "erin").await;
    let since = json!({ "public:shared": { "epoch": first["epoch"], "offset": 3 } });
    let ack = back
        .emit_ack(
            "subscribe",
            json!({ "channels": ["public:shared"], "since": since }),
        )
        .await;
    assert_eq!(ack["recovered"], json!({ "public:shared": true }));
    let offsets: Vec<serde_json::Value> = ack["missed"]["public:shared"]
        .as_array()
        .expect("missed")
        .iter()
        .map(|p| p["offset"].clone())
        .collect();
    assert_eq!(offsets, vec![json!(4), json!(5)]);
    let stale = json!({ "public:shared": { "epoch": "other", "offset": 1 } });
    let ack = back
        .emit_ack(
            "subscribe",
            json!({ "channels": ["public:shared"], "since": stale }),
        )
        .await;
    assert_eq!(ack["recovered"], json!({ "public:shared": false }));
}

#[tokio::test]
async fn shared_history_never_replays_part_of_a_gap() {
    let (a, b) = cluster_with(|s| s.history.size = 2).await;
    let (_, first) = publish(&a, "public:short", json!(1), None).await;
    for n in 2..=5 {
        publish(&a, "public:short", json!(n), None).await;
    }
    let late = b.connect("/realtime", "fay").await;
    let since = json!({ "public:short": { "epoch": first["epoch"], "offset": 1 } });
    let ack = late
        .emit_ack(
            "subscribe",
            json!({ "channels": ["public:short"], "since": since }),
        )
        .await;
    assert_eq!(
        (ack["recovered"].clone(), ack["missed"].clone()),
        (
            json!({ "public:short": false }),
            json!({ "public:short": [] })
        )
    );
    let since = json!({ "public:short": { "epoch": first["epoch"], "offset": 3 } });
    let ack = late
        .emit_ack(
            "subscribe",
            json!({ "channels": ["public:short"], "since": since }),
        )
        .await;
    assert_eq!(ack["recovered"], json!({ "public:short": true }));
    assert_eq!(
        ack["missed"]["public:short"].as_array().map(Vec::len),
        Some(2)
    );
}

/// A `redis-server` of the test's own on a free port, to stop and start at will.
#[tokio::test]
async fn a_redis_outage_keeps_same_node_delivery_and_cross_node_delivery_resumes() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    // Alice keeps sending until Redis is back: more than the rate limits' burst on a slow day.
    let (a, b) = cluster_with(move |s| {
        s.redis.url = Some(url);
        s.limits.mode = switchyard::config::RateLimits::Off;
    })
    .await;
    let alice = a.connect("/ws", "alice").await;
    let mut bob = a.connect("/ws", "bob").await;
    let mut carol = b.connect("/ws", "carol").await;
    let id = create(&alice, &["bob", "carol"]).await;
    carol.expect("conversation:new").await;
    redis.stop();
    send(&alice, &id, "during", "while Redis is down").await;
    assert_eq!(
        bob.expect("message:new").await.data["message"]["content"],
        json!("while Redis is down")
    );
    let ready = reqwest::get(a.url("/health/ready")).await.expect("res");
    assert_eq!(
        ready.status().as_u16(),
        200,
        "a node without Redis still serves: Redis is no part of readiness"
    );
    redis.resume();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut resumed = false;
    for n in 0.. {
        send(&alice, &id, &format!("after-{n}"), "after").await;
        if carol
            .within("message:new", Duration::from_millis(500))
            .await
            .is_some()
        {
            resumed = true;
            break;
        }
        if std::time::Instant::now() > deadline {
            break;
        }
    }
    assert!(resumed, "cross-node delivery resumed after Redis came back");
    let told = carol
        .within("server:draining", Duration::from_secs(10))
        .await;
    assert!(
        told.is_some(),
        "carol missed a message live and is told to resync"
    );
    let sync = carol
        .emit_ack("message:sync", json!({ "cursors": { id.clone(): 0 } }))
        .await;
    let contents: Vec<serde_json::Value> = sync["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(
        contents.first(),
        Some(&json!("while Redis is down")),
        "what carol missed live is in sync"
    );
}

#[tokio::test]
async fn senders_on_two_nodes_share_one_gapless_sequence() {
    // Many sends from one socket at once: a load test, not a client the limits are for.
    let (a, b) = cluster_with(|s| s.limits.mode = switchyard::config::RateLimits::Off).await;
    let alice = a.connect("/ws", "alice").await;
    let id = create(&alice, &["bob"]).await;
    let mut tasks = Vec::new();
    for (n, node) in [&a, &b, &a, &b].into_iter().enumerate() {
        let s = node
            .connect("/ws", if n % 2 == 0 { "alice" } else { "bob" })
            .await;
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..10 {
                let body = json!({ "conversationId": id, "clientMsgId": format!("n{n}-{i}"), "content": "x" });
                let ack = s.emit_ack("message:send", body).await;
                seqs.push(ack["message"]["seq"].as_i64().unwrap_or_else(|| panic!("{ack}")));
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("sender"));
    }
    all.sort();
    assert_eq!(all, (1..=40).collect::<Vec<i64>>());
}

#[tokio::test]
async fn two_push_workers_send_each_push_once() {
    let fcm = crate::support::fake_fcm::FakeFcm::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let key_file = fcm.write_service_account(dir.path()).display().to_string();
    let endpoint = fcm.base_url();
    let (a, b) = cluster_with(move |s| {
        s.push.fcm_credentials = Some(key_file);
        s.push.fcm_endpoint = Some(endpoint);
    })
    .await;
    let gus = b.connect("/notifications", "gus").await;
    for token in ["gus-1", "gus-2"] {
        gus.emit_ack(
            "device:register",
            json!({ "token": token, "platform": "android" }),
        )
        .await;
    }
    gus.disconnect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Enough at once that both workers' rounds overlap.
    let many = json!({ "userIds": ["gus"], "type": "t", "title": "x", "body": "" });
    let created = futures_util::future::join_all((0..40).map(|_| notify(&a, many.clone()))).await;
    assert!(created.iter().all(|(status, _)| *status == 202));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fcm.requests().len() < 80 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut sent: Vec<(String, String)> = fcm
        .requests()
        .iter()
        .map(|r| {
            (
                r.body["message"]["data"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                r.token.clone(),
            )
        })
        .collect();
    let total = sent.len();
    sent.sort();
    sent.dedup();
    assert_eq!(
        (total, sent.len()),
        (80, 80),
        "forty notifications to two devices, each pushed once"
    );
}

/// A gateway node as a real process, to be killed with SIGKILL or SIGTERM.
struct ProcessNode {
    gateway: Gateway,
}

impl ProcessNode {
    fn spawn(settings: &switchyard::config::Settings) -> Self {
        Self::spawn_with(settings, &[])
    }

    /// A node of the same cluster as `settings`, with `extra` environment variables.
    fn spawn_with(settings: &switchyard::config::Settings, extra: &[(&str, &str)]) -> Self {
        let mut env: Vec<(&str, String)> = vec![
            ("SWITCHYARD_DATABASE_URL", settings.database.url.clone()),
            (
                "SWITCHYARD_REDIS_URL",
                settings.redis.url.clone().unwrap_or_default(),
            ),
            ("SWITCHYARD_REDIS_PREFIX", settings.redis.prefix.clone()),
            (
                "SWITCHYARD_PRESENCE_TTL_SECS",
                settings.presence.ttl.as_secs().to_string(),
            ),
            (
                "SWITCHYARD_JWT_SECRET",
                settings.auth.jwt_secret.clone().unwrap_or_default(),
            ),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        Self {
            gateway: Gateway::spawn(&env, listening_addr),
        }
    }

    async fn connect(&self, app: &TestApp, ns: &str, user: &str) -> crate::support::SioClient {
        let opts = crate::support::Connect {
            auth: Some(json!({ "token": app.token(user) })),
            ..Default::default()
        };
        crate::support::SioClient::connect(&self.gateway.addr, ns, opts)
            .await
            .expect("connects")
    }
}

/// Presence TTL of the SIGKILL test: short, so the test waits seconds, not half a minute.
const SHORT_PRESENCE_TTL: Duration = Duration::from_secs(3);

#[tokio::test]
async fn after_a_sigkill_clients_recover_on_another_node_without_gaps_or_duplicates() {
    let (survivor, _other) = cluster_with(|s| s.presence.ttl = SHORT_PRESENCE_TTL).await;
    let mut doomed = ProcessNode::spawn(&survivor.settings);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut watcher = survivor.connect("/realtime", "erin").await;
    let carol = survivor.connect("/ws", "carol").await;
    let conversation = create(&carol, &["bob"]).await;
    let mut bob_feed = doomed.connect(&survivor, "/realtime", "bob").await;
    let mut bob_chat = doomed.connect(&survivor, "/ws", "bob").await;
    bob_feed
        .emit_ack("subscribe", json!({ "channels": ["public:feed"] }))
        .await;
    let (mut seen_offset, mut seen_seq, mut epoch) = (0, 0, json!(null));
    for n in 1..=3 {
        publish(&survivor, "public:feed", json!(n), None).await;
        send(&carol, &conversation, &format!("before-{n}"), "before").await;
        let event = bob_feed.expect("event").await.data;
        (seen_offset, epoch) = (
            event["offset"].as_u64().expect("offset"),
            event["epoch"].clone(),
        );
        seen_seq = bob_chat.expect("message:new").await.data["message"]["seq"]
            .as_i64()
            .expect("seq");
    }
    assert_eq!((seen_offset, seen_seq), (3, 3));
    let watched = watcher
        .emit_ack("presence:watch", json!({ "userIds": ["bob"] }))
        .await;
    assert_eq!(watched["users"][0]["status"], json!("online"));
    assert_eq!(watched["users"][0]["devices"], json!(2));
    doomed.gateway.kill();
    // Within the TTL, plus slack for a loaded machine.
    let offline = watcher
        .within("presence", SHORT_PRESENCE_TTL + Duration::from_secs(2))
        .await
        .expect("bob shown offline after his node died");
    assert_eq!(offline.data["status"], json!("offline"));
    for n in 4..=6 {
        publish(&survivor, "public:feed", json!(n), None).await;
        send(&carol, &conversation, &format!("after-{n}"), "after").await;
    }
    let feed = survivor.connect("/realtime", "bob").await;
    let since = json!({ "public:feed": { "epoch": epoch, "offset": seen_offset } });
    let ack = feed
        .emit_ack(
            "subscribe",
            json!({ "channels": ["public:feed"], "since": since }),
        )
        .await;
    assert_eq!(ack["recovered"], json!({ "public:feed": true }));
    let offsets: Vec<u64> = ack["missed"]["public:feed"]
        .as_array()
        .expect("missed")
        .iter()
        .filter_map(|p| p["offset"].as_u64())
        .collect();
    assert_eq!(
        offsets,
        vec![4, 5, 6],
        "every missed publication once, in order"
    );
    let chat = survivor.connect("/ws", "bob").await;
    let sync = chat
        .emit_ack(
            "message:sync",
            json!({ "cursors": { conversation.clone(): seen_seq } }),
        )
        .await;
    let seqs: Vec<i64> = sync["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["seq"].as_i64())
        .collect();
    assert_eq!(seqs, vec![4, 5, 6], "every missed message once, in order");
}
