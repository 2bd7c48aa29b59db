-- wrk script of bench/poll.sh: GET PATH with `Authorization: Bearer <accessToken>` and
-- `X-Queue-Token: <queueToken>`, cycling through every pair of PAIRS_FILE (`accessToken queueToken` lines).
--
--   wrk -t2 -c1000 -d10s --latency -s bench/poll/poll.lua http://127.0.0.1:PORT -- PAIRS_FILE PATH
--
-- The requests are built once per thread in init(), so request() only hands out a ready string and wrk's
-- own cost per request stays as small as with a fixed request (the same script drives nginx). Each thread
-- starts at a different place in the list, so the two threads do not poll the same user at the same time.

local requests = {}
local count = 0
local index = 0
local threads = 0

function setup(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end

function init(args)
  local file, path = args[1], args[2]
  if not file or not path then
    error("usage: wrk ... -s poll.lua URL -- PAIRS_FILE PATH")
  end
  for line in io.lines(file) do
    local token, queueToken = line:match("^(%S+)%s+(%S+)$")
    if token then
      count = count + 1
      requests[count] = wrk.format("GET", path, {
        ["Authorization"] = "Bearer " .. token,
        ["X-Queue-Token"] = queueToken,
      })
    end
  end
  if count == 0 then error("no pairs in " .. file) end
  index = ((thread_number or 0) * math.floor(count / 2)) % count
end

function request()
  index = index % count + 1
  return requests[index]
end
