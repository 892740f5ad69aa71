//! Connection-state recovery in Redis, shared by every node, so a client of a node that
//! died resumes on another: per namespace a stream of the packets sent to rooms (its
//! entry ids are the offsets clients remember), and each session under its `pid` with a
//! TTL. Every call has the Redis deadline; while Redis is away nothing is logged (packets
//! go out without an offset) and no session resumes.

use async_trait::async_trait;
use fred::prelude::{Client, LuaInterface};
use fred::types::Value;
use serde::Deserialize;
use switchyard_namespaces::ports::{
    Logged, LoggedPacket, PacketLog, Reader, StoreError, StoreResult,
};

use super::link::RedisLink;
use super::redis::RedisHealth;

mod feed;
mod sessions;

pub use feed::RedisPacketFeed;
#[cfg(test)]
pub(crate) use feed::tests as feed_tests;
pub use sessions::RedisSessions;

/// Appends ARGV[2] (the packet) after trimming the stream to keep ARGV[1] entries with
/// it, and remembers the last id trimmed (KEYS[2]): a client resuming from before it must
/// be told it missed packets that are gone (Redis' `max-deleted-entry-id` counts `XDEL`,
/// not trimming). With a feed channel in ARGV[4], also publishes it there with its id
/// and namespace (ARGV[5], JSON), in the same step: the feed carries packets in log
/// order. Does nothing once Redis's clock is past ARGV[3], when its caller has been
/// answered that it failed (see `RedisClock`). Returns `id|now` or `late|now`.
const APPEND: &str = r#"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if now > tonumber(ARGV[3]) then return 'late|' .. now end
local max = tonumber(ARGV[1])
local n = redis.call('XLEN', KEYS[1])
if n >= max then
  local gone = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', n - max + 1)
  redis.call('SET', KEYS[2], gone[#gone][1])
  redis.call('XTRIM', KEYS[1], 'MAXLEN', '=', max - 1)
end
local id = redis.call('XADD', KEYS[1], '*', 'p', ARGV[2])
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[4], '{"k":{"ns":' .. ARGV[5] .. ',"offset":"' .. id ..
    '","packet":' .. ARGV[2] .. '}}')
end
return id .. '|' .. now
"#;

/// The entries after ARGV[1], at most ARGV[2]: `{1, entries}`, or `{0}` when the offset
/// is malformed, was never given out, is older than the last trimmed entry (KEYS[2]), or
/// more than ARGV[2] follow it.
const AFTER: &str = r#"
local function id(s)
  local ms, seq = string.match(s, '^(%d+)-(%d+)$')
  if not ms then return nil end
  return {tonumber(ms), tonumber(seq)}
end
local function before(a, b)
  return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2])
end
local offset = id(ARGV[1])
if not offset then return {0} end
local ok, info = pcall(redis.call, 'XINFO', 'STREAM', KEYS[1])
local last = {0, 0}
if ok then
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last = id(info[i + 1]) end
  end
end
local deleted = id(redis.call('GET', KEYS[2]) or '0-0')
if before(last, offset) or before(offset, deleted) then return {0} end
local limit = tonumber(ARGV[2])
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', limit + 1)
if #entries > limit then return {0} end
return {1, entries}
"#;

/// The stream's last id ever given, `0-0` for a stream not begun.
const LAST: &str = r#"
local ok, info = pcall(redis.call, 'XINFO', 'STREAM', KEYS[1])
if not ok then return '0-0' end
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then return info[i + 1] end
end
return '0-0'
"#;

/// Where a namespace's packets are logged, for a script that logs one itself (channel
/// publications are logged by the history's append, in the same step as their feed
/// message).
#[derive(Debug, Clone)]
pub struct LogKeys {
    /// The stream, and its last trimmed id.
    pub keys: Vec<String>,
    pub max_entries: usize,
}

pub struct RedisPacketLog {
    client: Client,
    prefix: String,
    max_entries: usize,
    link: RedisLink,
}

fn unavailable(err: impl std::fmt::Display) -> StoreError {
    super::redis_error("recovery");
    StoreError::Unavailable(err.to_string().into())
}

impl RedisPacketLog {
    /// Keeps the latest `max_entries` packets of each namespace.
    pub fn new(redis: &RedisHealth, prefix: &str, max_entries: usize) -> Self {
        Self {
            client: redis.client(),
            link: redis.link(),
            prefix: format!("{prefix}:recovery:log"),
            max_entries: max_entries.max(1),
        }
    }

    /// Where `ns`'s packets go, for a script of another module.
    pub fn log_keys(&self, ns: &str) -> LogKeys {
        LogKeys {
            keys: self.keys(ns),
            max_entries: self.max_entries,
        }
    }

    /// The stream, and the last id trimmed from it.
    fn keys(&self, ns: &str) -> Vec<String> {
        let stream = format!("{}:{{{ns}}}", self.prefix);
        let trimmed = format!("{stream}:trimmed");
        vec![stream, trimmed]
    }

    fn reachable(&self) -> StoreResult<()> {
        self.link.reachable()
    }

    fn failed(&self, err: fred::error::Error) -> StoreError {
        self.link.store_error("recovery", err)
    }

    /// Logs `packet`, and puts it on `feed` (a channel) when given, unless Redis's clock
    /// is past `not_after` by then. Returns its offset and Redis's time.
    async fn append_to(
        &self,
        ns: &str,
        packet: &LoggedPacket,
        feed: Option<&str>,
        not_after: i64,
    ) -> StoreResult<(String, i64)> {
        self.reachable()?;
        let json = serde_json::to_string(packet).map_err(unavailable)?;
        let ns_json = serde_json::to_string(ns).map_err(unavailable)?;
        let args = vec![
            self.max_entries.to_string(),
            json,
            not_after.to_string(),
            feed.unwrap_or_default().to_owned(),
            ns_json,
        ];
        let reply: String = self
            .client
            .eval(APPEND, self.keys(ns), args)
            .await
            .map_err(|e| self.failed(e))?;
        match reply.split_once('|') {
            Some((id, now)) if id != "late" => Ok((id.to_owned(), now.parse().unwrap_or(0))),
            _ => Err(unavailable(
                "Redis got the packet after its deadline; it was not logged",
            )),
        }
    }
}

#[async_trait]
impl PacketLog for RedisPacketLog {
    #[tracing::instrument(skip_all, name = "redis.recovery.append")]
    async fn append(&self, ns: &str, packet: &LoggedPacket) -> StoreResult<String> {
        let (offset, _) = self.append_to(ns, packet, None, i64::MAX).await?;
        Ok(offset)
    }

    #[tracing::instrument(skip_all, name = "redis.recovery.after")]
    async fn after(
        &self,
        ns: &str,
        offset: &str,
        limit: usize,
        reader: Reader<'_>,
    ) -> StoreResult<Option<Vec<Logged>>> {
        self.reachable()?;
        let args = vec![offset.to_owned(), limit.to_string()];
        let reply: Value = self
            .client
            .eval(AFTER, self.keys(ns), args)
            .await
            .map_err(|e| self.failed(e))?;
        read_after(reply, reader)
    }

    #[tracing::instrument(skip_all, name = "redis.recovery.last")]
    async fn last_offset(&self, ns: &str) -> StoreResult<Option<String>> {
        self.reachable()?;
        let last: String = self
            .client
            .eval(LAST, self.keys(ns), Vec::<String>::new())
            .await
            .map_err(|e| self.failed(e))?;
        Ok(Some(last))
    }
}

/// `{0}` or `{1, [[id, ["p", json]], …]}`: the entries `reader` wants.
fn read_after(reply: Value, reader: Reader<'_>) -> StoreResult<Option<Vec<Logged>>> {
    let mut parts = reply.into_array().into_iter();
    if parts.next().and_then(|v| v.as_i64()) != Some(1) {
        return Ok(None);
    }
    let entries = parts.next().map(Value::into_array).unwrap_or_default();
    let mut wanted = Vec::new();
    for entry in entries {
        if let Some(logged) = read_entry(entry, reader)? {
            wanted.push(logged);
        }
    }
    Ok(Some(wanted))
}

/// Where a logged packet went, read without its data: a packet the reader does not want
/// is never decoded whole.
#[derive(Deserialize)]
struct Addressed {
    rooms: Vec<String>,
    #[serde(default)]
    except: Vec<String>,
    #[serde(default)]
    except_sid: Option<String>,
}

fn read_entry(entry: Value, reader: Reader<'_>) -> StoreResult<Option<Logged>> {
    let mut parts = entry.into_array().into_iter();
    let offset = parts.next().and_then(Value::into_string);
    let fields = parts.next().map(Value::into_array).unwrap_or_default();
    let json = fields.into_iter().nth(1).and_then(Value::into_string);
    let (Some(offset), Some(json)) = (offset, json) else {
        return Err(unavailable("a recovery log entry without its id or packet"));
    };
    let to: Addressed = serde_json::from_str(&json).map_err(unavailable)?;
    if !reader.wants(&to.rooms, &to.except, to.except_sid.as_deref()) {
        return Ok(None);
    }
    let packet = serde_json::from_str(&json).map_err(unavailable)?;
    Ok(Some(Logged { offset, packet }))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn health() -> (RedisHealth, String) {
        crate::cluster::test_redis_health().await
    }

    crate::sessions_contract!(
        |max| async move {
            let (redis, prefix) = health().await;
            RedisPacketLog::new(&redis, &prefix, max)
        },
        || async {
            let (redis, prefix) = health().await;
            RedisSessions::new(&redis, &prefix)
        }
    );

    #[tokio::test]
    async fn two_nodes_share_the_log_and_the_sessions() {
        let (redis, prefix) = health().await;
        let (a, b) = (
            RedisPacketLog::new(&redis, &prefix, 10),
            RedisPacketLog::new(&redis, &prefix, 10),
        );
        let start = b
            .last_offset("/ns")
            .await
            .expect("log call")
            .expect("an offset");
        a.append("/ns", &packet("from-a", &["r"]))
            .await
            .expect("store call");
        let seen = b
            .after("/ns", &start, 10, switchyard_namespaces::ports::Reader::All)
            .await
            .expect("log call")
            .expect("an offset");
        assert_eq!(events(&seen), ["from-a"]);
    }
}
