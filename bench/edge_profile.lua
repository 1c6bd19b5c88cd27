-- The edge's work on one request, part by part, outside nginx (LuaJIT, the modules nginx runs),
-- on the bodies of bench/edge_bodies.lua against an index like the fake's seed: inflate
-- (edge/inflate.lua), scan (edge_core.scan, whichever scanner is registered, and its yajl path),
-- decide (decide.run: scan, judge, rewrite and its re-scan), deflate (a rewritten body
-- re-compressed), the whole request, and the Lua memory one request allocates (the collector
-- stopped; the whole request on the request's variants in turn, as no two bodies of real traffic
-- are alike). Prints
-- microseconds per body (medians of ROUNDS rounds) and, with --scale, decide's cost per request
-- with 1, 10 and 100 projects holding 10,000 and 100,000 definitions in all.
-- Usage: luajit bench/edge_profile.lua DIR [--scale]
local evdefs = require "posthog.event_definitions"
local edge_core = require "posthog.event_definitions.edge.core"
local decide = require "posthog.event_definitions.edge.decide"
local index = require "posthog.event_definitions.edge.index"
local inflate = require "posthog.event_definitions.edge.inflate"
local settings = require "posthog.event_definitions.edge.settings"

local dir = assert(arg[1], "usage: luajit bench/edge_profile.lua DIR [--scale]")
local ROUNDS = tonumber(os.getenv("ROUNDS") or 7)

-- An index of `n` definitions named as the fake seeds them (verified every 7th, hidden every 11th
-- not verified), as a worker decodes it from the shared dict; `prefix` tells projects apart.
local function seeded_index(n, width, prefix)
  local defs = {}
  for i = 1, n do
    defs[i] = { id = i, name = string.format("%sevent_%0" .. width .. "d", prefix or "", i), verified = i % 7 == 0,
      hidden = i % 11 == 0 and i % 7 ~= 0 }
  end
  return evdefs.decode(evdefs.encode(index.build(defs, {})))
end

-- The example's policy, through edge.init's checks.
local SDK = {}
for _, name in ipairs(settings.SDK_EVENTS) do SDK[name] = true end
local POLICY = { unknown = "drop", hidden = "drop", unverified = "pass", schema = "drop" }
local S = { policy = settings.policy(POLICY, SDK, 1), sdk_events = SDK, schema_scope = "reject", max_events = 10000,
  unknown_token = "pass" }

local function context(project)
  return { settings = S, project = function() return project end }
end

-- Microseconds per call of fn: the median of ROUNDS rounds of n calls.
local function per_call(n, fn)
  local times = {}
  fn()
  for r = 1, ROUNDS do
    local t = os.clock()
    for _ = 1, n do fn() end
    times[r] = (os.clock() - t) / n * 1e6
  end
  table.sort(times)
  return times[math.floor(ROUNDS / 2) + 1]
end

-- Kilobytes of Lua memory one call of fn allocates (the collector stopped around 20 calls).
local function allocated(fn)
  collectgarbage()
  collectgarbage("stop")
  local before = collectgarbage("count")
  for _ = 1, 20 do fn() end
  local kb = (collectgarbage("count") - before) / 20
  collectgarbage("restart")
  return kb
end

local function read(name)
  local f = assert(io.open(dir .. "/" .. name, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local LIMITS = { max_body = 20 * 1024 * 1024, max_ratio = 100 }

-- The request's whole work: inflate (when compressed), decide, deflate (when rewritten).
local function request(body, gz, c)
  local text = body
  if gz then text = assert(inflate.decode("gzip", body, math.min(LIMITS.max_body, LIMITS.max_ratio * #body))) end
  local result = assert(decide.run(text, c))
  if gz and result.body then return inflate.encode("gzip", result.body) end
  return result
end

collectgarbage()
local heap = collectgarbage("count")
local project = { key = "default", index = seeded_index(10000, 5) }
collectgarbage()
print(string.format("scanner: %s, deflate: %s; the index of 10,000 definitions: %.0f KB of JSON in the shared dict, "
  .. "%.0f KB decoded in a worker", edge_core.scanner(), inflate.deflate_library,
  #evdefs.encode(project.index) / 1024, collectgarbage("count") - heap))
-- fn of the next of the request's variants in turn (no two calls in a row on the same body)
local function rotating(name, fn)
  local bodies = { read(name .. ".body") }
  for v = 1, 32 do bodies[v + 1] = read(name .. "." .. v .. ".body") end
  local i = 0
  return function()
    i = i % #bodies + 1
    return fn(bodies[i])
  end
end

for _, name in ipairs { "batch50", "batch50_drop", "single" } do
  local body, text = read(name .. ".body"), read(name .. ".json")
  local gz = body:byte(1) == 0x1f
  local n = #text > 4000 and 2000 or 40000
  local c = context(project)
  local result = assert(decide.run(text, c))
  local parts = {
    inflate = gz and per_call(n, function() inflate.decode("gzip", body, 2e7) end) or 0,
    scan = per_call(n, function() edge_core.scan(text, 10000) end),
    yajl = per_call(n, function() edge_core.scan_yajl(text, 10000) end),
    decide = per_call(n, function() decide.run(text, c) end),
    deflate = (gz and result.body) and per_call(n, function() inflate.encode("gzip", result.body) end) or 0,
    whole = per_call(n, rotating(name, function(b) request(b, gz, c) end)),
  }
  print(string.format("%-13s %6d bytes (%5d sent): inflate %6.1f µs, scan %6.1f µs%s, decide %6.1f µs, "
    .. "deflate %6.1f µs; whole %6.1f µs, %6.1f KB of Lua memory allocated%s", name, #text, #body, parts.inflate,
    parts.scan, string.format(" (yajl %6.1f µs)", parts.yajl), parts.decide, parts.deflate,
    parts.whole, allocated(rotating(name, function(b) request(b, gz, c) end)), result.body and " (rewritten)" or ""))
end

if arg[2] == "--scale" then
  -- Every project's index holds the batch's 50 names and fillers up to its share of the
  -- definitions; the batch's token is the last project's, found as edge.lua finds it.
  local text = read("batch50.json")
  local token = assert(text:match('"api_key":"([^"]+)"'))
  local form, ev, n = edge_core.scan(text)
  assert(form)
  local names = {}
  for i = 1, n do names[i] = ev[(i - 1) * edge_core.FIELDS + 3] end
  local function project_index(p, size)
    local defs = {}
    for i, name in ipairs(names) do defs[i] = { id = i, name = name, verified = i % 7 == 0 } end
    for i = #defs + 1, size do defs[i] = { id = i, name = string.format("p%d_filler_%06d", p, i), verified = true } end
    return evdefs.decode(evdefs.encode(index.build(defs, {})))
  end
  for _, total in ipairs { 10000, 100000 } do
    local line = {}
    for _, projects in ipairs { 1, 10, 100 } do
      local by_token = {}
      for p = 1, projects do
        local key = p == projects and token or "phc_" .. p
        by_token[key] = { key = key, index = project_index(p, total / projects) }
      end
      local c = { settings = S, project = function(t) return by_token[t] end }
      assert(not decide.run(text, c).body, "every event passes")
      local us = per_call(2000, function() decide.run(text, c) end)
      line[#line + 1] = string.format("%3d project(s) %6.1f µs", projects, us)
    end
    print(string.format("decide, batch50, %6d definitions in all: %s", total, table.concat(line, ", ")))
  end
end
