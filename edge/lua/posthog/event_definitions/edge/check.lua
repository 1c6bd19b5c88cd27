--- The check of one capture body's events against the index and a policy, and the rewrite of the
-- body by byte ranges (core.scan_events): events that pass keep their exact bytes; dropped events
-- are cut out with one separator; a tagged event gets `"$taxonomy_violation":"<class>"` inserted
-- as the last key of its properties (or a properties object appended when it has none).
local core = require "posthog.event_definitions.core"
local index = require "posthog.event_definitions.edge.index"

local sub, concat, byte = string.sub, table.concat, string.byte
local scan_events, scan_props = core.scan_events, core.scan_props
local has, HIDDEN, VERIFIED, REJECT = index.has, index.HIDDEN, index.VERIFIED, index.REJECT

local check = {}

check.CLASSES = { "unknown", "hidden", "schema", "unverified" }
check.ACTIONS = { pass = 0, tag = 1, drop = 2, reject = 3 } -- by severity
local SEVERITY = check.ACTIONS

-- "class/action" keys of the counts, made once
local COUNT_KEY = {}
for _, class in ipairs { "unknown", "hidden", "schema", "unverified", "policy" } do
  COUNT_KEY[class] = {}
  for action in pairs(check.ACTIONS) do COUNT_KEY[class][action] = class .. "/" .. action end
end

-- JSON kinds each PostHog property type accepts ("" or an unknown type: any).
local KINDS = {
  String = { string = true }, Numeric = { number = true }, Boolean = { boolean = true },
  DateTime = { string = true, number = true }, Duration = { number = true, string = true },
  Object = { object = true }, Array = { array = true },
}

-- Whether the event at bytes pf..pl of body (its properties; pf == 0: none) breaks schema s.
local function breaks_schema(body, pf, pl, s)
  local kinds = pf > 0 and scan_props(body, pf, pl) or {}
  for _, name in ipairs(s.required) do
    local k = kinds[name]
    if k == nil or k == "null" then return true end
  end
  for name, ptype in pairs(s.types) do
    local k, ok = kinds[name], KINDS[ptype]
    if k ~= nil and k ~= "null" and ok and not ok[k] then return true end
  end
  return false
end

-- The class and action of one event: class nil for an event that is fine (or a `$` event the
-- policy does not name).
local function judge(name, body, pf, pl, idx, policy)
  if not name then return "unknown", policy.unknown end
  local named = byte(name, 1) == 36 and policy[name] -- "$"
  if byte(name, 1) == 36 and not named then return nil, "pass" end
  local flags = idx.defs[name]
  local class, action, best = nil, "pass", -1
  if flags == nil then
    class, action = "unknown", policy.unknown
  else
    if has(flags, HIDDEN) then class, action, best = "hidden", policy.hidden, SEVERITY[policy.hidden] end
    if has(flags, REJECT) and SEVERITY[policy.schema] > best then
      local s = idx.schemas[name]
      if s and breaks_schema(body, pf, pl, s) then
        class, action, best = "schema", policy.schema, SEVERITY[policy.schema]
      end
    end
    if not has(flags, VERIFIED) and SEVERITY[policy.unverified] > best then
      class, action = "unverified", policy.unverified
    end
  end
  if named then return class or "policy", named end
  return class, action
end

-- Escapes s as a JSON string literal (s is valid UTF-8: yajl checked it).
local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' or c == "\\" then return "\\" .. c end
    return string.format("\\u%04x", byte(c))
  end) .. '"'
end
check.json_string = json_string

-- The bytes of event i (fields at ev[base+1..6]) with the tag of `class` inserted.
local function tagged(body, ev, base, class)
  local first, last, pf, pl, pkeys = ev[base + 1], ev[base + 2], ev[base + 4], ev[base + 5], ev[base + 6]
  local prop = '"$taxonomy_violation":' .. json_string(class)
  if pf > 0 then
    return sub(body, first, pl - 1) .. (pkeys > 0 and "," or "") .. prop .. sub(body, pl, last)
  end
  return sub(body, first, last - 1) .. ',"properties":{' .. prop .. "}" .. sub(body, last, last)
end

--- Checks the JSON text `body` against the index `idx` and `policy`. Returns a result
-- `{events = n, counts = {["class/action"] = n}, offenders = {{class, name}, …} (the events an
-- action other than pass applies to), rejected =
-- {name, class} or nil, body = the new text or nil when unchanged, kept = events left}`, or nil
-- and why the body cannot be read.
function check.run(body, idx, policy)
  local form, ev, n = scan_events(body)
  if not form then return nil, ev.detail end
  local counts, offenders, actions, classes = {}, {}, {}, {}
  local changed = false
  for i = 1, n do
    local base = (i - 1) * 6
    local name = ev[base + 3]
    local class, action = judge(name or nil, body, ev[base + 4], ev[base + 5], idx, policy)
    actions[i], classes[i] = action, class
    if class then
      local key = COUNT_KEY[class][action]
      counts[key] = (counts[key] or 0) + 1
      if action ~= "pass" then offenders[#offenders + 1] = { class, name or "" } end
      if action == "reject" then
        return { events = n, counts = counts, offenders = offenders, rejected = { name or "", class }, kept = 0 }
      end
      if action ~= "pass" then changed = true end
    end
  end
  local result = { events = n, counts = counts, offenders = offenders, kept = n }
  if not changed then return result end
  local parts, kept, prev_last = {}, 0, nil
  parts[1] = sub(body, 1, ev[1] - 1)
  for i = 1, n do
    local base = (i - 1) * 6
    local action = actions[i]
    if action ~= "drop" then
      if kept > 0 then parts[#parts + 1] = sub(body, prev_last + 1, ev[base + 1] - 1) end
      parts[#parts + 1] = action == "tag" and tagged(body, ev, base, classes[i])
        or sub(body, ev[base + 1], ev[base + 2])
      kept = kept + 1
    end
    prev_last = ev[base + 2]
  end
  parts[#parts + 1] = sub(body, ev[(n - 1) * 6 + 2] + 1)
  result.kept = kept
  if kept == 0 and form == "single" then return result end
  result.body = concat(parts)
  return result
end

return check
