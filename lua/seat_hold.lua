-- seat_hold.lua: holds one seat of a concert performance for one user until a deadline. The seat, the
-- user's other seats of the performance, the reservation, its hold and the queue share the event's tag,
-- so the queue gate (shared block below), the seat's state, the per-user limit and the taking are one
-- decision.
--
-- KEYS[1..4] the event's queue conf, wait, active, admitted (see queue.lua)
-- KEYS[5]    the performance hash "{ev:E}:perf:<P>": total, price, startsAt (ms), limit
-- KEYS[6]    the seat hash "{ev:E}:perf:<P>:seats": seatNo -> "HELD <reservationId> <expiresAt>" | "SOLD <reservationId>"
-- KEYS[7]    the user's reservations of the performance "{ev:E}:perf:<P>:user:<U>" (ZSET, score expiresAt, +inf once sold)
-- KEYS[8]    the new reservation's hash "{ev:E}:resv:<reservationId>": user, status, record (JSON)
-- KEYS[9]    the holds ZSET "{ev:E}:holds" (shared with orders; member reservationId, score expiresAt)
-- KEYS[10]   the event's outbox stream
-- ARGV[1] eventId  ARGV[2] userId  ARGV[3] queue token ("" when none)  ARGV[4] performanceId
-- ARGV[5] seatNo (a positive integer)  ARGV[6] reservationId  ARGV[7] hold milliseconds
--
-- Returns
--   {"HELD", record}                         the seat is held; record is the reservation's JSON
--   {"SEAT_UNAVAILABLE", "HELD"|"SOLD"}      someone holds or bought it; nothing changes
--   {"STALE", reservationId}                 the seat's hold ran out but is not released yet: release that
--                                            reservation (seat_release.lua, EXPIRED), then try again
--   {"LIMIT_REACHED", limit}                 the user already holds or bought `limit` seats of it
--   {"NO_SEAT", total}                       seatNo is beyond the performance's seats
--   {"STARTED"}                              the performance has begun: nothing is sold any more
--   {"NO_PERFORMANCE"}                       Redis lacks the performance (lost data: run recover)
--   the gate's refusals ({"NO_EVENT"}, {"QUEUE_TOKEN_REQUIRED"}, {"QUEUE_NOT_ACTIVE", status, position})
-- Invariant: a seat has at most one live reservation (HELD before its deadline, or CONFIRMED), and a user
-- has at most `limit` of them per performance.

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

local eventId, user, performanceId, seatNo, reservationId = ARGV[1], ARGV[2], ARGV[4], ARGV[5], ARGV[6]
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local refusal = queueGate(KEYS[1], KEYS[2], KEYS[3], KEYS[4], eventId, user, ARGV[3], now)
if refusal then return refusal end

local p = redis.call("HMGET", KEYS[5], "total", "price", "startsAt", "limit")
if not p[1] then return {"NO_PERFORMANCE"} end
local total, price, startsAt, limit = tonumber(p[1]), tonumber(p[2]), tonumber(p[3]), tonumber(p[4])
local seat = tonumber(seatNo)
if not seat or seat < 1 or seat ~= math.floor(seat) then return redis.error_reply("ERR seat_hold.lua: seatNo must be a positive integer") end
if seat > total then return {"NO_SEAT", total} end
if now >= startsAt then return {"STARTED"} end

local state = redis.call("HGET", KEYS[6], seatNo)
if state then
  local kind, holder, deadline = string.match(state, "^(%u+) (%S+) ?(%d*)$")
  if kind == "HELD" and tonumber(deadline) <= now then return {"STALE", holder} end
  return {"SEAT_UNAVAILABLE", kind}
end
-- Holds past their deadline do not count (they are released on their way out); sold seats count for ever.
if redis.call("ZCOUNT", KEYS[7], "(" .. now, "+inf") >= limit then return {"LIMIT_REACHED", limit} end

local expiresAt = now + tonumber(ARGV[7])
local record = cjson.encode({reservationId = reservationId, eventId = eventId, performanceId = performanceId,
                             seatNo = seat, userId = user, amount = price, createdAt = now, expiresAt = expiresAt})
redis.call("HSET", KEYS[6], seatNo, "HELD " .. reservationId .. " " .. expiresAt)
redis.call("ZADD", KEYS[7], expiresAt, reservationId)
redis.call("HSET", KEYS[8], "user", user, "status", "HELD", "record", record)
redis.call("ZADD", KEYS[9], expiresAt, reservationId)
redis.call("XADD", KEYS[10], "*", "v", "1", "type", "RESERVATION_HELD", "id", "hld_" .. reservationId, "at", tostring(now), "data", record)
return {"HELD", record}
