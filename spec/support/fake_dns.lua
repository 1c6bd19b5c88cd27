--- spec/support/fake_dns.lua: a DNS server that answers every A query with 127.0.0.1, run as
-- its own process under Lua 5.4 with LuaSocket (nginx's resolver reads no /etc/hosts):
--
--   lua5.4 spec/support/fake_dns.lua DIR
--
-- It listens on a free loopback UDP port and writes it to DIR/port once ready; it runs until
-- killed (by its pid). Other query types get an empty answer.
local socket = require "socket"

local dir = assert(arg[1], "usage: fake_dns.lua DIR")
local udp = assert(socket.udp())
assert(udp:setsockname("127.0.0.1", 0))
local _, port = udp:getsockname()
local tmp = assert(io.open(dir .. "/port.tmp", "w"))
tmp:write(port, "\n")
tmp:close()
assert(os.rename(dir .. "/port.tmp", dir .. "/port"))

-- The end of the question's name (its zero byte) in the query, or nil.
local function name_end(query)
  local i = 13
  while i <= #query do
    local len = query:byte(i)
    if len == 0 then return i end
    i = i + len + 1
  end
end

while true do
  local query, host, from = udp:receivefrom()
  local zero = query and name_end(query)
  if zero and #query >= zero + 4 then
    local question = query:sub(13, zero + 4)
    local is_a = query:sub(zero + 1, zero + 4) == "\0\1\0\1"
    local header = query:sub(1, 2) .. "\129\128\0\1" .. (is_a and "\0\1" or "\0\0") .. "\0\0\0\0"
    local answer = is_a and ("\192\12\0\1\0\1\0\0\0\60\0\4\127\0\0\1") or ""
    udp:sendto(header .. question .. answer, host, from)
  end
end
