--- fuzz/decode.lua: core.decode over any bytes in each of its shapes. Promises: it returns the
-- value or nil and {kind = "decode", detail = "decode: ..."} (short), never raises; whatever it
-- takes core.encode writes back, and that reads back to the same text.
-- Input: one byte (shape, and keep_nulls when >= 128), then the JSON text.
local core = require "posthog.event_definitions.core"
local lib = dofile("fuzz/lib.lua")
local check = lib.check

local SHAPES = { false, "definition", "page", "bulk", "primary_properties", "object" }

return function(data)
  local r = lib.reader(data)
  local b = r:byte()
  local shape, keep = SHAPES[b % #SHAPES + 1] or nil, b >= 128
  local text = r:rest()
  local v, err = core.decode(text, shape, keep)
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
