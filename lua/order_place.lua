-- order_place.lua: takes every item of an order or none, and holds the stock until a deadline.
-- All items belong to one event, so their products share the event's tag with the order, its hold and
-- the queue: the queue gate (shared block below), the stock check and the taking are one decision.
--
-- KEYS[1..4] the event's queue conf, wait, active, admitted (see queue.lua)
-- KEYS[5]    the order hash "{ev:E}:order:<orderId>": user, status, record (JSON)
-- KEYS[6]    the holds ZSET "{ev:E}:holds" (orderId → expiresAt ms)
-- KEYS[7]    the idempotency record "{ev:E}:idem:<userId>:order:<key>": fingerprint, newline, the record
--            (a placeholder key when the request has none). Per event: the same key reused for an order
--            of another event is not seen here.
-- KEYS[8]    the event's outbox stream
-- KEYS[9..]  the product hashes, one per item, in item order
-- ARGV[1] eventId  ARGV[2] userId  ARGV[3] queue token ("" when none)  ARGV[4] orderId
-- ARGV[5] hold milliseconds  ARGV[6] request fingerprint  ARGV[7] "1" with an Idempotency-Key
-- ARGV[8] idempotency TTL seconds  ARGV[9] item count N, then N pairs: productId, quantity
--
-- Returns
--   {"PLACED", orderId, record}                the stock is taken and held; record is the order's JSON
--   {"REPLAY", record}                         the key was used with this request before: its order
--   {"REUSED"}                                 the key was used with another request; nothing changes
--   {"NO_PRODUCT", productId} / {"OUT_OF_STOCK", productId, stock}   nothing changes
--   the gate's refusals ({"NO_EVENT"}, {"QUEUE_TOKEN_REQUIRED"}, {"QUEUE_NOT_ACTIVE", status, position})
-- Invariant: for every product, stock + units held or sold by orders = supply; stock never below 0.

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

local eventId, user, orderId = ARGV[1], ARGV[2], ARGV[4]
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local withKey = ARGV[7] == "1"
if withKey then
  local previous = redis.call("GET", KEYS[7])
  if previous then
    local sep = string.find(previous, "\n", 1, true)
    if string.sub(previous, 1, sep - 1) ~= ARGV[6] then return {"REUSED"} end
    return {"REPLAY", string.sub(previous, sep + 1)}
  end
end

-- The gate after the idempotency record: a repeat of a request that passed it gets its first answer even
-- when the token has expired since (paying expires it).
local refusal = queueGate(KEYS[1], KEYS[2], KEYS[3], KEYS[4], eventId, user, ARGV[3], now)
if refusal then return refusal end

-- Check everything, then take everything.
local count = tonumber(ARGV[9])
local items, total = {}, 0
for i = 1, count do
  local productId, quantity = ARGV[8 + 2 * i], tonumber(ARGV[9 + 2 * i])
  local p = redis.call("HMGET", KEYS[8 + i], "stock", "price")
  if not p[1] then return {"NO_PRODUCT", productId} end
  local stock, price = tonumber(p[1]), tonumber(p[2])
  if stock < quantity then return {"OUT_OF_STOCK", productId, stock} end
  items[i] = {productId = productId, quantity = quantity, unitPrice = price}
  total = total + price * quantity
end
for i = 1, count do redis.call("HINCRBY", KEYS[8 + i], "stock", -items[i].quantity) end

local expiresAt = now + tonumber(ARGV[5])
local record = cjson.encode({orderId = orderId, eventId = eventId, userId = user, items = items,
                             totalAmount = total, createdAt = now, expiresAt = expiresAt})
redis.call("HSET", KEYS[5], "user", user, "status", "PENDING_PAYMENT", "record", record)
redis.call("ZADD", KEYS[6], expiresAt, orderId)
redis.call("XADD", KEYS[8], "*", "v", "1", "type", "ORDER_PLACED", "id", "plc_" .. orderId, "at", tostring(now), "data", record)
if withKey then redis.call("SET", KEYS[7], ARGV[6] .. "\n" .. record, "EX", tonumber(ARGV[8])) end
return {"PLACED", orderId, record}
