-- bench/batch/luasocket.lua: a Lua peer of bench/batch.lua. Sends N updates (PATCH, JSON body,
-- JSON answer decoded) one at a time with LuaSocket's socket.http + lua-cjson (no concurrency:
-- socket.http blocks; a connection per request).
--
--   lua5.4 bench/batch/luasocket.lua BASE N   -> prints "<seconds> <ok>"

local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"

local base, n = assert(arg[1], "usage: luasocket.lua BASE N"), assert(tonumber(arg[2]), "usage: luasocket.lua BASE N")

local t0, ok = socket.gettime(), 0
for i = 1, n do
  local id = string.format("0190c6a2-8f4e-7000-9c1d-%012d", i)
  local body = cjson.encode { description = "bench " .. i }
  local chunks = {}
  local _, code = http.request { url = base .. "/api/projects/1/event_definitions/" .. id .. "/", method = "PATCH",
    headers = { authorization = "Bearer phx_bench", ["content-type"] = "application/json",
      ["content-length"] = tostring(#body) },
    source = ltn12.source.string(body), sink = ltn12.sink.table(chunks) }
  if code == 200 and cjson.decode(table.concat(chunks)).id == id then ok = ok + 1 end
end
print(string.format("%.6f %d", socket.gettime() - t0, ok))
