-- The edge's taxonomy index shared by a fleet through a real Redis (Debian's redis-server on a
-- free loopback port, with a password): two capture proxies of examples/nginx/edge.conf (each its
-- own nginx, `redis` set by spec/nginx/start --edge-redis) in front of the fake PostHog. One
-- host downloads the taxonomy and both enforce it; a change is picked up by both; with Redis gone
-- each keeps its index, refreshes on its own and says so once, without the password. LuaJIT only
-- (nginx runs LuaJIT), like spec/62.
if not rawget(_G, "jit") then return end

local socket = require "socket"
local helpers = require "spec.helpers"
local redis_server = require "spec.support.redis_server"
local nginx = require "support.nginx"

local request, eventually = nginx.request, nginx.eventually

-- The downloads of the definitions in the fake's log (one list request each: the taxonomy is
-- one page).
local function downloads()
  local n = 0
  for _, r in ipairs(helpers.api_requests()) do
    if r.method == "GET" and r.path:match("/event_definitions/$") then n = n + 1 end
  end
  return n
end

describe("the edge's index shared by a fleet through Redis", function()
  local server, hosts = nil, {}

  -- The events the fake's capture endpoint received since the last clear, as one text.
  local function captured_text()
    local parts = {}
    for _, r in ipairs(helpers.control("GET", "captured").captured) do parts[#parts + 1] = r.body_b64 end
    return table.concat(parts, " ")
  end

  local function start(name, url)
    local fake = helpers.fake_url()
    local env = "FAKE_POSTHOG_URL=" .. fake .. " POSTHOG_HOST=" .. fake .. " POSTHOG_PERSONAL_API_KEY="
      .. helpers.KEY .. " POSTHOG_PROJECT_ID=1"
    hosts[name] = nginx.start("--edge --workers 2 --edge-redis '" .. url .. "'", env)
    return hosts[name]
  end

  -- Whether `host` drops the event `name` (an unknown event is dropped by the example's policy):
  -- true when the upstream received nothing of it.
  local function drops(host, name)
    helpers.control("DELETE", "captured")
    local _, status = request("POST", host.url .. "/e/", '{"event":"' .. name .. '","properties":{}}',
      { ["content-type"] = "application/json" })
    assert.equal(200, status)
    return captured_text() == ""
  end

  lazy_setup(function()
    server = redis_server.start()
    helpers.reset { seed = 0, definitions = { { name = "signup", verified = true } } }
    local url = "redis://:" .. server.password .. "@127.0.0.1:" .. server.port .. "/2"
    start("a", url)
    start("b", url)
  end)
  lazy_teardown(function()
    for _, h in pairs(hosts) do nginx.stop(h) end
    if server then server:stop() end
  end)

  it("lets one host download the taxonomy per period and both enforce it", function()
    eventually("both hosts to have the index", function()
      return (not drops(hosts.a, "signup") and drops(hosts.a, "mystery")
        and not drops(hosts.b, "signup") and drops(hosts.b, "mystery")) or nil
    end)
    helpers.control("DELETE", "requests")
    local t0 = socket.gettime()
    socket.sleep(5) -- five refresh periods of each host: a window to count in, not a wait for readiness
    local n, elapsed = downloads(), socket.gettime() - t0
    -- about one download a period for the fleet (each host alone would make one a period each)
    assert.is_true(n >= 1 and n <= math.ceil(elapsed) + 2, n .. " downloads in " .. elapsed .. " s")
    local keys = server:cli("-n", 2, "KEYS", "*")
    assert.matches("posthog%-evdefs:edge:%x+", keys)
    assert.is_nil(keys:find(helpers.KEY, 1, true))
  end)

  it("picks up a change on every host", function()
    helpers.control("POST", "ingest", { insert = { { name = "new_event", verified = true } } })
    eventually("both hosts to know the new event", function()
      return (not drops(hosts.a, "new_event") and not drops(hosts.b, "new_event")) or nil
    end)
  end)

  it("keeps the index when Redis is gone, refreshes on its own and says so once", function()
    server:signal("KILL")
    socket.sleep(2.5)
    for _, h in pairs(hosts) do
      assert.is_false(drops(h, "signup"))
      assert.is_true(drops(h, "mystery"))
      local log = nginx.log(h)
      local _, said = log:gsub("the indexes shared through Redis failed", "")
      assert.equal(1, said, log)
      assert.is_nil(log:find(server.password, 1, true))
      assert.is_nil(log:find(helpers.KEY, 1, true))
    end
  end)
end)
