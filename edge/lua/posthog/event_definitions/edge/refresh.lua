--- Keeping each project's index fresh: every `refresh` seconds (and at start, and on
-- edge.refresh()) the definitions and schema property groups are downloaded in full, so that
-- every field the policy reads (known, hidden, verified, enforcement_mode, schemas) is at most
-- one period old; through the fleet's Redis when there is one. A project is refreshed by one
-- caller at a time (a lock in the shared dict); a failed refresh keeps the last good index.
local evdefs = require "posthog.event_definitions"
local index = require "posthog.event_definitions.edge.index"
local fleet = require "posthog.event_definitions.edge.fleet"
local metrics = require "posthog.event_definitions.edge.metrics"

local refresh = {}

local PAGE = 1000         -- definitions a page: 10,000 definitions are 10 requests
local LOCK_WAIT = 0.05    -- seconds between looks at a busy project's lock

-- The download from PostHog into the dict: index.offer's outcome, or nil and the error.
local function from_posthog(s, project)
  local defs, err = project.client:all { limit = PAGE }
  if not defs then return nil, err end
  local groups, gerr = project.client:schema_property_groups()
  if not groups then
    if gerr.status ~= 403 then return nil, gerr end
    if not project.warned_groups then
      project.warned_groups = true
      ngx.log(ngx.WARN, "posthog edge: project ", project.key, ": the key may not read schema property groups ",
        "(403); no event is judged against a schema")
    end
    groups = {}
  end
  local text
  text, err = evdefs.encode(index.build(defs, groups))
  if not text then return nil, err end
  return index.offer(s.dict, project.key, text, #defs, ngx.now())
end

-- One refresh of `project` through the fleet, or here when there is none or it failed (then
-- here for its cool-down, said once per period).
local function once(s, project, forced)
  local f = s.fleet
  local function here() return from_posthog(s, project) end
  if not f or ngx.now() < f.down_until then return here() end
  local outcome, err, tried = fleet.refresh(f, s.dict, project, s.refresh, ngx.now(), here, forced)
  if outcome or tried then return outcome, err end
  f.down_until = ngx.now() + f.server.cooldown
  ngx.log(ngx.WARN, "posthog edge: the indexes shared through Redis failed (", tostring(err),
    "); refreshing on this host for ", f.server.cooldown, " s")
  return here()
end

-- Logs and counts the outcome of a refresh of `project`.
local function report(s, project, outcome, err)
  if outcome then
    metrics.add(s.dict, 1, "refresh", project.key, outcome)
    if outcome == "suspect" then
      local definitions, _, held = index.status(s.dict, project.key, ngx.now())
      ngx.log(ngx.WARN, "posthog edge: project ", project.key, ": PostHog listed ", held, " definitions where the ",
        "index has ", definitions, "; keeping the index until the next refresh confirms it")
    end
    return
  end
  metrics.add(s.dict, 1, "refresh", project.key, "failed")
  local _, age = index.status(s.dict, project.key, ngx.now())
  ngx.log(ngx.ERR, "posthog edge: project ", project.key, ": taxonomy refresh failed, ",
    age and string.format("keeping the index of %.0f s ago", age) or "no index yet (its events pass)",
    ": ", tostring(err))
end

--- Refreshes `project` now, unless another caller is refreshing it: then waits (up to
-- `wait` seconds, 0 for none) for that one to finish and, with `forced`, refreshes after it.
-- Returns the outcome ("stored", "unchanged", "suspect", "shared"), "busy" when it did not wait,
-- or nil and the error.
function refresh.project(s, project, forced, wait)
  local lock = "r|" .. project.key .. "|lock"
  local deadline = ngx.now() + (wait or 0)
  while not s.dict:add(lock, true, s.lock_ttl) do
    if ngx.now() >= deadline then return "busy" end
    ngx.sleep(LOCK_WAIT)
    ngx.update_time()
  end
  local ok, outcome, err = pcall(once, s, project, forced)
  s.dict:delete(lock)
  if not ok then outcome, err = nil, outcome end
  report(s, project, outcome, err)
  return outcome, err
end

--- Refreshes every project of `s` (a timer's work); with `forced` (edge.refresh) each now,
-- after a refresh in progress. Returns true, or nil and the errors of the projects that failed.
function refresh.all(s, forced)
  local failed = {}
  for _, project in ipairs(s.project_list) do
    local outcome, err = refresh.project(s, project, forced, forced and s.lock_ttl or 0)
    if not outcome then failed[#failed + 1] = project.key .. ": " .. tostring(err) end
  end
  if #failed > 0 then return nil, table.concat(failed, "; ") end
  return true
end

return refresh
