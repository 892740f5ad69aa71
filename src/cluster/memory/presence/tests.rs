//! The presence rules on the memory registry, plus what only one node in memory does:
//! the sweeper under tokio's paused time, and forgetting users offline for a day.

use std::sync::Arc;
use std::time::Duration;

use switchyard_namespaces::ports::{Clock, PresenceRegistry, SystemClock};
use switchyard_namespaces::presence::{Presence, PresenceConfig, Status};

use super::MemoryPresence;
use crate::cluster::presence_contract::Recorder;

crate::presence_contract!(async |_clock: Arc<contract::ManualClock>| {
    let registry: Arc<dyn PresenceRegistry> = Arc::new(MemoryPresence::default());
    (registry, None::<Arc<dyn contract::Heartbeat>>)
});

fn presence() -> (Presence, Arc<Recorder>, Arc<MemoryPresence>) {
    let registry = Arc::new(MemoryPresence::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let p = Presence::new(registry.clone(), clock, PresenceConfig::default());
    let recorder = Arc::new(Recorder::default());
    p.set_sink(recorder.clone());
    (p, recorder, registry)
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_tells_idle_without_any_call() {
    let (p, told, registry) = presence();
    registry.socket_opened("alice", "s1", p.now()).await;
    tokio::spawn(p.clone().run_sweeper());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(told.take(), vec!["alice=online via []"]);
    tokio::time::sleep(Duration::from_secs(320)).await;
    assert_eq!(told.take(), vec!["alice=idle via []"]);
}

#[tokio::test(start_paused = true)]
async fn users_offline_for_a_day_are_forgotten() {
    let (p, _told, registry) = presence();
    registry.socket_opened("old", "o1", p.now()).await;
    registry.socket_opened("stays", "s1", p.now()).await;
    p.socket_closed("old", "o1").await;
    tokio::time::advance(Duration::from_secs(23 * 3600)).await;
    p.sweep().await;
    let last_seen = |p: Presence| async move { p.views(&["old".into()]).await[0].last_seen };
    assert!(last_seen(p.clone()).await.is_some(), "kept within a day");
    tokio::time::advance(Duration::from_secs(2 * 3600)).await;
    p.sweep().await;
    assert_eq!(last_seen(p.clone()).await, None, "forgotten after a day");
    let stays = &p.views(&["stays".into()]).await[0];
    assert_eq!(
        (stays.devices, stays.status),
        (1, Status::Away),
        "online users are never forgotten"
    );
}

/// Issue 18: a socket's subscriptions are given back when it closes, however many.
#[tokio::test]
async fn a_closed_socket_leaves_nothing_behind_but_its_users_last_seen() {
    let (p, _told, registry) = presence();
    let me = "many";
    registry.socket_opened(me, "s1", p.now()).await;
    registry.socket_opened(me, "s2", p.now()).await;
    for i in 0..500 {
        p.join(&format!("public:{i}"), me, "s1").await;
    }
    p.join("public:0", me, "s2").await;
    assert_eq!(registry.entries(), [1, 500, 2, 501]);
    assert_eq!(registry.local_subscriptions(), 501);
    p.socket_closed(me, "s1").await;
    assert_eq!(registry.entries(), [1, 1, 1, 1]);
    p.socket_closed(me, "s2").await;
    assert_eq!(
        registry.entries(),
        [1, 0, 0, 0],
        "only the user's lastSeen is kept"
    );
    assert_eq!(registry.local_subscriptions(), 0);
}
