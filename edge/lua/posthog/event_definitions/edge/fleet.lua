--- The edge's taxonomy indexes shared by a fleet through Redis (evdefs.redis): for each project,
-- one host at a time refreshes it from PostHog under a lock with an expiry (a dead host's lock
-- frees itself) and publishes it; every host copies a newer published index into its own shared
-- dict. A far smaller download held back by one host is marked in Redis, so that whichever host
-- refreshes next confirms or clears it. A host whose Redis fails refreshes on its own, as
-- without Redis, and says so once per period; what a host has stays until something newer
-- replaces it.
--
-- In Redis, under the prefix: `edge:<digest>` a hash {version, index, definitions, suspect,
-- refreshed_at (server clock)} and `edge:<digest>:lock`, where the digest is the MD5 of the host
-- and project the taxonomy comes from (no key is involved).
local index = require "posthog.event_definitions.edge.index"

local fleet = {}

-- KEYS[1] the hash; ARGV[1] the version the caller holds. Returns {version, suspect, age (s since
-- the last publication, -1 when none)} when nothing newer is published, else also {index, definitions}.
local PULL = [[
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local suspect = redis.call('HGET', KEYS[1], 'suspect') or ''
local at = tonumber(redis.call('HGET', KEYS[1], 'refreshed_at') or '-1')
local age = -1
if at >= 0 then age = tonumber(redis.call('TIME')[1]) - at end
if version <= tonumber(ARGV[1]) then return { version, suspect, age } end
local v = redis.call('HMGET', KEYS[1], 'index', 'definitions')
return { version, suspect, age, v[1], v[2] }
]]

-- KEYS[1] the hash, KEYS[2] the lock; ARGV[1] a token, ARGV[2] the lock's expiry (ms), ARGV[3]
-- the refresh period (s). Takes the lock (1) when the published index is older than a period (or
-- ARGV[4] is "now") and nobody holds it; else 0.
local LOCK = [[
local now = tonumber(redis.call('TIME')[1])
local at = tonumber(redis.call('HGET', KEYS[1], 'refreshed_at') or '0')
if ARGV[4] ~= 'now' and now - at < tonumber(ARGV[3]) then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
]]

-- KEYS[1] the hash, KEYS[2] the lock; ARGV[1] the token; ARGV[2] the index text ("" when it did
-- not change), ARGV[3] its definitions, ARGV[4] the size of a download held back ("" when none).
-- Publishes, stamps refreshed_at, and frees the lock if still the caller's. Returns the version.
local PUSH = [[
local now = tonumber(redis.call('TIME')[1])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'index', ARGV[2], 'definitions', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'version', 1)
end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'suspect', ARGV[4])
else redis.call('HDEL', KEYS[1], 'suspect') end
redis.call('HSET', KEYS[1], 'refreshed_at', now)
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
]]

--- The fleet of edge.init: `server` (an evdefs.redis handle), the key `prefix`, and this host's
-- lock token.
function fleet.new(server, prefix)
  return { server = server, prefix = prefix, down_until = 0,
    token = string.format("%d:%.6f:%d", ngx.worker.pid(), ngx.now(), math.random(1, 2 ^ 30)) }
end

-- The Redis names of the project `project` ({key, client}).
local function names(f, project)
  local host, project_id = project.client:origin()
  local hash = f.prefix .. "edge:" .. ngx.md5(host .. "|" .. project_id)
  return hash, hash .. ":lock"
end

-- Copies a newer published index of `project` into `dict` and mirrors its held-back mark; true
-- when Redis answered, nil and why when it failed.
local function pull(f, dict, project, hash, now)
  local pulled_key = "f|" .. project.key .. "|version"
  local reply, err = f.server:eval(PULL, { hash }, { dict:get(pulled_key) or 0 })
  if type(reply) ~= "table" then return nil, err or "an unexpected reply" end
  local version, suspect, age, text = tonumber(reply[1]), reply[2], tonumber(reply[3]), reply[4]
  index.hold_back(dict, project.key, tonumber(suspect))
  if type(text) == "string" then
    local ok, why = index.store(dict, project.key, text, tonumber(reply[5]) or 0, now - math.max(age or 0, 0))
    if not ok then return nil, why end
    dict:set(pulled_key, version)
  elseif age and age >= 0 and dict:get(pulled_key) then
    index.stamp(dict, project.key, now - age)
  end
  return true
end

--- One refresh of `project`'s index through the fleet: copies what another host published; when
-- the published index is older than `period` (or `forced`) and the lock is free, refreshes from
-- PostHog with `refresh_here()` (index.offer's outcomes) and publishes. Returns that outcome, or
-- "shared" (copied, or already current); nil, why and true when the refresh from PostHog failed;
-- nil and why when Redis failed (the caller refreshes on its own).
function fleet.refresh(f, dict, project, period, now, refresh_here, forced)
  local hash, lock = names(f, project)
  local ok, err = pull(f, dict, project, hash, now)
  if not ok then return nil, err end
  local locked
  locked, err = f.server:eval(LOCK, { hash, lock },
    { f.token, math.floor(period * 1000), math.max(1, math.floor(period * 0.9)), forced and "now" or "" })
  if locked == nil then return nil, err end
  if locked ~= 1 then return "shared" end
  local outcome, why = refresh_here()
  if not outcome then return nil, why, true end -- the lock expires by itself; another host tries after it
  local text, definitions = "", 0
  if outcome == "stored" then text, definitions = index.stored(dict, project.key) end
  local _, _, held = index.status(dict, project.key, now)
  local version
  version, err = f.server:eval(PUSH, { hash, lock }, { f.token, text, definitions, held or "" })
  if version == nil then return nil, err end
  if outcome == "stored" then dict:set("f|" .. project.key .. "|version", version) end
  return outcome
end

return fleet
