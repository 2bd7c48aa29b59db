-- seat_release.lua: ends a HELD seat reservation, exactly once — its owner letting it go (RELEASED) or its
-- deadline passing (EXPIRED). A release names the reservation it releases and happens only while that
-- reservation is still HELD (compare-and-delete); the seat is freed only while it still names this
-- reservation. So any number of sweepers, lazy readers and owners racing on one hold free the seat once.
--
-- KEYS[1]  the reservation hash   KEYS[2]  the holds ZSET   KEYS[3]  the event's outbox
-- KEYS[4]  the performance's seat hash   KEYS[5]  the owner's reservations of the performance (ZSET)
-- ARGV[1]  reservationId   ARGV[2]  "EXPIRED" (only once the deadline has passed, by Redis TIME) or "RELEASED"
-- ARGV[3]  the user asking ("" for the sweeper and lazy readers; otherwise it must be the owner)
--
-- Returns {"RELEASED", status} (EXPIRED once the deadline has passed, whoever asked), {"NOT_HELD", status}, {"NOT_DUE", expiresAt}, {"NOT_OWNER"} or {"NO_RESERVATION"}.
local r = redis.call("HMGET", KEYS[1], "status", "record", "user")
if not r[1] then return {"NO_RESERVATION"} end
if ARGV[3] ~= "" and r[3] ~= ARGV[3] then return {"NOT_OWNER"} end
if r[1] ~= "HELD" then return {"NOT_HELD", r[1]} end
local record = cjson.decode(r[2])
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == "EXPIRED" and now < record.expiresAt then return {"NOT_DUE", record.expiresAt} end
-- An owner letting go of a hold that has already run out ends it as what it is: EXPIRED.
local status = ARGV[2]
if now >= record.expiresAt then status = "EXPIRED" end
if string.sub(KEYS[4], -string.len(record.performanceId) - 6) ~= record.performanceId .. ":seats" then
  return redis.error_reply("ERR seat_release.lua: key " .. KEYS[4] .. " is not the seats of " .. record.performanceId)
end

local seatNo = tostring(record.seatNo)
local seat = redis.call("HGET", KEYS[4], seatNo)
if seat and string.sub(seat, 1, string.len(ARGV[1]) + 6) == "HELD " .. ARGV[1] .. " " then redis.call("HDEL", KEYS[4], seatNo) end
redis.call("ZREM", KEYS[5], ARGV[1])
redis.call("HSET", KEYS[1], "status", status)
redis.call("EXPIRE", KEYS[1], 7 * 86400)  -- settled: PostgreSQL keeps it; Redis only for retries and reads
redis.call("ZREM", KEYS[2], ARGV[1])
record.status = status
redis.call("XADD", KEYS[3], "*", "v", "1", "type", "RESERVATION_RELEASED", "id", "rel_" .. ARGV[1], "at", tostring(now),
           "data", cjson.encode(record))
return {"RELEASED", status}
