--- fuzz/decode.lua: core.decode over any bytes in each of its shapes. Promises: it returns the
-- value or nil and {kind = "decode", detail = "decode: ..."} (short), never raises; it answers
-- exactly as yajl alone does (decode_by_yajl, from fuzz/harness.c: simdjson parses first and
-- must never change a value, a number's type or a message); whatever it takes core.encode
-- writes back, and that reads back to the same text.
-- Input: one byte (shape, and keep_nulls when >= 128), then the JSON text.
local core = require "posthog.event_definitions.core"
local lib = dofile("fuzz/lib.lua")
local check = lib.check

local SHAPES = { false, "definition", "page", "bulk", "primary_properties", "object" }

-- Whether a and b are the same value: same types, integers and floats told apart, same keys,
-- same metatables (an empty array's marker).
local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) == "number" then return math.type(a) == math.type(b) and a == b end
  if type(a) ~= "table" then return a == b end
  if getmetatable(a) ~= getmetatable(b) then return false end
  for k, v in pairs(a) do
    if not same(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

return function(data)
  local r = lib.reader(data)
  local b = r:byte()
  local shape, keep = SHAPES[b % #SHAPES + 1] or nil, b >= 128
  local text = r:rest()
  local v, err = core.decode(text, shape, keep)
  local yv, yerr = decode_by_yajl(text, shape, keep)
  check(same(v, yv), "core.decode and yajl alone give the same value")
  check((err and err.detail) == (yerr and yerr.detail), "core.decode and yajl alone give the same message")
  if v == nil then
    check(type(err) == "table" and err.kind == "decode", "a failed decode is kind decode")
    check(type(err.detail) == "string" and err.detail:find("^decode: ") and #err.detail < 160,
      "a decode detail is short and starts 'decode: '")
    return
  end
  local once, e = core.encode(v)
  check(once, "core.encode takes what core.decode gave: " .. tostring(e and e.detail))
  local again = core.decode(once, nil, true)
  check(again ~= nil, "core.decode reads what core.encode wrote")
  check(core.encode(again) == once, "encode(decode(encode(v))) == encode(v)")
end
