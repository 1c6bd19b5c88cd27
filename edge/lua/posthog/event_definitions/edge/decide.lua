--- What the edge does with one capture payload: scan it, find its project, judge each event, and
-- build what goes on (the forwarded JSON, rewritten only where needed and checked by a second
-- scan) and what is taken out (the events for the quarantine, tagged with their class and
-- detail). Pure Lua (no ngx): the property specs run it on every interpreter.
local judge = require "posthog.event_definitions.edge.judge"
local schema = require "posthog.event_definitions.edge.schema"
local rewrite = require "posthog.event_definitions.edge.rewrite"
local edge_core = require "posthog.event_definitions.edge.core"

-- The faster scanner (the same answers) when its rock, posthog-event-definitions-edge-simdjson,
-- is installed: it registers itself with edge_core.scan; edge_core.scanner() says which runs.
pcall(require, "posthog.event_definitions.edge.simdjson")

local sub, find = string.sub, string.find
local scan, FIELDS = edge_core.scan, edge_core.FIELDS
local json_string, tagged = rewrite.json_string, rewrite.tagged
local SEVERITY = judge.ACTIONS

local decide = {}

-- The events of the payload being decided, filled by each scan (no new table per request; decide
-- never yields, and nothing it returns refers to it).
local SCANNED = {}

-- A token as PostHog's capture compares it: trimmed (nil when empty). Two finds, in linear time
-- whatever the sender put inside ("^%s*(.-)%s*$" is quadratic in a run of inner white space).
local function trimmed(token)
  local first = token and find(token, "%S")
  if not first then return nil end
  return sub(token, first, (find(token, "%S%s*$", first)))
end

--- The project token of a scanned request, read where PostHog's capture reads it: the bearer
-- token (capture v1); a batch's own `token` or `api_key`; else the one token its events carry
-- (`token`, `$token` or `api_key`, else `properties.token`). nil when there is none or the events
-- carry several (PostHog answers 401 to both).
function decide.token(form, ev, n, root_api_key, root_token, bearer)
  if bearer then return trimmed(bearer) end
  if form == "batch" then return trimmed(root_token or root_api_key) end
  local found
  for i = 0, n - 1 do
    local base = i * FIELDS
    local t = trimmed(ev[base + 9] or ev[base + 10] or ev[base + 11] or ev[base + 12])
    if t then
      if found and found ~= t then return nil end
      found = t
    end
  end
  return found
end

-- What the detail of a class says after the event's quoted name; and the details that do not
-- name the event, as JSON text.
local DETAIL_AFTER_NAME = {
  unknown = " has no event definition in the project",
  hidden = " is hidden in the project's taxonomy",
  unverified = " is not verified in the project's taxonomy",
  policy = " is named by the edge's policy",
}
local DETAIL_ALONE = {
  unknown_token = json_string("the request's project token is not one this edge serves"),
  rejected_request = json_string("rejected with another event of the same request"),
}

-- The detail of a class for the quarantine: JSON text.
local function detail_of(class, name, errors)
  if class == "schema" then return schema.detail(errors) end
  local after = DETAIL_AFTER_NAME[class]
  if not after then return DETAIL_ALONE[class] or json_string(class) end
  return json_string((name and ("'" .. name .. "'") or "an event without a name") .. after)
end

-- '"$taxonomy_violation":"<class>"' of each class, made once.
local VIOLATION = setmetatable({}, { __index = function(t, class)
  local pair = '"$taxonomy_violation":' .. json_string(class)
  t[class] = pair
  return pair
end })

--- Decides one payload. `text`: its JSON; `c`: the request's context {settings (judge's `s` plus
-- max_events, unknown_token), project = function(token) -> {key, index} | nil (the project of a
-- token: nil for a token this edge does not serve; index nil before its first refresh), bearer,
-- engage (a nameless event is "$identify")}. Returns a result, or nil, reason ("json" or
-- "too_many_events") and detail when the payload cannot be read:
--   {events = n, project = key | nil, not_ready = true | nil, body = new JSON text or nil
--    (unchanged), kept = events forwarded, rejected = {name, class} | nil, rewrite_failed = true |
--    nil, removed = {{text = tagged event JSON, name, class}, …} (dropped, or every event of a
--    rejected request), counts = {["class/action"] = n}, offenders = {{class, name}, …}}
function decide.run(text, c)
  local s = c.settings
  local form, ev, n, root_api_key, root_token = scan(text, s.max_events, SCANNED)
  if not form then return nil, ev, n end
  local token = decide.token(form, ev, n, root_api_key, root_token, c.bearer)
  local project = c.project(token)
  local result = { events = n, kept = n, counts = {}, offenders = {}, removed = {},
    project = project and project.key }
  if project and not project.index then
    result.not_ready = true
    return result
  end
  local classes, actions, errors -- made at the first event with a class
  local worst, worst_at = 0, nil
  for i = 1, n do
    local base = (i - 1) * FIELDS
    local name = ev[base + 3] or (c.engage and "$identify") or false
    local class, action, errs
    if project then
      class, action, errs = judge.event(s, project.index, name, text, ev[base + 6], ev[base + 4], ev[base + 5])
    else
      class, action = "unknown_token", s.unknown_token
    end
    if class then
      local key = class .. "/" .. action
      result.counts[key] = (result.counts[key] or 0) + 1
      if action ~= "pass" then result.offenders[#result.offenders + 1] = { class, name or "" } end
      if SEVERITY[action] > worst then worst, worst_at = SEVERITY[action], i end
      if not classes then classes, actions, errors = {}, {}, {} end
      classes[i], actions[i], errors[i] = class, action, errs
    end
  end
  if worst == 0 then return result end
  return decide.apply(text, form, ev, n, result, classes, actions, errors, worst_at, c.engage)
end

-- The texts and rewrite of a payload where some event is tagged, dropped or rejected.
function decide.apply(text, form, ev, n, result, classes, actions, errors, worst_at, engage)
  local rejected = actions[worst_at] == "reject"
  local pieces, expected, m = {}, {}, 0 -- expected: (string, first, last) of each event forwarded
  for i = 1, n do
    local base = (i - 1) * FIELDS
    local name = ev[base + 3] or (engage and "$identify") or nil
    local class, action = classes[i], actions[i]
    if rejected or action == "drop" then
      local why = (action == "drop" or action == "reject") and class or "rejected_request"
      local pairs = VIOLATION[why] .. ',"$taxonomy_violation_detail":' .. detail_of(why, name, errors[i])
      local out = tagged(text, ev, base, pairs, true)
      if not (out and rewrite.holds(out, "single", { out, 1, #out }, 3)) then
        out = sub(text, ev[base + 1], ev[base + 2])
      end
      result.removed[#result.removed + 1] = { text = out, name = name, class = why }
      pieces[i] = false
    else
      local piece = action == "tag" and tagged(text, ev, base, VIOLATION[class]) or nil
      pieces[i] = piece
      if piece then expected[m + 1], expected[m + 2], expected[m + 3] = piece, 1, #piece
      else expected[m + 1], expected[m + 2], expected[m + 3] = text, ev[base + 1], ev[base + 2] end
      m = m + 3
    end
  end
  if rejected then
    result.kept, result.rejected = 0, { ev[(worst_at - 1) * FIELDS + 3] or "", classes[worst_at] }
    return result
  end
  local body, kept = rewrite.build(text, form, ev, n, pieces)
  result.kept = kept
  if body and not rewrite.holds(body, form, expected, m) then
    result.rewrite_failed, result.body, result.kept, result.removed = true, nil, n, {}
    return result
  end
  result.body = body
  return result
end

return decide
