--- The event definition's shape as the schema module uses it, derived from the one description
-- the C core exports (core.fields): which fields a desired state may set, which are JSON arrays,
-- what `load` accepts for each, and the value PostHog stores when a field is absent or cleared.
-- No field is listed here: a field added to the C shape is exported, loaded and planned as is.
local core = require "posthog.event_definitions.core"
local util = require "posthog.event_definitions.schema.util"

local null = core.null
local concat = table.concat

local shape = {}

--- Every field of a definition by name: the entries of core.fields ({name, type, writable, array,
-- nullable, read_only, choices, default}).
shape.field = {}

--- The fields a desired state sets, in the C shape's order: the writable ones but `name`, which is
-- what definitions are matched by.
shape.writable = {}

for _, f in ipairs(core.fields) do
  shape.field[f.name] = f
  if f.writable and f.name ~= "name" then shape.writable[#shape.writable + 1] = f end
end

--- True when field `name` is a JSON array (encoded as one even when empty).
function shape.is_array(name)
  local f = shape.field[name]
  return f ~= nil and f.array == true
end

--- v as exported for field `name`: arrays copied and marked as such, tags sorted (a set).
function shape.exported(name, v)
  if type(v) ~= "table" or not shape.is_array(name) then return v end
  return name == "tags" and util.sorted(v) or util.copy_array(v)
end

-- A copy of a default value (tables are shared by core.fields and must stay untouched).
local function copy(v)
  if type(v) ~= "table" then return v end
  return util.copy_array(v)
end

--- The value PostHog stores for field f when it is absent (nil when it stores none), a fresh copy.
function shape.default(f)
  return copy(f.default)
end

--- The value to send to clear field f: null where PostHog accepts it (or when it stores nothing
-- else), else its default.
function shape.cleared(f)
  if f.nullable or f.default == nil then return null end
  return copy(f.default)
end

local TYPE_TEXT = {
  string = "a string", boolean = "a boolean", integer = "an integer",
  user = "an integer user id or a user object with one", object = "an object",
}

-- True when v (one value, not an array) is of type t.
local function of_type(t, v)
  if t == "user" then v = util.owner_id(v) end
  if t == "integer" or t == "user" then return type(v) == "number" and v % 1 == 0 end
  if t == "object" then return util.is_object(v) end
  if TYPE_TEXT[t] == nil then return true end -- "any" and shapes load does not look into
  return type(v) == t
end

-- True when v is one of f.choices (or f has none).
local function chosen(f, v)
  if not f.choices then return true end
  for _, choice in ipairs(f.choices) do
    if v == choice then return true end
  end
  return false
end

-- What field f takes, in words (for messages).
local function expected(f)
  if f.choices then
    local quoted = {}
    for i, choice in ipairs(f.choices) do quoted[i] = util.encode(choice) end
    return "one of " .. concat(quoted, ", ")
  end
  local what = TYPE_TEXT[f.type] or "a value"
  if f.array then return f.type == "string" and "an array of strings" or "an array, each item " .. what end
  return what
end

--- nil when v (not nil, not null) is a value field f may be set to, else the message
-- "<field> must be <what> or null".
function shape.check(f, v)
  local ok
  if f.array then
    ok = util.is_json_array(v)
    for i = 1, ok and #v or 0 do
      if not (of_type(f.type, v[i]) and chosen(f, v[i])) then ok = false end
    end
  else
    ok = of_type(f.type, v) and chosen(f, v)
  end
  if ok then return nil end
  return f.name .. " must be " .. expected(f) .. " or null"
end

return shape
