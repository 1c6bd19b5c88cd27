-- Writes the requests of the edge benchmark (bench/edge, bench/edge_profile.lua) into the
-- directory arg[1], built by spec/support/sdk_bodies.lua as posthog-js sends them:
--   batch50       a posthog-js batch of 50 events (POST /i/v0/e/, text/plain, gzip found by its
--                 magic bytes), each with the properties posthog-js sets on a web page view; every
--                 event passes the example's policy
--   batch50_drop  the same batch with 2 events of names the taxonomy does not know (dropped: the
--                 body is rewritten and re-compressed)
--   single        one such event alone, plain JSON (POST /e/, application/json)
--   bomb          20 MB of empty events `[{},{},…]` gzipped (about 20 KB), POST /e/ (bomb.body)
-- For each other NAME: NAME.body (the bytes sent), NAME.json (the JSON text inside), VARIANTS more
-- requests NAME.1.body … (the same events with other ids and times, as a sender's next requests:
-- no two bodies alike, as in real traffic), and a line of DIR/cases: NAME PATH CONTENT-TYPE.
-- Names come from the fake's seeded definitions event_00001 … (arg[2] of them, default 10,000),
-- skipping the hidden ones (every 11th that is not verified).
-- Usage: luajit bench/edge_bodies.lua DIR [DEFINITIONS]
package.path = "spec/?.lua;" .. package.path
local sdk = require "support.sdk_bodies"

local dir = assert(arg[1], "usage: luajit bench/edge_bodies.lua DIR [DEFINITIONS]")
local VARIANTS = 32
local definitions = tonumber(arg[2] or 10000)
local width = math.max(4, #tostring(definitions))

-- A seeded name that passes: known, not hidden.
local function name_of(i)
  local n = (i * 197) % definitions + 1
  if n % 11 == 0 and n % 7 ~= 0 then n = n + 1 end
  return string.format("event_%0" .. width .. "d", n)
end

-- The properties posthog-js adds to a page's event beyond those sdk_bodies writes itself
-- (variant v of the request).
local function props(i, v)
  return sdk.object {
    { "$os_version", "10.15.7" }, { "$browser_version", 138 }, { "$device_type", "Desktop" },
    { "$browser_language", "en-US" },
    { "$screen_height", 1117 }, { "$screen_width", 1728 }, { "$viewport_height", 959 }, { "$viewport_width", 1728 },
    { "$referrer", "https://www.google.com/" },
    { "$window_id", string.format("0195a3c1-7e1a-7c3e-9f%02d-%012d", v, i) },
    { "$pageview_id", string.format("0195a3c1-8b2f-7d4e-a1%02d-%012d", v, i) },
    { "$is_identified", i % 2 == 0 }, { "$process_person_profile", true },
    { "$active_feature_flags", { "new-pricing" } }, { "$feature/new-pricing", true },
    { "title", "Pricing - Example" }, { "plan", "team" }, { "seats", i }, { "$scroll_depth", (i + v) % 100 / 100 },
  }
end

local function batch(names, v)
  local events = {}
  for i, name in ipairs(names) do events[i] = { event = name, properties = props(i, v or 0) } end
  return sdk.build("posthog_js", events)
end

local function write(name, data)
  local f = assert(io.open(dir .. "/" .. name, "wb"))
  f:write(data)
  f:close()
end

local cases = {}
-- case(name, path, content type, make) where make(v) -> body, text of variant v (0: the first)
local function case(name, path, ctype, make)
  for v = 0, VARIANTS do
    local body, text = make(v)
    write(name .. (v > 0 and "." .. v or "") .. ".body", body)
    if v == 0 then write(name .. ".json", text) end
  end
  cases[#cases + 1] = table.concat({ name, path, ctype }, " ")
end

local names, dropped = {}, {}
for i = 1, 50 do names[i], dropped[i] = name_of(i), name_of(i) end
dropped[10], dropped[40] = "unplanned_event", "another_unplanned_event"
for _, c in ipairs { { "batch50", names }, { "batch50_drop", dropped } } do
  case(c[1], "/i/v0/e/", "text/plain", function(v)
    local req = batch(c[2], v)
    return req.body, req.text
  end)
end
case("single", "/e/", "application/json", function(v)
  local event = assert(batch({ name_of(3) }, v).text:match('"batch":%[(.*)%],"sent_at"'))
  return event, event
end)
local empty = sdk.compress("gzip", "[" .. string.rep("{},", 20 * 1024 * 1024 / 3 - 1) .. "{}]")
write("bomb.body", empty)
cases[#cases + 1] = "bomb /e/ text/plain"
write("cases", table.concat(cases, "\n") .. "\n")
