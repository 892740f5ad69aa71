//! Redis presence against the machine's Redis (`SWITCHYARD_TEST_REDIS_URL`, default
//! 127.0.0.1:6379), each test under its own key prefix: the shared presence rules, then
//! what only a cluster has, several nodes and a node that dies.

use std::sync::Arc;
use std::time::Duration;

use switchyard_namespaces::ports::PresenceRegistry;
use switchyard_namespaces::presence::Status;

use super::{PresenceTtl, RedisPresence};
use crate::cluster::link::RedisLink;
use crate::cluster::presence_contract::{Heartbeat, ManualClock, Node};

const TTL: PresenceTtl = PresenceTtl {
    ttl: Duration::from_secs(30),
};

/// A registry with a key prefix of its own, and the client it uses.
async fn fresh(clock: Arc<ManualClock>) -> (Arc<RedisPresence>, fred::prelude::Client) {
    let (client, prefix) = crate::cluster::test_redis().await;
    let registry = RedisPresence::new(client.clone(), &prefix, TTL, clock, RedisLink::default());
    (Arc::new(registry), client)
}

#[async_trait::async_trait]
impl Heartbeat for RedisPresence {
    async fn beat(&self) {
        self.refresh().await;
    }
}

crate::presence_contract!(async |clock: Arc<contract::ManualClock>| {
    let (registry, _) = fresh(clock).await;
    let heartbeat: Arc<dyn Heartbeat> = registry.clone();
    (registry as Arc<dyn PresenceRegistry>, Some(heartbeat))
});

/// Two nodes on one prefix and one clock, each refreshing its entries as it lives.
async fn two_nodes() -> (Node, Node, Arc<RedisPresence>, Arc<ManualClock>) {
    let clock = ManualClock::new();
    let (a, client) = fresh(clock.clone()).await;
    let prefix = a.prefix.trim_end_matches(":pr").to_owned();
    let b = Arc::new(RedisPresence::new(
        client,
        &prefix,
        TTL,
        clock.clone(),
        RedisLink::default(),
    ));
    (
        Node::new(a.clone(), clock.clone()).with_heartbeat(a.clone()),
        Node::new(b.clone(), clock.clone()).with_heartbeat(b),
        a,
        clock,
    )
}

#[tokio::test]
async fn sockets_on_two_nodes_are_one_user_told_once() {
    let (a, b, _, _) = two_nodes().await;
    a.open("carol", "a1").await;
    b.open("carol", "b1").await;
    assert_eq!(b.presence.views(&["carol".into()]).await[0].devices, 2);
    assert_eq!(a.told.take(), vec!["carol=online via []"]);
    assert!(
        b.told.take().is_empty(),
        "B's first socket is not carol's first"
    );
    b.presence.join("public:x", "carol", "b1").await;
    a.presence.join("public:x", "carol", "a1").await;
    assert_eq!(b.told.take(), vec!["join public:x carol"]);
    assert!(a.told.take().is_empty(), "carol was already in public:x");
    assert_eq!(a.registry.members("public:x").await, vec!["carol"]);
    a.presence.socket_closed("carol", "a1").await;
    assert!(
        a.told.take().is_empty(),
        "her socket on B keeps her online and in"
    );
    b.presence.socket_closed("carol", "b1").await;
    assert_eq!(
        b.told.take(),
        vec!["leave public:x carol", "carol=offline via [\"public:x\"]"]
    );
}

#[tokio::test]
async fn a_dead_nodes_users_go_offline_within_the_ttl_and_only_once() {
    let (a, b, _, clock) = two_nodes().await;
    a.open("dave", "a1").await;
    a.presence.join("public:y", "dave", "a1").await;
    a.told.take();
    drop(a); // node A dies: nothing closes its socket, nothing refreshes it.
    clock.advance(TTL.ttl - TTL.reap_every() - Duration::from_millis(1));
    b.presence.sweep().await;
    assert_eq!(b.status("dave").await, Status::Online, "not yet expired");
    assert!(b.told.take().is_empty());
    clock.advance(Duration::from_millis(2));
    b.presence.sweep().await;
    assert_eq!(
        b.told.take(),
        vec!["leave public:y dave", "dave=offline via [\"public:y\"]"]
    );
    assert_eq!(b.status("dave").await, Status::Offline);
    assert!(b.registry.members("public:y").await.is_empty());
    b.presence.sweep().await;
    assert!(b.told.take().is_empty(), "told once");
}

#[tokio::test]
async fn a_living_node_keeps_its_sockets_past_the_ttl_by_refreshing() {
    let (a, b, a_registry, clock) = two_nodes().await;
    a.open("erin", "a1").await;
    for _ in 0..6 {
        clock.advance(TTL.refresh_every());
        a_registry.refresh().await;
        b.presence.sweep().await;
    }
    assert_eq!(b.presence.views(&["erin".into()]).await[0].devices, 1);
    assert!(b.told.take().is_empty());
}

#[tokio::test]
async fn refreshing_restores_entries_redis_lost() {
    let (a, b, a_registry, _) = two_nodes().await;
    a.open("fay", "a1").await;
    a.presence.join("public:z", "fay", "a1").await;
    // What a Redis restart loses: every key of fay's, the channel index, the online index.
    let mut keys = a_registry.user_keys("fay");
    keys.push(a_registry.channel_key("public:z"));
    keys.push(a_registry.online_key());
    {
        use fred::prelude::KeysInterface;
        let deleted: i64 = a_registry.client.del(keys).await.expect("del");
        assert_eq!(deleted, 5, "every key existed");
    }
    assert_eq!(b.status("fay").await, Status::Offline, "Redis forgot fay");
    a_registry.refresh().await;
    assert_eq!(b.status("fay").await, Status::Online);
    assert_eq!(b.registry.members("public:z").await, vec!["fay"]);
}

/// A channel whose size cannot be read (here its key holds the wrong type, as a Redis
/// past its deadline fails the count) is not told joins: taken for empty, it told every
/// subscriber of the biggest channels every join and leave when Redis was slowest.
#[tokio::test]
async fn a_channel_that_cannot_be_counted_is_not_told_joins() {
    let clock = ManualClock::new();
    let (registry, client) = fresh(clock.clone()).await;
    let node = Node::new(registry.clone(), clock);
    let key = registry.channel_key("public:big");
    let () =
        fred::interfaces::KeysInterface::set(&client, &key, "not a sorted set", None, None, false)
            .await
            .expect("set");
    node.open("ann", "a1").await;
    node.told.take();
    node.presence.join("public:big", "ann", "a1").await;
    assert_eq!(registry.subscribers("public:big").await, None);
    assert!(
        node.told.take().is_empty(),
        "no join told in an uncounted channel"
    );
    // Countable again (the key gone), it is small and told.
    let _: i64 = fred::interfaces::KeysInterface::del(&client, &key)
        .await
        .expect("del");
    node.open("bob", "b1").await;
    node.told.take();
    node.presence.join("public:big", "bob", "b1").await;
    assert_eq!(node.told.take(), ["join public:big bob"]);
}

/// A session recovered on node B keeps its socket id; node A sees its old socket drop
/// only later (at the ping timeout). That late close is A's alone: the user stays online
/// and in her channels through B's socket, and nobody is told she left.
#[tokio::test]
async fn a_late_close_on_the_old_node_leaves_the_same_socket_id_resumed_elsewhere() {
    let (a, b, _, _) = two_nodes().await;
    a.open("gina", "s1").await;
    a.presence.join("public:w", "gina", "s1").await;
    a.told.take();
    b.open("gina", "s1").await;
    b.presence.join("public:w", "gina", "s1").await;
    assert!(b.told.take().is_empty(), "gina was online and in public:w");
    a.presence.socket_closed("gina", "s1").await;
    assert!(
        a.told.take().is_empty(),
        "B's socket keeps her online and in"
    );
    assert_eq!(b.status("gina").await, Status::Online);
    assert_eq!(b.presence.views(&["gina".into()]).await[0].devices, 1);
    assert_eq!(b.registry.members("public:w").await, vec!["gina"]);
    assert_eq!(b.registry.channels_of_user("gina").await, vec!["public:w"]);
    b.presence.socket_closed("gina", "s1").await;
    assert_eq!(
        b.told.take(),
        vec!["leave public:w gina", "gina=offline via [\"public:w\"]"]
    );
}

/// Hana's phone on node A was in a channel her laptop on node B is not in. A dies: the
/// sweeps never look at hana (B keeps her listed online), but B's refresh drops the
/// phone's expired entries, and B's next sweep tells the channel she left, once, while she
/// stays online.
#[tokio::test]
async fn a_user_online_elsewhere_leaves_the_channels_of_a_dead_nodes_sockets() {
    let (a, b, _, clock) = two_nodes().await;
    a.open("hana", "a1").await;
    a.presence.join("public:v", "hana", "a1").await;
    b.open("hana", "b1").await;
    a.told.take();
    b.told.take();
    drop(a); // node A dies: nothing closes its socket, nothing refreshes it.
    b.live_through(&clock, TTL.ttl).await;
    b.presence.sweep().await;
    assert_eq!(b.told.take(), vec!["leave public:v hana"]);
    assert_eq!(b.status("hana").await, Status::Online);
    assert!(b.registry.members("public:v").await.is_empty());
    b.live_through(&clock, TTL.ttl).await;
    b.presence.sweep().await;
    assert!(b.told.take().is_empty(), "told once");
}
