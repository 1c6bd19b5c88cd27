--- The edge's taxonomy index shared by a fleet through Redis: one host at a time refreshes it
-- from PostHog under a lock with an expiry (a dead host's lock frees itself) and publishes it;
-- every host copies a newer published index into its own shared dict. A host whose Redis fails
-- refreshes on its own, as without Redis, and says so once per period; what a host has stays
-- until something newer and readable replaces it (the "last good index" rule).
--
-- In Redis, under the prefix: `edge:<digest>` a hash {version, index, fingerprint, definitions,
-- refreshed_at (server clock)} and `edge:<digest>:lock`, where the digest is the SHA-256 of the
-- host and project the taxonomy comes from (no key is involved).
local core = require "posthog.event_definitions.core"
local redis = require "posthog.event_definitions.redis"
local index = require "posthog.event_definitions.edge.index"

local fleet = {}

local K_PULLED = "fleet_version" -- the published version this host's dict holds

-- KEYS[1] the hash; ARGV[1] the version the caller holds. Returns {version} when nothing newer is
-- published, else {version, index, fingerprint, definitions}.
local PULL = [[
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version <= tonumber(ARGV[1]) then return { version } end
local v = redis.call('HMGET', KEYS[1], 'index', 'fingerprint', 'definitions')
return { version, v[1], v[2], v[3] }
]]

-- KEYS[1] the hash, KEYS[2] the lock; ARGV[1] a token, ARGV[2] the lock's expiry (ms), ARGV[3]
-- the refresh period (s). Takes the lock (1) when the published index is older than a period and
-- nobody holds it; else 0.
local LOCK = [[
local now = tonumber(redis.call('TIME')[1])
local at = tonumber(redis.call('HGET', KEYS[1], 'refreshed_at') or '0')
if now - at < tonumber(ARGV[3]) then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
]]

-- KEYS[1] the hash, KEYS[2] the lock; ARGV[1] the token; ARGV[2] the index text ("" when the
-- taxonomy was unchanged), ARGV[3] its fingerprint, ARGV[4] its definitions. Publishes (a new
-- version when the text is given), stamps refreshed_at, and frees the lock if still the caller's.
-- Returns the published version.
local PUSH = [[
local now = tonumber(redis.call('TIME')[1])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'index', ARGV[2], 'fingerprint', ARGV[3], 'definitions', ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'version', 1)
end
redis.call('HSET', KEYS[1], 'refreshed_at', now)
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
]]

--- The fleet settings of edge.init: `cfg` as options.redis gives it, the names of the hash and
-- the lock for the taxonomy of `client` (its host and project), and this host's lock token.
function fleet.new(cfg, client)
  local p = client.pipeline
  local name = cfg.prefix .. "edge:" .. core.sha256(p.options.host .. p.list_path)
  return { cfg = cfg, hash = name, lock = name .. ":lock",
    token = string.format("%d:%.6f:%d", ngx.worker.pid(), ngx.now(), math.random(1, 2 ^ 30)),
    down_until = 0 }
end

-- Copies a newer published index into `dict` when there is one that decodes; true when Redis
-- answered (whether or not anything was newer), nil and why when it failed.
local function pull(f, dict, now)
  local reply, err = redis.eval(f.cfg, PULL, { f.hash }, { dict:get(K_PULLED) or 0 })
  if not reply then return nil, err end
  local version, text = tonumber(reply[1]), reply[2]
  if type(text) == "string" and core.decode(text, "object") then
    local ok, why = index.store(dict, text, reply[3] or "", tonumber(reply[4]) or 0, now)
    if not ok then return nil, why end
    dict:set(K_PULLED, version)
  end
  return true
end

--- One refresh of this host's index through the fleet: copies what another host published; when
-- the published index is older than `period` and the lock is free, refreshes from PostHog with
-- `refresh_here(now)` (index.refresh's results) and publishes. Returns index.refresh's result,
-- or "shared" (copied, or already current); nil, why and true when the refresh from PostHog
-- failed; nil and why when Redis failed (the caller refreshes on its own).
function fleet.refresh(f, dict, period, now, refresh_here)
  local ok, err = pull(f, dict, now)
  if not ok then return nil, err end
  local locked
  locked, err = redis.eval(f.cfg, LOCK, { f.hash, f.lock },
    { f.token, math.floor(period * 1000), math.max(1, math.floor(period * 0.9)) })
  if locked == nil then return nil, err end
  if locked ~= 1 then return "shared" end
  local result, why = refresh_here(now)
  local text, fingerprint, definitions = "", "", 0
  if result == "full" then text, fingerprint, definitions = index.stored(dict) end
  if result then
    local version
    version, err = redis.eval(f.cfg, PUSH, { f.hash, f.lock }, { f.token, text, fingerprint, definitions })
    if version == nil then return nil, err end
    if result == "full" then dict:set(K_PULLED, version) end
    return result
  end
  return nil, why, true -- the lock expires by itself; another host tries after it
end

return fleet
