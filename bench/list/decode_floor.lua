-- bench/list/decode_floor.lua: the decode floor of bench/list.lua. Reads every page body that
-- the server sends for page size SIZE (untimed), then times the decoding of each, keeping the
-- decoded pages as a listing keeps its definitions: with cjson.decode (the floor), or with this
-- project's core.decode(body, "page") with its simdjson module loaded, as the client has it
-- outside nginx (for comparison; needs LUA_CPATH='build/5.4/?.so;;').
--
--   lua5.4 bench/list/decode_floor.lua PAGES_DIR SIZE TOTAL [cjson|core]
--     -> prints "<seconds> <definitions>"

local socket = require "socket"

local dir, size, total, decoder = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4] or "cjson"
assert(dir and size and total and (decoder == "cjson" or decoder == "core"),
  "usage: decode_floor.lua PAGES_DIR SIZE TOTAL [cjson|core]")
local decode
if decoder == "cjson" then
  decode = require("cjson").decode
else
  local core = require "posthog.event_definitions.core"
  require "posthog.event_definitions.simdjson"
  decode = function(body) return assert(core.decode(body, "page")) end
end

local bodies = {}
for offset = 0, total - 1, size do
  local f = assert(io.open(("%s/%d/%d.json"):format(dir, size, offset), "rb"))
  bodies[#bodies + 1] = f:read("a")
  f:close()
end
collectgarbage()

local t0 = socket.gettime()
local pages, definitions = {}, 0
for i, body in ipairs(bodies) do
  pages[i] = decode(body)
  definitions = definitions + #pages[i].results
end
print(string.format("%.6f %d", socket.gettime() - t0, definitions))
