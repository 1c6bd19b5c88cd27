--- posthog.event_definitions.schema: the taxonomy as files. Export (JSON Schema, CSV, Markdown,
-- snapshot), import (`load`) and `plan` (the batch ops that turn one state into another).
-- Pure Lua over the C codec: every scalar written goes through core.encode, every text read
-- through core.decode. Names sort bytewise everywhere, whatever the process's locale.
--
-- JSON Schema layout (draft-07). The document validates one captured event, the object PostHog's
-- capture API takes, `{"event": <name>, "properties": {…}}`:
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
--     "x-posthog-id": …, "x-posthog-owner": …, "x-posthog-tags": […], "x-posthog-verified": …,
--     "x-posthog-hidden": …, "x-posthog-enforcement-mode": …, "x-posthog-primary-property": …,
--     "x-posthog-default-columns": […], "x-posthog-last-seen-at": …, "x-posthog-created-at": …,
--     "x-posthog-updated-at": … }
--
-- `x-posthog-<field>` is the definition's field with `_` written `-`, present when the field is;
-- the owner is `{"email", "id"}` (or the id when only an id is known), tags are sorted. The inner
-- "properties" lists properties only with `opts.properties`; PostHog types map to JSON types
-- (String → string, Numeric → number, Boolean → boolean, DateTime → string with format date-time,
-- Array → array, Object → object, others → no type; the PostHog type stays in x-posthog-type) and
-- "required" lists the properties marked required (omitted when none are).
local core = require "posthog.event_definitions.core"

local null, array_mt = core.null, core.array_mt
local byte, char, concat, sort = string.byte, string.char, table.concat, table.sort

local schema = {}

local PREFIX = "posthog.event_definitions.schema: "

-- The writable fields of a definition: what `load` accepts for each (besides null), the value a
-- field has when cleared or absent (nil: none), and whether null itself may be sent to clear it
-- (otherwise clearing sends `empty`).
local WRITABLE = {
  description      = { kind = "string", empty = "", nullable = true },
  tags             = { kind = "strings", empty = {} },
  verified         = { kind = "boolean", empty = false },
  hidden           = { kind = "boolean", empty = false, nullable = true },
  owner            = { kind = "owner", nullable = true },
  enforcement_mode = { kind = "string", empty = "allow" },
  primary_property = { kind = "string", nullable = true },
  default_columns  = { kind = "strings", empty = {} },
}

-- Fields that are JSON arrays even when the Lua table is empty (an unmarked empty table is an
-- object everywhere else).
local ARRAY_FIELDS = { tags = true, default_columns = true, media_preview_urls = true }

-- The fields json_schema writes as x-posthog-* keywords.
local X_FIELDS = { "id", "owner", "tags", "verified", "hidden", "enforcement_mode", "primary_property",
  "default_columns", "last_seen_at", "created_at", "updated_at" }

local JSON_TYPES = {
  String = { type = "string" }, Numeric = { type = "number" }, Boolean = { type = "boolean" },
  DateTime = { type = "string", format = "date-time" }, Array = { type = "array" },
  Object = { type = "object" },
}

local CSV_COLUMNS = { "id", "name", "description", "tags", "verified", "hidden", "owner", "last_seen_at",
  "created_at", "updated_at" }

------------------------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------------------------

local function raise(message)
  error(PREFIX .. message, 0)
end

-- Bytewise string order (Lua's `<` follows the locale's collation).
local function byte_less(a, b)
  if a == b then return false end
  for i = 1, math.min(#a, #b) do
    local x, y = byte(a, i), byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- "1 event", "2 events".
local function count(n, noun)
  return n .. " " .. noun .. (n == 1 and "" or "s")
end

local function by_name(a, b)
  return byte_less(a.name, b.name)
end

local function array(t)
  return setmetatable(t, array_mt)
end

-- A copy of list, marked as an array.
local function copy_array(list)
  local copy = {}
  for i = 1, #list do copy[i] = list[i] end
  return array(copy)
end

-- A sorted copy of an array of strings, marked as an array.
local function sorted(list)
  local copy = copy_array(list)
  sort(copy, byte_less)
  return copy
end

-- v as exported for field: arrays marked as such, tags sorted.
local function export_field(field, v)
  if type(v) ~= "table" or not ARRAY_FIELDS[field] then return v end
  return field == "tags" and sorted(v) or copy_array(v)
end

-- True when t is a JSON array: marked as one, or a non-empty sequence.
local function is_array(t)
  if getmetatable(t) == array_mt then return true end
  local n = #t
  if n == 0 then return false end
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then return false end
  end
  return true
end

-- True when v is a JSON object (a table that is not an array).
local function is_object(v)
  return type(v) == "table" and not is_array(v)
end

-- The owner's user id: owner is a UserBasic object or an id.
local function owner_id(owner)
  if type(owner) == "table" then return owner.id end
  return owner
end

-- A value as compact JSON text (the pretty-printer passes scalars only).
local function encode(v)
  local text, err = core.encode(v)
  if not text then raise("cannot export " .. tostring(v) .. ": " .. tostring(err)) end
  return text
end

-- Appends the pretty-printed JSON of v to out: keys sorted bytewise, one key or item per line.
local function write_json(out, v, indent)
  if type(v) ~= "table" then
    out[#out + 1] = encode(v)
    return
  end
  if #indent > 200 then raise("a table nests too deeply (a cycle?)") end
  local inner = indent .. "  "
  if is_array(v) then
    if #v == 0 then out[#out + 1] = "[]" return end
    out[#out + 1] = "[\n"
    for i = 1, #v do
      out[#out + 1] = inner
      write_json(out, v[i], inner)
      out[#out + 1] = i < #v and ",\n" or "\n"
    end
    out[#out + 1] = indent .. "]"
    return
  end
  local keys = {}
  for k in pairs(v) do
    if type(k) ~= "string" then raise("cannot export a table key of type " .. type(k)) end
    keys[#keys + 1] = k
  end
  if #keys == 0 then out[#out + 1] = "{}" return end
  sort(keys, byte_less)
  out[#out + 1] = "{\n"
  for i, k in ipairs(keys) do
    out[#out + 1] = inner .. encode(k) .. ": "
    write_json(out, v[k], inner)
    out[#out + 1] = i < #keys and ",\n" or "\n"
  end
  out[#out + 1] = indent .. "}"
end

local function pretty(v)
  local out = {}
  write_json(out, v, "")
  out[#out + 1] = "\n"
  return concat(out)
end

-- Checks the arguments of an exporter (programmer errors raise); returns opts or {}.
local function check_args(fname, defs, opts)
  if type(defs) ~= "table" then raise(fname .. ": defs must be a table, got " .. type(defs)) end
  for i = 1, #defs do
    if type(defs[i]) ~= "table" or type(defs[i].name) ~= "string" then
      raise(fname .. ": defs[" .. i .. "] must be a table with a string name")
    end
  end
  if opts ~= nil and type(opts) ~= "table" then raise(fname .. ": opts must be a table, got " .. type(opts)) end
  return opts or {}
end

-- The definitions sorted by name (a copy).
local function sorted_defs(defs)
  local copy = {}
  for i = 1, #defs do copy[i] = defs[i] end
  sort(copy, by_name)
  return copy
end

-- opts.properties[name], each property checked, sorted by name; or nil.
local function properties_of(opts, fname, name)
  local all = opts.properties
  if all == nil then return nil end
  if type(all) ~= "table" then raise(fname .. ": opts.properties must be a table") end
  local list = all[name]
  if list == nil then return {} end
  local where = fname .. ": opts.properties[" .. encode(name) .. "]"
  if type(list) ~= "table" then raise(where .. " must be a table") end
  local props = {}
  for i = 1, #list do
    local p = list[i]
    if type(p) ~= "table" or type(p.name) ~= "string" then
      raise(where .. "[" .. i .. "] must be a table with a string name")
    end
    props[i] = p
  end
  sort(props, by_name)
  return props
end

------------------------------------------------------------------------------------------------
-- JSON Schema
------------------------------------------------------------------------------------------------

-- `name` as the fragment of a $ref to #/definitions/<name>.
local function ref_to(name)
  local token = name:gsub("~", "~0"):gsub("/", "~1")
  return "#/definitions/" .. token:gsub("[^0-9A-Za-z%-%._~]", function(c)
    return string.format("%%%02X", byte(c))
  end)
end

-- The x-posthog-owner value: {email, id} of a UserBasic object, or the id as given.
local function owner_summary(owner)
  if type(owner) ~= "table" then return owner end
  return { id = owner.id, email = owner.email }
end

local function event_schema(def, props)
  local s = {
    type = "object",
    title = def.name,
    required = array { "event" },
    properties = { event = { const = def.name }, properties = { type = "object" } },
  }
  if type(def.description) == "string" then s.description = def.description end
  for _, field in ipairs(X_FIELDS) do
    local v = def[field]
    if v ~= nil and v ~= null then
      if field == "owner" then v = owner_summary(v) end
      s["x-posthog-" .. field:gsub("_", "-")] = export_field(field, v)
    end
  end
  if props then
    -- A property listed twice (by two property groups) keeps its first entry; required if any says so.
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
    s.properties.properties.properties = inner
    if #required > 0 then s.properties.properties.required = array(required) end
  end
  return s
end

--- JSON Schema draft-07 text describing the taxonomy (layout in the module header); pretty-printed
-- with sorted keys. opts.properties = { [event name] = { {name, type, required, description}, … } },
-- opts.title replaces the document's title.
function schema.json_schema(defs, opts)
  opts = check_args("json_schema", defs, opts)
  local doc = {
    ["$schema"] = "http://json-schema.org/draft-07/schema#",
    title = opts.title or "PostHog event taxonomy",
    description = count(#defs, "event definition") .. ".",
    definitions = {},
  }
  local refs = {}
  for i, def in ipairs(sorted_defs(defs)) do
    doc.definitions[def.name] = event_schema(def, properties_of(opts, "json_schema", def.name))
    refs[i] = { ["$ref"] = ref_to(def.name) }
  end
  if #refs > 0 then doc.oneOf = refs else doc["not"] = {} end
  return pretty(doc)
end

------------------------------------------------------------------------------------------------
-- CSV
------------------------------------------------------------------------------------------------

-- The text of one cell: nil and null empty, booleans true/false, numbers and tables as compact JSON.
local function cell_text(v)
  if v == nil or v == null then return "" end
  if type(v) == "string" then return v end
  if type(v) == "boolean" then return tostring(v) end
  return encode(v)
end

local function csv_field(s)
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

--- RFC 4180 CSV text: a header row, then one row per definition in input order, CRLF line ends.
-- Columns id,name,description,tags,verified,hidden,owner,last_seen_at,created_at,updated_at;
-- tags sorted, as a compact JSON array or joined with opts.tag_separator; owner as its email,
-- else its id.
function schema.csv(defs, opts)
  opts = check_args("csv", defs, opts)
  local sep = opts.tag_separator
  if sep ~= nil and type(sep) ~= "string" then raise("csv: opts.tag_separator must be a string") end
  local rows = { concat(CSV_COLUMNS, ",") }
  for _, def in ipairs(defs) do
    local cells = {}
    for i, column in ipairs(CSV_COLUMNS) do
      local v = def[column]
      if column == "tags" and type(v) == "table" then
        v = sep and concat(sorted(v), sep) or sorted(v)
      elseif column == "owner" and type(v) == "table" then
        v = (type(v.email) == "string" and v.email ~= "") and v.email or v.id
      end
      cells[i] = csv_field(cell_text(v))
    end
    rows[#rows + 1] = concat(cells, ",")
  end
  return concat(rows, "\r\n") .. "\r\n"
end

------------------------------------------------------------------------------------------------
-- Markdown
------------------------------------------------------------------------------------------------

-- s as an inline code span on one line.
local function code(s)
  s = s:gsub("\r\n?", " "):gsub("\n", " ")
  local longest = 0
  for run in s:gmatch("`+") do longest = math.max(longest, #run) end
  local fence = string.rep("`", longest + 1)
  if longest > 0 then s = " " .. s .. " " end
  return fence .. s .. fence
end

-- s made safe for a table cell: pipes escaped, line breaks as <br>.
local function cell(s)
  return (s:gsub("|", "\\|"):gsub("\r\n?", "<br>"):gsub("\n", "<br>"))
end

local function lower_ascii(s)
  return (s:gsub("[A-Z]", function(c) return char(byte(c) + 32) end))
end

-- A unique HTML anchor for each name, from its ASCII letters, digits, '-' and '_'.
local function anchors_of(list)
  local anchors, used = {}, {}
  for i, def in ipairs(list) do
    local base = "event-" .. lower_ascii(def.name):gsub("[^0-9a-z_-]+", "-"):gsub("^-+", ""):gsub("-+$", "")
    local anchor, n = base, 1
    while used[anchor] do
      n = n + 1
      anchor = base .. "-" .. n
    end
    used[anchor] = true
    anchors[i] = anchor
  end
  return anchors
end

local function status_of(def)
  local words = { def.verified == true and "verified" or "unverified" }
  if def.hidden == true then words[2] = "hidden" end
  return concat(words, ", ")
end

local function tags_text(tags)
  if type(tags) ~= "table" or #tags == 0 then return "none" end
  local out = {}
  for i, tag in ipairs(sorted(tags)) do out[i] = code(tag) end
  return concat(out, ", ")
end

local function owner_text(owner)
  if type(owner) == "table" then
    owner = (type(owner.email) == "string" and owner.email ~= "") and owner.email or owner.id
  end
  if owner == nil or owner == null then return "none" end
  return cell_text(owner)
end

local function description_of(def)
  local d = def.description
  if type(d) == "string" and d ~= "" then return d end
  return nil
end

--- A tracking-plan document in Markdown: title (opts.title, default "Tracking plan"), summary
-- counts, an index table linking to one section per event (sorted by name) with its description,
-- status, tags, owner, last seen, and its properties when opts.properties is given.
function schema.markdown(defs, opts)
  opts = check_args("markdown", defs, opts)
  local list = sorted_defs(defs)
  local anchors = anchors_of(list)
  local verified, hidden, described, never = 0, 0, 0, 0
  for _, def in ipairs(list) do
    if def.verified == true then verified = verified + 1 end
    if def.hidden == true then hidden = hidden + 1 end
    if description_of(def) then described = described + 1 end
    if type(def.last_seen_at) ~= "string" then never = never + 1 end
  end
  local out = {
    "# " .. (opts.title or "Tracking plan"), "",
    string.format("%s: %d verified, %d hidden, %d with a description, %d never seen.",
      count(#list, "event"), verified, hidden, described, never), "",
  }
  local function add(line) out[#out + 1] = line end
  if #list > 0 then
    add("| Event | Description | Status | Tags |")
    add("|---|---|---|---|")
    for i, def in ipairs(list) do
      add("| [" .. cell(code(def.name)) .. "](#" .. anchors[i] .. ") | " .. cell(description_of(def) or "")
        .. " | " .. status_of(def) .. " | " .. cell(tags_text(def.tags)) .. " |")
    end
    add("")
  end
  for i, def in ipairs(list) do
    add('<a id="' .. anchors[i] .. '"></a>')
    add("")
    add("## " .. code(def.name))
    add("")
    add(description_of(def) or "*No description.*")
    add("")
    add("- **Status:** " .. status_of(def))
    add("- **Tags:** " .. tags_text(def.tags))
    add("- **Owner:** " .. owner_text(def.owner))
    add("- **Last seen:** " .. (type(def.last_seen_at) == "string" and def.last_seen_at or "never"))
    if type(def.id) == "string" then add("- **ID:** " .. code(def.id)) end
    add("")
    local props = properties_of(opts, "markdown", def.name)
    if props then
      add("### Properties of " .. code(def.name))
      add("")
      if #props == 0 then
        add("*No properties known.*")
      else
        add("| Property | Type | Required | Description |")
        add("|---|---|---|---|")
        for _, p in ipairs(props) do
          add("| " .. cell(code(p.name)) .. " | " .. cell(type(p.type) == "string" and p.type or "")
            .. " | " .. (p.required == true and "yes" or "no") .. " | "
            .. cell(type(p.description) == "string" and p.description or "") .. " |")
        end
      end
      add("")
    end
  end
  return concat(out, "\n")
end

------------------------------------------------------------------------------------------------
-- Snapshot
------------------------------------------------------------------------------------------------

--- Stable JSON text {"definitions": […], "version": 1} for diffs and re-import: definitions sorted
-- by name, keys sorted, tags sorted, one key per line, 2-space indent, trailing newline. Each
-- definition keeps id, name and the writable fields (owner as its integer id), or with
-- opts.full = true every field as given.
function schema.snapshot(defs, opts)
  opts = check_args("snapshot", defs, opts)
  local out = {}
  for i, def in ipairs(sorted_defs(defs)) do
    local copy = {}
    if opts.full then
      for k, v in pairs(def) do copy[k] = v end
    else
      copy.id, copy.name = def.id, def.name
      for field in pairs(WRITABLE) do copy[field] = def[field] end
      copy.owner = owner_id(copy.owner)
    end
    for field in pairs(ARRAY_FIELDS) do copy[field] = export_field(field, copy[field]) end
    out[i] = copy
  end
  return pretty { version = 1, definitions = array(out) }
end

------------------------------------------------------------------------------------------------
-- Load
------------------------------------------------------------------------------------------------

local function is_json_array(v)
  return type(v) == "table" and is_array(v)
end

local KIND_TEXT = {
  string = "a string", boolean = "a boolean", strings = "an array of strings",
  owner = "an integer user id or a user object with one",
}

-- True when v (not nil, not null) is of the writable field kind `kind`.
local function well_typed(kind, v)
  if kind == "strings" then
    if not is_json_array(v) then return false end
    for i = 1, #v do
      if type(v[i]) ~= "string" then return false end
    end
    return true
  elseif kind == "owner" then
    local id = owner_id(v)
    return type(id) == "number" and id % 1 == 0
  end
  return type(v) == kind
end

-- nil when def has a name and well-typed writable fields (null is always allowed), else the message.
local function check_definition(def, where)
  if not is_object(def) then return where .. " is not an object" end
  if type(def.name) ~= "string" or def.name == "" then return where .. " has no name" end
  for field, spec in pairs(WRITABLE) do
    local v = def[field]
    if v ~= nil and v ~= null and not well_typed(spec.kind, v) then
      return where .. ": " .. field .. " must be " .. KIND_TEXT[spec.kind] .. " or null"
    end
  end
end

-- The definitions of a snapshot document, or nil and the message.
local function from_snapshot(doc)
  local version = doc.version
  if version ~= 1 then
    local shown = type(version) == "number" and tostring(version) or type(version) == "string"
      and string.format("%q", version) or "(" .. (version == nil and "none" or type(version)) .. ")"
    return nil, "unsupported snapshot version " .. shown .. ", expected 1"
  end
  local list = doc.definitions
  if not is_json_array(list) then return nil, "definitions must be an array" end
  local defs, seen = {}, {}
  for i = 1, #list do
    local where = "definitions[" .. i .. "]"
    local err = check_definition(list[i], where)
    if err then return nil, err end
    if seen[list[i].name] then return nil, where .. ": duplicate name " .. encode(list[i].name) end
    seen[list[i].name] = true
    defs[i] = list[i]
  end
  return defs
end

-- The definitions described by a JSON Schema export, sorted by name, or nil and the message.
local function from_json_schema(doc)
  if not is_object(doc.definitions) then return nil, "a JSON Schema export needs a \"definitions\" object" end
  local defs = {}
  for name, sub in pairs(doc.definitions) do
    local where = "definitions[" .. encode(name) .. "]"
    if not is_object(sub) then return nil, where .. " is not an object" end
    local def = { name = name, description = sub.description }
    for k, v in pairs(sub) do
      if k:sub(1, 10) == "x-posthog-" then def[k:sub(11):gsub("%-", "_")] = v end
    end
    local err = check_definition(def, where)
    if err then return nil, err end
    defs[#defs + 1] = def
  end
  sort(defs, by_name)
  return defs
end

--- Parses a snapshot or a JSON Schema export back into an array of definitions; explicit nulls
-- stay as core.null ("clear this field"). Returns nil and a message for anything else; raises
-- only when text is not a string.
function schema.load(text)
  if type(text) ~= "string" then raise("load: text must be a string, got " .. type(text)) end
  local doc, err = core.decode(text, nil, true)
  if doc == nil then return nil, PREFIX .. "load: not valid JSON: " .. tostring(err) end
  local defs
  if not is_object(doc) then
    err = "expected a JSON object (a snapshot or a JSON Schema export)"
  elseif doc.version ~= nil then -- a snapshot, even with a "$schema" an editor added
    defs, err = from_snapshot(doc)
  elseif doc["$schema"] ~= nil then
    defs, err = from_json_schema(doc)
  elseif doc.definitions ~= nil then
    defs, err = from_snapshot(doc)
  else
    err = "neither a snapshot (\"version\", \"definitions\") nor a JSON Schema export (\"$schema\")"
  end
  if not defs then return nil, PREFIX .. "load: " .. err end
  return defs
end

------------------------------------------------------------------------------------------------
-- Plan
------------------------------------------------------------------------------------------------

-- Tags as PostHog stores them: trimmed, lower-cased (Unicode), de-duplicated; sorted.
local function normal_tags(tags)
  local set, out = {}, {}
  for _, tag in ipairs(tags) do
    tag = core.normalize_tag(tag)
    if not set[tag] then
      set[tag] = true
      out[#out + 1] = tag
    end
  end
  return sorted(out)
end

-- v compared as field: absent and null are the field's empty value; tags normalised; owner by id.
local function comparable(field, v)
  if v == nil or v == null then v = WRITABLE[field].empty end
  if field == "tags" then return normal_tags(v) end
  if field == "owner" then return owner_id(v) end
  return v
end

local function same(field, a, b)
  a, b = comparable(field, a), comparable(field, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  if #a ~= #b then return false end
  for i = 1, #a do
    if a[i] ~= b[i] then return false end
  end
  return true
end

-- The value to send for field: the desired one (tags normalised, owner as id, arrays marked);
-- for null, null where PostHog accepts it, else the field's empty value.
local function wire(field, v)
  if v == null then
    if WRITABLE[field].nullable then return null end
    v = WRITABLE[field].empty
  end
  if field == "tags" then return normal_tags(v) end
  if field == "owner" then return owner_id(v) end
  return export_field(field, v)
end

-- name -> definition of list, or nil and the message.
local function index(list, what)
  if type(list) ~= "table" then raise("plan: " .. what .. " must be a table, got " .. type(list)) end
  local map = {}
  for i = 1, #list do
    local def = list[i]
    local where = what .. "[" .. i .. "]"
    if type(def) ~= "table" or type(def.name) ~= "string" then
      return nil, PREFIX .. "plan: " .. where .. " has no name"
    end
    if map[def.name] then return nil, PREFIX .. "plan: " .. where .. ": duplicate name " .. encode(def.name) end
    map[def.name] = def
  end
  return map
end

--- The batch ops that turn `current` (definitions as the API returns them) into `desired`
-- (as `load` returns them): { ops = { … } }, or nil and a message when a definition has no name or
-- a name repeats. Definitions match by name; only the writable fields present in desired count
-- (tags as normalised sets, owner by id, null = cleared). Ops, each carrying `name`:
-- { op = "create", name, fields = { name, … } } for names only in desired, then
-- { op = "update", name, id, fields = { the changed fields } }, then, with opts.delete_missing,
-- { op = "delete", name, id } for names only in current; each group sorted by name (bytewise).
function schema.plan(current, desired, opts)
  if opts ~= nil and type(opts) ~= "table" then raise("plan: opts must be a table, got " .. type(opts)) end
  local have, err = index(current, "current")
  if not have then return nil, err end
  local want
  want, err = index(desired, "desired")
  if not want then return nil, err end
  local creates, updates, deletes = {}, {}, {}
  for name, d in pairs(want) do
    local c, fields = have[name], {}
    for field in pairs(WRITABLE) do
      local v = d[field]
      if v ~= nil and (c == nil and v ~= null or c ~= nil and not same(field, c[field], v)) then
        fields[field] = wire(field, v)
      end
    end
    if c == nil then
      fields.name = name
      creates[#creates + 1] = { op = "create", name = name, fields = fields }
    elseif next(fields) ~= nil then
      updates[#updates + 1] = { op = "update", name = name, id = c.id, fields = fields }
    end
  end
  if opts and opts.delete_missing then
    for name, c in pairs(have) do
      if not want[name] then deletes[#deletes + 1] = { op = "delete", name = name, id = c.id } end
    end
  end
  local ops = {}
  for _, group in ipairs { creates, updates, deletes } do
    sort(group, by_name)
    for _, op in ipairs(group) do ops[#ops + 1] = op end
  end
  return { ops = ops }
end

return schema
