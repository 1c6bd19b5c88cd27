--- Redis connections for the pacing shared by a fleet: runs a Lua script on the server by its SHA
-- (SCRIPT LOAD once, again when Redis answers NOSCRIPT), over reused connections. Inside nginx
-- it uses cosockets through lua-resty-redis (Debian's lua-nginx-redis installs it as
-- `nginx.redis`; OpenResty's `resty.redis` is preferred when present) and its keepalive pool;
-- outside nginx one blocking connection per server and process over Debian's hiredis
-- (posthog.event_definitions.hiredis, a C module that links hiredis only).
-- Every step is bounded by the configured timeout. Messages never contain the password.
local core = require "posthog.event_definitions.core"
local TUNING = require("posthog.event_definitions.options").TUNING

local redis = {}

local unpack = rawget(table, "unpack") or rawget(_G, "unpack")
local tostring, type, pcall, ipairs = tostring, type, pcall, ipairs

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

-- Readies a new connection: AUTH (when a password is set) and SELECT (db other than 0).
local function handshake(conn, cfg)
  if cfg.password then
    local ok, err = conn.command("AUTH", cfg.password)
    if not ok then return nil, "AUTH: " .. tostring(err) end
  end
  if cfg.db ~= 0 then
    local ok, err = conn.command("SELECT", cfg.db)
    if not ok then return nil, "SELECT: " .. tostring(err) end
  end
  return true
end

-- A connection of the nginx worker (from the cosocket pool when one is idle), as
-- {command, release, close, reused}; or nil and why.
local function ngx_connection(cfg)
  local ok, driver = pcall(require, "resty.redis")
  if not ok then driver = require "nginx.redis" end
  local red = driver:new()
  red:set_timeout(cfg.timeout * 1000)
  local connected, why = red:connect(cfg.host, cfg.port, { pool = server_id(cfg) })
  if not connected then return nil, "connect: " .. tostring(why) end
  local conn = { reused = (red:get_reused_times() or 0) > 0 }
  function conn.command(name, ...)
    local value, err = red[name:lower()](red, ...)
    if value == false and err then return nil, err, true end -- a Redis error reply
    if value == nil then red:close() end
    return value, err
  end
  function conn.release() red:set_keepalive(TUNING.redis_keepalive_ms, TUNING.redis_pool_size) end
  function conn.close() red:close() end
  return conn
end

-- The process's connection to the server of `cfg` (outside nginx); or nil and why.
local function plain_connection(cfg)
  local id = server_id(cfg)
  local c = plain_pool[id]
  if c and not c.raw:closed() then
    c.reused = true
    return c
  end
  plain_pool[id] = nil
  local raw, why = require("posthog.event_definitions.hiredis").connect(cfg.host, cfg.port, cfg.timeout)
  if not raw then return nil, why end
  c = { raw = raw, reused = false }
  function c.command(...) return raw:command(...) end
  function c.release() plain_pool[id] = c end
  function c.close() raw:close() end
  return c
end

-- Runs the script on `conn`: EVALSHA, loading the script first when its SHA is not known or
-- the server lost it (NOSCRIPT: a restart, SCRIPT FLUSH, a failover). Returns the reply, or
-- nil, why and true for a Redis error reply.
local function run_script(conn, script, keys, args)
  for _ = 1, 2 do
    local sha = shas[script]
    if not sha then
      local loaded, err, redis_error = conn.command("SCRIPT", "LOAD", script)
      if not loaded then return nil, "SCRIPT LOAD: " .. tostring(err), redis_error end
      sha, shas[script] = loaded, loaded
    end
    local argv = { sha, #keys }
    for _, k in ipairs(keys) do argv[#argv + 1] = k end
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local value, err, redis_error = conn.command("EVALSHA", unpack(argv))
    if value ~= nil then return value end
    if not (redis_error and tostring(err):find("^NOSCRIPT")) then return nil, err, redis_error end
    shas[script] = nil
  end
  return nil, "NOSCRIPT twice in a row", true
end

--- Runs the Lua `script` on the Redis server of `cfg` (options.redis) with `keys` and `args`
-- (arrays of strings and numbers). Returns its reply, or nil and a message without the password.
-- A pooled connection that turns out dead is replaced once by a new one.
function redis.eval(cfg, script, keys, args)
  local in_nginx = type(ngx) == "table" and ngx.get_phase ~= nil
  local last
  for _ = 1, 2 do
    local conn, why
    if in_nginx then
      local ok, made, err = pcall(ngx_connection, cfg)
      if not ok then return nil, "redis: " .. tostring(made) end -- no cosockets in this phase
      conn, why = made, err
    else
      conn, why = plain_connection(cfg)
    end
    if not conn then return nil, why end
    local ready, err = true, nil
    if not conn.reused then ready, err = handshake(conn, cfg) end
    if not ready then
      conn.close()
      return nil, err
    end
    local value, failure, redis_error = run_script(conn, script, keys, args)
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
