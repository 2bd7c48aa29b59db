-- queue_peek.lua: the read-only half of a poll, for the gateway's fast path (QueuePollCache): the place
-- of a user whose token this gateway loop saw queue.lua verify and mark "seen" during the current
-- abandonment window. No MAC check and no mark here — both were done this window — only reads, which is
-- why it costs a fraction of queue.lua's `poll`.
--
-- KEYS[1] wait   KEYS[2] active   KEYS[3] admitted   KEYS[4] state      (one tag, {ev:<eventId>})
-- ARGV[1] userId   ARGV[2] seq (the token's)
--
-- Returns {nowMs, "WAITING", position, etaRateText} (etaRateText: admissions per second the estimate
-- uses, "-1" while paused), {nowMs, "ACTIVE", activeUntilMs} or {nowMs, "EXPIRED"}. Read-only.
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call("ZSCORE", KEYS[1], ARGV[1]) == ARGV[2] then
  return {now, "WAITING", redis.call("ZRANK", KEYS[1], ARGV[1]) + 1, redis.call("HGET", KEYS[4], "etaRate") or "-1"}
end
if redis.call("HGET", KEYS[3], ARGV[1]) == ARGV[2] then
  local untilMs = tonumber(redis.call("ZSCORE", KEYS[2], ARGV[1]) or "0")
  if untilMs > now then return {now, "ACTIVE", untilMs} end
end
return {now, "EXPIRED"}
