//! Presence across every namespace (PROTOCOL.md §3): each socket of a user counts, any
//! event is activity, and the status others see is derived from the chosen status, the
//! time since the last activity, and whether any socket is open.

mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

pub use view::{PresenceEvent, PresenceView, Status, displayed};

use crate::Identity;
use crate::ports::{ChosenStatus, Clock, PresenceRegistry};

/// Users offline this long are forgotten (they then show `lastSeen: null`).
const FORGET_OFFLINE_AFTER_MS: i64 = 24 * 3600 * 1000;

/// Thresholds of the derived statuses.
#[derive(Debug, Clone, Copy)]
pub struct PresenceConfig {
    pub idle_after: Duration,
    pub away_after: Duration,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self {
            idle_after: Duration::from_secs(300),
            away_after: Duration::from_secs(900),
        }
    }
}

/// Where presence changes are told; `/realtime` implements it with its rooms.
pub trait PresenceSink: Send + Sync + 'static {
    /// `event` to the user's watchers and to `channels` the user is (or just was) in.
    fn status_changed(&self, event: PresenceEvent, channels: Vec<String>);
    fn channel_joined(&self, channel: &str, user_id: &str);
    fn channel_left(&self, channel: &str, user_id: &str);
}

/// Put in every tracked socket's extensions; the event extractor calls it, so any event
/// on any namespace counts as activity.
#[derive(Clone)]
pub struct ActivityHook(pub Arc<dyn Fn() + Send + Sync>);

#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<dyn PresenceRegistry>,
    clock: Arc<dyn Clock>,
    config: PresenceConfig,
    /// The last status and message told to others, per user, so only changes are sent
    /// (`lastSeen` moves with every event and is not a change worth telling).
    announced: Mutex<HashMap<String, (Status, Option<String>)>>,
    sink: OnceLock<Arc<dyn PresenceSink>>,
}

impl Presence {
    pub fn new(
        registry: Arc<dyn PresenceRegistry>,
        clock: Arc<dyn Clock>,
        config: PresenceConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                clock,
                config,
                announced: Mutex::default(),
                sink: OnceLock::new(),
            }),
        }
    }

    /// Set once the namespace that tells others exists.
    pub fn set_sink(&self, sink: Arc<dyn PresenceSink>) {
        if self.inner.sink.set(sink).is_err() {
            tracing::warn!("presence sink set twice; keeping the first");
        }
    }

    pub fn registry(&self) -> &dyn PresenceRegistry {
        self.inner.registry.as_ref()
    }

    pub fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Counts a new socket of `me`, makes its events count as activity, and forgets the
    /// socket (leaving its channels) when it disconnects. This takes the socket's one
    /// disconnect handler: every namespace tracks its sockets through here.
    pub fn track_socket<A: Adapter>(&self, s: &SocketRef<A>, me: &Identity) {
        let user = me.user_id.clone();
        let this = self.clone();
        s.extensions
            .insert(ActivityHook(Arc::new(move || this.touch(&user))));
        if self
            .inner
            .registry
            .socket_opened(&me.user_id, &s.id.to_string(), self.now())
        {
            self.announce(&me.user_id, Vec::new());
        }
        let (this, user) = (self.clone(), me.user_id.clone());
        s.on_disconnect(move |s: SocketRef<A>| async move {
            tracing::debug!(ns = s.ns(), sid = %s.id, user = %user, "disconnected");
            this.socket_closed(&user, &s.id.to_string());
        });
    }

    /// Leaves the socket's channels (telling each one the socket was the user's last in),
    /// then forgets the socket, announcing `offline` when it was the user's last.
    pub fn socket_closed(&self, user_id: &str, socket_id: &str) {
        let registry = &self.inner.registry;
        let was_in = registry.channels_of_user(user_id);
        for channel in registry.channels_of_socket(socket_id) {
            self.leave(&channel, user_id, socket_id);
        }
        if registry.socket_closed(user_id, socket_id, self.now()) {
            self.announce(user_id, was_in);
        }
    }

    pub fn join(&self, channel: &str, user_id: &str, socket_id: &str) {
        if self.inner.registry.joined(channel, user_id, socket_id) && self.is_visible(user_id) {
            self.with_sink(|sink| sink.channel_joined(channel, user_id));
        }
    }

    pub fn leave(&self, channel: &str, user_id: &str, socket_id: &str) {
        if self.inner.registry.left(channel, user_id, socket_id) && self.is_visible(user_id) {
            self.with_sink(|sink| sink.channel_left(channel, user_id));
        }
    }

    pub fn set_status(&self, user_id: &str, status: ChosenStatus, message: Option<String>) {
        self.inner.registry.set_status(user_id, status, message);
        self.announce(user_id, Vec::new());
    }

    /// Activity: resets the idle clock, and brings an idle or away user back at once.
    pub fn touch(&self, user_id: &str) {
        self.inner.registry.touch(user_id, self.now());
        let was_inactive = self
            .announced()
            .get(user_id)
            .is_some_and(|(status, _)| matches!(status, Status::Idle | Status::Away));
        if was_inactive {
            self.announce(user_id, Vec::new());
        }
    }

    /// What others see of `user_ids`, unknown users as offline.
    pub fn views(&self, user_ids: &[String]) -> Vec<PresenceView> {
        let now = self.now();
        let records = self.inner.registry.records(user_ids);
        user_ids
            .iter()
            .map(|id| match records.iter().find(|r| &r.user_id == id) {
                Some(record) => PresenceView::of(record, now, &self.inner.config),
                None => PresenceView::unknown(id),
            })
            .collect()
    }

    /// Re-derives every online user's status and tells the changes (idle and away come
    /// from time passing, not from an event), and forgets users offline for a day.
    pub fn sweep(&self) {
        for user in self.inner.registry.online_users() {
            self.announce(&user, Vec::new());
        }
        let forgotten = self
            .inner
            .registry
            .forget_offline_before(self.now() - FORGET_OFFLINE_AFTER_MS);
        if !forgotten.is_empty() {
            let mut announced = self.announced();
            forgotten.iter().for_each(|user| {
                announced.remove(user);
            });
        }
    }

    /// Sweeps often enough that a status change is told within a twentieth of the idle
    /// threshold, until the process ends.
    pub async fn run_sweeper(self) {
        let period = (self.inner.config.idle_after / 20)
            .clamp(Duration::from_millis(100), Duration::from_secs(10));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.sweep();
        }
    }

    fn is_visible(&self, user_id: &str) -> bool {
        let records = self.inner.registry.records(&[user_id.to_owned()]);
        records
            .first()
            .is_none_or(|r| r.chosen != ChosenStatus::Invisible)
    }

    /// Tells others the user's status if it changed since last told.
    fn announce(&self, user_id: &str, extra_channels: Vec<String>) {
        let Some(view) = self.views(&[user_id.to_owned()]).pop() else {
            return;
        };
        let event = view.event();
        let told = (event.status, event.message.clone());
        if self
            .announced()
            .insert(user_id.to_owned(), told.clone())
            .as_ref()
            == Some(&told)
        {
            return;
        }
        let mut channels = self.inner.registry.channels_of_user(user_id);
        channels.extend(extra_channels);
        channels.sort();
        channels.dedup();
        self.with_sink(|sink| sink.status_changed(event, channels));
    }

    fn announced(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Status, Option<String>)>> {
        self.inner
            .announced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn with_sink(&self, f: impl FnOnce(&dyn PresenceSink)) {
        if let Some(sink) = self.inner.sink.get() {
            f(sink.as_ref());
        }
    }
}
