//! This node's estimate of Redis's clock, so a script can refuse to act once its caller
//! has stopped waiting for it: a blackholed link delivers a request its caller gave up on
//! when the link heals, and Redis would otherwise carry it out then.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fred::prelude::{Client, LuaInterface};

const REDIS_NOW: &str =
    "local t = redis.call('TIME')\nreturn t[1] * 1000 + math.floor(t[2] / 1000)";

const UNKNOWN: i64 = i64::MIN;

/// Redis's clock minus this node's, and half the last round trip, learnt from times Redis
/// reports: the time a reply carries is taken as read halfway through its round trip.
pub struct RedisClock {
    offset_ms: AtomicI64,
    half_trip_ms: AtomicI64,
}

impl Default for RedisClock {
    fn default() -> Self {
        Self {
            offset_ms: AtomicI64::new(UNKNOWN),
            half_trip_ms: AtomicI64::new(0),
        }
    }
}

pub fn local_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl RedisClock {
    /// For a script about to be sent: the local time of sending, and the Redis time after
    /// which it must do nothing. Its caller gives up `deadline` after sending, and a
    /// script that ran needs its answer back before then (half the last round trip, and
    /// a tenth of the deadline for a return trip slower than the last). Asks Redis for its
    /// time first when none is known.
    pub async fn not_after(
        &self,
        client: &Client,
        deadline: Duration,
    ) -> Result<(i64, i64), fred::error::Error> {
        if self.offset_ms.load(Ordering::Relaxed) == UNKNOWN {
            let asked = local_ms();
            let now: i64 = client
                .eval(REDIS_NOW, Vec::<String>::new(), Vec::<String>::new())
                .await?;
            self.observed(now, asked);
        }
        let deadline = deadline.as_millis() as i64;
        let back = self.half_trip_ms.load(Ordering::Relaxed) + deadline / 10;
        let sent = local_ms();
        Ok((
            sent,
            sent + self.offset_ms.load(Ordering::Relaxed) + deadline - back,
        ))
    }

    /// Learns from Redis's time `redis_ms`, in the reply to a request sent at `sent_ms`.
    pub fn observed(&self, redis_ms: i64, sent_ms: i64) {
        let half_trip = ((local_ms() - sent_ms) / 2).max(0);
        self.half_trip_ms.store(half_trip, Ordering::Relaxed);
        self.offset_ms
            .store(redis_ms - (sent_ms + half_trip), Ordering::Relaxed);
    }
}
