-- wallet_charge.lua: adds prepaid money to a wallet, once per idempotency key, and records the
-- WALLET_CHARGED event in the outbox of the same hash tag — one call, so state and event log agree.
--
-- KEYS[1]  balance            "{uNN}:wallet:<userId>"
-- KEYS[2]  idempotency record "{uNN}:idem:<userId>:charge:<key>" (ignored when ARGV[5] is "")
-- KEYS[3]  outbox stream      "{uNN}:outbox"
-- ARGV[1]  userId
-- ARGV[2]  amount (integer won)
-- ARGV[3]  chargeId, also the event id
-- ARGV[4]  request fingerprint (what the key must keep meaning)
-- ARGV[5]  "1" when an Idempotency-Key was given, "" otherwise
-- ARGV[6]  idempotency TTL seconds
-- ARGV[7]  maximum amount per charge   ARGV[8]  maximum balance
--
-- Returns {"OK", body} for a new charge, {"REPLAY", body} for a repeat of the same request (nothing
-- changes), {"REUSED"} when the key was used with another request (nothing changes).
-- Errors: "INVALID_AMOUNT <balance>" when the amount is out of range or the balance would pass the cap.
-- Invariant: balance = sum of WALLET_CHARGED amounts in the outbox − payments + refunds (later scripts).
local withKey = ARGV[5] == "1"
if withKey then
  local previous = redis.call("GET", KEYS[2])
  if previous then
    local sep = string.find(previous, "\n", 1, true)
    if string.sub(previous, 1, sep - 1) ~= ARGV[4] then
      return {"REUSED"}
    end
    return {"REPLAY", string.sub(previous, sep + 1)}
  end
end

local amount = tonumber(ARGV[2])
local maxAmount = tonumber(ARGV[7])
local maxBalance = tonumber(ARGV[8])
local balance = tonumber(redis.call("GET", KEYS[1]) or "0")
if not amount or amount ~= math.floor(amount) or amount < 1 or amount > maxAmount
   or balance + amount > maxBalance then
  return redis.error_reply("INVALID_AMOUNT " .. balance)
end

local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local after = redis.call("INCRBY", KEYS[1], amount)
local data = cjson.encode({userId = ARGV[1], amount = amount, balanceAfter = after, chargeId = ARGV[3]})
redis.call("XADD", KEYS[3], "*", "v", "1", "type", "WALLET_CHARGED", "id", ARGV[3], "at", tostring(now), "data", data)
local body = '{"userId":"' .. ARGV[1] .. '","balance":' .. after .. ',"chargeId":"' .. ARGV[3] .. '"}'
if withKey then
  redis.call("SET", KEYS[2], ARGV[4] .. "\n" .. body, "EX", tonumber(ARGV[6]))
end
return {"OK", body}
