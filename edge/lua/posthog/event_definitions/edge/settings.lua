--- edge.init's options: every default in one table, every check (a bad option raises with a
-- clear message), and the settings the rest of the edge reads.
local evdefs = require "posthog.event_definitions"
local judge = require "posthog.event_definitions.edge.judge"

local settings = {}

--- The names SDKs emit without a "$" (reference §21.4): posthog-js's surveys and product tours,
-- the mobile SDKs' lifecycle events. Treated like "$" events: they pass unless the policy names them.
settings.SDK_EVENTS = {
  "survey shown", "survey sent", "survey dismissed", "survey abandoned",
  "product tour shown", "product tour dismissed", "product tour completed", "product tour step shown",
  "product tour step completed", "product tour button clicked", "product tour step selector failed",
  "product tour banner container selector failed", "product tour banner action clicked",
  "Application Installed", "Application Updated", "Application Opened", "Application Backgrounded",
  "Application Became Active", "Deep Link Opened",
}

--- Every default of edge.init.
settings.DEFAULTS = {
  unknown_token = "pass",        -- action for events whose token no project of this edge has
  refresh = 300,                 -- seconds: every field the policy reads is at most this old
  schema_scope = "reject",       -- PostHog's: only events in enforcement_mode "reject"; "all": every event
  uninspected = "pass",          -- or "reject": requests it cannot read
  before_first_refresh = "pass", -- or "reject" (503) until the project's first index is stored
  max_body = 20 * 1024 * 1024,   -- the most bytes a body inflates to (larger: uninspected, too_large)
  max_ratio = 100,               -- the most a body inflates to, per compressed byte (a bomb: too_large)
  max_events = 10000,            -- the most events a body holds (more: uninspected, too_large)
  max_offenders = 100,           -- distinct event names with their own offender counter
  summary_every = 60,            -- seconds between summaries in the error log (at most)
  redis_prefix = "posthog-evdefs:",
}

local TYPES = { client = "table", projects = "table", unknown_token = "string", dict = "string",
  refresh = "number", policy = "table", schema_scope = "string", sdk_events = "table", quarantine = "table",
  uninspected = "string", before_first_refresh = "string", max_body = "number", max_ratio = "number",
  max_events = "number", max_offenders = "number", summary_every = "number", redis = "string table",
  redis_prefix = "string" }
local POSITIVE = { "refresh", "max_body", "max_ratio", "max_events", "max_offenders", "summary_every" }

local function fail(message, level) error("edge.init: " .. message, level + 1) end

local function one_of(s, k, ...)
  for _, v in ipairs { ... } do if s[k] == v then return end end
  error("edge.init: " .. k .. " must be " .. table.concat({ ... }, " or "), 4)
end

--- The policy checked and completed (classes it omits pass): keys are the classes, or names
-- of events that pass by default ("$…" or in sdk_events); values are actions. Raises on a bad entry.
function settings.policy(given, sdk_events, level)
  local policy = { unknown = "pass", hidden = "pass", unverified = "pass", schema = "pass" }
  for k, v in pairs(given) do
    if type(k) ~= "string" or not (policy[k] or k:sub(1, 1) == "$" or sdk_events[k]) then
      error("edge: policy keys are unknown, hidden, unverified, schema, \"$event\" or SDK event names, not "
        .. tostring(k), level + 1)
    end
    if judge.ACTIONS[v] == nil then
      error("edge: policy." .. k .. " must be pass, tag, drop or reject, not " .. tostring(v), level + 1)
    end
    policy[k] = v
  end
  return policy
end

-- The projects: {key, client} each, from `client` (key "default") or `projects` (key: the token).
local function project_list(s, level)
  if (s.client == nil) == (s.projects == nil) then fail("give client or projects (one of them)", level + 1) end
  local list = {}
  if s.client then
    list[1] = { key = "default", client = s.client }
  else
    for token, client in pairs(s.projects) do
      if type(token) ~= "string" or token == "" or token:find("[%s%c]") or type(client) ~= "table" then
        fail("projects maps project tokens (phc_…) to clients", level + 1)
      end
      list[#list + 1] = { key = token, client = client }
    end
    if #list == 0 then fail("projects is empty", level + 1) end
    table.sort(list, function(a, b) return a.key < b.key end)
  end
  for _, p in ipairs(list) do
    if type(p.client.origin) ~= "function" then fail("a client must be made with evdefs.new", level + 1) end
  end
  return list
end

--- The settings of edge.init's `opts`, checked (raises at `level` on a bad option): the options
-- with their defaults, `dict` (the shared dict itself), `project_list`, `policy`, `sdk_events`
-- (a set), `quarantine` (as given), `fleet_server` (an evdefs.redis handle, or nil).
function settings.check(opts, level)
  level = level + 1
  if type(opts) ~= "table" then fail("options must be a table", level) end
  local s = {}
  for k, v in pairs(settings.DEFAULTS) do s[k] = v end
  for k, v in pairs(opts) do
    local want = TYPES[k]
    if not want then fail("unknown option " .. tostring(k), level) end
    if not want:find(type(v), 1, true) then fail(k .. " must be a " .. want:gsub(" ", " or "), level) end
    s[k] = v
  end
  s.project_list = project_list(s, level)
  if not s.dict then fail("dict is required", level) end
  s.dict_name, s.dict = s.dict, ngx.shared[s.dict]
  if not s.dict then fail("no lua_shared_dict " .. s.dict_name, level) end
  for _, k in ipairs(POSITIVE) do
    if not (s[k] > 0 and s[k] < math.huge) then fail(k .. " must be positive", level) end
  end
  one_of(s, "uninspected", "pass", "reject")
  one_of(s, "before_first_refresh", "pass", "reject")
  one_of(s, "schema_scope", "reject", "all")
  if judge.ACTIONS[s.unknown_token] == nil then fail("unknown_token must be pass, tag, drop or reject", level) end
  local names = {}
  for _, name in ipairs(s.sdk_events or settings.SDK_EVENTS) do
    if type(name) ~= "string" then fail("sdk_events must be an array of event names", level) end
    names[name] = true
  end
  s.sdk_events = names
  s.policy = settings.policy(s.policy or {}, names, level)
  if s.redis ~= nil then
    local server, err = evdefs.redis(s.redis)
    if not server then fail(tostring(err.detail), level) end
    s.fleet_server = server
  end
  s.lock_ttl = 60 + s.refresh -- a refresh that dies holding a project's lock frees it by then
  return s
end

return settings
