-- queue.lua: the waiting queue of one event. Every operation on it (enter, poll, leave, admit, stats,
-- configure) is one call of this script, so the rules they share — Redis's clock, the token check, who
-- counts as still there — are written once.
--
-- Memory: a waiting user costs one ZSET entry (member userId, score seq) and one bit in each of the
-- "seen" bitmaps; nothing else. The queue token is not stored: it is the user's seq plus a MAC over
-- (event, user, seq) keyed by the event's secret, so it is recomputed, never looked up.
--
-- Fairness: seq comes from HINCRBY at the moment the entry reaches Redis, so waiting order is arrival
-- order at Redis; admission takes the lowest seq first. Position = ZRANK + 1 can only shrink while the
-- user waits: nobody is ever inserted ahead of an existing seq.
--
-- Abandonment: time is cut into windows of abandonAfter/4; a poll (or the entry itself) sets the user's
-- bit in the current window's bitmap. Six bitmaps form a ring: the current window, the four before it,
-- and one being cleared. A user with no bit in the last five windows has been silent for at least
-- abandonAfter (and at most 1.25 × abandonAfter) and loses the place: lazily when they poll or reach
-- the head of the line, and by a chunked sweep in `admit` so the people behind move up.
--
-- KEYS (one hash tag, {ev:<eventId>}):
--   1 conf      HASH   enabled ("1"/"0"), maxActive, activeTtl (s), admitPerSecond (0 = no cap),
--                      abandonAfter (s), secret, version
--   2 state     HASH   seq, admittedTotal, window, bucket, bucketAt, rate, rateAt, rateSince, sweepCursor, sweepAt,
--                      etaRate (what `rate()` gave at the last admission round, -1 when paused: the
--                      gateway's poll fast path reads it instead of running this script)
--   3 wait      ZSET   userId -> seq
--   4 active    ZSET   userId -> activeUntil (ms since the epoch, Redis clock)
--   5 admitted  HASH   userId -> seq of the token that was admitted
--   6 outbox    STREAM QUEUE_ADMITTED events for the worker (PostgreSQL: queue_admissions)
--   7 rate      HASH   unix second -> admissions in that second (the last minute only)
--   8..13 seen:0 .. seen:5  BITMAPs indexed by seq
-- ARGV[1] operation, ARGV[2] eventId, then the operation's own (see each function).
--
-- Replies (arrays; the first element names the outcome):
--   {"NO_EVENT"}                                   the event's settings are not in Redis (the gateway
--                                                  reloads them from PostgreSQL and retries)
--   {"DISABLED"}                                   enter on an event whose queue is off
--   {"INVALID"}                                    a token that is not this user's token for this event
--   {"WAITING", token, position, eta, pollAfterMs, fresh}   eta -1 = unknown (admission paused)
--   {"ACTIVE", token, activeUntilMs, pollAfterMs, fresh}    fresh 1 = issued by this call
--   {"EXPIRED"}                                    left, abandoned, active time over, or paid
--   {"LEFT"}                                       leave: the place or slot was given up (or already gone)
--   {"ADMIT", admitted, expired, abandoned, waiting, active, ratePerSecondText, admittedTotal}
--   {"STATS", waiting, active, admittedTotal, ratePerSecondText, enteredTotal}
--   {"CONFIGURED", version}                        configure: the version now in Redis

local conf, state, wait, active, admitted, outbox, rates = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local op, eventId = ARGV[1], ARGV[2]
local RING = 6

-- >>> shared: queue_gate
-- A queue token is `<seq>.<mac>`; the MAC (keyed by the event's secret) binds it to the event, the user
-- and the place, so it is recomputed here, never stored.
local function queueToken(secret, eventId, user, seq)
  local inner = redis.sha1hex(secret .. ":" .. eventId .. ":" .. user .. ":" .. seq)
  return seq .. "." .. string.sub(redis.sha1hex(secret .. inner), 1, 24)
end

-- The seq of `text` when it is this user's token for this event; nil otherwise.
local function queueTokenSeq(secret, eventId, user, text)
  local seq = string.match(text or "", "^(%d+)%.%x+$")
  if seq and string.len(seq) <= 15 and queueToken(secret, eventId, user, seq) == text then return seq end
  return nil
end

-- nil when the user may act: the event is not queued, or `token` is their ACTIVE token for it. Otherwise
-- the refusal: {"NO_EVENT"} (settings missing from Redis: reload, retry), {"QUEUE_TOKEN_REQUIRED"}, or
-- {"QUEUE_NOT_ACTIVE", status, position} with status INVALID (not theirs / not this event's), WAITING
-- (with the 1-based position) or EXPIRED.
local function queueGate(confKey, waitKey, activeKey, admittedKey, eventId, user, token, now)
  local c = redis.call("HMGET", confKey, "enabled", "secret")
  if not c[2] then return {"NO_EVENT"} end
  if c[1] ~= "1" then return nil end
  if token == "" then return {"QUEUE_TOKEN_REQUIRED"} end
  local seq = queueTokenSeq(c[2], eventId, user, token)
  if not seq then return {"QUEUE_NOT_ACTIVE", "INVALID", 0} end
  if redis.call("HGET", admittedKey, user) == seq and tonumber(redis.call("ZSCORE", activeKey, user) or "0") > now then
    return nil
  end
  if redis.call("ZSCORE", waitKey, user) == seq then
    return {"QUEUE_NOT_ACTIVE", "WAITING", redis.call("ZRANK", waitKey, user) + 1}
  end
  return {"QUEUE_NOT_ACTIVE", "EXPIRED", 0}
end

-- Ends the user's ACTIVE place (they completed a payment for the event): the token is EXPIRED from now.
local function queueExpire(activeKey, admittedKey, user)
  redis.call("ZREM", activeKey, user)
  redis.call("HDEL", admittedKey, user)
end
-- <<< shared: queue_gate

-- configure needs no existing settings; every other operation does.
if op == "configure" then
  -- ARGV[3] version, then field/value pairs. An older version than the one stored is ignored, so two
  -- racing admin updates leave the newer one in place whatever order they arrive in.
  local stored = tonumber(redis.call("HGET", conf, "version") or "0")
  local version = tonumber(ARGV[3])
  if version > stored then
    local fields = {"version", ARGV[3]}
    for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
    redis.call("HSET", conf, unpack(fields))
    stored = version
  end
  return {"CONFIGURED", stored}
end

local c = redis.call("HMGET", conf, "enabled", "maxActive", "activeTtl", "admitPerSecond", "abandonAfter", "secret")
if not c[6] then return {"NO_EVENT"} end
local enabled = c[1] == "1"
local maxActive = tonumber(c[2])
local activeTtlMs = tonumber(c[3]) * 1000
local admitPerSecond = tonumber(c[4])
local abandonAfterMs = tonumber(c[5]) * 1000
local secret = c[6]

local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local windowMs = math.max(250, math.floor(abandonAfterMs / 4))
local window = math.floor(now / windowMs)

local function seenKey(w) return KEYS[8 + (w % RING)] end

local function token(user, seq) return queueToken(secret, eventId, user, seq) end
local function verified(user, text) return queueTokenSeq(secret, eventId, user, text) end

-- Moves the ring forward to the current window, clearing the slots of windows that fell out of it.
-- Only writing operations call this; `stats` reads as it finds.
local function rotate()
  local last = tonumber(redis.call("HGET", state, "window") or "-1")
  if last < 0 then
    redis.call("HSET", state, "window", window)
  elseif window > last then
    for w = last + 1, math.min(window, last + RING) do redis.call("DEL", seenKey(w + 1)) end
    redis.call("HSET", state, "window", window)
  end
end

local function alive(seq)
  for back = 0, RING - 2 do
    if redis.call("GETBIT", seenKey(window - back), seq) == 1 then return true end
  end
  return false
end

local function markSeen(seq)
  if redis.call("GETBIT", seenKey(window), seq) == 0 then redis.call("SETBIT", seenKey(window), seq, 1) end
end

-- Admissions per second averaged over the last minute (or since admissions began, when sooner), as
-- measured by `admit`; when nothing was admitted lately, the rate the settings guarantee at least
-- (every active slot frees itself within activeTtl). nil when admission is paused.
local function rate()
  local measured = tonumber(redis.call("HGET", state, "rate") or "0")
  if measured > 0 then return measured end
  if not enabled or maxActive == 0 then return nil end
  local floor = maxActive * 1000 / activeTtlMs
  if admitPerSecond > 0 and admitPerSecond < floor then floor = admitPerSecond end
  return floor
end

-- `known`: the token when the caller presented it (verified), saving its recomputation.
local function waitingReply(user, seq, fresh, known)
  local position = redis.call("ZRANK", wait, user) + 1
  local perSecond = rate()
  local eta, pollAfter = -1, 5000
  if perSecond then
    eta = math.ceil(position / perSecond)
    -- A fifth of the expected wait: near the front every half second, far back rarely. Never so long
    -- that a user who follows the advice is taken for gone.
    pollAfter = eta * 200
  end
  pollAfter = math.max(500, math.min(pollAfter, 30000, math.floor(abandonAfterMs / 3)))
  return {"WAITING", known or token(user, seq), position, eta, pollAfter, fresh}
end

local function activeReply(user, seq, untilMs, fresh, known)
  local pollAfter = math.max(1000, math.min(30000, math.floor((untilMs - now) / 2)))
  return {"ACTIVE", known or token(user, seq), untilMs, pollAfter, fresh}
end

-- The user's live active slot as {seq, untilMs}, or nil; an expired one is removed on the way.
local function liveActive(user)
  local seq = redis.call("HGET", admitted, user)
  if not seq then return nil end
  local untilMs = tonumber(redis.call("ZSCORE", active, user) or "0")
  if untilMs > now then return seq, untilMs end
  redis.call("ZREM", active, user)
  redis.call("HDEL", admitted, user)
  return nil
end

if op == "enter" then
  -- ARGV[3] userId. One live token per user: a repeat (or 50 at once) gets the same token back.
  if not enabled then return {"DISABLED"} end
  local user = ARGV[3]
  rotate()
  local waiting = redis.call("ZSCORE", wait, user)
  if waiting then
    if alive(waiting) then
      markSeen(waiting)
      return waitingReply(user, waiting, 0)
    end
    redis.call("ZREM", wait, user)  -- abandoned: this entry starts over at the back
  end
  local seq, untilMs = liveActive(user)
  if seq then return activeReply(user, seq, untilMs, 0) end
  seq = redis.call("HINCRBY", state, "seq", 1)
  redis.call("ZADD", wait, seq, user)
  redis.call("SETBIT", seenKey(window), seq, 1)
  return waitingReply(user, tostring(seq), 1)

elseif op == "poll" then
  -- ARGV[3] userId, ARGV[4] token.
  local user = ARGV[3]
  local seq = verified(user, ARGV[4])
  if not seq then return {"INVALID"} end
  rotate()
  if redis.call("ZSCORE", wait, user) == seq then
    if alive(seq) then
      markSeen(seq)
      return waitingReply(user, seq, 0, ARGV[4])
    end
    redis.call("ZREM", wait, user)
    return {"EXPIRED"}
  end
  local activeSeq, untilMs = liveActive(user)
  if activeSeq == seq then return activeReply(user, seq, untilMs, 0, ARGV[4]) end
  return {"EXPIRED"}

elseif op == "leave" then
  -- ARGV[3] userId, ARGV[4] token. Leaving twice is leaving once.
  local user = ARGV[3]
  local seq = verified(user, ARGV[4])
  if not seq then return {"INVALID"} end
  if redis.call("ZSCORE", wait, user) == seq then redis.call("ZREM", wait, user) end
  if redis.call("HGET", admitted, user) == seq then
    redis.call("ZREM", active, user)
    redis.call("HDEL", admitted, user)
  end
  return {"LEFT"}

elseif op == "admit" then
  -- No further ARGV. Safe from any number of instances at once: every step reads the state it changes.
  if not enabled then return {"ADMIT", 0, 0, 0, redis.call("ZCARD", wait), redis.call("ZCARD", active), "0",
                              tonumber(redis.call("HGET", state, "admittedTotal") or "0")} end
  rotate()

  -- 1. Active time over: the slot is free again.
  local over = redis.call("ZRANGEBYSCORE", active, "-inf", now, "LIMIT", 0, 1000)
  for _, user in ipairs(over) do
    redis.call("ZREM", active, user)
    redis.call("HDEL", admitted, user)
  end

  -- 2. Room: free slots, and the admitPerSecond token bucket (burst: one second's worth).
  local room = maxActive - redis.call("ZCARD", active)
  local bucket
  if admitPerSecond > 0 then
    local s = redis.call("HMGET", state, "bucket", "bucketAt")
    local at = tonumber(s[2] or now)
    bucket = math.min(math.max(admitPerSecond, 1), tonumber(s[1] or admitPerSecond) + (now - at) * admitPerSecond / 1000)
    room = math.min(room, math.floor(bucket))
  end

  -- 3. The head of the line, lowest seq first; a silent head is dropped, not admitted. At most 1,000
  --    looked at per call, so one call never holds Redis for long; the next round goes on.
  local admittedNow, abandoned, examined = 0, 0, 0
  local untilMs = now + activeTtlMs
  while room > 0 and examined < 1000 do
    local head = redis.call("ZRANGE", wait, 0, math.min(room, 500) - 1, "WITHSCORES")
    if #head == 0 then break end
    for i = 1, #head, 2 do
      local user, seq = head[i], head[i + 1]
      examined = examined + 1
      redis.call("ZREM", wait, user)
      if alive(seq) then
        redis.call("ZADD", active, untilMs, user)
        redis.call("HSET", admitted, user, seq)
        redis.call("XADD", outbox, "*", "v", "1", "type", "QUEUE_ADMITTED", "id", "adm_" .. eventId .. "_" .. seq,
                   "at", tostring(now), "data", cjson.encode({eventId = eventId, userId = user, seq = tonumber(seq),
                   activeUntil = untilMs}))
        admittedNow = admittedNow + 1
        room = room - 1
      else
        abandoned = abandoned + 1
      end
      if room == 0 then break end
    end
  end
  if bucket then redis.call("HSET", state, "bucket", tostring(bucket - admittedNow), "bucketAt", now) end

  -- 4. The measured rate: admissions per second over the last minute, recomputed once a second.
  local second = math.floor(now / 1000)
  if admittedNow > 0 then
    redis.call("HINCRBY", rates, second, admittedNow)
    redis.call("HINCRBY", state, "admittedTotal", admittedNow)
    if not redis.call("HGET", state, "rateSince") then redis.call("HSET", state, "rateSince", second) end
  end
  if tonumber(redis.call("HGET", state, "rateAt") or "0") < second then
    local total = 0
    local buckets = redis.call("HGETALL", rates)
    for i = 1, #buckets, 2 do
      local at = tonumber(buckets[i])
      if at < second - 60 then redis.call("HDEL", rates, buckets[i])
      elseif at < second then total = total + tonumber(buckets[i + 1]) end
    end
    local since = tonumber(redis.call("HGET", state, "rateSince") or second)
    local span = math.max(1, math.min(60, second - since))
    redis.call("HSET", state, "rate", tostring(total / span), "rateAt", second)
  end
  redis.call("HSET", state, "etaRate", tostring(rate() or -1))

  -- 5. Sweep: walk the line in chunks from a cursor, dropping the silent, one pass per window at most.
  local sweep = redis.call("HMGET", state, "sweepCursor", "sweepAt")
  local cursor, sweptAt = tonumber(sweep[1] or "0"), tonumber(sweep[2] or "0")
  if cursor > 0 or now - sweptAt >= windowMs then
    local chunk = redis.call("ZRANGEBYSCORE", wait, "(" .. cursor, "+inf", "WITHSCORES", "LIMIT", 0, 1000)
    for i = 1, #chunk, 2 do
      if not alive(chunk[i + 1]) then
        redis.call("ZREM", wait, chunk[i])
        abandoned = abandoned + 1
      end
    end
    if #chunk < 2000 then
      redis.call("HSET", state, "sweepCursor", 0, "sweepAt", now)
    else
      redis.call("HSET", state, "sweepCursor", chunk[#chunk])
    end
  end

  return {"ADMIT", admittedNow, #over, abandoned, redis.call("ZCARD", wait), redis.call("ZCARD", active),
          redis.call("HGET", state, "rate") or "0", tonumber(redis.call("HGET", state, "admittedTotal") or "0")}

elseif op == "stats" then
  local s = redis.call("HMGET", state, "admittedTotal", "rate", "seq")
  return {"STATS", redis.call("ZCARD", wait), redis.call("ZCOUNT", active, "(" .. now, "+inf"),
          tonumber(s[1] or "0"), s[2] or "0", tonumber(s[3] or "0")}
end

return redis.error_reply("ERR queue.lua: unknown operation " .. tostring(op))
