-- wallet_settle.lua: the last step of paying, on the wallet's side — CONFIRMED once the order is paid,
-- or REFUNDED (the amount back in the wallet, once) when the order could not take the payment. Either
-- way the payment leaves the open set, so the reconciler stops looking at it.
--
-- KEYS[1]  balance   KEYS[2]  payment hash   KEYS[3]  open payments ZSET   KEYS[4]  outbox stream
-- ARGV[1]  paymentId   ARGV[2]  "CONFIRM" or "REFUND"   ARGV[3]  why a refund (kept on the payment, so a
--          repeat of the request answers as the first did: "DEAD <order status>" or "COUPON <reason>")
--
-- Returns {state, balance}: the payment's state after the call — CONFIRMED or REFUNDED — or
-- {"NO_PAYMENT"}. A refund of a confirmed payment (or the reverse) changes nothing and returns the state.
local p = redis.call("HMGET", KEYS[2], "state", "user", "amount", "ref")
if not p[1] then return {"NO_PAYMENT"} end
local balance = tonumber(redis.call("GET", KEYS[1]) or "0")
if p[1] ~= "DEBITED" then return {p[1], balance} end
-- A settled payment is kept a week (retries of its request replay from it), then Redis forgets it.
redis.call("EXPIRE", KEYS[2], 7 * 86400)
if ARGV[2] == "CONFIRM" then
  redis.call("HSET", KEYS[2], "state", "CONFIRMED")
  redis.call("ZREM", KEYS[3], ARGV[1])
  return {"CONFIRMED", balance}
end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local amount = tonumber(p[3])
local after = redis.call("INCRBY", KEYS[1], amount)
redis.call("HSET", KEYS[2], "state", "REFUNDED", "reason", ARGV[3] or "")
redis.call("ZREM", KEYS[3], ARGV[1])
redis.call("XADD", KEYS[4], "*", "v", "1", "type", "WALLET_REFUNDED", "id", "rfd_" .. ARGV[1], "at", tostring(now),
           "data", cjson.encode({userId = p[2], amount = amount, balanceAfter = after, paymentId = ARGV[1], ref = p[4]}))
return {"REFUNDED", after}
