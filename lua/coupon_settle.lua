-- coupon_settle.lua: ends a coupon's reservation for one payment — USED when the payment went through
-- (COUPON_USED to the coupon's outbox in the same call), or back to ISSUED when it did not. Only the
-- payment that reserved it can settle it, and settling twice changes nothing.
--
-- KEYS[1]  the holders hash "{cp:<couponId>}:holders" (states: see coupon_reserve.lua)
-- KEYS[2]  the coupon's outbox stream "{cp:<couponId>}:outbox"
-- ARGV[1]  couponId   ARGV[2]  userId   ARGV[3]  paymentId   ARGV[4]  "USE" or "RELEASE"
-- ARGV[5]  the ref the payment paid (orderId or reservationId)   ARGV[6]  the discount
--
-- Returns {state} after the call: "USED", "ISSUED", or "OTHER" when the coupon is not reserved by or
-- used for this payment (nothing changes).
local state = redis.call("HGET", KEYS[1], ARGV[2])
if not state then return {"OTHER"} end
local kind, first, payment, issued = string.match(state, "^(%u+) (%d+) ?(%S*) ?(%d*)")
if payment ~= ARGV[3] then return {kind == "ISSUED" and "ISSUED" or "OTHER"} end
if kind == "USED" then return {"USED"} end
if ARGV[4] == "RELEASE" then
  redis.call("HSET", KEYS[1], ARGV[2], "ISSUED " .. first)
  return {"ISSUED"}
end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("HSET", KEYS[1], ARGV[2], "USED " .. now .. " " .. ARGV[3] .. " " .. first)
redis.call("XADD", KEYS[2], "*", "v", "1", "type", "COUPON_USED", "id", "use_" .. ARGV[1] .. "_" .. ARGV[2], "at", tostring(now),
           "data", cjson.encode({couponId = ARGV[1], userId = ARGV[2], paymentId = ARGV[3], ref = ARGV[5],
                                 discountAmount = tonumber(ARGV[6]), usedAt = now, issuedAt = tonumber(first)}))
return {"USED"}
