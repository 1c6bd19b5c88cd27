--- Pacing shared by a fleet: the sliding windows of pacing.lua kept in Redis, so that every
-- client using a key, on any host, shares one budget. One Lua script checks every window and
-- reserves the request's time atomically on the server, with the server's clock (hosts' clocks
-- differ): one round trip per request, however many hosts wait. The request times of a key
-- live in one Redis list, newest first, trimmed to the largest limit and expiring after the
-- longest window; its name is the prefix and the SHA-256
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
-- newest first, some maybe ahead: reserved); ARGV[1] the longest wait accepted (microseconds),
-- then pairs of limit and window (microseconds). The request goes at the earliest time every window
-- allows; when that is within the longest wait, the time is reserved (recorded) and the reply
-- is {1, microseconds until then}; otherwise nothing is recorded and the reply is {0, wait}.
-- Reserved times only grow, so the list stays sorted and its n-th entry bounds every window.
pacing_redis.SCRIPT = [[
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local at, keep, ttl = now, 0, 0
for i = 2, #ARGV, 2 do
  local n, window = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  if n > keep then keep = n end
  if window > ttl then ttl = window end
  local nth = redis.call('LINDEX', key, n - 1)
  if nth and tonumber(nth) + window > at then at = tonumber(nth) + window end
end
local newest = redis.call('LINDEX', key, 0)
if newest and tonumber(newest) > at then at = tonumber(newest) end
if at - now > tonumber(ARGV[1]) then return { 0, at - now } end
redis.call('LPUSH', key, string.format('%.0f', at))
redis.call('LTRIM', key, 0, keep - 1)
local ms = math.ceil((at - now + ttl) / 1000)
if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
return { 1, at - now }
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

--- Like the host-local logs' acquire, but a reservation: returns 0 (counted: go now), or the
-- seconds to wait, nil and true (counted for then: sleep, then go without asking again), or the
-- seconds to wait (nothing counted) when that exceeds `max_wait` or the host-local log (at
-- `now`, asked first) wants a wait. Redis decides with its own clock, and the host-local log
-- records what it allowed. When Redis fails: with `required`, returns nil and why; otherwise
-- the host-local log decides alone for the cool-down.
function RedisLog:acquire(limits, now, max_wait)
  local state, cfg, fallback = self.state, self.cfg, self.fallback
  if state.down_until and not cfg.required and core.monotonic() < state.down_until then
    return fallback:acquire(limits, now)
  end
  -- This host's own requests never exceed the limits either (a Redis that lost its data, or
  -- the return from a fallback): asked first, without counting.
  local local_wait = fallback:wait(limits, now)
  if local_wait > 0 then return local_wait end
  local args = { string.format("%.0f", math.min(max_wait or 3600, 86400) * 1e6) }
  for name, n in pairs(limits) do
    local window = WINDOW_SECONDS[name]
    if window then
      args[#args + 1] = n
      args[#args + 1] = string.format("%.0f", (window + TUNING.redis_window_margin) * 1e6)
    end
  end
  local reply, why = redis.eval(cfg, pacing_redis.SCRIPT, { self.key }, args)
  if type(reply) == "table" and type(reply[1]) == "number" and type(reply[2]) == "number" then
    if state.down_until then
      state.down_until = nil
      log("Redis at " .. self.server .. " answers again; pacing is shared through it")
    end
    local wait = reply[2] / 1e6
    if reply[1] ~= 1 then return wait end
    fallback:record(now + wait)
    if wait <= 0 then return 0 end
    return wait, nil, true
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
