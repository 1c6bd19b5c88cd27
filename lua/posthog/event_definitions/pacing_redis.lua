--- Pacing shared by a fleet: the sliding windows of pacing.lua kept in Redis, so that every
-- client using a key, on any host, shares one budget. One Lua script checks every window and
-- records the request atomically on the server, with the server's clock (hosts' clocks
-- differ). The request times of a key live in one Redis list, newest first, trimmed to the
-- largest limit and expiring after the longest window; its name is the prefix and the SHA-256
-- of the key (the key itself is never sent). When Redis fails, the client paces on its host
-- alone (the log it would use without Redis) for a cool-down, says so once per period, and
-- then asks Redis again; with `required` a failure is returned instead.
local core = require "posthog.event_definitions.core"
local options = require "posthog.event_definitions.options"
local redis = require "posthog.event_definitions.redis"

local pacing_redis = {}

local WINDOW_SECONDS, TUNING = options.WINDOW_SECONDS, options.TUNING
local pairs, type, tostring = pairs, type, tostring

--- The script: KEYS[1] the list of a key's request times (microseconds of the server clock,
-- newest first); ARGV pairs of limit and window (seconds). Returns 0 after recording one
-- request, or the microseconds to wait (nothing recorded).
pacing_redis.SCRIPT = [[
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait, keep, ttl = 0, 0, 0
for i = 1, #ARGV, 2 do
  local n, window = tonumber(ARGV[i]), tonumber(ARGV[i + 1]) * 1000000
  if n > keep then keep = n end
  if window > ttl then ttl = window end
  local nth = redis.call('LINDEX', key, n - 1)
  if nth then
    local d = tonumber(nth) + window - now
    if d > wait then wait = d end
  end
end
if wait > 0 then return math.ceil(wait) end
redis.call('LPUSH', key, t[1] .. string.format('%06d', tonumber(t[2])))
redis.call('LTRIM', key, 0, keep - 1)
local ms = math.ceil(ttl / 1000)
if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
return 0
]]

local states = {} -- "host:port/db" -> {down_until} for the whole process (or nginx worker)

-- Writes one line to the library's log: nginx's error log at warn level, else stderr.
local function log(message)
  message = "posthog.event_definitions: " .. message
  if type(ngx) == "table" and ngx.log then
    ngx.log(ngx.WARN, message)
  else
    io.stderr:write(message, "\n")
  end
end

-- `text` with every occurrence of `secret` replaced.
local function scrub(text, secret)
  text = tostring(text)
  if not secret or secret == "" then return text end
  local out, from = {}, 1
  while true do
    local i, j = text:find(secret, from, true)
    if not i then break end
    out[#out + 1] = text:sub(from, i - 1) .. "<redacted>"
    from = j + 1
  end
  out[#out + 1] = text:sub(from)
  return table.concat(out)
end

local RedisLog = {}
RedisLog.__index = RedisLog

--- The request log of the key with SHA-256 `digest` kept in the Redis of `cfg` (options.redis),
-- falling back to `fallback` (a pacing log of this host) while Redis fails.
function pacing_redis.log(cfg, digest, fallback)
  local server = cfg.host .. ":" .. cfg.port .. "/" .. cfg.db
  states[server] = states[server] or {}
  return setmetatable({ cfg = cfg, key = cfg.prefix .. digest, fallback = fallback, server = server,
    state = states[server] }, RedisLog)
end

--- Like the host-local logs' acquire: counts one request and returns 0 when every window of
-- `limits` allows it, else returns the seconds to wait and counts nothing. Redis decides, with
-- its own clock, after the host-local log (at `now`) has agreed, which then records the request
-- too. When Redis fails: with `required`, returns nil and why; otherwise the host-local log
-- decides alone for the cool-down.
function RedisLog:acquire(limits, now)
  local state, cfg, fallback = self.state, self.cfg, self.fallback
  if state.down_until and not cfg.required and core.monotonic() < state.down_until then
    return fallback:acquire(limits, now)
  end
  -- This host's own requests never exceed the limits either (a Redis that lost its data, or
  -- the return from a fallback): asked first, without counting.
  local local_wait = fallback:wait(limits, now)
  if local_wait > 0 then return local_wait end
  local args = {}
  for name, n in pairs(limits) do
    local window = WINDOW_SECONDS[name]
    if window then
      args[#args + 1] = n
      args[#args + 1] = window
    end
  end
  local reply, why = redis.eval(cfg, pacing_redis.SCRIPT, { self.key }, args)
  if type(reply) == "number" then
    if state.down_until then
      state.down_until = nil
      log("Redis at " .. self.server .. " answers again; pacing is shared through it")
    end
    if reply > 0 then return reply / 1e6 end
    fallback:record(now)
    return 0
  end
  why = scrub(reply == nil and why or "unexpected reply from the pacing script", cfg.password)
  if cfg.required then return nil, "Redis at " .. self.server .. " failed: " .. why end
  local cooldown = cfg.cooldown or TUNING.redis_cooldown
  state.down_until = core.monotonic() + cooldown
  log("Redis at " .. self.server .. " failed (" .. why .. "); pacing on this host alone for "
    .. cooldown .. " s")
  return fallback:acquire(limits, now)
end

return pacing_redis
