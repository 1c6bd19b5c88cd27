--- fuzz/scan.lua: core.scan_events and core.scan_props (the edge's scanner) over any bytes.
-- Promises: they return results or nil and {kind = "decode"}, never raise; when scan_events
-- accepts a body, core.decode accepts it too (unless past one of decode's own limits: depth, a
-- lone escaped surrogate outside an event name, a number beyond a double), and every range it
-- gives is inside the body, in order, starts with '{' and ends with '}' (a properties range
-- inside its event), and each event's range decodes to an object whose "event" is the name given.
-- Input: the body.
local core = require "posthog.event_definitions.core"
local lib = dofile("fuzz/lib.lua")
local check = lib.check

return function(data)
  local form, ev, n = core.scan_events(data)
  if not form then
    check(type(ev) == "table" and ev.kind == "decode", "a refused body is kind decode")
    return
  end
  local whole, err = core.decode(data, nil, true)
  -- decode's own limits, which scan need not have (it leaves values other than names be): depth,
  -- escaped surrogates, numbers beyond a double
  local deep = not whole and (err.detail:find("nested deeper", 1, true) or err.detail:find("UTF-8", 1, true)
    or err.detail:find("unpaired surrogate", 1, true) or err.detail:find("beyond the range", 1, true))
  check(whole ~= nil or deep, "what scan reads, decode reads: " .. tostring(err and err.detail))
  local prev = 0
  for i = 0, n - 1 do
    local first, last, name, pf, pl = ev[6 * i + 1], ev[6 * i + 2], ev[6 * i + 3], ev[6 * i + 4], ev[6 * i + 5]
    check(first > prev and last <= #data and first < last, "ranges in order and inside the body")
    check(data:sub(first, first) == "{" and data:sub(last, last) == "}", "an event range is an object")
    if pf > 0 then
      check(pf > first and pl < last and data:sub(pf, pf) == "{" and data:sub(pl, pl) == "}",
        "a properties range is an object inside its event")
      check(core.scan_props(data, pf, pl) ~= nil, "scan_props reads a properties range")
    end
    local obj = core.decode(data:sub(first, last), "object", true)
    check(obj ~= nil or deep, "an event range decodes")
    if obj then
      local want = type(obj.event) == "string" and obj.event or false
      check(name == want, "the name is the object's event")
    end
    prev = last
  end
end
