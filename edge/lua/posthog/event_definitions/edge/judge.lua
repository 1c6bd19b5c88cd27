--- The class and action of one event: what the tracking plan says of it, by the project's index
-- and the policy. Pure Lua (no ngx): it runs in nginx and in the property specs alike.
--
-- Classes: "unknown" (no definition), "hidden", "unverified", "schema" (fails its schema as
-- PostHog's ingestion judges it: edge/schema.lua), and "unknown_token" (no project of this edge
-- has the event's token). Events named with a "$" or in `sdk_events` pass unless the policy names
-- them. When several classes apply, the most severe action wins (pass < tag < drop < reject).
local schema = require "posthog.event_definitions.edge.schema"
local edge_core = require "posthog.event_definitions.edge.core"

local byte = string.byte
local props = edge_core.props

local judge = {}

judge.CLASSES = { "unknown", "hidden", "unverified", "schema" }
judge.ACTIONS = { pass = 0, tag = 1, drop = 2, reject = 3 } -- by severity
local SEVERITY = judge.ACTIONS

-- Index flags of a definition (sums of distinct powers of two).
judge.HIDDEN, judge.VERIFIED, judge.REJECT = 1, 2, 4
local HIDDEN, VERIFIED, REJECT = judge.HIDDEN, judge.VERIFIED, judge.REJECT

-- bit test without the bit library
local function has(flags, bit)
  return flags % (2 * bit) >= bit
end
judge.has = has

local EMPTY = {}

-- The schema errors of the event whose properties value is at vfirst..vlast of text (pkind 1:
-- an object), or nil when it passes.
local function schema_errors(compiled, text, pkind, vfirst, vlast)
  local kinds, values = EMPTY, EMPTY
  if pkind == 1 then
    kinds, values = props(text, vfirst, vlast, true)
    if not kinds then return nil end -- the scanner read it: cannot happen; never flag on doubt
  end
  return schema.check(compiled, kinds, values)
end

--- The verdict on one event: `name` (string, or false when the event has none), the project's
-- index `idx` ({defs = {name = flags}, schemas = {name = compiled}}), the settings `s`
-- ({policy, sdk_events = {name = true}, schema_scope = "reject"|"all"}) and the event's
-- properties (text, pkind, vfirst, vlast, as edge_core.scan gives them). Returns class (nil when
-- no class applies), action, and the schema errors (for the "schema" class).
function judge.event(s, idx, name, text, pkind, vfirst, vlast)
  local policy = s.policy
  if not name then return "unknown", policy.unknown end
  local named = policy[name]
  if not named and (byte(name, 1) == 36 or s.sdk_events[name]) then return nil, "pass" end -- "$"
  local flags = idx.defs[name]
  local class, action, best, errors = nil, "pass", -1, nil
  if flags == nil then
    class, action = "unknown", policy.unknown
  else
    if has(flags, HIDDEN) then class, action, best = "hidden", policy.hidden, SEVERITY[policy.hidden] end
    if SEVERITY[policy.schema] > best and (s.schema_scope == "all" or has(flags, REJECT)) then
      local compiled = idx.schemas[name]
      if compiled then
        errors = schema_errors(compiled, text, pkind, vfirst, vlast)
        if errors then class, action, best = "schema", policy.schema, SEVERITY[policy.schema] end
      end
    end
    if not has(flags, VERIFIED) and SEVERITY[policy.unverified] > best then
      class, action = "unverified", policy.unverified
    end
  end
  if class ~= "schema" then errors = nil end
  if named then return class or "policy", named, errors end
  return class, action, errors
end

return judge
