-- Runtime switches of the fake server, set through POST /__fake/config and shared by all workers.
-- Stored as JSON in fake_state ("config", versioned by "config_ver"); each worker caches the
-- effective table (defaults merged, derived values precomputed) until the version moves.
local json = require "fake_posthog.json"
local shm = require "fake_posthog.shm"
local clock = require "fake_posthog.clock"

local state = shm.state

local M = {}

-- Defaults; every key here is a valid switch (README documents each).
local DEFAULTS = {
  metrics_for_keys = false,          -- true: metrics/ answers scoped keys with {"query_usage_30_day": n}
  missing_uuid_status = 404,         -- status for a well-formed but unknown UUID (404 or 500)
  large_project = false,             -- true (= 150000) or a pretended definition count (§7.5)
  count_cap = 10000,                 -- LARGE_PROJECT_COUNT_CAP
  public_base = false,               -- origin (and optional path prefix) used in next/previous
  now = false,                       -- fixed clock: ISO-8601 text or epoch seconds
  codegen_plain_text = false,        -- codegen answers text/plain with the bare content
  latency = 0,                       -- seconds every API request sleeps first
  throttle = false,                  -- true, or {per_second, per_minute, per_hour}
  schema_enforcement_reject = false, -- the schema-enforcement-reject feature flag
  sunset = false,                    -- HTTP-date sent as Sunset on /api/environments/ answers
  enterprise = true,                 -- false: a self-hosted deployment without the ee package (§20.4)
  retry_after_header = true,         -- false: 429 answers carry no Retry-After (§16.2, §20.5)
}

local THROTTLE_WINDOWS = { per_second = 1, per_minute = 60, per_hour = 3600 }
local DEFAULT_THROTTLE = { per_minute = 480, per_hour = 4800 }

local function is_bool(v) return type(v) == "boolean" end
local function is_count(v) return type(v) == "number" and v >= 1 and v % 1 == 0 end

-- Validators: value -> true | nil, message.
local CHECKS = {
  metrics_for_keys = is_bool,
  codegen_plain_text = is_bool,
  schema_enforcement_reject = is_bool,
  enterprise = is_bool,
  retry_after_header = is_bool,
  missing_uuid_status = function(v) return v == 404 or v == 500 end,
  large_project = function(v) return is_bool(v) or is_count(v) end,
  count_cap = is_count,
  public_base = function(v) return type(v) == "string" and v:find("^https?://[^/]") ~= nil end,
  now = function(v) return type(v) == "number" or clock.parse(v) ~= nil end,
  latency = function(v) return type(v) == "number" and v >= 0 end,
  sunset = function(v) return type(v) == "string" end,
  throttle = function(v)
    if is_bool(v) then return true end
    if type(v) ~= "table" then return false end
    for k, n in pairs(v) do
      if not THROTTLE_WINDOWS[k] or not is_count(n) then return false end
    end
    return true
  end,
}

-- derive(raw) -> effective config: defaults merged plus now_us, windows and pretend_count.
local function derive(raw)
  local cfg = {}
  for k, v in pairs(DEFAULTS) do cfg[k] = v end
  for k, v in pairs(raw) do cfg[k] = v end
  if type(cfg.now) == "number" then cfg.now_us = math.floor(cfg.now * 1e6)
  elseif cfg.now then cfg.now_us = clock.parse(cfg.now) end
  local throttle = cfg.throttle == true and DEFAULT_THROTTLE or cfg.throttle
  cfg.windows = {}
  if throttle then
    for name, secs in pairs(THROTTLE_WINDOWS) do
      if throttle[name] then cfg.windows[#cfg.windows + 1] = { name = name, secs = secs, limit = throttle[name] } end
    end
    table.sort(cfg.windows, function(a, b) return a.secs < b.secs end)
  end
  cfg.pretend_count = cfg.large_project == true and 150000 or (cfg.large_project or 0)
  if cfg.public_base then cfg.public_base = cfg.public_base:gsub("/+$", "") end
  return cfg
end

local cached = { ver = -1 }

-- get() -> the effective config table (shared, read-only).
function M.get()
  local ver = state:get("config_ver") or 0
  if ver ~= cached.ver then
    local raw = json.decode(state:get("config") or "{}") or {}
    cached = { ver = ver, cfg = derive(raw) }
  end
  return cached.cfg
end

-- now_us([cfg]) -> the fake's clock: the fixed `now` when configured, else the wall clock.
function M.now_us(cfg)
  cfg = cfg or M.get()
  return cfg.now_us or clock.real_us()
end

-- public() -> every switch with its effective value (defaults included), for GET /__fake/config.
function M.public()
  local cfg, out = M.get(), {}
  for k in pairs(DEFAULTS) do out[k] = cfg[k] end
  return out
end

-- merge(patch) -> effective config | nil, message. A JSON null restores a key's default.
-- Changing `now` restarts the monotonic timestamp sequence (store's "stamp").
function M.merge(patch)
  if type(patch) ~= "table" then return nil, "config must be a JSON object" end
  for k, v in pairs(patch) do
    if DEFAULTS[k] == nil then return nil, "unknown config key '" .. tostring(k) .. "'" end
    if v ~= json.null and not CHECKS[k](v) then return nil, "invalid value for config key '" .. k .. "'" end
  end
  shm.with_lock("config", function()
    local raw = json.decode(state:get("config") or "{}") or {}
    for k, v in pairs(patch) do
      if v == json.null then raw[k] = nil else raw[k] = v end
    end
    shm.set(state, "config", json.encode(raw))
    if patch.now ~= nil then state:delete("stamp") end
    state:incr("config_ver", 1, 0)
  end)
  return M.get()
end

-- reset() -> nothing; every switch back to its default.
function M.reset()
  shm.with_lock("config", function()
    state:delete("config")
    state:delete("stamp")
    state:incr("config_ver", 1, 0)
  end)
end

return M
