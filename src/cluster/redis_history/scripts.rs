//! The Lua scripts of channel history: each operation one script, so offsets, entries
//! and the feed never disagree.

/// Numbers, keeps and puts on the feed (ARGV[5], with the channel JSON-encoded in
/// ARGV[6]) in one step: the feed carries a channel's publications in offset order.
/// With connection-state recovery (ARGV[8], the packet log's size, not empty), also logs
/// the socket event (ARGV[13], its name as JSON) to the channel's room (ARGV[9], JSON) in
/// `/realtime`'s packet log (KEYS[4], its last trimmed id in KEYS[5]; see
/// `redis_recovery`), its payload built as the publication serializes from the event and
/// data (ARGV[10], ARGV[11], JSON) and the time (ARGV[12]), and the feed message carries
/// its log offset (`ro`).
/// Does nothing once Redis's clock is past ARGV[7], when its caller has been, or will be
/// before the answer gets back, answered `unavailable` (a blackholed link delivers the
/// script late); returns Redis's time too, which keeps this node's estimate of that clock
/// fresh.
pub(super) const APPEND: &str = r#"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if now > tonumber(ARGV[7]) then return 'late|' .. now end
local epoch = redis.call('GET', KEYS[1])
if not epoch then epoch = ARGV[1]; redis.call('SET', KEYS[1], epoch) end
local offset = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[3], offset, offset .. '|' .. ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[3]) + 1))
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[4]) end
local logged = ''
if ARGV[8] ~= '' then
  local max = tonumber(ARGV[8])
  local n = redis.call('XLEN', KEYS[4])
  if n >= max then
    local gone = redis.call('XRANGE', KEYS[4], '-', '+', 'COUNT', n - max + 1)
    redis.call('SET', KEYS[5], gone[#gone][1])
    redis.call('XTRIM', KEYS[4], 'MAXLEN', '=', max - 1)
  end
  local publication = '{"channel":' .. ARGV[6] .. ',"event":' .. ARGV[10] .. ',"data":' ..
    ARGV[11] .. ',"offset":' .. offset .. ',"epoch":"' .. epoch .. '","ts":' .. ARGV[12] .. '}'
  local id = redis.call('XADD', KEYS[4], '*', 'p',
    '{"rooms":[' .. ARGV[9] .. '],"event":' .. ARGV[13] .. ',"data":' .. publication .. '}')
  logged = ',"ro":"' .. id .. '"'
end
redis.call('PUBLISH', ARGV[5], '{"p":{"channel":' .. ARGV[6] .. ',"epoch":"' .. epoch ..
  '","offset":' .. offset .. ',"entry":' .. ARGV[2] .. logged .. '}}')
return epoch .. '|' .. offset .. '|' .. now
"#;

/// Puts marker ARGV[2] on the feed (ARGV[1]) with the channel's last offset, returned too.
pub(super) const MARK: &str = r#"
local offset = redis.call('GET', KEYS[1]) or '0'
redis.call('PUBLISH', ARGV[1], '{"m":"' .. ARGV[2] .. '","o":' .. offset .. '}')
return offset
"#;

pub(super) const SINCE: &str = r#"
local epoch = redis.call('GET', KEYS[1]) or ''
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local entries = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf')
return cjson.encode({ epoch = epoch, last = last, entries = entries })
"#;
