-- The edge's work on one request, part by part, outside nginx (LuaJIT, the same modules): inflate,
-- scan (core.scan_events: yajl over the whole body), the whole check (scan, classes, rewrite)
-- and deflate, on the bodies of bench/edge against an index of 10,000 definitions. Prints
-- microseconds per body: the profile BENCHMARKS.md quotes. Usage: luajit bench/edge_profile.lua DIR
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/jit/?.so;" .. package.cpath
local core = require "posthog.event_definitions.core"
local check = require "posthog.event_definitions.edge.check"
local zlib = require "posthog.event_definitions.edge.zlib"

local dir = assert(arg[1], "usage: luajit bench/edge_profile.lua DIR")
local idx = { defs = {}, schemas = {} }
for i = 1, 10000 do -- the fake's seed: verified every 7th, hidden every 11th not verified
  idx.defs[string.format("event_%05d", i)] = (i % 7 == 0 and 2 or 0) + ((i % 11 == 0 and i % 7 ~= 0) and 1 or 0)
end
local policy = { unknown = "drop", hidden = "drop", unverified = "pass", schema = "tag" }

local function per_call(n, fn)
  fn()
  local t = os.clock()
  for _ = 1, n do fn() end
  return (os.clock() - t) / n * 1e6
end

local function read(name)
  local f = assert(io.open(dir .. "/" .. name, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

for _, name in ipairs { "batch50.json", "batch50_drop.json", "single.json" } do
  local text = read(name)
  local gz = zlib.deflate(text, "gzip", 6)
  local n = #text > 1000 and 5000 or 100000
  local result = check.run(text, idx, policy)
  print(string.format("%-18s %6d bytes: inflate %6.1f us, scan %6.1f us, check %6.1f us, deflate %6.1f us%s",
    name, #text, per_call(n, function() zlib.inflate(gz, "gzip", 1e8) end),
    per_call(n, function() core.scan_events(text) end),
    per_call(n, function() check.run(text, idx, policy) end),
    per_call(n, function() zlib.deflate(text, "gzip") end),
    result.body and " (rewritten)" or ""))
end
