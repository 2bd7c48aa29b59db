-- queue_gate.lua: may this user act on this event? On a queued event only with their ACTIVE queue token.
--
-- The block between the "shared: queue_gate" markers is the gate itself. Every script that acts on a
-- queued event (orders, seat holds, payments) carries an identical copy, so the token is checked in the
-- same atomic call that acts; the EmbedLua build step fails the build if a copy differs from this file's.
-- Run alone, this script serves read-only routes and expires a token after a payment.
--
-- KEYS[1] conf      KEYS[2] wait      KEYS[3] active      KEYS[4] admitted   (see queue.lua; one tag)
-- ARGV[1] "check" or "expire"   ARGV[2] eventId   ARGV[3] userId   ARGV[4] token ("" when none was sent)
--
-- Returns {"PASS"} (check: the user may act), {"EXPIRED"} (expire: done, idempotent), or the gate's
-- refusal: {"NO_EVENT"}, {"QUEUE_TOKEN_REQUIRED"}, {"QUEUE_NOT_ACTIVE", status, position}.

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

if ARGV[1] == "expire" then
  queueExpire(KEYS[3], KEYS[4], ARGV[3])
  return {"EXPIRED"}
end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local refusal = queueGate(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2], ARGV[3], ARGV[4], now)
if refusal then return refusal end
return {"PASS"}
