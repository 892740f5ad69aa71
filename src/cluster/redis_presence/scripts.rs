//! The Lua scripts of Redis presence. Each runs on one user's three keys, which share a
//! hash slot (`{user}`), so a script works on Redis Cluster too:
//! - `KEYS[1]` sockets: sorted set of socket entries (`{socket}@{holder}`, the registry's
//!   `entry`), scored by expiry (ms);
//! - `KEYS[2]` info: hash of `chosen`, `message`, `act` (last activity), `seen` (last
//!   socket closed), `told` (last status told to others);
//! - `KEYS[3]` channels: sorted set of `"{entry} {channel}"`, scored by expiry.
//!
//! An entry whose expiry passed belongs to a node that stopped refreshing it (it died):
//! every script first drops such entries and reports the channels the user is left out of.

const PRELUDE: &str = r#"
local function channel_of(entry)
  return string.sub(entry, string.find(entry, ' ', 1, true) + 1)
end
local function in_channel(channel, now, except)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. now, '+inf')) do
    if m ~= except and channel_of(m) == channel then return true end
  end
  return false
end
local function reap(now)
  local gone = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
  local left, seen = {}, {}
  if #dead > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
    for _, m in ipairs(dead) do
      local ch = channel_of(m)
      if not seen[ch] and not in_channel(ch, now, nil) then table.insert(left, ch) end
      seen[ch] = true
    end
  end
  return gone, left
end
local function keep(ms)
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ms) end
end
local function reply(flag, left)
  local out = { flag and '1' or '0' }
  for _, ch in ipairs(left) do table.insert(out, ch) end
  return out
end
"#;

/// ARGV: entry, expiry, now, keep. Reply: first socket?, channels left.
const OPEN: &str = r#"
local _, left = reap(ARGV[3])
local first = redis.call('ZCARD', KEYS[1]) == 0
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local act = tonumber(redis.call('HGET', KEYS[2], 'act') or '0')
if tonumber(ARGV[3]) > act then redis.call('HSET', KEYS[2], 'act', ARGV[3]) end
redis.call('HSETNX', KEYS[2], 'chosen', 'online')
keep(ARGV[4])
return reply(first, left)
"#;

/// ARGV: entry, now, keep. Reply: last socket?, channels left.
const CLOSE: &str = r#"
local _, left = reap(ARGV[2])
local removed = redis.call('ZREM', KEYS[1], ARGV[1]) == 1
local prefix = ARGV[1] .. ' '
for _, m in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  if string.sub(m, 1, #prefix) == prefix then redis.call('ZREM', KEYS[3], m) end
end
local last = removed and redis.call('ZCARD', KEYS[1]) == 0
if last then redis.call('HSET', KEYS[2], 'seen', ARGV[2]) end
keep(ARGV[3])
return reply(last, left)
"#;

/// ARGV: now, keep. Reply: went offline?, channels left.
const REAP: &str = r#"
local gone, left = reap(ARGV[1])
local offline = gone > 0 and redis.call('ZCARD', KEYS[1]) == 0
if offline then redis.call('HSET', KEYS[2], 'seen', ARGV[1]) end
keep(ARGV[2])
return reply(offline, left)
"#;

/// ARGV: entry, channel, expiry, now, keep. Reply: 1 when the user's first socket there.
const JOIN: &str = r#"
local first = not in_channel(ARGV[2], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
keep(ARGV[5])
return first and 1 or 0
"#;

/// ARGV: entry, channel, now. Reply: 1 when it was the user's last socket there.
const LEAVE: &str = r#"
local removed = redis.call('ZREM', KEYS[3], ARGV[1]) == 1
return (removed and not in_channel(ARGV[2], ARGV[3], nil)) and 1 or 0
"#;

/// ARGV: now. Reply: devices, chosen, message, act, seen; empty for an unknown user.
const RECORD: &str = r#"
local devices = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
local info = redis.call('HMGET', KEYS[2], 'chosen', 'message', 'act', 'seen')
if devices == 0 and not info[1] and not info[3] then return {} end
return { tostring(devices), info[1] or 'online', info[2] or '', info[3] or '0', info[4] or '' }
"#;

/// ARGV: now, keep.
const TOUCH: &str = r#"
local act = tonumber(redis.call('HGET', KEYS[2], 'act') or '0')
if tonumber(ARGV[1]) > act then redis.call('HSET', KEYS[2], 'act', ARGV[1]) end
keep(ARGV[2])
return 0
"#;

/// ARGV: chosen, message ('' for none), keep.
const SET_STATUS: &str = r#"
redis.call('HSET', KEYS[2], 'chosen', ARGV[1])
if ARGV[2] == '' then redis.call('HDEL', KEYS[2], 'message')
else redis.call('HSET', KEYS[2], 'message', ARGV[2]) end
keep(ARGV[3])
return 0
"#;

/// ARGV: told. Reply: 1 when it differs from the last told.
const MARK_TOLD: &str = r#"
if redis.call('HGET', KEYS[2], 'told') == ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'told', ARGV[1])
return 1
"#;

/// ARGV: expiry, keep, now, then the node's socket entries, then `"{entry} {channel}"`
/// entries, split by the socket count in ARGV[4]. Re-asserts them all, so entries lost to
/// a Redis restart come back too (activity then counts from now). Then drops what dead
/// nodes left of the user: the sweeps look only at users no node refreshes, and this one
/// is refreshed. Reply: the channels the user is left out of.
const REFRESH: &str = r#"
local sockets = tonumber(ARGV[4])
for i = 5, 4 + sockets do redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i]) end
for i = 5 + sockets, #ARGV do redis.call('ZADD', KEYS[3], ARGV[1], ARGV[i]) end
local _, left = reap(ARGV[3])
redis.call('HSETNX', KEYS[2], 'chosen', 'online')
redis.call('HSETNX', KEYS[2], 'act', ARGV[3])
keep(ARGV[2])
return left
"#;

/// The channel index (one key: members of a channel as `"{entry} {user}"`), ARGV: now.
/// Drops expired entries and returns the rest.
pub const MEMBERS: &str = r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
"#;

/// One channel key, ARGV: now. Forgets expired entries (`entry user`), then answers
/// `{users, sockets}`: counted in Redis, so a channel of thousands costs one round trip
/// and two numbers, not its member list.
pub const STATS: &str = r#"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local users, seen = 0, {}
for _, entry in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local user = string.match(entry, ' (.*)$')
  if user and not seen[user] then seen[user] = true; users = users + 1 end
end
return {users, redis.call('ZCARD', KEYS[1])}
"#;

/// The online index (one key: users scored by their latest socket expiry), ARGV: user,
/// now. Forgets the user unless a socket refreshed it meanwhile.
pub const UNLIST: &str = r#"
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
"#;

/// The user scripts with the prelude they share, built once.
pub struct UserScripts {
    pub open: String,
    pub close: String,
    pub reap: String,
    pub join: String,
    pub leave: String,
    pub record: String,
    pub touch: String,
    pub set_status: String,
    pub mark_told: String,
    pub refresh: String,
}

impl Default for UserScripts {
    fn default() -> Self {
        let with_prelude = |body: &str| format!("{PRELUDE}{body}");
        Self {
            open: with_prelude(OPEN),
            close: with_prelude(CLOSE),
            reap: with_prelude(REAP),
            join: with_prelude(JOIN),
            leave: with_prelude(LEAVE),
            record: with_prelude(RECORD),
            touch: with_prelude(TOUCH),
            set_status: with_prelude(SET_STATUS),
            mark_told: with_prelude(MARK_TOLD),
            refresh: with_prelude(REFRESH),
        }
    }
}
