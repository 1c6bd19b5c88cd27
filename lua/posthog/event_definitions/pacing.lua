--- Client-side pacing that mirrors PostHog's own counting: a sliding window per key.
-- `{per_minute = N}` means never more than N requests in any 60-second window. Every client of
-- the process that uses the same key shares one log of request times, looked up by a hash of
-- the key (the key itself is never stored).
local pacing = {}

local WINDOW_SECONDS = { per_second = 1, per_minute = 60, per_hour = 3600 }
local DEFAULT_LIMITS = { per_minute = 480, per_hour = 4800 }

--- Normalises the `rate_limit` option: false stays false; a table is merged over the defaults.
-- Raises on unknown keys or values that are not positive integers (programmer errors).
function pacing.limits(option)
  if option == false then return false end
  local limits = {}
  for k, v in pairs(DEFAULT_LIMITS) do limits[k] = v end
  for k, v in pairs(option or {}) do
    if k ~= "shared_dict" then
      if not WINDOW_SECONDS[k] then
        error("posthog.event_definitions: unknown rate_limit key '" .. tostring(k) .. "'", 3)
      end
      if type(v) ~= "number" or v < 1 or v % 1 ~= 0 then
        error("posthog.event_definitions: rate_limit." .. k .. " must be a positive integer", 3)
      end
      limits[k] = v
    end
  end
  return limits
end

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

--- Seconds to wait, at time `now`, before one more request fits every window of `limits`.
function Log:wait(limits, now)
  local wait = 0
  for name, n in pairs(limits) do
    local window = WINDOW_SECONDS[name]
    if window then
      self:reserve(n)
      local t = self:nth_recent(n)
      if t and t + window - now > wait then wait = t + window - now end
    end
  end
  return wait
end

--- Counts one request at `now` if every window allows it and returns 0; otherwise returns the
-- seconds to wait and counts nothing.
function Log:acquire(limits, now)
  local wait = self:wait(limits, now)
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

local shared_logs = setmetatable({}, { __mode = "v" })

--- The process-wide request log for the key with this fingerprint (made on first use).
function pacing.log_for(fingerprint)
  local log = shared_logs[fingerprint]
  if not log then
    log = new_log()
    shared_logs[fingerprint] = log
  end
  return log
end

pacing.DEFAULT_LIMITS = DEFAULT_LIMITS

return pacing
