-- wallet_debit.lua: the first step of paying — takes the amount from the wallet, once per payment id,
-- and records the payment as DEBITED (open) until the order is confirmed or the money refunded.
-- Paying spans two hash tags (the wallet's and the event's), so it is a flow of idempotent scripts
-- sharing one payment id (DESIGN.md rule 3); the worker's reconciler finishes any flow left DEBITED.
--
-- KEYS[1]  balance "{uNN}:wallet:<userId>"
-- KEYS[2]  payment hash "{uNN}:payment:<paymentId>": state, user, amount (debited), ref, eventId, at,
--          couponId and discount (a coupon applied: coupon_reserve.lua), reason (set when refunded)
-- KEYS[3]  open payments ZSET "{uNN}:payments:open" (paymentId → debited at, ms)
-- KEYS[4]  outbox stream "{uNN}:outbox"
-- KEYS[5]  idempotency record "{uNN}:idem:<userId>:payment:<key>" (a placeholder without a key)
-- ARGV[1] userId  ARGV[2] paymentId  ARGV[3] amount  ARGV[4] ref (orderId)  ARGV[5] eventId
-- ARGV[6] request fingerprint  ARGV[7] "1" with an Idempotency-Key  ARGV[8] idempotency TTL seconds
-- ARGV[9] couponId ("" without one)  ARGV[10] the coupon's discount (ARGV[3] is the amount after it)
--
-- Returns {state, balance, couponId, discount, reason}: state DEBITED (now or before: idempotent), or
-- CONFIRMED / REFUNDED for a payment already settled — always the payment's own coupon and discount as
-- first recorded, whatever this call asked for; {"SHORT", balance} when the balance is below the amount
-- (nothing changes), or {"REUSED"} when the key was used for another request (nothing changes).
-- Invariant: balance = Σ charges − Σ debits + Σ refunds; a payment id is debited at most once.
local balance = tonumber(redis.call("GET", KEYS[1]) or "0")
if ARGV[7] == "1" then
  local previous = redis.call("GET", KEYS[5])
  if previous and previous ~= ARGV[6] then return {"REUSED"} end
end
local p = redis.call("HMGET", KEYS[2], "state", "couponId", "discount", "reason")
if p[1] then return {p[1], balance, p[2] or "", tonumber(p[3] or "0"), p[4] or ""} end
local amount = tonumber(ARGV[3])
if balance < amount then return {"SHORT", balance} end

local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local after = redis.call("DECRBY", KEYS[1], amount)
redis.call("HSET", KEYS[2], "state", "DEBITED", "user", ARGV[1], "amount", amount, "ref", ARGV[4], "eventId", ARGV[5], "at", now,
           "couponId", ARGV[9], "discount", ARGV[10])
redis.call("ZADD", KEYS[3], now, ARGV[2])
redis.call("XADD", KEYS[4], "*", "v", "1", "type", "WALLET_DEBITED", "id", ARGV[2], "at", tostring(now),
           "data", cjson.encode({userId = ARGV[1], amount = amount, balanceAfter = after, paymentId = ARGV[2], ref = ARGV[4]}))
if ARGV[7] == "1" then redis.call("SET", KEYS[5], ARGV[6], "EX", tonumber(ARGV[8])) end
return {"DEBITED", after, ARGV[9], tonumber(ARGV[10]), ""}
