-- catalog.lua: a product's live state in Redis — its stock and price — under its event's hash tag, so
-- the order script (which takes the stock of every item of an order in one call) finds all of an order's
-- products in one slot. PostgreSQL holds the definitions; Redis holds the stock as it is sold.
--
-- KEYS[1]  the product hash "{ev:<eventId>}:product:<productId>": stock, price, version
-- KEYS[2]  the event's outbox stream "{ev:<eventId>}:outbox"                  (restock only)
-- ARGV[1]  operation:
--   "put" productId stock price version
--       Creates the product with `stock` if it is not there (never overwrites live stock), and sets the
--       price when `version` is newer than the stored one (racing price changes keep the newest).
--       Returns {"PUT", stock, price, version} as now stored.
--   "restock" productId delta eventId changeId
--       Adds `delta` (may be negative) to the stock unless that would take it below 0; records
--       PRODUCT_STOCK_CHANGED in the outbox in the same call. Returns {"RESTOCKED", stockAfter},
--       {"SHORT", stock} (nothing changed) or {"NO_PRODUCT"}.
-- Invariant: stock ≥ 0 always; stock = initial + Σ deltas − units taken by orders.
local op = ARGV[1]

if op == "put" then
  local stock, price, version = ARGV[3], ARGV[4], tonumber(ARGV[5])
  redis.call("HSETNX", KEYS[1], "stock", stock)
  if version > tonumber(redis.call("HGET", KEYS[1], "version") or "0") then
    redis.call("HSET", KEYS[1], "price", price, "version", version)
  end
  local p = redis.call("HMGET", KEYS[1], "stock", "price", "version")
  return {"PUT", tonumber(p[1]), tonumber(p[2]), tonumber(p[3])}

elseif op == "restock" then
  local delta = tonumber(ARGV[3])
  local current = redis.call("HGET", KEYS[1], "stock")
  if not current then return {"NO_PRODUCT"} end
  current = tonumber(current)
  if current + delta < 0 then return {"SHORT", current} end
  local after = redis.call("HINCRBY", KEYS[1], "stock", delta)
  local t = redis.call("TIME")
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call("XADD", KEYS[2], "*", "v", "1", "type", "PRODUCT_STOCK_CHANGED", "id", ARGV[5], "at", tostring(now),
             "data", cjson.encode({productId = ARGV[2], eventId = ARGV[4], delta = delta, stockAfter = after}))
  return {"RESTOCKED", after}
end

return redis.error_reply("ERR catalog.lua: unknown operation " .. tostring(op))
