--- spec/support/fake_resp.lua: a fake Redis (RESP) server that answers what a spec scripts, run
-- as its own process under Lua 5.4 with LuaSocket:
--
--   lua5.4 spec/support/fake_resp.lua DIR
--
-- It reads DIR/scenario.lua, listens on a free loopback port, writes the port to DIR/port once
-- it accepts connections, and appends one line per event to DIR/log ("<seconds> <connection>
-- accept|close|<COMMAND>"). The scenario maps a command name (upper case) to its replies, used in
-- turn across connections (the last one repeats); a reply is the bytes to send, or a table:
--   { send = bytes, drip = seconds }   bytes, then one more byte ("x") every `seconds`, for ever
--   { send = bytes, close = true }     bytes (maybe none), then the connection is closed
--   { stall = true }                    no reply; the connection stays open, read and ignored
-- AUTH, SELECT and PING answer +OK/+PONG and SCRIPT LOAD a SHA1-like string, unless scripted.
-- The server runs until killed (the spec stops it by its pid).
local socket = require "socket"

local dir = assert(arg[1], "usage: fake_resp.lua DIR")
local scenario = assert(dofile(dir .. "/scenario.lua"))

local DEFAULTS = {
  AUTH = "+OK\r\n",
  SELECT = "+OK\r\n",
  PING = "+PONG\r\n",
  SCRIPT = "$40\r\n" .. string.rep("5e", 20) .. "\r\n",
}

local used = {} -- command -> replies used so far

local function next_reply(command)
  local replies = scenario[command]
  if replies == nil then return DEFAULTS[command] or "-ERR the fake has no reply for " .. command .. "\r\n" end
  if type(replies) ~= "table" or replies.send or replies.stall or replies.close then replies = { replies } end
  local n = (used[command] or 0) + 1
  used[command] = n
  return replies[math.min(n, #replies)]
end

local log_file = assert(io.open(dir .. "/log", "a"))
log_file:setvbuf("line")
local function log(id, event)
  log_file:write(string.format("%.6f %d %s\n", socket.gettime(), id, event))
end

-- One complete command (an array of bulk strings) at the start of `buf`: its words and the
-- rest of the buffer, or nil when more bytes are needed.
local function take_command(buf)
  local count, pos = buf:match("^%*(%d+)\r\n()")
  if not count then return nil end
  local words = {}
  for _ = 1, tonumber(count) do
    local len, from = buf:match("^%$(%d+)\r\n()", pos)
    if not len then return nil end
    len = tonumber(len)
    if #buf < from + len + 1 then return nil end
    words[#words + 1] = buf:sub(from, from + len - 1)
    pos = from + len + 2
  end
  return words, buf:sub(pos)
end

local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(0)
local _, port = server:getsockname()
local tmp = io.open(dir .. "/port.tmp", "w")
tmp:write(port, "\n")
tmp:close()
assert(os.rename(dir .. "/port.tmp", dir .. "/port"))

local conns, next_id = {}, 0 -- socket -> {id, buf, drip_at, drip_every, stalled}

local function close(sock)
  log(conns[sock].id, "close")
  conns[sock] = nil
  sock:close()
end

local function send(sock, bytes)
  if bytes and bytes ~= "" then sock:send(bytes) end
end

local function answer(sock, c, words)
  local command = (words[1] or ""):upper()
  log(c.id, command)
  if c.stalled or c.drip_every then return end
  local reply = next_reply(command)
  if type(reply) == "string" then return send(sock, reply) end
  send(sock, reply.send)
  if reply.close then return close(sock) end
  if reply.stall then c.stalled = true end
  if reply.drip then c.drip_every, c.drip_at = reply.drip, socket.gettime() + reply.drip end
end

while true do
  local readers, wait = { server }, 1
  local now = socket.gettime()
  for sock, c in pairs(conns) do
    readers[#readers + 1] = sock
    if c.drip_at then wait = math.min(wait, math.max(0, c.drip_at - now)) end
  end
  local ready = socket.select(readers, nil, wait)
  for _, sock in ipairs(ready) do
    if sock == server then
      local client = server:accept()
      if client then
        client:settimeout(5)
        next_id = next_id + 1
        conns[client] = { id = next_id, buf = "" }
        log(next_id, "accept")
      end
    elseif conns[sock] then
      sock:settimeout(0)
      local data, err, partial = sock:receive(65536)
      sock:settimeout(5)
      data = data or partial
      local c = conns[sock]
      if data and data ~= "" then c.buf = c.buf .. data end
      while conns[sock] do
        local words, rest = take_command(c.buf)
        if not words then break end
        c.buf = rest
        answer(sock, c, words)
      end
      if err == "closed" and conns[sock] then close(sock) end
    end
  end
  now = socket.gettime()
  for sock, c in pairs(conns) do
    if c.drip_at and c.drip_at <= now then
      local _, err = sock:send("x")
      if err then close(sock) else c.drip_at = now + c.drip_every end
    end
  end
end
