--- posthog.event_definitions.edge: the tracking plan enforced at the edge, inside nginx.
--
-- edge.init (init_worker_by_lua*) keeps a taxonomy index fresh in a lua_shared_dict (one worker
-- refreshes it in a timer); edge.enforce (access_by_lua* of the capture proxy) checks each capture
-- body's events against it and passes, tags, drops or rejects them by the policy; edge.metrics
-- gives the counters as Prometheus text. See README.md, "Edge enforcement".
local index = require "posthog.event_definitions.edge.index"
local check = require "posthog.event_definitions.edge.check"
local body = require "posthog.event_definitions.edge.body"
local metrics = require "posthog.event_definitions.edge.metrics"
local fleet = require "posthog.event_definitions.edge.fleet"
local options = require "posthog.event_definitions.options"

local edge = {}

--- Every default of edge.init (the contract's options, then the additions).
edge.DEFAULTS = {
  refresh = 300,               -- seconds between refreshes (and one at start)
  uninspected = "pass",        -- or "reject": bodies the edge cannot read
  before_first_refresh = "pass", -- or "reject" (503) until the first index is stored
  full_refresh = 3600,         -- the most seconds an unchanged fingerprint defers a full download
  max_body = 20 * 1024 * 1024, -- the largest inflated body checked (larger: uninspected)
  max_offenders = 100,         -- distinct event names with their own offender counter
  summary_every = 60,          -- seconds between summaries in the error log (at most)
  -- redis: a redis:// URL or {host, port, password, db, timeout, cooldown} (as rate_limit.redis):
  -- the index is shared by every host through it (one refreshes under a lock, all copy it)
  -- redis_prefix: the prefix of its Redis keys (default as rate_limit.redis_prefix)
}

local CLASSES = { unknown = true, hidden = true, unverified = true, schema = true }
local OPTION_TYPES = { client = "table", dict = "string", refresh = "number", policy = "table",
  uninspected = "string", before_first_refresh = "string", full_refresh = "number", max_body = "number",
  max_offenders = "number", summary_every = "number", redis = "string table", redis_prefix = "string" }
local CAPTURE_PATHS = { "/e", "/i/v0/e", "/capture", "/track", "/batch", "/i/v1/analytics/events" }

local state -- this worker's settings, from edge.init

-- The policy checked and completed (classes it omits pass); raises on a bad entry.
local function checked_policy(given, level)
  local policy = { unknown = "pass", hidden = "pass", unverified = "pass", schema = "pass" }
  for k, v in pairs(given) do
    if type(k) ~= "string" or not (CLASSES[k] or k:sub(1, 1) == "$") then
      error("edge: policy keys are unknown, hidden, unverified, schema or \"$event\" names, not "
        .. tostring(k), level + 1)
    end
    if check.ACTIONS[v] == nil then
      error("edge: policy." .. k .. " must be pass, tag, drop or reject, not " .. tostring(v), level + 1)
    end
    policy[k] = v
  end
  return policy
end

-- Whether uri is one of PostHog's capture endpoints (also under a prefix, e.g. /ingest/e/).
local function is_capture(uri)
  if uri:sub(-1) == "/" then uri = uri:sub(1, -2) end
  for _, p in ipairs(CAPTURE_PATHS) do
    if uri:sub(-#p) == p then return true end
  end
  return false
end

-- One refresh from PostHog into this host's dict: index.refresh's results.
local function refresh_here(now)
  local s = state
  return index.refresh(s.client, s.dict, s.full_refresh, now)
end

-- One refresh through the fleet's Redis, or on this host when there is none or it failed (then
-- for its cool-down, said once per period): index.refresh's results, or "shared".
local function refresh_once(now)
  local s, f = state, state.fleet
  if not f or now < f.down_until then return refresh_here(now) end
  local result, err, tried = fleet.refresh(f, s.dict, s.refresh, now, refresh_here)
  if result or tried then return result, err end
  f.down_until = now + f.cfg.cooldown
  ngx.log(ngx.WARN, "posthog edge: the index shared through Redis failed (", tostring(err),
    "); refreshing on this host for ", f.cfg.cooldown, " s")
  return refresh_here(now)
end

local refresh

-- One refresh, run by the refreshing worker's timers. A host of a fleet that has no index yet
-- while another host refreshes asks again a second later.
refresh = function(premature)
  local s = state
  if premature or s.refreshing then return end
  s.refreshing = true
  local ok, result, err = pcall(refresh_once, ngx.now())
  s.refreshing = false
  if not ok then result, err = nil, result end
  if result then
    metrics.add(s.dict, 1, "refresh", result)
    if result == "shared" and not index.current(s.dict) then ngx.timer.at(1, refresh) end
    return
  end
  metrics.add(s.dict, 1, "refresh", "failed")
  local _, age = index.status(s.dict, ngx.now())
  ngx.log(ngx.ERR, "posthog edge: taxonomy refresh failed, ",
    age and string.format("keeping the index of %.0f s ago", age) or "no index yet (events pass)",
    ": ", tostring(err))
end

-- The summary line, at most once per summary_every seconds, when anything moved.
local function summary(premature)
  if premature then return end
  local line = metrics.summary(state.dict)
  if not line then return end
  local definitions, age = index.status(state.dict, ngx.now())
  ngx.log(ngx.NOTICE, "posthog edge: ", line, "; index: ", definitions, " definitions, ",
    age and string.format("refreshed %.0f s ago", age) or "not loaded yet")
end

--- Sets the edge up in this worker (init_worker_by_lua*): opts = {client, dict, refresh, policy,
-- uninspected, before_first_refresh, and the additions of edge.DEFAULTS}. Worker 0 refreshes the
-- index at once and every `refresh` seconds, and logs the summary. Bad options raise.
function edge.init(opts)
  if type(opts) ~= "table" then error("edge.init: options must be a table", 2) end
  local s = {}
  for k, v in pairs(edge.DEFAULTS) do s[k] = v end
  for k, v in pairs(opts) do
    local want = OPTION_TYPES[k]
    if not want then error("edge.init: unknown option " .. tostring(k), 2) end
    if not want:find(type(v), 1, true) then error("edge.init: " .. k .. " must be a " .. want:gsub(" ", " or "), 2) end
    s[k] = v
  end
  if not s.client then error("edge.init: client is required", 2) end
  if not s.dict then error("edge.init: dict is required", 2) end
  s.dict_name, s.dict = s.dict, ngx.shared[s.dict]
  if not s.dict then error("edge.init: no lua_shared_dict " .. s.dict_name, 2) end
  for _, k in ipairs { "refresh", "full_refresh", "max_body", "max_offenders", "summary_every" } do
    if not (s[k] > 0 and s[k] < math.huge) then error("edge.init: " .. k .. " must be positive", 2) end
  end
  for _, k in ipairs { "uninspected", "before_first_refresh" } do
    if s[k] ~= "pass" and s[k] ~= "reject" then error("edge.init: " .. k .. " must be pass or reject", 2) end
  end
  if s.redis ~= nil then
    local function init_error(message, level) error("edge.init: " .. message, (level or 1) + 1) end
    local cfg, why = options.redis({ redis = s.redis, redis_prefix = s.redis_prefix }, 2, "redis", init_error)
    if not cfg then init_error(tostring(why), 2) end
    s.fleet = fleet.new(cfg, s.client)
  end
  s.policy = checked_policy(s.policy or {}, 2)
  s.policies = setmetatable({}, { __mode = "k" }) -- enforce's per-location policies, checked once
  state = s
  if (ngx.worker.id() or 0) == 0 then
    assert(ngx.timer.at(0, refresh))
    assert(ngx.timer.every(s.refresh, refresh))
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

-- A body the edge cannot read: counted, then passed untouched or answered 400.
local function unread(s, action, reason, detail)
  metrics.add(s.dict, 1, "uninspected", reason)
  metrics.add(s.dict, 1, "requests", "uninspected")
  if action == "reject" then
    return answer(400, '{"type":"validation_error","code":"taxonomy_uninspected","detail":'
      .. check.json_string("the body could not be checked: " .. detail) .. ',"attr":null}')
  end
end

--- Checks the capture request's body (access_by_lua* or rewrite_by_lua*): passes it untouched,
-- rewrites it (drops, tags; re-compressed the way it came), or answers 400 itself. Requests
-- that are not a POST to a capture endpoint pass unread. opts (optional): {policy = {…}} merged
-- over edge.init's for this location, uninspected = "pass"|"reject".
function edge.enforce(opts)
  local s = state
  if not s then error("edge.enforce: edge.init was not called in this worker", 2) end
  local policy, uninspected = s.policy, s.uninspected
  if opts then
    if opts.policy then
      policy = s.policies[opts.policy]
      if not policy then
        local merged = {}
        for k, v in pairs(s.policy) do merged[k] = v end
        for k, v in pairs(opts.policy) do merged[k] = v end
        policy = checked_policy(merged, 2)
        s.policies[opts.policy] = policy
      end
    end
    uninspected = opts.uninspected or uninspected
  end
  if ngx.req.get_method() ~= "POST" or not is_capture(ngx.var.uri) then return end
  local dict = s.dict
  local idx = index.current(dict)
  if not idx then
    metrics.add(dict, 1, "requests", "not_ready")
    if s.before_first_refresh == "reject" then
      return answer(503, '{"type":"server_error","code":"taxonomy_unavailable","detail":'
        .. '"The taxonomy is not loaded yet.","attr":null}')
    end
    return
  end
  local raw, err = body.read()
  if not raw then return unread(s, uninspected, "read", err) end
  if raw == "" then return end
  local text, wrapping, detail = body.unwrap(raw, ngx.var.http_content_encoding, ngx.var.content_type,
    ngx.var.arg_compression, s.max_body)
  if not text then return unread(s, uninspected, wrapping, detail) end
  local result
  result, err = check.run(text, idx, policy)
  if not result then return unread(s, uninspected, "json", err) end
  metrics.add_events(dict, result.events, result.counts, result.offenders, s.max_offenders)
  if result.rejected then
    metrics.add(dict, 1, "requests", "rejected")
    local name, class = result.rejected[1], result.rejected[2]
    return answer(400, '{"type":"validation_error","code":"taxonomy_violation","detail":'
      .. check.json_string("Event '" .. name .. "' is rejected by the tracking plan (" .. class .. ").")
      .. ',"attr":' .. check.json_string(name) .. "}")
  end
  if result.kept == 0 and result.events > 0 then
    metrics.add(dict, 1, "requests", "emptied") -- every event dropped: nothing to forward
    return answer(200, '{"status":1}')
  end
  if result.body then
    metrics.add(dict, 1, "requests", "rewritten")
    ngx.req.set_body_data(body.wrap(result.body, wrapping, raw))
    return
  end
  metrics.add(dict, 1, "requests", "passed")
end

--- The counters as Prometheus text (content_by_lua* of a metrics location): requests by
-- outcome, events, violations by class and action, offenders by class and event name (bounded),
-- uninspected bodies by reason, refreshes by result, and the index's size and age.
function edge.metrics()
  local s = state
  if not s then error("edge.metrics: edge.init was not called in this worker", 2) end
  return metrics.prometheus(s.dict, index.status(s.dict, ngx.now()))
end

return edge
