//! The presence rules end to end in memory: the registry plus the namespaces' `Presence`
//! service, with tokio time paused so minutes pass instantly.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_namespaces::ports::{ChosenStatus, PresenceRegistry, SystemClock};
use switchyard_namespaces::presence::{
    Presence, PresenceConfig, PresenceEvent, PresenceSink, Status,
};

use super::MemoryPresence;

#[derive(Default)]
struct Recorder {
    told: Mutex<Vec<String>>,
}

impl PresenceSink for Recorder {
    fn status_changed(&self, event: PresenceEvent, channels: Vec<String>) {
        let status = serde_json::to_value(event.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        self.push(format!(
            "{}={} via {:?}",
            event.user_id,
            status.unwrap_or_default(),
            channels
        ));
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
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.told.lock().expect("lock"))
    }
}

fn presence() -> (Presence, Arc<Recorder>, Arc<MemoryPresence>) {
    let registry = Arc::new(MemoryPresence::default());
    let p = Presence::new(
        registry.clone(),
        Arc::new(SystemClock::new()),
        PresenceConfig::default(),
    );
    let recorder = Arc::new(Recorder::default());
    p.set_sink(recorder.clone());
    (p, recorder, registry)
}

/// Opens a socket the way a namespace does, without a real socket.
fn open(p: &Presence, registry: &MemoryPresence, user: &str, sid: &str) {
    if registry.socket_opened(user, sid, p.now()) {
        p.sweep();
    }
}

fn status(p: &Presence, user: &str) -> Status {
    p.views(&[user.to_owned()])[0].status
}

#[tokio::test(start_paused = true)]
async fn two_sockets_one_user_online_until_the_last_closes() {
    let (p, told, registry) = presence();
    open(&p, &registry, "alice", "s1");
    open(&p, &registry, "alice", "s2");
    assert_eq!(told.take(), vec!["alice=online via []"]);
    assert_eq!(p.views(&["alice".into()])[0].devices, 2);
    p.socket_closed("alice", "s1");
    assert_eq!(status(&p, "alice"), Status::Online);
    assert!(told.take().is_empty(), "one tab closing changes nothing");
    p.socket_closed("alice", "s2");
    let view = &p.views(&["alice".into()])[0];
    assert_eq!((view.status, view.devices), (Status::Offline, 0));
    assert!(view.last_seen.is_some());
    assert_eq!(told.take(), vec!["alice=offline via []"]);
}

#[tokio::test(start_paused = true)]
async fn idle_after_five_minutes_away_after_fifteen_back_on_activity() {
    let (p, told, registry) = presence();
    open(&p, &registry, "alice", "s1");
    told.take();
    tokio::time::advance(Duration::from_secs(299)).await;
    p.sweep();
    assert_eq!(status(&p, "alice"), Status::Online);
    tokio::time::advance(Duration::from_secs(2)).await;
    p.sweep();
    assert_eq!(told.take(), vec!["alice=idle via []"]);
    tokio::time::advance(Duration::from_secs(600)).await;
    p.sweep();
    assert_eq!(told.take(), vec!["alice=away via []"]);
    p.touch("alice");
    assert_eq!(
        told.take(),
        vec!["alice=online via []"],
        "activity brings her back at once"
    );
}

#[tokio::test(start_paused = true)]
async fn the_sweeper_tells_idle_without_any_call() {
    let (p, told, registry) = presence();
    open(&p, &registry, "alice", "s1");
    told.take();
    tokio::spawn(p.clone().run_sweeper());
    tokio::time::sleep(Duration::from_secs(320)).await;
    assert_eq!(told.take(), vec!["alice=idle via []"]);
}

#[tokio::test(start_paused = true)]
async fn invisible_shows_offline_and_hides_devices_and_message() {
    let (p, told, registry) = presence();
    open(&p, &registry, "alice", "s1");
    p.set_status("alice", ChosenStatus::Dnd, Some("focus".into()));
    let view = &p.views(&["alice".into()])[0];
    assert_eq!(
        (view.status, view.message.as_deref()),
        (Status::Dnd, Some("focus"))
    );
    p.set_status("alice", ChosenStatus::Invisible, Some("secret".into()));
    let view = &p.views(&["alice".into()])[0];
    assert_eq!(
        (view.status, view.message.clone(), view.devices),
        (Status::Offline, None, 0)
    );
    assert_eq!(
        told.take(),
        vec![
            "alice=online via []",
            "alice=dnd via []",
            "alice=offline via []"
        ]
    );
    // Joining a channel while invisible tells nobody.
    p.join("public:a", "alice", "s1");
    assert!(told.take().is_empty());
}

#[tokio::test(start_paused = true)]
async fn channel_join_and_leave_are_per_user_not_per_tab() {
    let (p, told, registry) = presence();
    open(&p, &registry, "bob", "b1");
    open(&p, &registry, "bob", "b2");
    told.take();
    p.join("public:a", "bob", "b1");
    p.join("public:a", "bob", "b2");
    assert_eq!(told.take(), vec!["join public:a bob"]);
    assert_eq!(registry.members("public:a"), vec!["bob"]);
    p.leave("public:a", "bob", "b1");
    assert!(told.take().is_empty());
    p.socket_closed("bob", "b2");
    assert_eq!(
        told.take(),
        vec!["leave public:a bob"],
        "b1 is still open: bob stays online"
    );
    assert!(registry.members("public:a").is_empty());
}

#[tokio::test(start_paused = true)]
async fn going_offline_is_told_to_the_channels_the_user_was_in() {
    let (p, told, registry) = presence();
    open(&p, &registry, "bob", "b1");
    p.join("public:a", "bob", "b1");
    told.take();
    p.socket_closed("bob", "b1");
    assert_eq!(
        told.take(),
        vec!["leave public:a bob", "bob=offline via [\"public:a\"]"]
    );
}

#[test]
fn unknown_users_are_offline_with_no_last_seen() {
    let registry = Arc::new(MemoryPresence::default());
    let p = Presence::new(
        registry,
        Arc::new(SystemClock::new()),
        PresenceConfig::default(),
    );
    let view = &p.views(&["ghost".into()])[0];
    assert_eq!(
        (view.status, view.last_seen, view.devices),
        (Status::Offline, None, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn users_offline_for_a_day_are_forgotten() {
    let (p, _told, registry) = presence();
    open(&p, &registry, "old", "o1");
    open(&p, &registry, "stays", "s1");
    p.socket_closed("old", "o1");
    tokio::time::advance(Duration::from_secs(23 * 3600)).await;
    p.sweep();
    assert!(
        p.views(&["old".into()])[0].last_seen.is_some(),
        "kept within a day"
    );
    tokio::time::advance(Duration::from_secs(2 * 3600)).await;
    p.sweep();
    assert_eq!(
        p.views(&["old".into()])[0].last_seen,
        None,
        "forgotten after a day"
    );
    assert_eq!(
        p.views(&["stays".into()])[0].devices,
        1,
        "online users are never forgotten"
    );
}
