-- coupon_issue.lua: first come, first served — one coupon per user while any remain, inside the
-- coupon's validity window by Redis TIME. Decrements, records the holder and XADDs COUPON_ISSUED in one
-- call, so the remaining count, the holders and the event log always agree.
--
-- KEYS[1]  the coupon hash "{cp:<couponId>}:coupon": remaining, validFrom, validUntil (ms; 0 = open)
-- KEYS[2]  the holders hash "{cp:<couponId>}:holders": userId → "ISSUED <issuedAtMs>" (later USED…)
-- KEYS[3]  the coupon's outbox stream "{cp:<couponId>}:outbox"
-- ARGV[1]  couponId   ARGV[2]  userId   ARGV[3]  event id for the outbox (iss_<couponId>_<userId>)
--
-- Returns {"ISSUED", issuedAtMs} or {"REFUSED", reason} with reason NO_COUPON, NOT_YET_VALID, EXPIRED,
-- ALREADY_ISSUED (with the first issue's time) or SOLD_OUT. A refusal changes nothing.
-- Invariant: remaining + number of holders = quantity; remaining ≥ 0.
local c = redis.call("HMGET", KEYS[1], "remaining", "validFrom", "validUntil")
if not c[1] then return {"REFUSED", "NO_COUPON"} end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local from, untilMs = tonumber(c[2] or "0"), tonumber(c[3] or "0")
if from > 0 and now < from then return {"REFUSED", "NOT_YET_VALID"} end
if untilMs > 0 and now >= untilMs then return {"REFUSED", "EXPIRED"} end
local held = redis.call("HGET", KEYS[2], ARGV[2])
if held then return {"REFUSED", "ALREADY_ISSUED", held} end
if tonumber(c[1]) <= 0 then return {"REFUSED", "SOLD_OUT"} end

redis.call("HINCRBY", KEYS[1], "remaining", -1)
redis.call("HSET", KEYS[2], ARGV[2], "ISSUED " .. now)
redis.call("XADD", KEYS[3], "*", "v", "1", "type", "COUPON_ISSUED", "id", ARGV[3], "at", tostring(now),
           "data", cjson.encode({couponId = ARGV[1], userId = ARGV[2], issuedAt = now}))
return {"ISSUED", now}
