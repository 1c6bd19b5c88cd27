--- posthog.event_definitions.edge: the tracking plan enforced at the edge, inside nginx (rock
-- posthog-event-definitions-edge, on the client's public API).
--
-- edge.init (`init_worker_by_lua*`) keeps each project's taxonomy index fresh in a `lua_shared_dict`
-- (one worker refreshes it in a timer); edge.enforce (`access_by_lua*` of the capture proxy) reads
-- each capture request as PostHog's capture would, judges its events as PostHog would, and
-- passes, tags, drops or rejects them by the policy; events taken out go to the quarantine
-- project, or are counted and logged by name. edge.metrics gives the counters as Prometheus text,
-- edge.refresh refreshes now. See README.md, "Edge enforcement".
-- @module posthog.event_definitions.edge
local settings = require "posthog.event_definitions.edge.settings"
local capture = require "posthog.event_definitions.edge.capture"
local decide = require "posthog.event_definitions.edge.decide"
local index = require "posthog.event_definitions.edge.index"
local refresh = require "posthog.event_definitions.edge.refresh"
local fleet = require "posthog.event_definitions.edge.fleet"
local quarantine = require "posthog.event_definitions.edge.quarantine"
local metrics = require "posthog.event_definitions.edge.metrics"
local rewrite = require "posthog.event_definitions.edge.rewrite"
local edge_core = require "posthog.event_definitions.edge.core"
local inflate = require "posthog.event_definitions.edge.inflate"

local edge = {}

edge.DEFAULTS = settings.DEFAULTS
edge.SDK_EVENTS = settings.SDK_EVENTS

local state -- this worker's settings, from edge.init

-- The timer's refresh of every project; a fleet host still without an index while another host
-- refreshes asks again a second later.
local function refresh_timer(premature)
  if premature then return end
  refresh.all(state)
  for _, p in ipairs(state.project_list) do
    if state.fleet and not index.current(state.dict, p.key) then
      ngx.timer.at(1, refresh_timer)
      return
    end
  end
end

-- The summary line, at most once per summary_every seconds, when anything moved.
local function summary(premature)
  if premature then return end
  local line = metrics.summary(state.dict)
  if not line then return end
  local parts = {}
  for _, p in ipairs(state.project_list) do
    local definitions, age = index.status(state.dict, p.key, ngx.now())
    parts[#parts + 1] = p.key .. ": " .. definitions .. " definitions, "
      .. (age and string.format("refreshed %.0f s ago", age) or "not loaded yet")
  end
  ngx.log(ngx.NOTICE, "posthog edge: ", line, "; index ", table.concat(parts, "; "))
end

--- Sets the edge up in this worker (`init_worker_by_lua*`): opts = {client | projects, dict,
-- refresh, policy, `schema_scope`, `sdk_events`, `unknown_token`, quarantine, uninspected,
-- `before_first_refresh`, `max_body`, `max_ratio`, `max_events`, redis, and the rest of
-- `edge.DEFAULTS`}.
-- Worker 0 refreshes every project's index at once and every `refresh` seconds, and logs the
-- summary. Bad options raise.
function edge.init(opts)
  local s = settings.check(opts, 2)
  s.projects_by_token = {}
  for _, p in ipairs(s.project_list) do s.projects_by_token[p.key] = p end
  s.single = opts.client and s.project_list[1] or nil
  if s.fleet_server then s.fleet = fleet.new(s.fleet_server, s.redis_prefix) end
  if s.quarantine then
    local why
    s.queue, why = quarantine.new(s.quarantine, s.dict, {
      count = function(n, name, a, b) metrics.add(s.dict, n, name, a, b) end,
      log = function(level, ...) ngx.log(level, "posthog edge: ", ...) end,
    })
    if not s.queue then error("edge.init: " .. why, 2) end
    assert(s.queue:start())
  end
  s.limits = { max_body = s.max_body, max_ratio = s.max_ratio }
  s.per_location = setmetatable({}, { __mode = "k" }) -- enforce's location options, checked once
  function s.project(token)
    local p = s.single or s.projects_by_token[token]
    if p then p.index = index.current(s.dict, p.key) end
    return p
  end
  state = s
  if (ngx.worker.id() or 0) == 0 then
    assert(ngx.timer.at(0, refresh_timer))
    assert(ngx.timer.every(s.refresh, refresh_timer))
    assert(ngx.timer.every(s.summary_every, summary))
  end
end

-- Answers the request itself with status and a JSON text, and ends it.
local function answer(status, text)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.header["Content-Length"] = #text
  ngx.print(text)
  return ngx.exit(ngx.HTTP_OK)
end

-- A request the edge cannot read: counted, then passed untouched or answered 400.
local function unread(s, action, reason, detail)
  metrics.add(s.dict, 1, "uninspected", reason)
  metrics.add(s.dict, 1, "requests", "", "uninspected")
  if action == "reject" then
    return answer(400, '{"type":"validation_error","code":"taxonomy_uninspected","detail":'
      .. rewrite.json_string("the request could not be checked: " .. tostring(detail)) .. ',"attr":null}')
  end
end

-- The settings of a location: edge.init's, with opts.policy merged and opts.uninspected.
local function location_settings(s, opts)
  if not opts then return s end
  local l = s.per_location[opts]
  if l then return l end
  l = setmetatable({}, { __index = s })
  if opts.policy then
    local merged = {}
    for k, v in pairs(s.policy) do merged[k] = v end
    for k, v in pairs(opts.policy) do merged[k] = v end
    l.policy = settings.policy(merged, s.sdk_events, 3)
  end
  if opts.uninspected ~= nil then
    if opts.uninspected ~= "pass" and opts.uninspected ~= "reject" then
      error("edge.enforce: uninspected must be pass or reject", 3)
    end
    l.uninspected = opts.uninspected
  end
  s.per_location[opts] = l
  return l
end

-- Hands the events taken out of a request to the quarantine, or counts and logs them by name.
local function take_out(s, project, removed)
  if #removed == 0 then return end
  if s.queue then
    s.queue:push(removed, project)
    metrics.add(s.dict, #removed, "removed", project, "quarantine")
    return
  end
  metrics.add(s.dict, #removed, "removed", project, "log")
  local names = {}
  for i = 1, math.min(#removed, 20) do names[i] = removed[i].name or "(no name)" end
  ngx.log(ngx.NOTICE, "posthog edge: project ", project, ": ", #removed, " event(s) taken out and not kept ",
    "(no quarantine): ", table.concat(names, ", "), #removed > 20 and ", …" or "")
end

--- Checks the capture request (`access_by_lua*`): passes it untouched, rewrites it (drops, tags;
-- wrapped the way it came), or answers itself (400 for a rejected event, 200 when every event
-- was dropped). Requests to paths that carry no events pass unread. opts (optional):
-- {policy = {…}} merged over edge.init's for this location, uninspected = "pass"|"reject";
-- checked once per table (make it once, not per request).
function edge.enforce(opts)
  if not state then error("edge.enforce: edge.init was not called in this worker", 2) end
  local s = location_settings(state, opts)
  local kind = capture.kind(ngx.var.uri, ngx.req.get_method())
  if not kind then return end
  if kind == "recording" then return metrics.add(s.dict, 1, "requests", "", "recording") end
  local payload, reason, detail = capture.read(kind, s.limits)
  if not payload then
    if reason then return unread(s, s.uninspected, reason, detail) end
    return metrics.add(s.dict, 1, "requests", "", "empty")
  end
  local result
  result, reason, detail = decide.run(payload.text, { settings = s, project = s.project, bearer = payload.bearer,
    engage = kind == "engage" })
  if not result then return unread(s, s.uninspected, reason == "too_many_events" and "too_large" or "json", detail) end
  local project = result.project or ""
  if result.not_ready then
    metrics.add(s.dict, 1, "requests", project, "not_ready")
    if s.before_first_refresh == "reject" then
      return answer(503, '{"type":"server_error","code":"taxonomy_unavailable","detail":'
        .. '"The taxonomy is not loaded yet.","attr":null}')
    end
    return
  end
  metrics.add_events(s.dict, project, result.events, result.counts, result.offenders, s.max_offenders)
  take_out(s, project, result.removed)
  if result.rejected then
    metrics.add(s.dict, 1, "requests", project, "rejected")
    local name, class = result.rejected[1], result.rejected[2]
    return answer(400, '{"type":"validation_error","code":"taxonomy_violation","detail":'
      .. rewrite.json_string("Event '" .. name .. "' is rejected by the tracking plan (" .. class .. ").")
      .. ',"attr":' .. rewrite.json_string(name) .. "}")
  end
  if result.rewrite_failed then return metrics.add(s.dict, 1, "requests", project, "rewrite_failed") end
  if result.kept == 0 and result.events > 0 then
    metrics.add(s.dict, 1, "requests", project, "emptied") -- every event taken out: nothing to forward
    return answer(200, kind == "v1" and '{"results":{}}' or '{"status":1}')
  end
  if result.body then
    metrics.add(s.dict, 1, "requests", project, "rewritten")
    return capture.write(payload, result.body)
  end
  metrics.add(s.dict, 1, "requests", project, "passed")
end

--- Refreshes every project's index now (an admin location; cosocket phases only), after a
-- refresh in progress. Returns true, or nil and what failed.
function edge.refresh()
  if not state then error("edge.refresh: edge.init was not called in this worker", 2) end
  return refresh.all(state, true)
end

--- The counters as Prometheus text (`content_by_lua*` of a metrics location): requests by
-- project and outcome, events, violations by class and action, offenders by event name
-- (bounded), events taken out and where they went, uninspected requests by reason, refreshes,
-- the quarantine, each project's index size and age, and the libraries that scan and inflate
-- bodies (simdjson or yajl, libdeflate or zlib).
function edge.metrics()
  local s = state
  if not s then error("edge.metrics: edge.init was not called in this worker", 2) end
  local projects = {}
  for i, p in ipairs(s.project_list) do
    local definitions, age, held = index.status(s.dict, p.key, ngx.now())
    projects[i] = { p.key, definitions, age, held }
  end
  return metrics.prometheus(s.dict, projects, s.queue and s.queue:status(),
    { scanner = edge_core.scanner(), deflate = inflate.deflate_library })
end

return edge
