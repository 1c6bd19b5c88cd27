--- The nginx transport: HTTP/1.1 over cosockets (`ngx.socket.tcp`), so a call yields to the
-- nginx event loop instead of blocking the worker. Usable wherever cosockets work (rewrite,
-- access, content, timers, the ssl_* phases); the facade checks the phase before calling.
--
-- * TLS: `sslhandshake` with verification on (unless `insecure`) and SNI set to the URL's host,
--   which nginx also checks against the certificate; trust comes only from nginx's
--   `lua_ssl_trusted_certificate` (the Lua module has no per-socket CA store).
-- * Host names are resolved by nginx's `resolver` directive.
-- * Bodies are read by Content-Length, by chunk (Transfer-Encoding: chunked), or up to the close
--   of the connection; a connection goes back to the cosocket keepalive pool (per worker, sized
--   by `lua_socket_pool_size`) only after a fully read body, and is closed otherwise.
-- * One deadline per request: `req.timeout` seconds from connect to the last byte. The answer is
--   read in pieces (`receiveany`), each read armed with what is left of the deadline, so a server
--   that trickles bytes cannot stretch it; everything received (1xx answers, head, body,
--   trailers) counts against max_response_bytes plus a small allowance for the head.
-- * A pooled connection that turns out closed before any byte of the answer (the server closed
--   it while idle: the standard stale-connection case) is dropped and the request sent once
--   more, on a new connection, as libcurl does; any other failure is returned.
local core = require "posthog.event_definitions.core"
local TUNING = require("posthog.event_definitions.options").TUNING

local ngx = ngx
local ngx_now, ngx_update_time, tcp = ngx.now, ngx.update_time, ngx.socket.tcp
local parse_head = core.parse_head
local concat, tonumber, setmetatable, pairs = table.concat, tonumber, setmetatable, pairs
local math_max, math_min, math_ceil = math.max, math.min, math.ceil

local M = {}
M.__index = M

local DEFAULT_PORTS = { http = 80, https = 443 }
local KEEPALIVE_IDLE_MS = TUNING.keepalive_idle_ms
local READ_BYTES = TUNING.read_bytes
local HEAD_ALLOWANCE = TUNING.head_allowance
local MAX_LINE = TUNING.max_line
local MAX_HEAD = TUNING.max_head
-- Headers that the transport writes itself or that would change the message's framing.
local FRAMING_HEADERS = { host = true, ["content-length"] = true, ["transfer-encoding"] = true,
  connection = true, te = true, upgrade = true, trailer = true }

-- The message of an answer over the size limit.
local function oversize(max_bytes)
  return "response larger than max_response_bytes (" .. max_bytes .. ")"
end

-- A transport failure: kind "transport" or "timeout", and whether the request may have left.
-- An answer over max_response_bytes, or with a head or line over its limit, is not worth
-- retrying (retryable = false): it would be as large again.
local function failure(err, sent, detail)
  local too_large = err:find("max_response_bytes", 1, true) ~= nil or err:find("too long", 1, true) ~= nil
  return { kind = err == "timeout" and "timeout" or "transport", sent = sent, detail = detail,
    retryable = not too_large }
end

-- The parts of an http(s) URL: {scheme, host (for connect), name (for SNI), port, authority,
-- target}, or nil and the reason.
local function parse_url(url)
  local scheme, authority, target = url:match("^(%a[%w+.-]*)://([^/?#]*)([^#]*)")
  scheme = scheme and scheme:lower()
  if not DEFAULT_PORTS[scheme] then return nil, "not an http(s) URL" end
  local host, name, port = authority:match("^(%[([%x:.]+)%]):?(%d*)$")
  if not host then
    host, port = authority:match("^([^:@]+):?(%d*)$")
    name = host
  end
  if not host then return nil, "bad host in URL" end
  if target:sub(1, 1) ~= "/" then target = "/" .. target end
  return { scheme = scheme, host = host, name = name, port = tonumber(port) or DEFAULT_PORTS[scheme],
    authority = authority, target = target }
end

--- A transport; `options` = {max_response_bytes, insecure} (the client's options).
function M.new(options)
  return setmetatable({ max_bytes = options.max_response_bytes, verify = not options.insecure }, M)
end

-- The request's bytes: request line, headers (Host and Content-Length set here; framing
-- headers of the caller dropped), body.
local function serialise(req, url)
  local lines = { req.method .. " " .. url.target .. " HTTP/1.1", "Host: " .. url.authority }
  for name, value in pairs(req.headers or {}) do
    if not FRAMING_HEADERS[name:lower()] then lines[#lines + 1] = name .. ": " .. value end
  end
  local body = req.body
  if body or req.method == "POST" or req.method == "PUT" or req.method == "PATCH" then
    lines[#lines + 1] = "Content-Length: " .. #(body or "")
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = ""
  return { concat(lines, "\r\n"), body or "" }
end

-- One request on one connection. Fields: url (parsed), deadline (ngx.now() seconds), sock,
-- reused (times the connection had served before), got_bytes (whether any byte of the answer
-- arrived), buf/pos (bytes received and not yet consumed), received and budget (bytes).
local Exchange = {}
Exchange.__index = Exchange

-- Sets the socket's timeout to what is left of the deadline; false when nothing is left.
function Exchange:arm()
  ngx_update_time()
  local left = self.deadline - ngx_now()
  if left <= 0 then return false end
  self.sock:settimeout(math_max(1, math_ceil(left * 1000)))
  return true
end

-- Up to `most` bytes of the answer from the socket, counted against the budget; or nil and the
-- cosocket error or a message.
function Exchange:receive(most)
  if not self:arm() then return nil, "timeout" end
  local data, err = self.sock:receiveany(most)
  if not data then return nil, err end
  self.got_bytes = true
  self.received = self.received + #data
  if self.received > self.budget then return nil, oversize(self.max_bytes) end
  return data
end

-- One line of the answer without its line end, or nil and the cosocket error or a message.
function Exchange:line()
  local from = self.pos
  while true do
    local i = self.buf:find("\n", from, true)
    if i then
      local line = self.buf:sub(self.pos, i - 1)
      self.pos = i + 1
      return (line:gsub("\r$", ""))
    end
    if #self.buf - self.pos + 1 > MAX_LINE then return nil, "line of the answer too long" end
    local data, err = self:receive(READ_BYTES)
    if not data then return nil, err end
    self.buf = self.buf:sub(self.pos) .. data
    from, self.pos = #self.buf - #data + 1, 1
  end
end

-- Exactly n bytes of the answer, or nil and the cosocket error or a message.
function Exchange:bytes(n)
  local available = #self.buf - self.pos + 1
  if available >= n then
    self.pos = self.pos + n
    return self.buf:sub(self.pos - n, self.pos - 1)
  end
  local parts, have = { self.buf:sub(self.pos) }, available
  self.buf, self.pos = "", 1
  while have < n do
    local data, err = self:receive(math_min(READ_BYTES, n - have))
    if not data then return nil, err end
    parts[#parts + 1] = data
    have = have + #data
  end
  return concat(parts)
end

-- Connects (from the pool when possible) and shakes hands; returns true or nil, failure.
function Exchange:open(transport)
  local url = self.url
  local sock = tcp()
  self.sock = sock
  if not self:arm() then return nil, failure("timeout", false, "timed out before connecting") end
  local pool = url.scheme .. "://" .. url.name .. ":" .. url.port .. (transport.verify and "" or " insecure")
  if self.replay then pool = pool .. " replay " .. tostring(self) end -- a pool of its own: a new connection
  local ok, err = sock:connect(url.host, url.port, { pool = pool })
  if not ok then
    local hint = err:find("no resolver", 1, true) and " (configure nginx's resolver directive)" or ""
    return nil, failure(err, false, "connect to " .. url.authority .. ": " .. err .. hint)
  end
  self.reused = sock:getreusedtimes() or 0
  if url.scheme == "https" and self.reused == 0 then
    if not self:arm() then return nil, failure("timeout", false, "timed out before the TLS handshake") end
    ok, err = sock:sslhandshake(false, url.name, transport.verify)
    if not ok then
      local hint = err:find("certificate", 1, true) and " (trust comes from lua_ssl_trusted_certificate)" or ""
      return nil, failure(err, false, "TLS handshake with " .. url.authority .. ": " .. err .. hint)
    end
  end
  return true
end

-- The bytes of one response head, up to and including the blank line that ends it; or nil and
-- the cosocket error or a message.
function Exchange:head_bytes()
  local from = self.pos
  while true do
    local _, last = self.buf:find("\n\r?\n", from)
    if last then
      local text = self.buf:sub(self.pos, last)
      self.pos = last + 1
      return text
    end
    if #self.buf - self.pos + 1 > MAX_HEAD then return nil, "response head too long" end
    local data, err = self:receive(READ_BYTES)
    if not data then return nil, err end
    self.buf = self.buf:sub(self.pos) .. data
    from, self.pos = math_max(1, #self.buf - #data - 2), 1
  end
end

-- Reads the status line and headers (parsed by the core, as the libcurl driver's are), skipping
-- 1xx answers. Returns status, headers (lower-cased names, repeated ones joined with ", "), the
-- HTTP minor version; or nil and a cosocket error or a message.
function Exchange:head()
  while true do
    local text, err = self:head_bytes()
    if not text then return nil, err end
    local status, headers, minor = parse_head(text)
    if not status then return nil, headers.detail end
    if status == 101 then return nil, "unexpected 101 Switching Protocols" end
    if status >= 200 then return status, headers, minor end
  end
end

-- Reads a chunked body; returns it, or nil and a cosocket error or a message.
function Exchange:chunked(max_bytes)
  local parts, size = {}, 0
  while true do
    local line, err = self:line()
    if not line then return nil, err end
    local hex = line:match("^%s*(%x+)%s*$") or line:match("^%s*(%x+)%s*;") -- size[;extensions]
    if not hex or #hex > 15 then return nil, "malformed chunk size" end
    local n = tonumber(hex, 16)
    if n == 0 then break end
    size = size + n
    if size > max_bytes then return nil, oversize(max_bytes) end
    local data
    data, err = self:bytes(n)
    if not data then return nil, err end
    parts[#parts + 1] = data
    local crlf
    crlf, err = self:bytes(2)
    if not crlf then return nil, err end
    if crlf ~= "\r\n" then return nil, "malformed chunk end" end
  end
  repeat -- trailer fields, up to the empty line
    local line, err = self:line()
    if not line then return nil, err end
  until line == ""
  return concat(parts)
end

-- Reads a body that ends when the server closes the connection.
function Exchange:until_close(max_bytes)
  local parts, size = { self.buf:sub(self.pos) }, #self.buf - self.pos + 1
  self.buf, self.pos = "", 1
  while true do
    local data, err = self:receive(READ_BYTES)
    if not data then
      if err == "closed" then return concat(parts) end
      return nil, err
    end
    size = size + #data
    if size > max_bytes then return nil, oversize(max_bytes) end
    parts[#parts + 1] = data
  end
end

-- The value of a Content-Length header (a repeated header must repeat the same number), or nil.
local function content_length(value)
  local n
  for item in (value .. ","):gmatch("%s*([^,]-)%s*,") do
    if not item:match("^%d+$") or #item > 15 or (n and n ~= item) then return nil end
    n = item
  end
  return tonumber(n)
end

-- Reads the body after the head: returns body and whether the connection may be reused, or nil
-- and a cosocket error or a message.
function Exchange:body(status, headers, max_bytes)
  if status == 204 or status == 304 then return "", true end
  local te, length = headers["transfer-encoding"], headers["content-length"]
  local body, err
  if te and te:lower():match("([^,%s]+)%s*$") == "chunked" then
    body, err = self:chunked(max_bytes)
    if body and length then return body, false end -- both framings: never reuse (RFC 9112 6.3)
  elseif te or not length then
    body, err = self:until_close(max_bytes)
    if body then return body, false end
  else
    local n = content_length(length)
    if not n then return nil, "bad Content-Length" end
    if n > max_bytes then return nil, oversize(max_bytes) end
    if n == 0 then return "", true end
    body, err = self:bytes(n)
  end
  if not body then return nil, err end
  return body, true
end

-- Whether the server lets the connection stay open after this answer.
local function persistent(minor, headers)
  local connection = (headers.connection or ""):lower()
  if minor == 0 then return connection:find("keep-alive", 1, true) ~= nil end
  return connection:find("close", 1, true) == nil
end

-- One try on one connection: returns res, or nil, failure and whether it was the stale case.
function Exchange:run(transport, req)
  local ok, fail = self:open(transport)
  if not ok then return nil, fail end
  local sock, max_bytes = self.sock, transport.max_bytes
  local sent, err
  if self:arm() then sent, err = sock:send(serialise(req, self.url)) else err = "timeout" end
  if not sent then
    return nil, failure(err, true, "sending the request: " .. err), self.reused > 0
  end
  local status, headers, minor = self:head()
  if not status then
    err = headers
    local stale = self.reused > 0 and err == "closed" and not self.got_bytes
    return nil, failure(err, true, "reading the response head: " .. err), stale
  end
  local body, reusable = self:body(status, headers, max_bytes)
  if not body then
    err = reusable
    return nil, failure(err, true, "reading the response body: " .. err)
  end
  if reusable and persistent(minor, headers) and not self.replay and self.pos > #self.buf then
    if not sock:setkeepalive(KEEPALIVE_IDLE_MS) then sock:close() end
  else
    sock:close()
  end
  return { status = status, headers = headers, body = body }
end

--- Sends `req` = {method, url, headers, body, timeout} and reads the answer: returns
-- `{status, headers = {lower-cased name = value}, body}`, or nil and
-- `{kind = "transport" | "timeout", sent = bool, detail}`.
function M:request(req)
  local url, why = parse_url(req.url)
  if not url then return nil, { kind = "transport", sent = false, detail = why } end
  ngx_update_time()
  local deadline = ngx_now() + req.timeout
  local function exchange(replay)
    return setmetatable({ url = url, deadline = deadline, reused = 0, got_bytes = false, buf = "",
      pos = 1, received = 0, max_bytes = self.max_bytes, budget = self.max_bytes + HEAD_ALLOWANCE,
      replay = replay }, Exchange)
  end
  local x = exchange(false)
  local res, fail, stale = x:run(self, req)
  if x.sock and not res then x.sock:close() end
  if res or not stale then return res, fail end
  x = exchange(true) -- the stale case: once more, on a new connection
  res, fail = x:run(self, req)
  if res then
    res.replayed = true -- the first try may have arrived too
    return res
  end
  if x.sock then x.sock:close() end
  fail.sent = true -- the first try went out: whatever happened to this one, it may have arrived
  return nil, fail
end

return M
