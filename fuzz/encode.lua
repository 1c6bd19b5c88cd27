--- fuzz/encode.lua: core.encode of any Lua value, with and without the definition shape.
-- Promises: never raises; a refusal is {kind = "validation", detail}; what it writes is JSON
-- that core.decode reads (with the definition shape too, when it was written with it) and that
-- encodes back to the same text; a definition's tags are tags PostHog keeps (not blank, at most
-- 255 characters once trimmed, valid UTF-8).
-- Input: a value built by lib.value; with the first byte odd, a definition table whose
-- writable fields get values of their own type more often.
local core = require "posthog.event_definitions.core"
local lib = dofile("fuzz/lib.lua")
local check = lib.check

local function definition(r)
  local t = {}
  for _ = 1, r:byte() % 8 do
    local name = lib.NAMES[r:byte() % #lib.NAMES + 1]
    local kind = r:byte() % 4
    if kind == 0 then t[name] = lib.strings(r)
    elseif kind == 1 then t[name] = r:string()
    elseif kind == 2 then t[name] = r:byte() % 2 == 0
    else t[name] = lib.value(r, 3) end
  end
  return t
end

return function(data)
  local r = lib.reader(data)
  local as_definition = r:byte() % 2 == 1
  local v = as_definition and definition(r) or lib.value(r)
  for _, shape in ipairs(as_definition and { "definition", false } or { false }) do
    local ok, text, err = pcall(core.encode, v, shape or nil)
    check(ok, "core.encode never raises on a value: " .. tostring(text))
    if text == nil then
      check(type(err) == "table" and err.kind == "validation" and type(err.detail) == "string",
        "a refusal is kind validation")
    else
      check(lib.utf8(text), "what core.encode writes is valid UTF-8")
      local back, derr = core.decode(text, shape and "definition" or nil, true)
      check(back ~= nil, "core.decode reads what core.encode wrote: " .. tostring(derr and derr.detail))
      check(core.encode(back, shape or nil) == text, "encode(decode(encode(v))) == encode(v)")
      if shape and back.tags ~= nil and back.tags ~= core.null then
        for _, tag in ipairs(back.tags) do
          local n = core.normalize_tag(tag)
          check(n ~= "" and utf8.len(n) <= 255, "a tag that was sent is kept by PostHog")
        end
      end
    end
  end
end
