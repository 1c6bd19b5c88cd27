--- Pacing shared by a fleet through Redis. The sliding windows of the client's pacing kept in
-- Redis, so that every client using a key, on any host, shares one budget. One Lua script
-- checks every window and reserves the request's time atomically on the server, with the
-- server's clock (hosts' clocks differ): one round trip per request, however many hosts wait.
-- The request times of a key live in one Redis list, newest first, trimmed to the largest limit
-- and expiring after the longest window; its name is the prefix and the SHA-256 of the key (the
-- key itself is never sent). Each window carries a margin of 50 ms (the spread of the time from
-- the decision to PostHog's count), and a request is reserved at most 60 s ahead.
--
-- When Redis fails (unreachable, slower than the timeout, an error, a reply the script never
-- gives, or data it cannot trust: a request time stored further ahead than any reservation, as
-- after the server's clock stepped back), the client paces on its host alone, as without Redis
-- and with the same margin, for the cool-down; it says so once per period (stderr, or nginx's
-- error log at warn level) and then asks Redis again. With `redis_required` the call fails
-- instead, with a `"rate_limit"` error and nothing sent.
--
-- The timeout bounds a whole Redis call: the name lookup, connect, every command sent and its
-- whole reply read. A reply over 64 MiB, or holding more than 65536 elements, is refused when
-- its header arrives. Inside nginx the calls use cosockets (and nginx's `resolver` for a host
-- name); outside nginx, the C module over Debian's hiredis.
-- @module posthog.event_definitions.pacing_redis

--- The keys of a client's `rate_limit` option (`evdefs.new { rate_limit = {…} }`) that share
-- its pacing through Redis, next to `per_second`, `per_minute` and `per_hour`.
-- @table rate_limit
-- @field redis the server: a URL `redis://[:password@]host[:port][/db]` (the password
-- percent-encoded), or a table `{host, port = 6379, password, db = 0, timeout = 0.5,
-- cooldown = 30}` (`timeout` in seconds above 0 and at most 60, bounding a whole call;
-- `cooldown` the seconds of host-local pacing after a failure). Messages never show the
-- password.
-- @field redis_prefix the prefix of the Redis keys (default `"posthog-evdefs:"`)
-- @field redis_required true: a Redis failure is a `"rate_limit"` error (retryable) instead of
-- host-local pacing (default false)

local core = require "posthog.event_definitions.core"
local options = require "posthog.event_definitions.options"
local redis = require "posthog.event_definitions.redis"

local pacing_redis = {}

local WINDOW_SECONDS, TUNING = options.WINDOW_SECONDS, options.TUNING
local MARGIN, MAX_AHEAD = TUNING.redis_window_margin, TUNING.redis_max_ahead
local pairs, type, tostring = pairs, type, tostring

--- The script: KEYS[1] the list of a key's request times (microseconds of the server clock,
-- newest first, some maybe ahead: reserved); ARGV[1] the longest wait accepted and ARGV[2] the
-- furthest ahead a time is ever reserved (microseconds), then pairs of limit and window
-- (microseconds). The request goes at the earliest time every window allows; when that is
-- within the longest wait, the time is reserved (recorded) and the reply is {1, microseconds
-- until then}; otherwise nothing is recorded and the reply is {0, wait}. Reserved times only
-- grow, so the list stays sorted and its n-th entry bounds every window. A stored time that is
-- not a number, or further ahead than any reservation goes (the server's clock stepped back,
-- or another program wrote the list), is bad data: the reply is an error, BADDATA.
-- @local
pacing_redis.SCRIPT = [[
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local max_ahead, bad = tonumber(ARGV[2]), nil
local function stored(index)
  local text = redis.call('LINDEX', key, index)
  if not text then return nil end
  local t = tonumber(text)
  if not t then
    bad = bad or 'a request time that is not a number'
  elseif t - now > max_ahead then
    bad = bad or string.format('a request time %.1f s ahead of the server clock', (t - now) / 1e6)
  else
    return t
  end
end
local at, keep, ttl = now, 0, 0
for i = 3, #ARGV, 2 do
  local n, window = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  if n > keep then keep = n end
  if window > ttl then ttl = window end
  local nth = stored(n - 1)
  if nth and nth + window > at then at = nth + window end
end
local newest = stored(0)
if bad then return redis.error_reply('BADDATA the list of request times holds ' .. bad) end
if newest and newest > at then at = newest end
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
-- @local
function pacing_redis.log(cfg, digest, fallback)
  local server = cfg.host .. ":" .. cfg.port .. "/" .. cfg.db
  states[server] = states[server] or {}
  return setmetatable({ cfg = cfg, key = cfg.prefix .. digest, fallback = fallback, server = server,
    state = states[server] }, RedisLog)
end

-- A short description of a reply of the script, for messages.
local function describe(reply)
  if type(reply) ~= "table" then return "a " .. type(reply) end
  local parts = {}
  for i = 1, math.min(#reply, 3) do
    local v = reply[i]
    parts[i] = type(v) == "string" and string.format("%q", v:sub(1, 20)) or type(v) == "number"
      and string.format("%.0f", v) or type(v)
  end
  return "{" .. table.concat(parts, ", ") .. (#reply > 3 and ", ...}" or "}")
end

-- The wait in seconds a reply of the script gives and whether the request was reserved for its
-- end; or nil and why when the reply is not one the script can give: {1, w} with 0 <= w <=
-- `asked` (the longest wait asked for), or {0, w} with `asked` < w <= `furthest` (reserved
-- times ahead, plus the longest window); microseconds, whole.
local function read_reply(reply, asked, furthest)
  if type(reply) == "table" and #reply == 2 and type(reply[2]) == "number" and reply[2] % 1 == 0 then
    local verdict, wait = reply[1], reply[2]
    if verdict == 1 and wait >= 0 and wait <= asked then return wait / 1e6, true end
    if verdict == 0 and wait > asked and wait <= furthest then return wait / 1e6, false end
  end
  return nil, "the pacing script answered " .. describe(reply)
end

--- Like the host-local logs' acquire, but a reservation: returns 0 (counted: go now), or the
-- seconds to wait, nil and true (counted for then: sleep, then go without asking again), or the
-- seconds to wait (nothing counted) when that exceeds `max_wait` (or `TUNING.redis_max_ahead`) or
-- the host-local log (at `now`, asked first) wants a wait. Redis decides with its own clock,
-- and the host-local log records every request that goes. When Redis fails or answers what
-- the script cannot (bad data): with `required`, returns nil and why; otherwise the host-local
-- log decides alone for the cool-down, from the time the Redis call ended. The host-local
-- windows carry the same margin as Redis's.
-- @local
function RedisLog:acquire(limits, now, max_wait)
  local state, cfg, fallback = self.state, self.cfg, self.fallback
  if state.down_until and not cfg.required and core.monotonic() < state.down_until then
    return fallback:acquire(limits, now, nil, MARGIN)
  end
  -- This host's own requests never exceed the limits either (a Redis that lost its data, or
  -- the return from a fallback): asked first, without counting.
  local local_wait = fallback:wait(limits, now, MARGIN)
  if local_wait > 0 then return local_wait end
  local asked = math.floor(math.min(max_wait or MAX_AHEAD, MAX_AHEAD) * 1e6)
  local args, longest = { string.format("%.0f", asked), string.format("%.0f", MAX_AHEAD * 1e6) }, 0
  for name, n in pairs(limits) do
    local window = WINDOW_SECONDS[name]
    if window then
      args[#args + 1] = n
      args[#args + 1] = string.format("%.0f", (window + MARGIN) * 1e6)
      longest = math.max(longest, window + MARGIN)
    end
  end
  local started = core.monotonic()
  local reply, why = redis.eval(cfg, pacing_redis.SCRIPT, { self.key }, args)
  now = now + (core.monotonic() - started) -- what follows counts from the end of the call
  local wait, reserved
  if reply ~= nil then
    wait, reserved = read_reply(reply, asked, math.floor((MAX_AHEAD + longest) * 1e6))
    if not wait then why = reserved end
  end
  if wait then
    if state.down_until then
      state.down_until = nil
      log("Redis at " .. self.server .. " answers again; pacing is shared through it")
    end
    if not reserved then return wait end
    fallback:record(now + wait)
    if wait == 0 then return 0 end
    return wait, nil, true
  end
  why = scrub(why, cfg.password)
  if cfg.required then return nil, "Redis at " .. self.server .. " failed: " .. why end
  local cooldown = cfg.cooldown or TUNING.redis_cooldown
  state.down_until = core.monotonic() + cooldown
  log("Redis at " .. self.server .. " failed (" .. why .. "); pacing on this host alone for "
    .. cooldown .. " s")
  return fallback:acquire(limits, now, nil, MARGIN)
end

return pacing_redis
