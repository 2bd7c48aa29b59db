-- reservation_confirm.lua: the event's side of paying for a seat — the held reservation becomes
-- CONFIRMED and its seat SOLD, once, for one payment id, while its hold is alive (Redis TIME before the
-- deadline). The payer's queue token for the event is expired in the same call (shared block of
-- queue_gate.lua), and RESERVATION_CONFIRMED goes to the outbox. Mirrors order_confirm.lua.
--
-- KEYS[1]  the reservation hash   KEYS[2]  the holds ZSET   KEYS[3]  the event's outbox
-- KEYS[4]  the queue's active ZSET   KEYS[5]  the queue's admitted hash
-- KEYS[6]  the performance's seat hash   KEYS[7]  the payer's reservations of the performance (ZSET)
-- ARGV[1]  reservationId   ARGV[2]  paymentId   ARGV[3]  userId (the payer: the reservation's owner)
-- ARGV[4]  discountAmount (won, "" or "0" when none)   ARGV[5]  couponId ("" when none)
--
-- Returns {"PAID", paidAt} (now, or before for this same payment id), or {"DEAD", status} when the
-- reservation cannot take this payment: past its deadline (EXPIRED), released (RELEASED), confirmed by
-- another payment (CONFIRMED), not the payer's (HELD), or unknown (NO_RESERVATION).
-- Invariant: paidAmount = amount - discountAmount, with 0 <= discountAmount <= amount.

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

local r = redis.call("HMGET", KEYS[1], "status", "record", "paymentId", "paidAt", "user")
if not r[1] then return {"DEAD", "NO_RESERVATION"} end
if r[1] == "CONFIRMED" then
  if r[3] == ARGV[2] then return {"PAID", tonumber(r[4])} end
  return {"DEAD", "CONFIRMED"}
end
if r[1] ~= "HELD" or r[5] ~= ARGV[3] then return {"DEAD", r[1]} end
local record = cjson.decode(r[2])
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now >= record.expiresAt then return {"DEAD", "EXPIRED"} end
local seatNo = tostring(record.seatNo)
if string.sub(KEYS[6], -string.len(record.performanceId) - 6) ~= record.performanceId .. ":seats" then
  return redis.error_reply("ERR reservation_confirm.lua: key " .. KEYS[6] .. " is not the seats of " .. record.performanceId)
end

local discount = math.min(math.max(tonumber(ARGV[4]) or 0, 0), record.amount)
record.paymentId = ARGV[2]
record.paidAt = now
record.discountAmount = discount
record.paidAmount = record.amount - discount
if ARGV[5] ~= "" then record.couponId = ARGV[5] end
redis.call("HSET", KEYS[1], "status", "CONFIRMED", "paymentId", ARGV[2], "paidAt", now, "record", cjson.encode(record))
redis.call("EXPIRE", KEYS[1], 7 * 86400)  -- settled: PostgreSQL keeps it; Redis only for retries and reads
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("HSET", KEYS[6], seatNo, "SOLD " .. ARGV[1])
redis.call("ZADD", KEYS[7], "+inf", ARGV[1])
queueExpire(KEYS[4], KEYS[5], ARGV[3])
redis.call("XADD", KEYS[3], "*", "v", "1", "type", "RESERVATION_CONFIRMED", "id", "cnf_" .. ARGV[1], "at", tostring(now),
           "data", cjson.encode(record))
return {"PAID", now}
