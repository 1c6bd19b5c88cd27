-- bench/list/luasocket.lua: a peer of bench/list.lua. Lists every definition with LuaSocket's
-- socket.http (one request per page, following `next`) and lua-cjson into one array, as a plain
-- script would.
--
--   lua5.4 bench/list/luasocket.lua FIRST_PAGE_URL   -> prints "<seconds> <definitions>"

local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"

local url = assert(arg[1], "usage: luasocket.lua FIRST_PAGE_URL")
local headers = { authorization = "Bearer phx_bench", accept = "application/json" }
local definitions = {}

local t0 = socket.gettime()
while url do
  local chunks = {}
  local ok, code = http.request { url = url, headers = headers, sink = ltn12.sink.table(chunks) }
  assert(ok and code == 200, "GET " .. url .. ": " .. tostring(code))
  local page = cjson.decode(table.concat(chunks))
  for _, def in ipairs(page.results) do definitions[#definitions + 1] = def end
  url = page.next ~= cjson.null and page.next or nil
end
print(string.format("%.6f %d", socket.gettime() - t0, #definitions))
