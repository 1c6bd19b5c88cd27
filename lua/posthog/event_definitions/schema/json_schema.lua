--- schema.json_schema: the taxonomy as a JSON Schema (draft-07) document that validates one
-- captured event, the object PostHog's capture API takes, `{"event": <name>, "properties": {…}}`:
--
--   { "$schema": "http://json-schema.org/draft-07/schema#",
--     "title": "PostHog event taxonomy", "description": "<N> event definitions.",
--     "definitions": { "<event name>": <event schema>, … },
--     "oneOf": [ { "$ref": "#/definitions/<event name>" }, … ] }   -- sorted by name
--
-- (the name in a `$ref` is a JSON Pointer token, `~` → `~0` and `/` → `~1`, then percent-encoded
-- but for ASCII letters, digits and `-._~`). An empty taxonomy has `"not": {}` instead of `oneOf`:
-- no event is valid. Each event schema:
--
--   { "type": "object", "title": "<event name>", "description": "<description>",
--     "properties": {
--       "event": { "const": "<event name>" },
--       "properties": { "type": "object",
--                       "properties": { "<property>": { "type": …, "format": "date-time",
--                                                       "description": …, "x-posthog-type": … } },
--                       "required": [ "<required property>", … ] } },
--     "required": [ "event" ],
--     "x-posthog-id": …, "x-posthog-<writable field>": …, "x-posthog-last-seen-at": …,
--     "x-posthog-created-at": …, "x-posthog-updated-at": … }
--
-- `x-posthog-<field>` is the definition's field with `_` written `-`, present when the field is:
-- the id, every writable field of the C shape but the name and the description (owner, tags,
-- verified, hidden, enforcement_mode, primary_property, post_to_slack, default_columns, …) and
-- three timestamps. The owner is `{"email", "id"}` (or the id when only an id is known), tags are
-- sorted. The inner "properties" lists properties only with `opts.properties`; PostHog types map
-- to JSON types (String → string, Numeric → number, Boolean → boolean, DateTime → string with
-- format date-time, Array → array, Object → object, others → no type; the PostHog type stays in
-- x-posthog-type) and "required" lists the properties marked required (omitted when none are).
local core = require "posthog.event_definitions.core"
local util = require "posthog.event_definitions.schema.util"
local shape = require "posthog.event_definitions.schema.shape"
local json = require "posthog.event_definitions.schema.json"

local null = core.null
local array = util.array

-- The fields written as x-posthog-* keywords.
local X_FIELDS = { "id" }
for _, f in ipairs(shape.writable) do
  if f.name ~= "description" then X_FIELDS[#X_FIELDS + 1] = f.name end
end
for _, name in ipairs { "last_seen_at", "created_at", "updated_at" } do X_FIELDS[#X_FIELDS + 1] = name end

local JSON_TYPES = {
  String = { type = "string" }, Numeric = { type = "number" }, Boolean = { type = "boolean" },
  DateTime = { type = "string", format = "date-time" }, Array = { type = "array" },
  Object = { type = "object" },
}

-- `name` as the fragment of a $ref to #/definitions/<name>.
local function ref_to(name)
  local token = name:gsub("~", "~0"):gsub("/", "~1")
  return "#/definitions/" .. token:gsub("[^0-9A-Za-z%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end)
end

-- The x-posthog-<user field> value: {email, id} of a UserBasic object, or the id as given.
local function user_summary(user)
  if type(user) ~= "table" then return user end
  return { id = user.id, email = user.email }
end

-- The "properties" keyword of the event's properties object, and its "required" list or nil.
-- A property listed twice (by two property groups) keeps its first entry; required if any says so.
local function properties_schema(props)
  local inner, required, is_required = {}, {}, {}
  for _, p in ipairs(props) do
    if not inner[p.name] then
      local mapped = JSON_TYPES[p.type] or {}
      inner[p.name] = { type = mapped.type, format = mapped.format, ["x-posthog-type"] = p.type,
        description = (type(p.description) == "string" and p.description ~= "") and p.description or nil }
    end
    if p.required == true and not is_required[p.name] then
      is_required[p.name] = true
      required[#required + 1] = p.name
    end
  end
  return inner, #required > 0 and array(required) or nil
end

local function event_schema(def, props)
  local s = {
    type = "object",
    title = def.name,
    required = array { "event" },
    properties = { event = { const = def.name }, properties = { type = "object" } },
  }
  if type(def.description) == "string" then s.description = def.description end
  for _, name in ipairs(X_FIELDS) do
    local v = def[name]
    if v ~= nil and v ~= null then
      local f = shape.field[name]
      if f and f.type == "user" then v = user_summary(v) end
      s["x-posthog-" .. name:gsub("_", "-")] = shape.exported(name, v)
    end
  end
  if props then
    local inner = s.properties.properties
    inner.properties, inner.required = properties_schema(props)
  end
  return s
end

--- JSON Schema draft-07 text describing the taxonomy (layout above); pretty-printed with sorted
-- keys. opts.properties = { [event name] = { {name, type, required, description}, … } },
-- opts.title replaces the document's title.
return function(defs, opts)
  opts = util.check_args("json_schema", defs, opts)
  local doc = {
    ["$schema"] = "http://json-schema.org/draft-07/schema#",
    title = opts.title or "PostHog event taxonomy",
    description = util.count(#defs, "event definition") .. ".",
    definitions = {},
  }
  local refs = {}
  for i, def in ipairs(util.sorted_defs(defs)) do
    doc.definitions[def.name] = event_schema(def, util.properties_of(opts, "json_schema", def.name))
    refs[i] = { ["$ref"] = ref_to(def.name) }
  end
  if #refs > 0 then doc.oneOf = refs else doc["not"] = {} end
  return json.pretty(doc)
end
