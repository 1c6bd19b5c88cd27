--- PostHog's schema enforcement of one event, as its ingestion judges it (the validate-event-schema
-- step of nodejs/src/ingestion/event-preprocessing, with the value rules of PR #49168): only the
-- properties that a property group of the event requires; a property missing (absent or null)
-- is `missing_required`; a value that none of the property's types (from every group that
-- requires it) takes by coercion is `type_mismatch`; a value that passes none of the property's
-- rule sets (`enum`, `not.enum`, numeric bounds; one set per group) is `value_validation_failed`.
-- Values are the edge core's (core.props): kinds and values by key, numbers as their JSON text.
-- Where PostHog's answer cannot be known here, the value passes: the edge never flags an event
-- that PostHog keeps.
local js = require "posthog.event_definitions.edge.js"
local datetime = require "posthog.event_definitions.edge.datetime"

local type, pairs, ipairs, tostring, next = type, pairs, ipairs, tostring, next
local concat, sort, huge = table.concat, table.sort, math.huge
local string_of, json_number, to_number, trim_range = js.string_of, js.json_number, js.to_number, js.trim_range
local valid_datetime, quote = datetime.valid, js.quote

local schema = {}

-- The types PostHog checks; any other type (String, Duration, Any, unknown) takes every value.
local CHECKED = { Numeric = true, Boolean = true, DateTime = true, Object = true }

-- Names every JavaScript object inherits from Object.prototype: an event that lacks one of them
-- still has it for PostHog (`properties[name]` is a function, or for __proto__ an object), so
-- it is not missing there. Kind and value as core.props would give them.
local INHERITED = { __proto__ = { "object", "{}" } }
for _, name in ipairs { "toString", "toLocaleString", "valueOf", "hasOwnProperty", "isPrototypeOf",
  "propertyIsEnumerable", "__defineGetter__", "__defineSetter__", "__lookupGetter__", "__lookupSetter__" } do
  INHERITED[name] = { "function", "function " .. name .. "() { [native code] }" }
end
INHERITED.constructor = { "function", "function Object() { [native code] }" }

------------------------------------------------------------------------------------------------
-- compile
------------------------------------------------------------------------------------------------

-- JavaScript's truthiness of a decoded JSON value.
local function truthy(v)
  return v ~= nil and v ~= false and v ~= 0 and v ~= "" and v == v
end

-- Whether t is a non-empty JSON array (positive integer keys only).
local function is_list(t)
  if type(t) ~= "table" or next(t) == nil then return false end
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then return false end
  end
  return true
end

local function list_max(t)
  local n = 0
  for k in pairs(t) do if k > n then n = k end end
  return n
end

-- String(v) of a decoded JSON value as Array.prototype.join and template literals give it.
local function text_of(v)
  local t = type(v)
  if v == nil or t == "userdata" then return "" end
  if t == "string" then return v end
  if t == "number" then return js.number_to_string(v + 0.0) end
  if t == "boolean" then return tostring(v) end
  if is_list(v) then
    local parts = {}
    for k = 1, list_max(v) do parts[k] = text_of(v[k]) end
    return concat(parts, ",")
  end
  return next(v) == nil and "" or "[object Object]" -- {} and [] cannot be told apart here
end

-- The rule set "enum" or "not_enum" of the list values: its string elements as a set (PostHog
-- compares String(value) with ===); nil (no constraint) when values is not a non-empty list,
-- where PostHog would throw or match substrings.
local function enum_rule(kind, values)
  if not is_list(values) then return nil end
  local set, parts = {}, {}
  for k = 1, list_max(values) do
    local v = values[k]
    if type(v) == "string" then set[v] = true end
    parts[k] = text_of(v)
  end
  local detail = (kind == "enum" and "value must be one of: " or "value must not be one of: ") .. concat(parts, ", ")
  return { [kind] = set }, detail
end

local BOUNDS = {
  { "minimum", "min", ">= " }, { "exclusiveMinimum", "xmin", "> " },
  { "maximum", "max", "<= " }, { "exclusiveMaximum", "xmax", "< " },
}

-- A bound as the number JavaScript compares with (relational comparison coerces it).
local function bound_number(v)
  local t = type(v)
  if t == "number" then return v + 0.0 end
  if t == "string" then return to_number(v) end
  if t == "boolean" then return v and 1.0 or 0.0 end
  return 0 / 0 -- an object or array: treated as no bound (PostHog might compare with its primitive)
end

-- The compiled rule set of one group's validation_rules (a table), and the detail PostHog
-- reports when it is the first set; nil when the set takes every value.
local function compile_rule_set(rules)
  if truthy(rules.enum) then return enum_rule("enum", rules.enum) end
  local negated = rules["not"]
  if type(negated) == "table" and truthy(negated.enum) then return enum_rule("not_enum", negated.enum) end
  local set, parts = nil, {}
  for _, b in ipairs(BOUNDS) do
    local v = rules[b[1]]
    if v ~= nil and type(v) ~= "userdata" then
      set = set or { range = true }
      parts[#parts + 1] = b[3] .. text_of(v)
      local x = bound_number(v)
      local lower = b[2] == "min" or b[2] == "xmin"
      if x == huge or x == -huge then
        if (x == huge) == lower then set.never = true end -- no finite number passes
      elseif x == x then
        set[b[2]] = x
      end
    end
  end
  if not set then return nil end
  return set, "value must be " .. concat(parts, " and ")
end

-- Adds the rule set of one row's validation_rules to entry (required row or not): none for
-- null, a set taking every value for anything but an object with rules.
local function add_rules(entry, rules, required)
  local t = type(rules)
  if t == "nil" or t == "userdata" then return end
  local set, detail
  if t == "table" then set, detail = compile_rule_set(rules) end
  if not set then
    if required then entry.open = true else entry.optional_open = true end
    return
  end
  local sets = required and entry.sets or entry.optional_sets
  sets[#sets + 1] = set
  if required and not entry.detail then entry.detail = detail end
end

--- The check data of one event from its property groups (`groups` = { {properties = {{name,
-- property_type, is_required, validation_rules}, …}}, … } as the API gives them): plain data
-- (for evdefs.encode), or nil when no group requires a property. Only required rows count, as
-- in PostHog; the rule sets of rows where the property is optional join those of the required
-- rows as alternatives (a later state of PostHog's change counts every row: never stricter).
function schema.compile(groups)
  local entries, names = {}, {}
  for _, g in ipairs(type(groups) == "table" and groups or {}) do
    for _, p in ipairs(type(g) == "table" and type(g.properties) == "table" and g.properties or {}) do
      local name = type(p) == "table" and p.name
      if type(name) == "string" then
        local e = entries[name]
        if not e then
          e = { types = {}, seen = {}, sets = {}, optional_sets = {} }
          entries[name] = e
        end
        local required, ptype = p.is_required == true, p.property_type
        if required then
          if not e.required then e.required, names[#names + 1] = true, name end
          if type(ptype) ~= "string" or not CHECKED[ptype] then e.any = true end
          if type(ptype) == "string" and not e.seen[ptype] then e.seen[ptype], e.types[#e.types + 1] = true, ptype end
        end
        add_rules(e, p.validation_rules, required)
      end
    end
  end
  if #names == 0 then return nil end
  sort(names)
  local props = {}
  for k, name in ipairs(names) do
    local e = entries[name]
    local types = e.types
    sort(types) -- PostHog aggregates them with array_agg(DISTINCT … ORDER BY property_type)
    local prop = { name = name, types = types }
    if e.any then
      prop.any = true
    else
      for _, t in ipairs(types) do prop[t] = true end
    end
    if #e.sets > 0 and not e.open and not e.optional_open then
      for _, set in ipairs(e.optional_sets) do e.sets[#e.sets + 1] = set end
      prop.rules, prop.detail = e.sets, e.detail
    end
    props[k] = prop
  end
  return { props = props }
end

------------------------------------------------------------------------------------------------
-- check
------------------------------------------------------------------------------------------------

-- Whether one of the property's checked types takes the value (PostHog's canCoerceToType).
local function fits(prop, kind, value)
  if kind == "string" then
    if prop.Boolean and (value == "true" or value == "false") then return true end
    if prop.Numeric then
      local i, j = trim_range(value)
      local x = j >= i and to_number(value)
      if x and x == x and x ~= huge and x ~= -huge then return true end
    end
    return prop.DateTime == true and valid_datetime(value)
  end
  if kind == "number" then
    if prop.DateTime then return true end
    local x = prop.Numeric and to_number(value)
    return x and x == x and x ~= huge and x ~= -huge or false
  end
  if kind == "boolean" then return prop.Boolean == true end
  if kind == "object" or kind == "array" then return prop.Object == true end
  return false -- an inherited function
end

-- How far from a JSON number's double PostHog's may lie (capture re-serializes the event).
local function slack(x)
  return (x < 0 and -x or x) * 2 ^ -48 + 1e-300
end

-- Whether some number in lo..hi passes the bounds of set.
local function in_range(set, lo, hi)
  if set.never then return false end
  if set.min and hi < set.min then return false end
  if set.xmin and hi <= set.xmin then return false end
  if set.max and lo > set.max then return false end
  if set.xmax and lo >= set.xmax then return false end
  return true
end

-- Whether the value passes one of the rule sets (PostHog's validatePropertyValue).
local function passes(sets, kind, value)
  local text, text_exact, x, x_exact
  for k = 1, #sets do
    local set = sets[k]
    if set.range then
      if x == nil then
        x, x_exact = false, true
        if kind == "number" then
          x, x_exact = json_number(value)
        elseif kind == "string" then
          x = to_number(value)
        end
        if x and (x ~= x or x == huge or x == -huge) then x = false end
      end
      if x then
        local d = x_exact and 0 or slack(x)
        if in_range(set, x - d, x + d) then return true end
      end
    else
      if text == nil then
        if kind == "function" then text, text_exact = value, true else text, text_exact = string_of(kind, value) end
      end
      if not text_exact then return true end -- PostHog's String(value) may differ: pass
      local found = (set.enum or set.not_enum)[text] == true
      if found == (set.enum ~= nil) then return true end
    end
  end
  return false
end

-- The actualValue of an error: JSON.stringify for objects, String() for the rest.
local function actual(kind, value)
  if kind == "object" or kind == "array" then return js.stringify(value) end
  if kind == "function" then return value end
  return (string_of(kind, value))
end

--- The errors of an event's properties (`kinds`, `values` as core.props gives them; empty tables
-- for an event without a properties object) against `compiled` (schema.compile): nil when the
-- event passes, else a list of {property, reason = "missing_required" | "type_mismatch" |
-- "value_validation_failed", expectedTypes (type_mismatch), actualValue, validationDetail
-- (value_validation_failed)}, in PostHog's order (by property name).
function schema.check(compiled, kinds, values)
  local errors
  local props = compiled.props
  for k = 1, #props do
    local prop = props[k]
    local name = prop.name
    local kind, value = kinds[name], values[name]
    if kind == nil and INHERITED[name] then kind, value = INHERITED[name][1], INHERITED[name][2] end
    local reason
    if kind == nil or kind == "null" then
      reason = "missing_required"
    elseif not prop.any and not fits(prop, kind, value) then
      reason = "type_mismatch"
    elseif prop.rules and not passes(prop.rules, kind, value) then
      reason = "value_validation_failed"
    end
    if reason then
      local err = { property = name, reason = reason }
      if reason ~= "missing_required" then err.actualValue = actual(kind, value) end
      if reason == "type_mismatch" then
        local types = {}
        for i, t in ipairs(prop.types) do types[i] = t end
        err.expectedTypes = types
      end
      if reason == "value_validation_failed" then err.validationDetail = prop.detail end
      errors = errors or {}
      errors[#errors + 1] = err
    end
  end
  return errors
end

--- JSON text of errors (schema.check's) as PostHog's ingestion warning lists them: an array of
-- {"property", "reason", "expectedTypes", "actualValue", "validationDetail"} (absent keys left out).
function schema.detail(errors)
  local out = {}
  for k, err in ipairs(errors) do
    local parts = { '{"property":', quote(err.property), ',"reason":', quote(err.reason) }
    if err.expectedTypes then
      local types = {}
      for i, t in ipairs(err.expectedTypes) do types[i] = quote(t) end
      parts[#parts + 1] = ',"expectedTypes":[' .. concat(types, ",") .. "]"
    end
    if err.actualValue then parts[#parts + 1] = ',"actualValue":' .. quote(err.actualValue) end
    if err.validationDetail then parts[#parts + 1] = ',"validationDetail":' .. quote(err.validationDetail) end
    out[k] = concat(parts) .. "}"
  end
  return "[" .. concat(out, ",") .. "]"
end

return schema
