-- session_check.lua: the authentication step. Is this access secret the live one of this session?
--
-- KEYS[1]  the session hash
-- ARGV[1]  userId claimed by the token   ARGV[2]  access secret
--
-- Returns the userId when the session exists, belongs to that user, holds that access secret and the
-- access token has not expired (by Redis TIME); otherwise nil. Read-only.
local s = redis.call("HMGET", KEYS[1], "user", "access", "accessExp")
if not s[1] or s[1] ~= ARGV[1] or s[2] ~= ARGV[2] then
  return false
end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now >= tonumber(s[3]) then
  return false
end
return s[1]
