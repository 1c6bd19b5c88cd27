--- Client-side pacing that mirrors PostHog's own counting: a sliding window per key.
-- `{per_minute = N}` means never more than N requests in any 60-second window. Every client of
-- the process that uses the same key shares one log of request times, looked up by a hash of
-- the key (the key itself is never stored). Inside nginx the log can live in a
-- `lua_shared_dict` instead (`shared_log`), so that every worker shares it.
local pacing = {}

local WINDOW_SECONDS = require("posthog.event_definitions.options").WINDOW_SECONDS

--- A short, stable, non-reversible-in-practice fingerprint of a key (two polynomial hashes).
function pacing.fingerprint(key)
  local h1, h2 = 7, 11
  for i = 1, #key do
    local b = string.byte(key, i)
    h1 = (h1 * 257 + b) % 2147483647
    h2 = (h2 * 263 + b) % 2147483629
  end
  return string.format("%08x%08x", h1, h2)
end

-- The shared log: a ring of the most recent request times, as many as the largest limit needs.
local Log = {}
Log.__index = Log

local function new_log()
  return setmetatable({ times = {}, head = 0, size = 0, capacity = 0 }, Log)
end

-- The time of the n-th most recent request, or nil when fewer than n are logged.
function Log:nth_recent(n)
  if n > self.size then return nil end
  local index = (self.head - n) % self.capacity
  return self.times[index]
end

-- Grows the ring to hold at least n times, keeping the most recent ones in order.
function Log:reserve(n)
  if n <= self.capacity then return end
  local kept = {}
  for i = self.size, 1, -1 do kept[#kept + 1] = self:nth_recent(i) end
  self.times, self.capacity, self.size, self.head = {}, n, #kept, #kept % n
  for i, t in ipairs(kept) do self.times[i - 1] = t end
end

--- Seconds to wait, at time `now`, before one more request fits every window of `limits`, each
-- window widened by `margin` seconds (default 0).
function Log:wait(limits, now, margin)
  local wait = 0
  for name, n in pairs(limits) do
    local window = WINDOW_SECONDS[name]
    if window then
      window = window + (margin or 0)
      self:reserve(n)
      local t = self:nth_recent(n)
      if t and t + window - now > wait then wait = t + window - now end
    end
  end
  return wait
end

--- Counts one request at `now` if every window (widened by `margin`, default 0) allows it and
-- returns 0; otherwise returns the seconds to wait and counts nothing. The third argument (the
-- caller's max_wait) is not needed: nothing is reserved here.
function Log:acquire(limits, now, _, margin)
  local wait = self:wait(limits, now, margin)
  if wait <= 0 then
    self:record(now)
    return 0
  end
  return wait
end

--- Records one request at time `now`.
function Log:record(now)
  if self.capacity == 0 then self:reserve(1) end
  self.times[self.head] = now
  self.head = (self.head + 1) % self.capacity
  if self.size < self.capacity then self.size = self.size + 1 end
end

local shared_logs = {} -- kept for the process: clients made per request share the windows

--- The process-wide request log for the key with this fingerprint (made on first use).
function pacing.log_for(fingerprint)
  local log = shared_logs[fingerprint]
  if not log then
    log = new_log()
    shared_logs[fingerprint] = log
  end
  return log
end

------------------------------------------------------------------------------------------------
-- The log in a lua_shared_dict: request n of the key at "<prefix><n>", the count at "<prefix>n"
------------------------------------------------------------------------------------------------

-- Entries outlive the longest window, then expire; so does the count once the key goes idle.
local ENTRY_TTL = WINDOW_SECONDS.per_hour
local LOCK_TTL = 1        -- seconds: frees the lock should a worker die holding it
local LOCK_WAIT = 0.002   -- the wait returned while another worker holds the lock

local SharedLog = {}
SharedLog.__index = SharedLog

-- Seconds to wait at `now` before one more request fits every window (widened by `margin`),
-- from the dict as it is.
function SharedLog:wait(limits, now, margin)
  local dict, prefix = self.dict, self.prefix
  local count = dict:get(prefix .. "n") or 0
  local wait = 0
  for name, n in pairs(limits) do
    local window = WINDOW_SECONDS[name]
    local t = window and count >= n and dict:get(prefix .. (count - n + 1))
    if t then window = window + (margin or 0) end
    if t and t + window - now > wait then wait = t + window - now end
  end
  return wait
end

-- Records one request at `now`; the caller holds the lock.
function SharedLog:record_locked(now)
  local dict, prefix = self.dict, self.prefix
  local count = (dict:get(prefix .. "n") or 0) + 1
  local stored, why = dict:safe_set(prefix .. count, now, ENTRY_TTL)
  if stored then
    dict:set(prefix .. "n", count, ENTRY_TTL)
  elseif not self.warned then -- full: evicting older entries would let too many through
    self.warned = true
    ngx.log(ngx.WARN, "posthog.event_definitions: rate_limit.shared_dict is full (", why,
      "); this request is paced by the windows already recorded; give the dict more memory")
  end
end

--- Like Log:acquire, atomically across the workers sharing the dict: counts one request at `now`
-- and returns 0 when every window allows it, else returns the seconds to wait. Each decision runs
-- under a lock taken with `add` and never yields, so it is held for microseconds; a worker that
-- finds it taken is told to wait a moment and ask again. `now` must be one clock for every
-- worker (the client's monotonic clock is). `margin` widens the windows as in Log:acquire.
function SharedLog:acquire(limits, now, _, margin)
  local dict, prefix = self.dict, self.prefix
  local locked, err = dict:add(prefix .. "lock", true, LOCK_TTL)
  if not locked then
    if err == "exists" then return LOCK_WAIT end
    return 0 -- the dict cannot hold even the lock: pace nothing rather than stall every call
  end
  local wait = self:wait(limits, now, margin)
  if wait <= 0 then self:record_locked(now) end
  dict:delete(prefix .. "lock")
  return wait
end

--- Records one request at `now` that another store allowed (pacing through Redis), waiting
-- (ngx.sleep) while another worker holds the lock, at most until the lock expires: what this
-- host sent is never left out. Skipped only when the dict cannot hold even the lock.
function SharedLog:record(now)
  local dict, prefix = self.dict, self.prefix
  for _ = 0, LOCK_TTL / LOCK_WAIT do
    local locked, err = dict:add(prefix .. "lock", true, LOCK_TTL)
    if locked then
      self:record_locked(now)
      dict:delete(prefix .. "lock")
      return
    end
    if err ~= "exists" then return end
    ngx.sleep(LOCK_WAIT)
  end
end

--- The request log kept in the shared dict `dict` (an ngx.shared.DICT) under keys starting with
-- `digest` (a hash of the key, never the key).
function pacing.shared_log(dict, digest)
  return setmetatable({ dict = dict, prefix = "posthog.evdefs:" .. digest .. ":" }, SharedLog)
end

return pacing
