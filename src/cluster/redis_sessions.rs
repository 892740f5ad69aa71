//! Connection-state recovery in Redis, shared by every node, so a client of a node that
//! died resumes on another: per namespace a stream of the packets sent to rooms (its
//! entry ids are the offsets clients remember), and each session under its `pid` with a
//! TTL. Every call has the Redis deadline; while Redis is away nothing is logged (packets
//! go out without an offset) and no session resumes.

use async_trait::async_trait;
use fred::prelude::{Client, Expiration, KeysInterface, LuaInterface, SetOptions};
use fred::types::Value;
use switchyard_namespaces::ports::{
    Logged, LoggedPacket, PacketLog, Session, SessionStore, StoreError, StoreResult,
};

use super::link::RedisLink;
use super::redis::RedisHealth;

/// Appends ARGV[2] (the packet) after trimming the stream to keep ARGV[1] entries with
/// it, and remembers the last id trimmed (KEYS[2]): a client resuming from before it must
/// be told it missed packets that are gone (Redis' `max-deleted-entry-id` counts `XDEL`,
/// not trimming).
const APPEND: &str = r#"
local max = tonumber(ARGV[1])
local n = redis.call('XLEN', KEYS[1])
if n >= max then
  local gone = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', n - max + 1)
  redis.call('SET', KEYS[2], gone[#gone][1])
  redis.call('XTRIM', KEYS[1], 'MAXLEN', '=', max - 1)
end
return redis.call('XADD', KEYS[1], '*', 'p', ARGV[2])
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

    /// The stream, and the last id trimmed from it.
    fn keys(&self, ns: &str) -> Vec<String> {
        let stream = format!("{}:{{{ns}}}", self.prefix);
        let trimmed = format!("{stream}:trimmed");
        vec![stream, trimmed]
    }

    /// While Redis is known to be away, fail at once instead of waiting out a deadline.
    fn reachable(&self) -> StoreResult<()> {
        if self.link.is_up() {
            Ok(())
        } else {
            Err(StoreError::Unavailable("Redis unreachable".into()))
        }
    }

    fn failed(&self, err: fred::error::Error) -> StoreError {
        self.link.failed("recovery", &err);
        StoreError::Unavailable(err.to_string().into())
    }
}

#[async_trait]
impl PacketLog for RedisPacketLog {
    #[tracing::instrument(skip_all, name = "redis.recovery.append")]
    async fn append(&self, ns: &str, packet: &LoggedPacket) -> StoreResult<String> {
        self.reachable()?;
        let json = serde_json::to_string(packet).map_err(unavailable)?;
        let args = vec![self.max_entries.to_string(), json];
        self.client
            .eval(APPEND, self.keys(ns), args)
            .await
            .map_err(|e| self.failed(e))
    }

    #[tracing::instrument(skip_all, name = "redis.recovery.after")]
    async fn after(
        &self,
        ns: &str,
        offset: &str,
        limit: usize,
    ) -> StoreResult<Option<Vec<Logged>>> {
        self.reachable()?;
        let args = vec![offset.to_owned(), limit.to_string()];
        let reply: Value = self
            .client
            .eval(AFTER, self.keys(ns), args)
            .await
            .map_err(|e| self.failed(e))?;
        read_after(reply)
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

/// `{0}` or `{1, [[id, ["p", json]], …]}`.
fn read_after(reply: Value) -> StoreResult<Option<Vec<Logged>>> {
    let mut parts = reply.into_array().into_iter();
    if parts.next().and_then(|v| v.as_i64()) != Some(1) {
        return Ok(None);
    }
    let entries = parts.next().map(Value::into_array).unwrap_or_default();
    entries
        .into_iter()
        .map(read_entry)
        .collect::<StoreResult<Vec<_>>>()
        .map(Some)
}

fn read_entry(entry: Value) -> StoreResult<Logged> {
    let mut parts = entry.into_array().into_iter();
    let offset = parts.next().and_then(Value::into_string);
    let fields = parts.next().map(Value::into_array).unwrap_or_default();
    let json = fields.into_iter().nth(1).and_then(Value::into_string);
    let (Some(offset), Some(json)) = (offset, json) else {
        return Err(unavailable("a recovery log entry without its id or packet"));
    };
    let packet = serde_json::from_str(&json).map_err(unavailable)?;
    Ok(Logged { offset, packet })
}

/// Sessions as JSON under `{prefix}:recovery:session:{pid}`, with a TTL.
pub struct RedisSessions {
    client: Client,
    prefix: String,
    link: RedisLink,
}

impl RedisSessions {
    pub fn new(redis: &RedisHealth, prefix: &str) -> Self {
        Self {
            client: redis.client(),
            link: redis.link(),
            prefix: format!("{prefix}:recovery:session"),
        }
    }

    fn key(&self, pid: &str) -> String {
        format!("{}:{pid}", self.prefix)
    }

    fn reachable(&self) -> StoreResult<()> {
        if self.link.is_up() {
            Ok(())
        } else {
            Err(StoreError::Unavailable("Redis unreachable".into()))
        }
    }

    fn failed(&self, err: fred::error::Error) -> StoreError {
        self.link.failed("recovery", &err);
        StoreError::Unavailable(err.to_string().into())
    }
}

#[async_trait]
impl SessionStore for RedisSessions {
    #[tracing::instrument(skip_all, name = "redis.recovery.save")]
    async fn save(&self, pid: &str, session: &Session, ttl_ms: u64) -> StoreResult<()> {
        self.reachable()?;
        let json = serde_json::to_string(session).map_err(unavailable)?;
        let ttl = Expiration::PX(ttl_ms.max(1) as i64);
        self.client
            .set::<(), _, _>(self.key(pid), json, Some(ttl), None::<SetOptions>, false)
            .await
            .map_err(|e| self.failed(e))
    }

    #[tracing::instrument(skip_all, name = "redis.recovery.get")]
    async fn get(&self, pid: &str) -> StoreResult<Option<Session>> {
        self.reachable()?;
        let json: Option<String> = self
            .client
            .get(self.key(pid))
            .await
            .map_err(|e| self.failed(e))?;
        json.map(|j| serde_json::from_str(&j).map_err(unavailable))
            .transpose()
    }

    #[tracing::instrument(skip_all, name = "redis.recovery.delete")]
    async fn delete(&self, pid: &str) -> StoreResult<()> {
        self.reachable()?;
        self.client
            .del::<(), _>(self.key(pid))
            .await
            .map_err(|e| self.failed(e))
    }
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
            .after("/ns", &start, 10)
            .await
            .expect("log call")
            .expect("an offset");
        assert_eq!(events(&seen), ["from-a"]);
    }
}
