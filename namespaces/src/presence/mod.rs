//! Presence across every namespace (PROTOCOL.md §3): each socket of a user counts, any
//! event is activity, and the status others see is derived from the chosen status, the
//! time since the last activity, and whether any socket is open, on any node.

mod channel_limit;
mod closing;
mod view;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::socket::DisconnectReason;

pub use view::{PresenceAnswer, PresenceEvent, PresenceView, Status, displayed};

use crate::Identity;
use crate::channel_rules::ChannelRule;
use crate::ports::{Change, ChosenStatus, Clock, PresenceRegistry, PresenceTransitions};

/// Users offline this long are forgotten (they then show `lastSeen: null`).
const FORGET_OFFLINE_AFTER_MS: i64 = 24 * 3600 * 1000;

/// Thresholds of the derived statuses, how often expired sockets are looked for, and
/// which channels are told who joins, leaves or changes status.
#[derive(Debug, Clone)]
pub struct PresenceConfig {
    pub idle_after: Duration,
    pub away_after: Duration,
    /// How often sockets of dead nodes are looked for (cluster mode).
    pub reap_every: Duration,
    /// Channels with more subscribed sockets than this are not told who joins, leaves or
    /// changes status (0: every channel is). Each such announcement goes to every
    /// subscriber, so a channel of N rejoining after a restart costs N² messages.
    pub channel_limit: usize,
    /// The channel rules: one whose `joinLeave` is set overrides `channel_limit` for its
    /// channels (see [`crate::channel_rules::join_leave`]).
    pub channel_rules: Vec<ChannelRule>,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self {
            idle_after: Duration::from_secs(300),
            away_after: Duration::from_secs(900),
            reap_every: Duration::from_secs(5),
            channel_limit: 100,
            channel_rules: Vec::new(),
        }
    }
}

impl PresenceConfig {
    /// Activity closer together than this is recorded once: the registry may be remote,
    /// and the thresholds are minutes (a twentieth of the idle one, at most a second).
    fn touch_every_ms(&self) -> i64 {
        (self.idle_after / 20)
            .min(Duration::from_secs(1))
            .as_millis() as i64
    }

    fn sweep_every(&self) -> Duration {
        (self.idle_after / 20)
            .min(self.reap_every)
            .clamp(Duration::from_millis(100), Duration::from_secs(10))
    }
}

/// Where presence changes are told; `/realtime` implements it with its rooms.
pub trait PresenceSink: Send + Sync + 'static {
    /// `event` to the user's watchers and to `channels` the user is (or just was) in.
    fn status_changed(&self, event: PresenceEvent, channels: Vec<String>);
    fn channel_joined(&self, channel: &str, user_id: &str);
    fn channel_left(&self, channel: &str, user_id: &str);
}

/// Put in every tracked socket's extensions: whose socket it is and when its activity was
/// last recorded. The dispatcher hands it to [`Presence::touch_socket`] with every event,
/// so any event on any namespace counts as activity.
#[derive(Clone)]
pub struct SocketActivity(Arc<ActivityOf>);

/// Whose socket this is, and on which namespace, as [`Presence::track_socket`] counted it.
#[derive(Clone)]
struct Tracked {
    user_id: String,
    ns: &'static str,
}

struct ActivityOf {
    user_id: String,
    last_ms: AtomicI64,
}

impl SocketActivity {
    pub fn user_id(&self) -> &str {
        &self.0.user_id
    }
}

#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<dyn PresenceRegistry>,
    clock: Arc<dyn Clock>,
    config: PresenceConfig,
    sink: OnceLock<Arc<dyn PresenceSink>>,
    /// Who hears of users coming online and going offline (the backend's webhooks).
    transitions: OnceLock<Arc<dyn PresenceTransitions>>,
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
                sink: OnceLock::new(),
                transitions: OnceLock::new(),
            }),
        }
    }

    /// Set once the namespace that tells others exists.
    pub fn set_sink(&self, sink: Arc<dyn PresenceSink>) {
        if self.inner.sink.set(sink).is_err() {
            tracing::warn!("presence sink set twice; keeping the first");
        }
    }

    /// Set once, when the backend is to hear of presence transitions.
    pub fn set_transitions(&self, transitions: Arc<dyn PresenceTransitions>) {
        if self.inner.transitions.set(transitions).is_err() {
            tracing::warn!("presence transitions set twice; keeping the first");
        }
    }

    /// Tells the listener, if any, that the user came online or went offline.
    fn transition(&self, user_id: &str, online: bool, at: i64) {
        if let Some(listener) = self.inner.transitions.get() {
            match online {
                true => listener.online(user_id, at),
                false => listener.offline(user_id, at),
            }
        }
    }

    pub fn registry(&self) -> &dyn PresenceRegistry {
        self.inner.registry.as_ref()
    }

    pub fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Counts a new socket of `me` on namespace `ns` (for presence and the connection
    /// metrics) and makes its events count as activity. Every namespace tracks its sockets
    /// through here; [`Presence::untrack_socket`] forgets one (the namespace descriptor's
    /// disconnect handler calls it).
    pub async fn track_socket<A: Adapter>(
        &self,
        s: &SocketRef<A>,
        me: &Identity,
        ns: &'static str,
    ) {
        s.extensions.insert(SocketActivity(Arc::new(ActivityOf {
            user_id: me.user_id.clone(),
            last_ms: AtomicI64::new(i64::MIN / 2),
        })));
        let sid = s.id.to_string();
        let now = self.now();
        let change = self
            .inner
            .registry
            .socket_opened(&me.user_id, &sid, now)
            .await;
        if change.flipped {
            self.transition(&me.user_id, true, now);
        }
        self.apply(&me.user_id, change, Vec::new()).await;
        crate::metrics::connection_opened(ns);
        s.extensions.insert(Tracked {
            user_id: me.user_id.clone(),
            ns,
        });
    }

    /// Forgets a socket [`Presence::track_socket`] counted (leaving its channels), when it
    /// disconnects.
    pub async fn untrack_socket<A: Adapter>(&self, s: &SocketRef<A>, reason: DisconnectReason) {
        let Some(Tracked { user_id, ns }) = s.extensions.get::<Tracked>() else {
            return;
        };
        if reason == DisconnectReason::SlowConsumer {
            // Said once per socket: it missed events, and its client will reconnect.
            tracing::warn!(ns, user = %user_id, %reason, "disconnected: slow consumer");
        } else {
            tracing::debug!(ns, user = %user_id, "disconnected");
        }
        crate::metrics::connection_closed(ns, reason);
        self.socket_closed(&user_id, &s.id.to_string()).await;
    }

    /// An event of the socket: activity, recorded at most every
    /// [`PresenceConfig::touch_every_ms`] per socket.
    pub fn touch_socket(&self, activity: &SocketActivity) {
        let now = self.now();
        let last = &activity.0.last_ms;
        if now - last.load(Ordering::Relaxed) < self.inner.config.touch_every_ms() {
            return;
        }
        last.store(now, Ordering::Relaxed);
        let (this, activity) = (self.clone(), activity.clone());
        tokio::spawn(async move { this.touch(activity.user_id()).await });
    }

    /// Leaves the socket's channels (telling each one the socket was the user's last in),
    /// then forgets the socket, announcing `offline` when it was the user's last.
    pub async fn socket_closed(&self, user_id: &str, socket_id: &str) {
        let registry = &self.inner.registry;
        let was_in = registry.channels_of_user(user_id).await;
        for channel in registry.channels_of_socket(socket_id).await {
            self.leave(&channel, user_id, socket_id).await;
        }
        let now = self.now();
        let change = registry.socket_closed(user_id, socket_id, now).await;
        if change.flipped {
            self.transition(user_id, false, now);
        }
        self.apply(user_id, change, was_in).await;
    }

    /// Tells what a socket change did: channels left behind by dead sockets, and the
    /// user's status when they came online or went offline.
    async fn apply(&self, user_id: &str, change: Change, was_in: Vec<String>) {
        self.tell_left(user_id, &change.left_channels).await;
        if change.flipped {
            self.announce(user_id, was_in).await;
        }
    }

    async fn tell_left(&self, user_id: &str, channels: &[String]) {
        if channels.is_empty() || !self.is_visible(user_id).await {
            return;
        }
        let channels = self.within_limit(channels.to_vec(), user_id, 1).await;
        self.with_sink(|sink| {
            for channel in &channels {
                sink.channel_left(channel, user_id);
            }
        });
    }

    pub async fn join(&self, channel: &str, user_id: &str, socket_id: &str) {
        if self
            .inner
            .registry
            .joined(channel, user_id, socket_id)
            .await
            && self.is_visible(user_id).await
            && self.is_told_in(channel, user_id, 0).await
        {
            self.with_sink(|sink| sink.channel_joined(channel, user_id));
        }
    }

    pub async fn leave(&self, channel: &str, user_id: &str, socket_id: &str) {
        if self.inner.registry.left(channel, user_id, socket_id).await
            && self.is_visible(user_id).await
            && self.is_told_in(channel, user_id, 1).await
        {
            self.with_sink(|sink| sink.channel_left(channel, user_id));
        }
    }

    pub async fn set_status(&self, user_id: &str, status: ChosenStatus, message: Option<String>) {
        self.inner
            .registry
            .set_status(user_id, status, message)
            .await;
        self.announce(user_id, Vec::new()).await;
    }

    /// Activity: resets the idle clock, and brings an idle or away user back at once.
    pub async fn touch(&self, user_id: &str) {
        self.inner.registry.touch(user_id, self.now()).await;
        let was_inactive = self.inner.registry.told(user_id).await.is_some_and(|told| {
            told.starts_with(Status::Idle.as_str()) || told.starts_with(Status::Away.as_str())
        });
        if was_inactive {
            self.announce(user_id, Vec::new()).await;
        }
    }

    /// An answer about presence, with `degraded: true` while it comes from this node's
    /// own view alone (a cluster node without Redis: users of other nodes look offline).
    pub fn answer<T: serde::Serialize>(&self, answer: T) -> PresenceAnswer<T> {
        PresenceAnswer {
            answer,
            degraded: self.inner.registry.degraded(),
        }
    }

    /// What others see of `user_ids`, unknown users as offline.
    pub async fn views(&self, user_ids: &[String]) -> Vec<PresenceView> {
        let now = self.now();
        let records = self.inner.registry.records(user_ids).await;
        user_ids
            .iter()
            .map(|id| match records.iter().find(|r| &r.user_id == id) {
                Some(record) => PresenceView::of(record, now, &self.inner.config),
                None => PresenceView::unknown(id),
            })
            .collect()
    }

    /// Re-derives the status of users with a socket here and tells the changes (idle and
    /// away come from time passing, not from an event); tells who went offline because
    /// their node died; forgets users offline for a day.
    pub async fn sweep(&self) {
        let registry = &self.inner.registry;
        for user in registry.local_users().await {
            self.announce(&user, Vec::new()).await;
        }
        for reaped in registry.reap_expired(self.now()).await {
            self.tell_left(&reaped.user_id, &reaped.left_channels).await;
            if reaped.went_offline {
                self.transition(&reaped.user_id, false, self.now());
                self.announce(&reaped.user_id, reaped.left_channels).await;
            }
        }
        registry
            .forget_offline_before(self.now() - FORGET_OFFLINE_AFTER_MS)
            .await;
    }

    /// Sweeps often enough that a status change is told within a twentieth of the idle
    /// threshold and a dead node's users within the reap period, until the process ends.
    pub async fn run_sweeper(self) {
        let mut tick = tokio::time::interval(self.inner.config.sweep_every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.sweep().await;
        }
    }

    async fn is_visible(&self, user_id: &str) -> bool {
        let records = self.inner.registry.records(&[user_id.to_owned()]).await;
        records
            .first()
            .is_none_or(|r| r.chosen != ChosenStatus::Invisible)
    }

    /// Tells others the user's status if it changed since last told (by any node).
    async fn announce(&self, user_id: &str, extra_channels: Vec<String>) {
        let Some(view) = self.views(&[user_id.to_owned()]).await.pop() else {
            return;
        };
        let event = view.event();
        let told = format!(
            "{}\n{}",
            event.status.as_str(),
            event.message.as_deref().unwrap_or_default()
        );
        if !self.inner.registry.mark_told(user_id, &told).await {
            return;
        }
        let mut channels = self.inner.registry.channels_of_user(user_id).await;
        channels.extend(extra_channels);
        channels.sort();
        channels.dedup();
        let channels = self.within_limit(channels, user_id, 0).await;
        self.with_sink(|sink| sink.status_changed(event, channels));
    }

    fn with_sink(&self, f: impl FnOnce(&dyn PresenceSink)) {
        if let Some(sink) = self.inner.sink.get() {
            f(sink.as_ref());
        }
    }
}
