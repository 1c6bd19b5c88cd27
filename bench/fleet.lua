-- bench/fleet.lua: a fleet sharing one key's budget through Redis, scaled down to one machine.
-- HOSTS client processes (each its own interpreter, connection and pacing log, like hosts of a
-- fleet) each run a batch of OPS updates at the same moment against the fake PostHog server,
-- paced through one real redis-server with `per_second = LIMIT` (default 8: PostHog's 480 a
-- minute at the same average rate, its window and burst shrunk 60 times). Reports, from
-- the fake's request log, the most requests in any one-second window against the limit, and
-- the rate reached after the first window's burst against the ideal LIMIT a second; from Redis,
-- its round trips per API call (INFO commandstats) and the memory of one key's list at the
-- default limits (MEMORY USAGE of 4,800 entries, the fullest the script keeps).
--
--   lua5.4 bench/fleet.lua [HOSTS] [OPS] [LIMIT]    (bench/run starts the fake server)

local socket = require "socket"
local helpers = require "spec.helpers"
local redis_server = require "spec.support.redis_server"
local core = require "posthog.event_definitions.core"

local HOSTS, OPS, LIMIT = tonumber(arg[1]) or 100, tonumber(arg[2]) or 2, tonumber(arg[3]) or 8
local TOTAL = HOSTS * OPS

-- `cmdstat_<name>` calls from INFO commandstats, by command name.
local function command_calls(server)
  local calls = {}
  for name, n in server:cli("INFO", "commandstats"):gmatch("cmdstat_([%w|_]+):calls=(%d+)") do
    calls[name] = tonumber(n)
  end
  return calls
end

-- The most of the sorted `times` (seconds) within any [t, t + 1).
local function most_in_window(times)
  local most, j = 0, 1
  for i = 1, #times do
    while j <= #times and times[j] < times[i] + 1 do j = j + 1 end
    if j - i > most then most = j - i end
  end
  return most
end

-- The shortest time holding LIMIT + 1 of the sorted `times` (1 s or more: the limit held).
local function shortest_span(times)
  local shortest = math.huge
  for i = 1, #times - LIMIT do shortest = math.min(shortest, times[i + LIMIT] - times[i]) end
  return shortest
end

local server = redis_server.start()
local ok, failure = pcall(function()
  helpers.reset { seed = TOTAL }
  local ids = {}
  for _, def in ipairs(helpers.state()) do ids[#ids + 1] = def.id end
  assert(#ids >= TOTAL, "the fake has too few definitions")
  helpers.control("DELETE", "requests")

  server:cli("CONFIG", "RESETSTAT")
  local start_at = socket.gettime() + 2 + HOSTS * 0.02 -- every process loaded and waiting by then
  local children = {}
  for h = 1, HOSTS do
    local ops = {}
    for i = 1, OPS do
      ops[i] = string.format("{ op = 'update', id = %q, fields = { description = 'fleet %d' } }",
        ids[(h - 1) * OPS + i], h)
    end
    children[h] = redis_server.spawn(string.format([[
local socket = require "socket"
local evdefs = require "posthog.event_definitions"
local c = assert(evdefs.new { host = %q, personal_api_key = %q, project_id = 1,
  rate_limit = { per_second = %d, redis = { host = "127.0.0.1", port = %d, password = %q } } })
socket.sleep(%.3f - socket.gettime())
local report = assert(c:batch({ %s }, { concurrency = 2 }))
print(report.ok)
]], helpers.fake_url(), helpers.KEY, LIMIT, server.port, server.password, start_at,
      table.concat(ops, ", ")), 300)
  end
  local done, complaints = 0, {}
  for _, child in ipairs(children) do
    local code, out, err = child.wait()
    assert(code == 0 and tonumber(out) == OPS, "a host failed: " .. tostring(out) .. tostring(err))
    done = done + tonumber(out)
    if err ~= "" then complaints[#complaints + 1] = err end
  end
  if #complaints > 0 then
    print(string.format("%d processes logged on stderr, e.g.: %s", #complaints, complaints[1]))
  end

  local calls = command_calls(server) -- before any other redis-cli call: its AUTH is the one extra
  -- the reserved times Redis recorded (server clock, microseconds), oldest first
  local reserved = {}
  for v in server:cli("LRANGE", "posthog-evdefs:" .. core.sha256(helpers.KEY), 0, -1):gmatch("%d+") do
    table.insert(reserved, 1, tonumber(v) / 1e6)
  end
  local times = {}
  for _, r in ipairs(helpers.api_requests()) do times[#times + 1] = r.arrived end
  table.sort(times)
  assert(#times == TOTAL and done == TOTAL, "requests: " .. #times .. " for " .. TOTAL .. " operations")

  assert(#reserved == TOTAL, "Redis holds " .. #reserved .. " request times")
  local most, shortest = most_in_window(times), shortest_span(times)
  local most_reserved = most_in_window(reserved)
  local delays = {} -- the k-th arrival against the k-th reserved time: the spread to absorb
  for i = 1, #times do delays[i] = times[i] - reserved[i] end
  table.sort(delays)
  if os.getenv("FLEET_TRACE") then
    for i = 1, #times do io.write(string.format("%.3f ", times[i] - times[1])) end
    print()
  end
  local span = times[#times] - times[1]
  local ideal_span = math.floor((TOTAL - 1) / LIMIT)
  local rate = (TOTAL - LIMIT) / span
  local evalsha = calls.evalsha or 0
  print(string.format("fleet: %d processes x %d updates, per_second = %d through one Redis: %d requests; "
    .. "at most %d in any 1 s window of the times Redis reserved, %d of the fake's arrival times (limit %d); "
    .. "shortest span of %d arrivals %.3f s", HOSTS, OPS, LIMIT, TOTAL, most_reserved, most, LIMIT,
    LIMIT + 1, shortest))
  print(string.format("arrival after the reserved time: median %.3f s, p90 %.3f s, max %.3f s (margin %.3f s)",
    delays[math.floor(#delays / 2)], delays[math.floor(#delays * 0.9)], delays[#delays],
    require("posthog.event_definitions.options").TUNING.redis_window_margin))
  print(string.format("throughput after the first window: %.2f requests/s = %.1f %% of the ideal %d/s "
    .. "(span %.2f s, ideal %d s)", rate, 100 * rate / LIMIT, LIMIT, span, ideal_span))
  print(string.format("Redis round trips: %d EVALSHA for %d API calls (%.2f per call; 1 when nobody waits), "
    .. "%d AUTH (one per connection), %d SCRIPT LOAD", evalsha, TOTAL, evalsha / TOTAL, (calls.auth or 1) - 1,
    calls["script|load"] or 0))

  -- One key's list at the default limits' fullest: 4,800 request times of 16 digits.
  server:cli("FLUSHALL")
  local before = tonumber(server:cli("INFO", "memory"):match("used_memory:(%d+)"))
  local key, now = "posthog-evdefs:" .. string.rep("0", 64), 1796270597238464
  for chunk = 0, 4800 - 1, 400 do
    local words = { "RPUSH", key }
    for i = chunk, chunk + 399 do words[#words + 1] = string.format("%d", now - i * 750000) end
    server:cli((rawget(table, "unpack") or rawget(_G, "unpack"))(words))
  end
  local after = tonumber(server:cli("INFO", "memory"):match("used_memory:(%d+)"))
  print(string.format("memory per key at the default limits (4,800 entries): MEMORY USAGE %s bytes, "
    .. "used_memory grew by %d bytes", server:cli("MEMORY", "USAGE", key, "SAMPLES", 0), after - before))
end)
server:stop()
assert(ok, failure)
