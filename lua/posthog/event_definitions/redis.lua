--- Redis connections for the pacing shared by a fleet (and the edge's fleet index): runs a Lua
-- script on the server by its SHA (SCRIPT LOAD once, again when Redis answers NOSCRIPT), over
-- reused connections. Inside nginx it speaks RESP over cosockets itself, pooled by nginx;
-- outside nginx one blocking connection per server and process over Debian's hiredis
-- (posthog.event_definitions.hiredis, a C module that links hiredis only).
-- The server may be slow, broken or hostile: the configured timeout bounds a whole call (name
-- lookup, connect, every command sent and its whole reply read), and a reply longer than
-- TUNING.redis_max_reply bytes or holding more than TUNING.redis_max_elements elements is
-- refused as soon as its header says so. Messages never contain the password.
local core = require "posthog.event_definitions.core"
local TUNING = require("posthog.event_definitions.options").TUNING

local redis = {}

local unpack = rawget(table, "unpack") or rawget(_G, "unpack")
local tostring, tonumber, type, pcall, ipairs = tostring, tonumber, type, pcall, ipairs
local concat, byte, sub, find = table.concat, string.byte, string.sub, string.find

local MAX_DEPTH = 7     -- arrays nested deeper are refused (as the hiredis module does)
local MAX_LINE = 65536  -- the longest status, error or header line accepted

local shas = {}          -- script source -> its SHA1 as the server reported it
local plain_pool = {}    -- server id -> the open connection of this process (outside nginx)

local server_ids = setmetatable({}, { __mode = "k" }) -- cfg -> its server_id, made once

-- A stable name for the server and credentials of `cfg`, with the password only as a digest.
local function server_id(cfg)
  local id = server_ids[cfg]
  if not id then
    local secret = cfg.password and core.sha256(cfg.password):sub(1, 16) or "-"
    id = "posthog-evdefs:" .. cfg.host .. ":" .. cfg.port .. ":" .. cfg.db .. ":" .. secret
    server_ids[cfg] = id
  end
  return id
end

------------------------------------------------------------------------------------------------
-- RESP inside nginx
------------------------------------------------------------------------------------------------

-- The command `args` in RESP.
local function encode(args)
  local parts = { "*", #args, "\r\n" }
  for _, a in ipairs(args) do
    a = tostring(a)
    parts[#parts + 1] = "$" .. #a .. "\r\n"
    parts[#parts + 1] = a
    parts[#parts + 1] = "\r\n"
  end
  return concat(parts)
end

-- The integer of a RESP line (an optional minus sign and 1 to 19 digits), or nil.
local function integer(line)
  if #line > 20 or not find(line, "^%-?%d+$") then return nil end
  return tonumber(line)
end

-- The reply at `pos` of `buf`, as the hiredis module gives it (nil bulk false, an error inside
-- an array {err = message}, a top-level error {err = message} too): value and the position
-- after it; nil, nil and maybe the length `buf` needs when more bytes are needed; nil and why
-- when the reply is refused. `seen` counts the elements of the reply so far ({n}).
local function parse(buf, pos, seen, depth)
  local cr = find(buf, "\r", pos, true)
  if (cr or #buf + 1) - pos > MAX_LINE then return nil, "reply refused: a line over " .. MAX_LINE .. " bytes" end
  if not cr or cr == #buf then return nil, nil end
  if byte(buf, cr + 1) ~= 10 then return nil, "protocol error: CR without LF" end
  local kind, line, after = sub(buf, pos, pos), sub(buf, pos + 1, cr - 1), cr + 2
  local value, n = line, integer(line)
  if kind == ":" then
    if not n then return nil, "protocol error: a malformed integer" end
    value = n
  elseif kind == "-" then
    value = { err = line }
  elseif kind == "$" then
    if not n or n < -1 then return nil, "protocol error: a malformed string length" end
    if n > TUNING.redis_max_reply - (after - 1) - 2 then
      return nil, ("reply refused: a string of %d bytes (at most %d in a reply)"):format(n, TUNING.redis_max_reply)
    end
    value = false
    if n >= 0 then
      if #buf < after + n + 1 then return nil, nil, after + n + 1 end
      if sub(buf, after + n, after + n + 1) ~= "\r\n" then
        return nil, "protocol error: a string longer than its length"
      end
      value, after = sub(buf, after, after + n - 1), after + n + 2
    end
  elseif kind == "*" then
    if not n or n < -1 then return nil, "protocol error: a malformed array length" end
    if n > TUNING.redis_max_elements - seen.n then
      return nil, ("reply refused: an array of %d elements (at most %d in a reply)"):format(n,
        TUNING.redis_max_elements)
    end
    if n > 0 and depth == MAX_DEPTH then return nil, "reply refused: arrays nested over " .. MAX_DEPTH .. " deep" end
    value = n >= 0 and {} or false
    seen.n = seen.n + math.max(n, 0)
    for i = 1, n do
      local element, next_pos, need = parse(buf, after, seen, depth + 1)
      if element == nil then return nil, next_pos, need end
      value[i], after = element, next_pos
    end
  elseif kind ~= "+" then
    return nil, "protocol error: a reply starting with byte " .. byte(kind)
  end
  if after - 1 > TUNING.redis_max_reply then
    return nil, "reply refused: over " .. TUNING.redis_max_reply .. " bytes"
  end
  return value, after
end

-- Milliseconds for a cosocket's timeout until `deadline` (at least 1).
local function ms_until(deadline)
  return math.max(1, math.floor((deadline - core.monotonic()) * 1000))
end

-- Reads one whole reply from `sock` before `deadline`: its value, or nil and why.
local function read_reply(sock, deadline)
  local chunks, size, need = {}, 0, nil
  while true do
    if size > 0 and (need == nil or size >= need) then
      local buf = concat(chunks)
      chunks = { buf }
      local value, next_pos, more = parse(buf, 1, { n = 0 }, 0)
      if value ~= nil then
        if next_pos <= #buf then return nil, "protocol error: more than one reply to a command" end
        return value
      end
      if next_pos then return nil, next_pos end
      need = more
    end
    if core.monotonic() >= deadline then return nil, "timeout" end
    sock:settimeout(ms_until(deadline))
    local data, err = sock:receiveany(TUNING.read_bytes)
    if not data then return nil, err end
    chunks[#chunks + 1] = data
    size = size + #data
  end
end

-- Connects `sock` to the server of `cfg` before `deadline`; returns true, or nil and why. A
-- host name goes through nginx's resolver, bounded by its own resolver_timeout: that connect
-- runs in a light thread, killed when the deadline comes first.
local function connect(sock, cfg, deadline)
  local pool = { pool = server_id(cfg) }
  sock:settimeout(ms_until(deadline))
  if find(cfg.host, "^[%d.]+$") or find(cfg.host, ":", 1, true) then
    return sock:connect(cfg.host, cfg.port, pool)
  end
  local connecting = ngx.thread.spawn(function() return sock:connect(cfg.host, cfg.port, pool) end)
  local timer = ngx.thread.spawn(function() ngx.sleep(math.max(0.001, deadline - core.monotonic())) end)
  local ran, connected, why = ngx.thread.wait(connecting, timer)
  if ran and connected == nil and why == nil then -- the timer ended first
    ngx.thread.kill(connecting)
    return nil, "timeout resolving " .. cfg.host
  end
  ngx.thread.kill(timer)
  if not ran then return nil, tostring(connected) end
  return connected, why
end

-- A connection of the nginx worker (from the cosocket pool when one is idle), as
-- {command, release, close, reused}; or nil and why.
local function ngx_connection(cfg, connect_by)
  local sock = ngx.socket.tcp()
  local connected, why = connect(sock, cfg, connect_by)
  if not connected then return nil, "connect: " .. tostring(why) end
  local conn = { reused = (sock:getreusedtimes() or 0) > 0 }
  function conn.command(deadline, ...)
    local sent, err = true, nil
    if core.monotonic() >= deadline then sent, err = nil, "timeout" end
    if sent then
      sock:settimeout(ms_until(deadline))
      sent, err = sock:send(encode { ... })
    end
    local value
    if sent then value, err = read_reply(sock, deadline) end
    if value == nil then
      sock:close()
      return nil, err
    end
    if type(value) == "table" and value.err ~= nil then
      return nil, value.err, true -- a Redis error reply (an array has no err): the connection stays usable
    end
    return value
  end
  function conn.release() sock:setkeepalive(TUNING.redis_keepalive_ms, TUNING.redis_pool_size) end
  function conn.close() sock:close() end
  return conn
end

------------------------------------------------------------------------------------------------
-- Outside nginx, and what both share
------------------------------------------------------------------------------------------------

-- The process's connection to the server of `cfg` (outside nginx); or nil and why.
local function plain_connection(cfg, connect_by)
  local id = server_id(cfg)
  local c = plain_pool[id]
  if c and not c.raw:closed() then
    c.reused = true
    return c
  end
  plain_pool[id] = nil
  local raw, why = require("posthog.event_definitions.hiredis").connect(cfg.host, cfg.port,
    connect_by - core.monotonic(), TUNING.redis_max_reply, TUNING.redis_max_elements)
  if not raw then return nil, why end
  c = { raw = raw, reused = false }
  function c.command(deadline, ...)
    local left = deadline - core.monotonic()
    if left <= 0 then
      raw:close()
      return nil, "timeout"
    end
    raw:settimeout(left)
    return raw:command(...)
  end
  function c.release() plain_pool[id] = c end
  function c.close() raw:close() end
  return c
end

-- Readies a new connection: AUTH (when a password is set) and SELECT (db other than 0).
local function handshake(conn, cfg, deadline)
  if cfg.password then
    local ok, err = conn.command(deadline, "AUTH", cfg.password)
    if not ok then return nil, "AUTH: " .. tostring(err) end
  end
  if cfg.db ~= 0 then
    local ok, err = conn.command(deadline, "SELECT", cfg.db)
    if not ok then return nil, "SELECT: " .. tostring(err) end
  end
  return true
end

-- Runs the script on `conn`: EVALSHA, loading the script first when its SHA is not known or
-- the server lost it (NOSCRIPT: a restart, SCRIPT FLUSH, a failover). Returns the reply, or
-- nil, why and true for a Redis error reply.
local function run_script(conn, deadline, script, keys, args)
  for _ = 1, 2 do
    local sha = shas[script]
    if not sha then
      local loaded, err, redis_error = conn.command(deadline, "SCRIPT", "LOAD", script)
      if not loaded then return nil, "SCRIPT LOAD: " .. tostring(err), redis_error end
      if type(loaded) ~= "string" or not find(loaded, "^%x+$") then
        conn.close()
        return nil, "SCRIPT LOAD: not a SHA1"
      end
      sha, shas[script] = loaded, loaded
    end
    local argv = { sha, #keys }
    for _, k in ipairs(keys) do argv[#argv + 1] = k end
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local value, err, redis_error = conn.command(deadline, "EVALSHA", unpack(argv))
    if value ~= nil then return value end
    if not (redis_error and tostring(err):find("^NOSCRIPT")) then return nil, err, redis_error end
    shas[script] = nil
  end
  return nil, "NOSCRIPT twice in a row", true
end

--- Runs the Lua `script` on the Redis server of `cfg` (options.redis) with `keys` and `args`
-- (arrays of strings and numbers), all within cfg.timeout. Returns its reply (a nil bulk as
-- false, an error inside an array as {err = message}), or nil and a message without the
-- password. A pooled connection that turns out dead is replaced once by a new one.
function redis.eval(cfg, script, keys, args)
  local deadline = core.monotonic() + cfg.timeout
  local in_nginx = type(ngx) == "table" and ngx.get_phase ~= nil
  local last
  for _ = 1, 2 do
    local conn, why
    if in_nginx then
      local ok, made, err = pcall(ngx_connection, cfg, deadline)
      if not ok then return nil, "redis: " .. tostring(made) end -- no cosockets in this phase
      conn, why = made, err
    else
      conn, why = plain_connection(cfg, deadline)
    end
    if not conn then return nil, why end
    local ready, err = true, nil
    if not conn.reused then ready, err = handshake(conn, cfg, deadline) end
    if not ready then
      conn.close()
      return nil, err
    end
    local value, failure, redis_error = run_script(conn, deadline, script, keys, args)
    if value ~= nil then
      conn.release()
      return value
    end
    conn.close()
    if redis_error or not conn.reused then return nil, failure end
    last = failure -- a pooled connection the server closed meanwhile: once more on a new one
  end
  return nil, last
end

return redis
