-- order_release.lua: returns the stock of an unpaid order, exactly once. A release names the order it
-- releases and happens only while that order is still PENDING_PAYMENT (compare-and-delete), so any
-- number of sweepers, lazy readers and cancellations racing on one order give the stock back once.
--
-- KEYS[1]  the order hash   KEYS[2]  the holds ZSET   KEYS[3]  the event's outbox
-- KEYS[4..] the product hashes of the order's items, in the record's item order
-- ARGV[1]  orderId   ARGV[2]  "EXPIRED" (only once the deadline has passed, by Redis TIME) or "CANCELLED"
-- ARGV[3]  why it was cancelled (optional; kept as the order's `cancelReason`, so a repeat of the request
--          that cancelled it can answer as it did: "INSUFFICIENT_BALANCE", "COUPON <reason>")
--
-- Returns {"RELEASED", status}, {"NOT_PENDING", status}, {"NOT_DUE", expiresAt} or {"NO_ORDER"}.
local o = redis.call("HMGET", KEYS[1], "status", "record")
if not o[1] then return {"NO_ORDER"} end
if o[1] ~= "PENDING_PAYMENT" then return {"NOT_PENDING", o[1]} end
local record = cjson.decode(o[2])
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == "EXPIRED" and now < record.expiresAt then return {"NOT_DUE", record.expiresAt} end
if #KEYS - 3 ~= #record.items then return redis.error_reply("ERR order_release.lua: the keys do not match the order's items") end
for i, item in ipairs(record.items) do
  local key = KEYS[3 + i]
  if string.sub(key, -string.len(item.productId)) ~= item.productId then
    return redis.error_reply("ERR order_release.lua: key " .. key .. " is not product " .. item.productId)
  end
  redis.call("HINCRBY", key, "stock", item.quantity)
end
redis.call("HSET", KEYS[1], "status", ARGV[2])
if ARGV[3] and ARGV[3] ~= "" then redis.call("HSET", KEYS[1], "cancelReason", ARGV[3]) end
redis.call("EXPIRE", KEYS[1], 7 * 86400)  -- settled: PostgreSQL keeps it; Redis only for retries and reads
redis.call("ZREM", KEYS[2], ARGV[1])
record.status = ARGV[2]
redis.call("XADD", KEYS[3], "*", "v", "1", "type", "ORDER_RELEASED", "id", "rel_" .. ARGV[1], "at", tostring(now),
           "data", cjson.encode(record))
return {"RELEASED", ARGV[2]}
