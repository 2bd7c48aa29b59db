-- coupon_reserve.lua: sets a user's coupon aside for one payment, so it is used at most once even when
-- many payments race for it. Paying spans the wallet's, the event's and the coupon's tags; the payment
-- id is the thread through them (DESIGN.md rule 3). The payment was debited first, recording this
-- coupon and its discount, so a crash after this call is finished by the reconciler from the payment.
--
-- KEYS[1]  the coupon hash "{cp:<couponId>}:coupon": discountType, discountValue, minOrderAmount,
--          validFrom, validUntil (ms; 0 = open)
-- KEYS[2]  the holders hash "{cp:<couponId>}:holders": userId → state, one of
--            "ISSUED <issuedAtMs>"
--            "RESERVED <issuedAtMs> <paymentId>"
--            "USED <usedAtMs> <paymentId> <issuedAtMs>"
-- KEYS[3]  the refusals hash "{cp:<couponId>}:refusals": paymentId → reason. A refusal is final for its
--          payment: several drivers of one payment (parallel requests, the reconciler) may call this, and
--          once one was refused and refunded, another must not reserve the coupon later and pay.
-- ARGV[1]  userId   ARGV[2]  paymentId   ARGV[3]  the amount before the discount
-- ARGV[4]  the discount the payment was debited with (computed from the same terms, CouponTerms.swift)
--
-- Returns {"RESERVED"} (now, or before for this same payment: idempotent; also when already USED by it)
-- or {"REFUSED", reason}: NO_COUPON, NOT_ISSUED, IN_USE (reserved by another payment), USED,
-- NOT_YET_VALID, EXPIRED, BELOW_MINIMUM, DISCOUNT_MISMATCH. A refusal changes nothing but the record of
-- it in KEYS[3].
local function refuse(reason)
  redis.call("HSET", KEYS[3], ARGV[2], reason)
  redis.call("EXPIRE", KEYS[3], 8 * 86400)  -- longer than any payment stays open
  return {"REFUSED", reason}
end

local before = redis.call("HGET", KEYS[3], ARGV[2])
if before then return {"REFUSED", before} end
local state = redis.call("HGET", KEYS[2], ARGV[1])
if not state then
  return refuse(redis.call("EXISTS", KEYS[1]) == 0 and "NO_COUPON" or "NOT_ISSUED")
end
local kind, first, payment = string.match(state, "^(%u+) (%d+) ?(%S*)")
if kind == "RESERVED" or kind == "USED" then
  if payment == ARGV[2] then return {"RESERVED"} end
  return refuse(kind == "USED" and "USED" or "IN_USE")
end

local c = redis.call("HMGET", KEYS[1], "discountType", "discountValue", "minOrderAmount", "validFrom", "validUntil")
if not c[1] then return refuse("NO_COUPON") end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local from, untilMs = tonumber(c[4] or "0"), tonumber(c[5] or "0")
if from > 0 and now < from then return refuse("NOT_YET_VALID") end
if untilMs > 0 and now >= untilMs then return refuse("EXPIRED") end
local amount = tonumber(ARGV[3])
if amount < tonumber(c[3] or "0") then return refuse("BELOW_MINIMUM") end
-- PERCENT rounds down; neither kind takes more than the amount.
local value = tonumber(c[2])
local discount = c[1] == "PERCENT" and math.floor(amount * value / 100) or value
if discount > amount then discount = amount end
if discount ~= tonumber(ARGV[4]) then return refuse("DISCOUNT_MISMATCH") end

redis.call("HSET", KEYS[2], ARGV[1], "RESERVED " .. first .. " " .. ARGV[2])
return {"RESERVED"}
