-- session_refresh.lua: rotates a session's secrets. The refresh secret presented dies here; so does the
-- access secret issued with it.
--
-- KEYS[1]  the session hash
-- ARGV[1]  userId claimed by the refresh token   ARGV[2]  refresh secret presented
-- ARGV[3]  new access secret   ARGV[4]  new refresh secret
-- ARGV[5]  access TTL seconds  ARGV[6]  refresh TTL seconds
--
-- Returns {accessExpiresAtMs, refreshExpiresAtMs}, or nil when the refresh token is unknown, already
-- rotated, revoked or expired (nothing changes then).
local s = redis.call("HMGET", KEYS[1], "user", "refresh", "refreshExp")
if not s[1] or s[1] ~= ARGV[1] or s[2] ~= ARGV[2] then
  return false
end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now >= tonumber(s[3]) then
  return false
end
local accessExp = now + tonumber(ARGV[5]) * 1000
local refreshExp = now + tonumber(ARGV[6]) * 1000
redis.call("HSET", KEYS[1], "access", ARGV[3], "refresh", ARGV[4], "accessExp", accessExp, "refreshExp", refreshExp)
redis.call("PEXPIREAT", KEYS[1], refreshExp)
return {accessExp, refreshExp}
