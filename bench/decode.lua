-- bench/decode.lua: decoding a 1,000-definition list page, the C core against lua-cjson.
--
--   LUA_CPATH='build/5.4/?.so;;' lua5.4 bench/decode.lua [iterations] [rounds]
--
-- Both decoders run side by side in this process on the same body (order alternating per
-- round); the best round of each is compared. Exits 1 when core is over 1.3x cjson.

local core = require "posthog.event_definitions.core"
local cjson = require "cjson"
local support = require "bench.support"

local ITERATIONS = tonumber(arg and arg[1]) or 20
local ROUNDS = tonumber(arg and arg[2]) or 7
local LIMIT = 1.3

-- A deterministic page shaped like PostHog Cloud's (reference §6.4, §7.3), ~1 KB per item.
local uuid, user, stamp = support.uuid, support.user, support.stamp

local function definition(i)
  local verified = i % 4 == 0
  return table.concat {
    '{"id":"', uuid(i), '","name":"event_', string.format("%05d", i), '_signed_up_for_newsletter"',
    ',"owner":', i % 3 == 0 and "null" or user(i % 50 + 1),
    ',"description":"Fired when a visitor completes the newsletter form on the marketing site (variant ', i % 7, ')."',
    ',"created_at":"', stamp(i), '","updated_at":"', stamp(i + 1), '"',
    ',"updated_by":', user(i % 40 + 2),
    ',"last_seen_at":', i % 5 == 0 and "null" or ('"' .. stamp(i + 2) .. '"'),
    ',"verified":', verified and "true" or "false",
    ',"verified_at":', verified and ('"' .. stamp(i + 3) .. '"') or "null",
    ',"verified_by":null,"hidden":', i % 9 == 0 and "true" or "false",
    ',"enforcement_mode":"allow","primary_property":', i % 2 == 0 and '"$current_url"' or "null",
    ',"is_action":false,"post_to_slack":false',
    ',"default_columns":', i % 6 == 0 and '["event","person","timestamp"]' or "[]",
    ',"media_preview_urls":[]',
    ',"tags":["marketing","newsletter"', i % 2 == 0 and ',"web"' or "", "]}",
  }
end

local items = {}
for i = 1, 1000 do items[i] = definition(i) end
local body = '{"count":4217,' ..
  '"next":"https://us.posthog.com/api/projects/1/event_definitions/?limit=1000&offset=1000",' ..
  '"previous":null,"results":[' .. table.concat(items, ",") .. '],"count_is_capped":false}'

-- Both decoders must agree before timing means anything.
local a, err = core.decode(body, "page")
assert(a, err and err.detail)
local b = cjson.decode(body)
assert(#a.results == 1000 and #b.results == 1000 and a.results[1000].name == b.results[1000].name)
assert(a.results[2].owner.email == b.results[2].owner.email)

local decoders = {
  core = function() return core.decode(body, "page") end,
  cjson = function() return cjson.decode(body) end,
}

local function time(name)
  local f = decoders[name]
  collectgarbage()
  collectgarbage()
  local t0 = os.clock()
  for _ = 1, ITERATIONS do f() end
  return (os.clock() - t0) / ITERATIONS
end

local best = { core = math.huge, cjson = math.huge }
for round = 1, ROUNDS do
  local order = round % 2 == 1 and { "core", "cjson" } or { "cjson", "core" }
  for _, name in ipairs(order) do
    local t = time(name)
    if t < best[name] then best[name] = t end
  end
end

local ratio = best.core / best.cjson
local jit = rawget(_G, "jit")
local runtime = jit and jit.version or _VERSION
print(string.format("decode 1000-definition page (%d KB, %s): core %.2f ms, cjson %.2f ms, ratio %.2fx",
  math.floor(#body / 1024), runtime, best.core * 1000, best.cjson * 1000, ratio))
if ratio > LIMIT then
  io.stderr:write(string.format("bench/decode.lua: core is %.2fx cjson, over the %.1fx limit\n", ratio, LIMIT))
  os.exit(1)
end
