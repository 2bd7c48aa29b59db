-- rate_limit.lua: fixed-window counter, one decision per call.
--
-- KEYS[1]  the counter key for one subject and window kind, e.g. "{login:ab12..}:fails"
-- ARGV[1]  window length in seconds (integer >= 1)
-- ARGV[2]  the limit: how many hits the window allows (integer >= 1)
-- ARGV[3]  "hit" to count this call, "peek" to only read, "undo" to give back one earlier hit (a
--          caller that counts attempts up front returns the slot of one that turned out fine)
--
-- Returns {allowed (1|0), count, retryAfterSeconds}
--   allowed   1 while count <= limit (after counting this hit), 0 once past it
--   count     hits in the current window
--   retryAfterSeconds  seconds until the window ends (0 when no window is open)
-- Errors: "INVALID_ARGUMENT ..." for a bad window, limit or mode; nothing is written then.
--
-- Invariant: the window starts at the first hit and its expiry is set in that same call, so a counter
-- never lives without a TTL (a crash between INCR and EXPIRE cannot happen inside one script).
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local mode = ARGV[3]
if not window or window < 1 or window ~= math.floor(window) then
  return redis.error_reply("INVALID_ARGUMENT window must be a positive integer")
end
if not limit or limit < 1 or limit ~= math.floor(limit) then
  return redis.error_reply("INVALID_ARGUMENT limit must be a positive integer")
end
if mode ~= "hit" and mode ~= "peek" and mode ~= "undo" then
  return redis.error_reply("INVALID_ARGUMENT mode must be hit, peek or undo")
end

local count
if mode == "hit" then
  count = redis.call("INCR", KEYS[1])
  if count == 1 then
    redis.call("EXPIRE", KEYS[1], window)
  end
elseif mode == "undo" then
  count = tonumber(redis.call("GET", KEYS[1]) or "0")
  if count > 0 then
    count = redis.call("DECR", KEYS[1])
  end
else
  count = tonumber(redis.call("GET", KEYS[1]) or "0")
end
local ttl = redis.call("TTL", KEYS[1])
if ttl < 0 then ttl = 0 end
if count <= limit then
  return {1, count, ttl}
end
return {0, count, ttl}
