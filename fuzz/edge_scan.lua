--- fuzz/edge_scan.lua: the edge's scanner (posthog.event_definitions.edge.core: scan and props)
-- over any bytes. Promises: they return results or nil and a reason, never raise; when scan
-- accepts a body, core.decode accepts it too (unless past one of decode's own limits: depth, a
-- number beyond a double), and every range it gives is inside the body, in order; an event's
-- range decodes to an object whose "event" (if a string), tokens and properties are the ones the
-- scanner gives; a properties value's range is that value's JSON; props reads every object range
-- and gives each key's kind as decode sees it. Input: the body.
local core = require "posthog.event_definitions.core"
local edge_core = require "posthog.event_definitions.edge.core"
local lib = dofile("fuzz/lib.lua")
local check = lib.check

local F = edge_core.FIELDS
local KIND = { string = "string", number = "number", boolean = "boolean", table = nil }

-- A string field of an object, as the scanner reports it (false unless a string).
local function str(t, k)
  local v = type(t) == "table" and t[k]
  return type(v) == "string" and v or false
end

return function(data)
  local form, ev, n, api_key, token = edge_core.scan(data, 1000)
  if not form then
    check(ev == "json" or ev == "too_many_events", "a refused body gives a reason")
    check(type(n) == "string", "a refused body gives a detail")
    return
  end
  local whole, err = core.decode(data, nil, true)
  local detail = not whole and err.detail or ""
  local limit = detail:find("nested deeper", 1, true) or detail:find("beyond the range", 1, true)
  check(whole ~= nil or limit, "what scan reads, decode reads: " .. tostring(err and err.detail))
  if whole and form == "batch" then
    check(str(whole, "api_key") == api_key and str(whole, "token") == token, "the batch's tokens")
  end
  local prev = 0
  for i = 0, n - 1 do
    local b = i * F
    local first, last, name = ev[b + 1], ev[b + 2], ev[b + 3]
    local vfirst, vlast, pkind, pkeys = ev[b + 4], ev[b + 5], ev[b + 6], ev[b + 7]
    check(first > prev and last <= #data and first < last, "ranges in order and inside the body")
    check(data:sub(first, first) == "{" and data:sub(last, last) == "}", "an event range is an object")
    local obj = core.decode(data:sub(first, last), "object", true)
    if obj then
      check(name == str(obj, "event"), "the name is the object's event")
      check(ev[b + 9] == str(obj, "token") and ev[b + 10] == str(obj, "$token") and ev[b + 11] == str(obj, "api_key"),
        "the event's tokens")
      local props = obj.properties
      local opens = vfirst > 0 and data:sub(vfirst, vfirst)
      local want = props == nil and 0 or props == core.null and 2 or opens == "{" and 1 or 3
      check(pkind == want, "the properties' kind")
      check(pkind ~= 1 or data:sub(vlast, vlast) == "}", "an object's range ends with its brace")
      if pkind == 1 then check(ev[b + 12] == str(props, "token"), "properties.token") end
    end
    if pkind ~= 0 then
      check(vfirst > first and vlast < last and vfirst <= vlast, "a properties range inside its event")
      local value = core.decode("[" .. data:sub(vfirst, vlast) .. "]", nil, true)
      check(value ~= nil or limit, "a properties range is one JSON value")
    end
    if pkind == 1 then
      local kinds, values = edge_core.props(data, vfirst, vlast)
      check(kinds ~= nil or limit, "props reads a properties object")
      local p = core.decode(data:sub(vfirst, vlast), "object", true)
      if kinds and p then
        local keys = 0
        for k, kind in pairs(kinds) do
          keys = keys + 1
          local v = p[k]
          local want_kind = v == core.null and "null" or KIND[type(v)] or (type(v) == "table" and (v[1] ~= nil
            and "array" or kind == "array" and "array" or "object"))
          check(kind == want_kind, "props' kind of " .. k)
          if kind == "string" then check(values[k] == v, "props' string") end
        end
        check(keys <= pkeys, "props sees no more keys than the scanner counted")
      end
    end
    prev = last
  end
end
