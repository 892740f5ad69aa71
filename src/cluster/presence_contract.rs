//! The presence rules every registry must keep, run against the memory one and the Redis
//! one through the namespaces' `Presence` service, on a clock the test moves by hand.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_namespaces::ports::{ChannelStats, ChosenStatus, Clock, PresenceRegistry};
use switchyard_namespaces::presence::{
    Presence, PresenceConfig, PresenceEvent, PresenceSink, Status,
};

/// A clock that moves only when told.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(1_700_000_000_000)))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Records what presence tells, one line per call.
#[derive(Default)]
pub struct Recorder {
    told: Mutex<Vec<String>>,
}

impl PresenceSink for Recorder {
    fn status_changed(&self, event: PresenceEvent, channels: Vec<String>) {
        let status = event.status.as_str();
        self.push(format!("{}={status} via {channels:?}", event.user_id));
    }
    fn channel_joined(&self, channel: &str, user_id: &str) {
        self.push(format!("join {channel} {user_id}"));
    }
    fn channel_left(&self, channel: &str, user_id: &str) {
        self.push(format!("leave {channel} {user_id}"));
    }
}

impl Recorder {
    fn push(&self, line: String) {
        self.told.lock().expect("lock").push(line);
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.told.lock().expect("lock"))
    }
}

/// What a living node does in the background to keep its sockets counted (a registry
/// with expiring entries refreshes them); nothing for one that never expires them.
#[async_trait::async_trait]
pub trait Heartbeat: Send + Sync {
    async fn beat(&self);
}

/// One node's presence over `registry`.
pub struct Node {
    pub presence: Presence,
    pub told: Arc<Recorder>,
    pub registry: Arc<dyn PresenceRegistry>,
    heartbeat: Option<Arc<dyn Heartbeat>>,
    clock: Arc<ManualClock>,
}

impl Node {
    pub fn new(registry: Arc<dyn PresenceRegistry>, clock: Arc<ManualClock>) -> Self {
        let presence = Presence::new(registry.clone(), clock.clone(), PresenceConfig::default());
        let told = Arc::new(Recorder::default());
        presence.set_sink(told.clone());
        Self {
            presence,
            told,
            registry,
            heartbeat: None,
            clock,
        }
    }

    /// The same node, its presence told only in channels of at most `channel_limit`
    /// sockets (PresenceConfig::channel_limit).
    pub fn with_channel_limit(mut self, channel_limit: usize) -> Self {
        let config = PresenceConfig {
            channel_limit,
            ..PresenceConfig::default()
        };
        self.presence = Presence::new(self.registry.clone(), self.clock.clone(), config);
        self.presence.set_sink(self.told.clone());
        self
    }

    pub fn with_heartbeat(mut self, heartbeat: Arc<dyn Heartbeat>) -> Self {
        self.heartbeat = Some(heartbeat);
        self
    }

    /// Lets `span` pass on `clock` as a living node would: beating every 5 s.
    pub async fn live_through(&self, clock: &ManualClock, span: Duration) {
        let step = Duration::from_secs(5);
        let mut left = span;
        while !left.is_zero() {
            let by = left.min(step);
            clock.advance(by);
            left -= by;
            if let Some(heartbeat) = &self.heartbeat {
                heartbeat.beat().await;
            }
        }
    }

    /// Opens a socket the way a namespace does, without a real socket.
    pub async fn open(&self, user: &str, sid: &str) {
        let now = self.presence.now();
        if self.registry.socket_opened(user, sid, now).await.flipped {
            self.presence.sweep().await;
        }
    }

    pub async fn status(&self, user: &str) -> Status {
        self.presence.views(&[user.to_owned()]).await[0].status
    }
}

pub async fn two_sockets_one_user_online_until_the_last_closes(n: Node) {
    n.open("alice", "s1").await;
    n.open("alice", "s2").await;
    assert_eq!(n.told.take(), vec!["alice=online via []"]);
    assert_eq!(n.presence.views(&["alice".into()]).await[0].devices, 2);
    n.presence.socket_closed("alice", "s1").await;
    assert_eq!(n.status("alice").await, Status::Online);
    assert!(n.told.take().is_empty(), "one tab closing changes nothing");
    n.presence.socket_closed("alice", "s2").await;
    let view = &n.presence.views(&["alice".into()]).await[0];
    assert_eq!((view.status, view.devices), (Status::Offline, 0));
    assert!(view.last_seen.is_some());
    assert_eq!(n.told.take(), vec!["alice=offline via []"]);
}

pub async fn idle_after_five_minutes_away_after_fifteen_back_on_activity(
    n: Node,
    clock: &ManualClock,
) {
    n.open("alice", "s1").await;
    n.told.take();
    n.live_through(clock, Duration::from_secs(299)).await;
    n.presence.sweep().await;
    assert_eq!(n.status("alice").await, Status::Online);
    n.live_through(clock, Duration::from_secs(2)).await;
    n.presence.sweep().await;
    assert_eq!(n.told.take(), vec!["alice=idle via []"]);
    n.live_through(clock, Duration::from_secs(600)).await;
    n.presence.sweep().await;
    assert_eq!(n.told.take(), vec!["alice=away via []"]);
    n.presence.touch("alice").await;
    assert_eq!(
        n.told.take(),
        vec!["alice=online via []"],
        "activity brings her back at once"
    );
}

pub async fn invisible_shows_offline_and_hides_devices_and_message(n: Node) {
    n.open("alice", "s1").await;
    let p = &n.presence;
    p.set_status("alice", ChosenStatus::Dnd, Some("focus".into()))
        .await;
    let view = &p.views(&["alice".into()]).await[0];
    assert_eq!(
        (view.status, view.message.as_deref()),
        (Status::Dnd, Some("focus"))
    );
    p.set_status("alice", ChosenStatus::Invisible, Some("secret".into()))
        .await;
    let view = &p.views(&["alice".into()]).await[0];
    assert_eq!(
        (view.status, view.message.clone(), view.devices),
        (Status::Offline, None, 0)
    );
    assert_eq!(
        n.told.take(),
        vec![
            "alice=online via []",
            "alice=dnd via []",
            "alice=offline via []"
        ]
    );
    p.join("public:a", "alice", "s1").await;
    assert!(
        n.told.take().is_empty(),
        "joining while invisible tells nobody"
    );
}

pub async fn channel_join_and_leave_are_per_user_not_per_tab(n: Node) {
    n.open("bob", "b1").await;
    n.open("bob", "b2").await;
    n.told.take();
    let p = &n.presence;
    p.join("public:a", "bob", "b1").await;
    p.join("public:a", "bob", "b2").await;
    assert_eq!(n.told.take(), vec!["join public:a bob"]);
    assert_eq!(n.registry.members("public:a").await, vec!["bob"]);
    p.leave("public:a", "bob", "b1").await;
    assert!(n.told.take().is_empty());
    p.socket_closed("bob", "b2").await;
    assert_eq!(
        n.told.take(),
        vec!["leave public:a bob"],
        "b1 is still open: bob stays online"
    );
    assert!(n.registry.members("public:a").await.is_empty());
}

pub async fn going_offline_is_told_to_the_channels_the_user_was_in(n: Node) {
    n.open("bob", "b1").await;
    n.presence.join("public:a", "bob", "b1").await;
    n.told.take();
    n.presence.socket_closed("bob", "b1").await;
    assert_eq!(
        n.told.take(),
        vec!["leave public:a bob", "bob=offline via [\"public:a\"]"]
    );
}

pub async fn channels_beyond_the_limit_are_not_told_presence(n: Node) {
    let n = n.with_channel_limit(2);
    let p = &n.presence;
    for (user, sid) in [("ann", "a1"), ("bob", "b1"), ("cal", "c1"), ("dee", "d1")] {
        n.open(user, sid).await;
    }
    n.told.take();
    p.join("public:big", "ann", "a1").await;
    p.join("public:big", "bob", "b1").await;
    assert_eq!(
        n.told.take(),
        ["join public:big ann", "join public:big bob"]
    );
    p.join("public:big", "cal", "c1").await;
    p.join("public:big", "dee", "d1").await;
    p.join("public:small", "dee", "d1").await;
    assert_eq!(
        n.told.take(),
        ["join public:small dee"],
        "the third and fourth sockets pass the limit of 2; the limit is per channel"
    );
    assert_eq!(n.registry.subscribers("public:big").await, Some(4));
    p.socket_closed("dee", "d1").await;
    assert_eq!(
        n.told.take(),
        [
            "leave public:small dee",
            "dee=offline via [\"public:small\"]"
        ],
        "public:big, still over the limit, hears neither the leave nor the status"
    );
    p.leave("public:big", "cal", "c1").await;
    assert!(
        n.told.take().is_empty(),
        "cal's leave is judged as her join was"
    );
    p.leave("public:big", "bob", "b1").await;
    assert_eq!(n.told.take(), ["leave public:big bob"]);
    assert_eq!(n.registry.subscribers("public:big").await, Some(1));
}

pub async fn channel_stats_count_users_and_sockets(n: Node) {
    let p = &n.presence;
    for (user, sid) in [("ann", "a1"), ("ann", "a2"), ("bob", "b1")] {
        n.open(user, sid).await;
        p.join("public:s", user, sid).await;
    }
    let stats = |users, sockets| ChannelStats { users, sockets };
    assert_eq!(n.registry.stats("public:s").await, stats(2, 3));
    p.leave("public:s", "ann", "a2").await;
    assert_eq!(n.registry.stats("public:s").await, stats(2, 2));
    p.socket_closed("bob", "b1").await;
    assert_eq!(n.registry.stats("public:s").await, stats(1, 1));
    assert_eq!(n.registry.stats("public:none").await, stats(0, 0));
}

pub async fn unknown_users_are_offline_with_no_last_seen(n: Node) {
    let view = &n.presence.views(&["ghost".into()]).await[0];
    assert_eq!(
        (view.status, view.last_seen, view.devices),
        (Status::Offline, None, 0)
    );
}

pub async fn a_draining_node_forgets_its_sockets_and_tells_others_once(n: Node) {
    n.open("alice", "a1").await;
    n.presence.join("public:a", "alice", "a1").await;
    n.open("carol", "c1").await;
    n.open("carol", "c2").await;
    n.told.take();
    assert_eq!(n.presence.close_local_sockets().await, 3);
    let mut told = n.told.take();
    told.sort();
    assert_eq!(
        told,
        vec![
            "alice=offline via [\"public:a\"]",
            "carol=offline via []",
            "leave public:a alice",
        ]
    );
    assert!(n.registry.local_sockets().is_empty());
    assert!(n.registry.members("public:a").await.is_empty());
    // The socket's own disconnect handler, if it still runs, changes nothing.
    n.presence.socket_closed("alice", "a1").await;
    assert!(n.told.take().is_empty());
    assert_eq!(n.status("alice").await, Status::Offline);
}

/// Runs every scenario above on fresh registries made by `fresh`.
#[macro_export]
macro_rules! presence_contract {
    ($fresh:expr) => {
        use $crate::cluster::presence_contract as contract;

        async fn node() -> (contract::Node, std::sync::Arc<contract::ManualClock>) {
            let clock = contract::ManualClock::new();
            let (registry, heartbeat) = $fresh(clock.clone()).await;
            let mut node = contract::Node::new(registry, clock.clone());
            if let Some(heartbeat) = heartbeat {
                node = node.with_heartbeat(heartbeat);
            }
            (node, clock)
        }

        #[tokio::test]
        async fn two_sockets_one_user_online_until_the_last_closes() {
            contract::two_sockets_one_user_online_until_the_last_closes(node().await.0).await;
        }

        #[tokio::test]
        async fn idle_after_five_minutes_away_after_fifteen_back_on_activity() {
            let (n, clock) = node().await;
            contract::idle_after_five_minutes_away_after_fifteen_back_on_activity(n, &clock).await;
        }

        #[tokio::test]
        async fn invisible_shows_offline_and_hides_devices_and_message() {
            contract::invisible_shows_offline_and_hides_devices_and_message(node().await.0).await;
        }

        #[tokio::test]
        async fn channel_join_and_leave_are_per_user_not_per_tab() {
            contract::channel_join_and_leave_are_per_user_not_per_tab(node().await.0).await;
        }

        #[tokio::test]
        async fn going_offline_is_told_to_the_channels_the_user_was_in() {
            contract::going_offline_is_told_to_the_channels_the_user_was_in(node().await.0).await;
        }

        #[tokio::test]
        async fn channels_beyond_the_limit_are_not_told_presence() {
            contract::channels_beyond_the_limit_are_not_told_presence(node().await.0).await;
        }

        #[tokio::test]
        async fn a_draining_node_forgets_its_sockets_and_tells_others_once() {
            contract::a_draining_node_forgets_its_sockets_and_tells_others_once(node().await.0)
                .await;
        }

        #[tokio::test]
        async fn channel_stats_count_users_and_sockets() {
            contract::channel_stats_count_users_and_sockets(node().await.0).await;
        }

        #[tokio::test]
        async fn unknown_users_are_offline_with_no_last_seen() {
            contract::unknown_users_are_offline_with_no_last_seen(node().await.0).await;
        }
    };
}
