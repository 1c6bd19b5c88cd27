--- fuzz/edge_simd.lua: the edge's two scanners over any bytes, side by side. Promises: with
-- simdjson's scanner registered (posthog.event_definitions.edge.simdjson, as the harness loads
-- it), edge_core.scan answers exactly as edge_core.scan_yajl does, under a cap of 2 events and
-- with none: the same form, n, api_key and token and every field of every event (byte ranges,
-- names, tokens, properties' kind and keys), or the same refusal (reason and detail); and
-- whatever the simdjson scanner accepts alone (edge_core.scan_registered), yajl accepts too, with
-- the same results. Input: the body.
local edge_core = require "posthog.event_definitions.edge.core"
local lib = dofile("fuzz/lib.lua")
local check = lib.check

local F = edge_core.FIELDS

-- Whether two answers of a scan are the same: (form, ev, n, api_key, token) or (nil, reason, detail).
local function same(a, b)
  if a.n ~= b.n then return false end
  for i = 1, 5 do
    if i ~= 2 or not a[1] then
      if a[i] ~= b[i] then return false end
    end
  end
  if not a[1] then return true end
  for i = 1, a[3] * F do
    if a[2][i] ~= b[2][i] then return false end
  end
  return a[2][a[3] * F + 1] == nil and b[2][b[3] * F + 1] == nil
end

local function answer(...) return { n = select("#", ...), ... } end

check(edge_core.scanner() == "simdjson", "the harness registered simdjson's scanner")

return function(data)
  for _, max in ipairs { 2, nil } do
    local yajl = answer(edge_core.scan_yajl(data, max))
    check(same(answer(edge_core.scan(data, max)), yajl), "scan answers as scan_yajl (max " .. tostring(max) .. ")")
    local alone = answer(edge_core.scan_registered(data, max))
    if alone[1] ~= nil then check(same(alone, yajl), "what simdjson's scanner accepts, yajl reads the same") end
  end
end
