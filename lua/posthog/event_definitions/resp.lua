--- A minimal Redis client over LuaSocket, for pacing outside nginx: RESP2 commands on one
-- blocking TCP connection whose every connect, send and read is bounded by a timeout. It knows
-- only what the pacing needs (commands in, replies out); Debian's lua-redis is packaged for
-- Lua 5.1-5.3 only, and this runs on 5.4, 5.1 and LuaJIT alike.
local socket = require "socket"

local resp = {}

local Conn = {}
Conn.__index = Conn

local tostring, tonumber, concat, sub = tostring, tonumber, table.concat, string.sub

--- A connection to host:port with `timeout` seconds for each step; or nil and why.
function resp.connect(host, port, timeout)
  local sock = socket.tcp()
  sock:settimeout(timeout)
  local ok, why = sock:connect(host, port)
  if not ok then
    sock:close()
    return nil, "connect: " .. tostring(why)
  end
  sock:setoption("tcp-nodelay", true)
  return setmetatable({ sock = sock }, Conn)
end

-- The RESP encoding of the command `args` (an array of strings or numbers).
local function encode(args)
  local parts = { "*" .. #args .. "\r\n" }
  for _, a in ipairs(args) do
    a = tostring(a)
    parts[#parts + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n"
  end
  return concat(parts)
end

-- Reads one reply: a value (string, number, array, false for a nil bulk), or nil, why, and
-- true when the reply is a Redis error (the connection stays usable).
local function read_reply(sock)
  local line, why = sock:receive("*l")
  if not line then return nil, "read: " .. tostring(why) end
  local kind, rest = sub(line, 1, 1), sub(line, 2)
  if kind == "+" then return rest end
  if kind == "-" then return nil, rest, true end
  if kind == ":" then return tonumber(rest) end
  if kind == "$" then
    local n = tonumber(rest)
    if not n then return nil, "read: bad bulk length" end
    if n < 0 then return false end
    local data, err = sock:receive(n + 2)
    if not data then return nil, "read: " .. tostring(err) end
    return sub(data, 1, n)
  end
  if kind == "*" then
    local n = tonumber(rest)
    if not n then return nil, "read: bad array length" end
    if n < 0 then return false end
    local items = {}
    for i = 1, n do
      local v, err, redis_error = read_reply(sock)
      if v == nil then
        if redis_error then v = { err = err } else return nil, err end
      end
      items[i] = v
    end
    return items
  end
  return nil, "read: not a RESP reply"
end

--- Sends one command (the strings of `...`) and returns its reply; or nil, why and true when
-- Redis answered an error (e.g. "NOSCRIPT …"), nil and why when the connection failed (it is
-- then closed).
function Conn:command(...)
  local ok, why = self.sock:send(encode { ... })
  if not ok then
    self:close()
    return nil, "send: " .. tostring(why)
  end
  local value, err, redis_error = read_reply(self.sock)
  if value == nil and not redis_error then self:close() end
  return value, err, redis_error
end

--- Closes the connection; idempotent.
function Conn:close()
  if not self.closed then
    self.closed = true
    self.sock:close()
  end
end

return resp
