-- session_close.lua: logout. Deletes the session, killing its access and refresh tokens at once.
--
-- KEYS[1]  the session hash
-- ARGV[1]  userId   ARGV[2]  the access secret presented
--
-- Returns 1 when the session was closed, 0 when the access token was not its live one (nothing changes).
local s = redis.call("HMGET", KEYS[1], "user", "access")
if not s[1] or s[1] ~= ARGV[1] or s[2] ~= ARGV[2] then
  return 0
end
redis.call("DEL", KEYS[1])
return 1
