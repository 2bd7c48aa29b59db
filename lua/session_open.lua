-- session_open.lua: creates a login session holding one access and one refresh secret.
--
-- KEYS[1]  the session hash, "{uNN}:sess:<sessionId>" (NN: the user's shard)
-- ARGV[1]  userId
-- ARGV[2]  access secret      ARGV[3]  refresh secret
-- ARGV[4]  access TTL seconds ARGV[5]  refresh TTL seconds
--
-- Returns {accessExpiresAtMs, refreshExpiresAtMs}. Times come from Redis TIME, never a gateway clock.
-- The key expires with the refresh token, so a forgotten session cleans itself up.
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local accessTTL = tonumber(ARGV[4])
local refreshTTL = tonumber(ARGV[5])
if not accessTTL or not refreshTTL or accessTTL < 1 or refreshTTL < 1 then
  return redis.error_reply("INVALID_ARGUMENT ttl")
end
local accessExp = now + accessTTL * 1000
local refreshExp = now + refreshTTL * 1000
redis.call("HSET", KEYS[1], "user", ARGV[1], "access", ARGV[2], "refresh", ARGV[3],
  "accessExp", accessExp, "refreshExp", refreshExp)
redis.call("PEXPIREAT", KEYS[1], refreshExp)
return {accessExp, refreshExp}
