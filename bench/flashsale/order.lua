-- wrk script of bench/flashsale.sh: POST /orders {"items":[{"productId":P,"quantity":1}]} (pay defaults to
-- true) with `Authorization: Bearer <accessToken>`, every request from the next buyer of USERS_FILE
-- (`userId,accessToken` lines), cycling through all of them for as long as wrk runs: each buyer keeps
-- trying, and once the stock is gone every attempt is a 409 OUT_OF_STOCK.
--
--   wrk -t2 -c1000 -d10s --latency -s bench/flashsale/order.lua http://127.0.0.1:PORT -- USERS_FILE PRODUCT_ID [THREADS]
--
-- THREADS (default 2) is wrk's -t, which the script cannot see: it spreads the threads' starting places.
--
-- The requests are built once per thread in init(), so request() only hands out a ready string (the same
-- script drives nginx). Each thread starts at another place in the list, so two threads do not send the
-- same buyer at the same time.
--
-- With FLASHSALE_WRK_STATUSES=1 in the environment, response() counts the answers by status per thread
-- and done() prints the totals as `status <code> <count>` lines. Off by default: defining response()
-- makes wrk hand every answer's headers and body to Lua, which costs wrk about a third of its request
-- rate on a 2-core machine (it shares the cores with the servers it measures). Without it, wrk still
-- counts non-2xx answers itself, and bench/flashsale.sh reads the gateway's own counts from /metrics.

local requests = {}
local count = 0
local index = 0
local threads = {}
statuses = {}

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, product = args[1], args[2]
  if not file or not product then
    error("usage: wrk ... -s order.lua URL -- USERS_FILE PRODUCT_ID [THREADS]")
  end
  local body = '{"items":[{"productId":"' .. product .. '","quantity":1}]}'
  for line in io.lines(file) do
    local token = line:match("^[^,]+,(%S+)$")
    if token then
      count = count + 1
      requests[count] = wrk.format("POST", "/orders", {
        ["Authorization"] = "Bearer " .. token,
        ["Content-Type"] = "application/json",
      }, body)
    end
  end
  if count == 0 then error("no buyers in " .. file) end
  local n = tonumber(args[3]) or 2
  index = ((thread_number or 0) * math.floor(count / n)) % count
end

function request()
  index = index % count + 1
  return requests[index]
end

-- wrk decides when it loads the script whether a response() exists, so it is defined here or not at all.
if os.getenv("FLASHSALE_WRK_STATUSES") == "1" then
  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    if counts then
      for status, n in pairs(counts) do total[status] = (total[status] or 0) + n end
    end
  end
  local codes = {}
  for status in pairs(total) do table.insert(codes, status) end
  table.sort(codes)
  for _, status in ipairs(codes) do
    io.write(string.format("status %d %d\n", status, total[status]))
  end
end
