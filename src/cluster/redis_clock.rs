//! This node's estimate of Redis's clock, so a script can refuse to act once its caller
//! has stopped waiting for it: a blackholed link delivers a request its caller gave up on
//! when the link heals, and Redis would otherwise carry it out then.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fred::prelude::{Client, LuaInterface};

/// Redis's time in milliseconds, from inside a script.
pub const REDIS_NOW_LUA: &str =
    "local t = redis.call('TIME')\nlocal now = t[1] * 1000 + math.floor(t[2] / 1000)\n";

const UNKNOWN: i64 = i64::MIN;

/// Redis's clock minus this node's, learnt from times Redis reports. The estimate lags by
/// the reply's trip back, so it errs early: a script is refused a little too soon rather
/// than run a little too late.
pub struct RedisClock {
    offset_ms: AtomicI64,
}

impl Default for RedisClock {
    fn default() -> Self {
        Self {
            offset_ms: AtomicI64::new(UNKNOWN),
        }
    }
}

fn local_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl RedisClock {
    /// Redis time after which a script sent now must do nothing: half of `deadline` from
    /// now, so that a script that did run has the other half to get its answer back
    /// before its caller gives up. Asks Redis for its time when none is known yet.
    pub async fn not_after(
        &self,
        client: &Client,
        deadline: Duration,
    ) -> Result<i64, fred::error::Error> {
        let mut offset = self.offset_ms.load(Ordering::Relaxed);
        if offset == UNKNOWN {
            let script = format!("{REDIS_NOW_LUA}return now");
            let now: i64 = client
                .eval(script, Vec::<String>::new(), Vec::<String>::new())
                .await?;
            self.observed(now);
            offset = self.offset_ms.load(Ordering::Relaxed);
        }
        Ok(local_ms() + offset + (deadline / 2).as_millis() as i64)
    }

    /// Learns from Redis's time `redis_ms`, in a reply that just arrived.
    pub fn observed(&self, redis_ms: i64) {
        self.offset_ms
            .store(redis_ms - local_ms(), Ordering::Relaxed);
    }
}
