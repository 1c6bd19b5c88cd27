-- spec/support/tiny_http.lua: a throwaway HTTP/1.1 server for spec/03-curl_spec.lua and the
-- odd-answer tests of spec/60-nginx_spec.lua.
--
--   lua5.4 spec/support/tiny_http.lua [port]      (port 0 or absent: any free port)
--
-- Prints "port <n>" once listening on 127.0.0.1, then serves canned responses per path until
-- GET /quit, or 60 s after start at the latest. Single-threaded (luasocket select); a delayed
-- response does not hold up other connections.

local socket = require "socket"
local cjson = require "cjson"

local started = socket.gettime()
local LIFETIME = 60

local server = assert(socket.bind("127.0.0.1", tonumber(arg[1]) or 0))
server:settimeout(0)
io.stdout:write("port ", select(2, server:getsockname()), "\n")
io.stdout:flush()

local connections, requests = 0, 0
local clients = {}   -- socket -> { id, served, due, send }
local readers = { server }

local function drop(c)
  clients[c] = nil
  for i, s in ipairs(readers) do
    if s == c then table.remove(readers, i) break end
  end
  c:close()
end

local function response(status, headers, body)
  local lines = { "HTTP/1.1 " .. status }
  for _, h in ipairs(headers) do lines[#lines + 1] = h end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

local function json(status, value, extra)
  local headers = { "Content-Type: application/json" }
  for _, h in ipairs(extra or {}) do headers[#headers + 1] = h end
  return response(status, headers, cjson.encode(value))
end

local function chunked(parts, finish)
  local out = { response("200 OK", { "Content-Type: text/plain", "Transfer-Encoding: chunked" }) }
  for _, p in ipairs(parts) do out[#out + 1] = string.format("%x\r\n%s\r\n", #p, p) end
  if finish then out[#out + 1] = "0\r\n\r\n" end
  return table.concat(out)
end

-- Returns the bytes to send, whether to close afterwards, and a delay in seconds.
local function route(req, state)
  local path, query = req.target:match("^([^?]*)%??(.*)$")
  local q = {}
  for k, v in query:gmatch("([^&=]+)=([^&]*)") do q[k] = v end
  local n = tonumber(q.n or q.ms)
  if path == "/json" then
    return response("200 OK", { "Content-Type: application/json", "X-Dup: a", "X-Dup: b", "X-Mixed-CASE: v" },
      '{"ok":true,"id":123456789012,"items":[]}')
  elseif path == "/echo" then
    return json("200 OK", { method = req.method, target = req.target, headers = req.headers, body = req.body })
  elseif path == "/conn" then
    return json("200 OK",
      { connection = state.id, served = state.served, connections = connections, requests = requests })
  elseif path == "/chunked" then
    return chunked({ '{"parts":', '[1,2,3]', ',"done":true}' }, true)
  elseif path == "/cut" then
    return response("200 OK", { "Content-Type: application/json", "Content-Length: 100" }, nil) .. '{"cut":', true
  elseif path == "/cut-chunked" then
    return chunked({ '{"parts":', '[1,2' }, false), true
  elseif path == "/slow" then
    return json("200 OK", { slept_ms = n, connection = state.id }), false, (n or 1000) / 1000
  elseif path == "/big" then
    return response("200 OK", { "Content-Type: text/plain" }, string.rep("x", n or 1000000))
  elseif path == "/big-chunked" then
    local parts, left = {}, n or 1000000
    while left > 0 do
      parts[#parts + 1] = string.rep("y", math.min(left, 16384))
      left = left - 16384
    end
    return chunked(parts, true)
  elseif path == "/continue" then
    return "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n" ..
      response("200 OK", { "Content-Type: text/plain", "X-Final: 1" }, "after continue")
  elseif path == "/status" then
    local extra = q.retry_after and { "Retry-After: " .. q.retry_after } or nil
    return json(tostring(n or 500) .. " Status", { type = "server_error", code = "error", detail = "canned" }, extra)
  elseif path == "/trickle" then -- 20 bytes, one every n ms after the head
    state.trickle = (n or 300) / 1000
    return response("200 OK", { "Content-Type: text/plain" }, string.rep("t", 20))
  elseif path == "/long-header" then -- one header line of n bytes
    return response("200 OK", { "X-Long: " .. string.rep("h", n or 1000000) }, "ok")
  elseif path == "/close" then
    return response("200 OK", { "Connection: close" }, "bye"), true
  elseif path == "/quit" then
    os.exit(0)
  end
  return json("404 Not Found",
    { type = "invalid_request", code = "not_found", detail = "Not found.", attr = cjson.null })
end

local function read_request(c)
  local line, err = c:receive("*l")
  if not line then return nil, err end
  local method, target = line:match("^(%u+) (%S+) HTTP/1%.%d$")
  if not method then return nil, "bad request line" end
  local headers = {}
  while true do
    local h = c:receive("*l")
    if not h then return nil, "closed" end
    if h == "" then break end
    local name, value = h:match("^([^:]+):%s*(.-)%s*$")
    if name then headers[name:lower()] = value end
  end
  local body = ""
  local len = tonumber(headers["content-length"] or 0)
  if len > 0 then body = c:receive(len) end
  return { method = method, target = target, headers = headers, body = body }
end

local function send(c, state)
  c:settimeout(5)
  if state.trickle then -- the head at once, then the body a byte at a time
    local head_end = state.send:find("\r\n\r\n", 1, true)
    local n = state.started and 1 or head_end + 3
    state.started = true
    local ok = c:send(state.send:sub(1, n))
    state.send = state.send:sub(n + 1)
    if ok and state.send ~= "" then
      state.due = socket.gettime() + state.trickle
      return
    end
    state.trickle, state.started = nil, nil
    state.send, state.due = nil, nil
    if not ok then drop(c) end
    return
  end
  local ok = c:send(state.send)
  state.send, state.due = nil, nil
  if not ok or state.close then drop(c) end
end

while socket.gettime() - started < LIFETIME do
  local now, wait = socket.gettime(), 0.05
  for c, state in pairs(clients) do
    if state.due and state.due <= now then send(c, state)
    elseif state.due then wait = math.min(wait, state.due - now) end
  end
  local ready = socket.select(readers, nil, wait)
  for _, s in ipairs(ready) do
    if s == server then
      local c = server:accept()
      if c then
        connections = connections + 1
        clients[c] = { id = connections, served = 0 }
        readers[#readers + 1] = c
      end
    elseif clients[s] and not clients[s].send then
      local state = clients[s]
      s:settimeout(2)
      local req = read_request(s)
      if not req then
        drop(s)
      else
        requests = requests + 1
        state.served = state.served + 1
        local bytes, close, delay = route(req, state)
        state.send, state.close, state.due = bytes, close, socket.gettime() + (delay or 0)
        if not delay then send(s, state) end
      end
    end
  end
end
