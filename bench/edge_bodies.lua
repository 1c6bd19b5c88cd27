-- Writes the bodies of the edge benchmark (bench/edge) into the directory arg[1]: a posthog-js
-- style batch of 50 events (uncompressed; bench/edge gzips it), the same batch with 2 events of
-- unknown names (dropped: the body is rewritten and re-compressed), and one plain event. Names
-- come from the fake's seeded definitions event_00001 … event_10000, skipping the hidden ones
-- (every 11th that is not verified), so under the example's policy every event passes; each
-- event carries properties shaped like posthog-js's.
local dir = assert(arg[1], "usage: luajit bench/edge_bodies.lua DIR")

local function event(i, name)
  local n = (i * 197) % 10000 + 1
  if n % 11 == 0 and n % 7 ~= 0 then n = n + 1 end
  name = name or string.format("event_%05d", n)
  return '{"event":"' .. name .. '","properties":{"$os":"Linux","$browser":"Firefox","$device_type":"Desktop",'
    .. '"$current_url":"https://example.com/pricing?plan=team&ref=' .. i .. '","$host":"example.com",'
    .. '"$pathname":"/pricing","$browser_version":128,"$screen_height":1080,"$screen_width":1920,'
    .. '"$lib":"web","$lib_version":"1.200.0","$insert_id":"' .. string.format("%016x", i * 7919) .. '",'
    .. '"$time":1767225600.' .. i .. ',"distinct_id":"01939b5c-7e1a-7c3e-9f00-' .. string.format("%012d", i)
    .. '","$session_id":"01939b5c-7e1a-7c3e-9f00-aaaaaaaaaaaa","plan":"team","seats":' .. i .. ','
    .. '"token":"phc_benchmark"},"timestamp":"2026-01-01T00:00:0' .. (i % 10) .. '.000Z"}'
end

local events = {}
for i = 1, 50 do events[i] = event(i) end
local f = assert(io.open(dir .. "/batch50.json", "wb"))
f:write("[" .. table.concat(events, ",") .. "]")
f:close()
events[10], events[40] = event(10, "unplanned_event"), event(40, "another_unplanned_event")
f = assert(io.open(dir .. "/batch50_drop.json", "wb"))
f:write("[" .. table.concat(events, ",") .. "]")
f:close()
f = assert(io.open(dir .. "/single.json", "wb"))
f:write(event(3))
f:close()
