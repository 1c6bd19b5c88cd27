-- bench/list/luacurl.lua: a peer of bench/list.lua. Lists every definition with Debian's lua-curl
-- (module `curl`, easy interface, one handle reused so the connection is kept) and lua-cjson,
-- following `next`, into one array. lua-curl is built for Lua 5.1 only: run it under LuaJIT.
--
--   luajit bench/list/luacurl.lua FIRST_PAGE_URL   -> prints "<seconds> <definitions>"

local socket = require "socket"
local curl = require "curl"
local cjson = require "cjson"

local url = assert(arg[1], "usage: luacurl.lua FIRST_PAGE_URL")
local definitions = {}

local t0 = socket.gettime()
local easy = curl.easy_init()
local chunks, status
easy:setopt(curl.OPT_HTTPHEADER, { "Authorization: Bearer phx_bench", "Accept: application/json" })
easy:setopt(curl.OPT_WRITEFUNCTION, function(s) chunks[#chunks + 1] = s return #s end)
easy:setopt(curl.OPT_HEADERFUNCTION, function(s)
  status = s:match("^HTTP/[%d.]+ (%d+)") or status
  return #s
end)
while url do
  chunks, status = {}, nil
  easy:setopt(curl.OPT_URL, url)
  assert(easy:perform() == 0 and status == "200", "GET " .. url .. ": " .. tostring(status))
  local page = cjson.decode(table.concat(chunks))
  for _, def in ipairs(page.results) do definitions[#definitions + 1] = def end
  url = page.next ~= cjson.null and page.next or nil
end
print(string.format("%.6f %d", socket.gettime() - t0, #definitions))
