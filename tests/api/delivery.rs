//! The delivery guarantee, in the spirit of Centrifugo's stress runtime: three nodes,
//! two concurrent publishers per channel sending through any node, subscribers on any node dropped at random while
//! publishing goes on and recovering with `since` on another node. Every subscriber must
//! see every publication exactly once and in order, or be told `recovered: false`.
//!
//! Seeded and replayable: the seed is printed; `SWITCHYARD_STRESS_SEED=N` replays a run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cluster::cluster_with;
use crate::realtime::publish;
use crate::support::{SioClient, TestApp};

const CHANNELS: [&str; 2] = ["public:stress-a", "public:stress-b"];
/// Per publisher; each channel has two.
const PUBLICATIONS_PER_CHANNEL: u64 = 250;
const SUBSCRIBERS: usize = 5;
/// After the last publication, how long a subscriber may take to catch up.
const CATCH_UP: Duration = Duration::from_secs(10);

/// SplitMix64: small, seedable, good enough to pick nodes and delays.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }
    fn fork(&mut self) -> Rng {
        Rng(self.next())
    }
}

fn seed() -> u64 {
    let seed = std::env::var("SWITCHYARD_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0);
    println!("delivery stress seed = {seed} (replay with SWITCHYARD_STRESS_SEED={seed})");
    seed
}

/// What one subscriber saw of one channel.
#[derive(Default, Debug)]
struct Seen {
    epoch: Option<Value>,
    last: u64,
    /// Offsets that arrived out of order or twice: must stay empty.
    violations: Vec<String>,
    /// Times it was told `recovered: false` (it then starts over from what comes next).
    lost: u32,
}

impl Seen {
    fn take(&mut self, publication: &Value, how: &str) {
        let offset = publication["offset"].as_u64().unwrap_or(0);
        let epoch = publication["epoch"].clone();
        let fresh_start = self.epoch.is_none();
        if fresh_start && self.lost == 0 && offset != 1 {
            self.violations.push(format!("{how} offset {offset} first"));
        }
        if !fresh_start && (Some(&epoch) != self.epoch.as_ref() || offset != self.last + 1) {
            self.violations
                .push(format!("{how} offset {offset} after {}", self.last));
        }
        if fresh_start || offset > self.last {
            (self.epoch, self.last) = (Some(epoch), offset);
        }
    }
}

struct Subscriber {
    name: String,
    seen: HashMap<&'static str, Seen>,
    reconnects: u32,
}

impl Subscriber {
    async fn subscribe(&mut self, node: &TestApp) -> SioClient {
        let client = node.connect("/realtime", &self.name).await;
        let mut since = serde_json::Map::new();
        for channel in CHANNELS {
            let seen = &self.seen[channel];
            if let Some(epoch) = &seen.epoch {
                since.insert(
                    channel.into(),
                    json!({ "epoch": epoch, "offset": seen.last }),
                );
            }
        }
        let ack = client
            .emit_ack("subscribe", json!({ "channels": CHANNELS, "since": since }))
            .await;
        assert_eq!(ack["ok"], json!(true), "subscribe failed: {ack}");
        for channel in CHANNELS {
            let seen = self.seen.get_mut(channel).expect("channel");
            if ack["recovered"][channel] == json!(false) {
                seen.lost += 1;
                seen.epoch = None;
            }
            for publication in ack["missed"][channel].as_array().into_iter().flatten() {
                seen.take(publication, "replayed");
            }
        }
        client
    }

    /// Takes live publications until `until`.
    async fn listen(&mut self, client: &mut SioClient, until: Instant) {
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            let Some(event) = client.within("event", left).await else {
                return;
            };
            let channel = event.data["channel"].as_str().unwrap_or_default();
            if let Some(seen) = self.seen.get_mut(channel) {
                seen.take(&event.data, "live");
            }
        }
    }

    fn caught_up(&self, last: &HashMap<&'static str, u64>) -> bool {
        CHANNELS.iter().all(|c| self.seen[c].last >= last[c])
    }
}

async fn run_subscriber(
    mut me: Subscriber,
    nodes: Arc<Vec<TestApp>>,
    mut rng: Rng,
    ready: tokio::sync::mpsc::Sender<()>,
    publishing_done: tokio::sync::watch::Receiver<Option<HashMap<&'static str, u64>>>,
) -> Subscriber {
    let pick = |rng: &mut Rng| rng.below(nodes.len() as u64) as usize;
    let mut client = me.subscribe(&nodes[pick(&mut rng)]).await;
    ready.send(()).await.expect("test alive");
    while publishing_done.borrow().is_none() {
        let until = Instant::now() + rng.millis(50, 400);
        me.listen(&mut client, until).await;
        // With no position in a channel yet there is nothing to recover from: stay.
        if CHANNELS.iter().any(|c| me.seen[c].epoch.is_none()) {
            continue;
        }
        client.disconnect();
        drop(client);
        tokio::time::sleep(rng.millis(0, 250)).await;
        me.reconnects += 1;
        client = me.subscribe(&nodes[pick(&mut rng)]).await;
    }
    let last = publishing_done.borrow().clone().expect("final offsets");
    let deadline = Instant::now() + CATCH_UP;
    while !me.caught_up(&last) && Instant::now() < deadline {
        me.listen(&mut client, Instant::now() + Duration::from_millis(200))
            .await;
    }
    me
}

async fn run_publisher(channel: &'static str, nodes: Arc<Vec<TestApp>>, mut rng: Rng) -> u64 {
    let mut last = 0;
    for n in 0..PUBLICATIONS_PER_CHANNEL {
        let node = &nodes[rng.below(nodes.len() as u64) as usize];
        let (status, ack) = publish(node, channel, json!(n), None).await;
        assert_eq!(status, 202, "publish failed: {ack}");
        last = ack["offset"].as_u64().expect("offset");
        tokio::time::sleep(rng.millis(0, 8)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_sees_every_publication_once_in_order_across_reconnects() {
    let mut rng = Rng(seed());
    let (a, b) = cluster_with(|s| {
        s.history.size = 2_000;
        s.history.ttl = std::time::Duration::from_secs(600);
    })
    .await;
    let c = a.another_node().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let nodes = Arc::new(vec![a, b, c]);

    let (ready_tx, mut ready) = tokio::sync::mpsc::channel(SUBSCRIBERS);
    let (done_tx, done_rx) = tokio::sync::watch::channel(None);
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|i| {
            let me = Subscriber {
                name: format!("sub-{i}"),
                seen: CHANNELS.iter().map(|c| (*c, Seen::default())).collect(),
                reconnects: 0,
            };
            tokio::spawn(run_subscriber(
                me,
                nodes.clone(),
                rng.fork(),
                ready_tx.clone(),
                done_rx.clone(),
            ))
        })
        .collect();
    for _ in 0..SUBSCRIBERS {
        ready.recv().await.expect("subscriber ready");
    }
    // Two publishers per channel at once, each through random nodes: offsets must still
    // reach every subscriber in order.
    let publishers: Vec<_> = CHANNELS
        .iter()
        .chain(CHANNELS.iter())
        .map(|c| {
            (
                *c,
                tokio::spawn(run_publisher(c, nodes.clone(), rng.fork())),
            )
        })
        .collect();
    let mut last: HashMap<&'static str, u64> = HashMap::new();
    for (channel, publisher) in publishers {
        let reached = publisher.await.expect("publisher");
        let entry = last.entry(channel).or_default();
        *entry = (*entry).max(reached);
    }
    done_tx.send(Some(last.clone())).expect("subscribers alive");

    let mut reconnects = 0;
    for subscriber in subscribers {
        let me = subscriber.await.expect("subscriber");
        reconnects += me.reconnects;
        for channel in CHANNELS {
            let seen = &me.seen[channel];
            assert!(
                seen.violations.is_empty(),
                "{} on {channel}: {:?}",
                me.name,
                seen.violations
            );
            assert_eq!(
                seen.last, last[channel],
                "{} on {channel} did not get every publication (told lost {} times)",
                me.name, seen.lost
            );
        }
    }
    assert!(
        reconnects >= SUBSCRIBERS as u32,
        "the test must really drop subscribers"
    );
    println!("{reconnects} reconnects, every publication seen once and in order");
}
