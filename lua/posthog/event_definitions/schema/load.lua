--- schema.load: a snapshot, a JSON Schema export or a CSV export read back into an array of
-- definitions, the desired state that `plan` takes. Text that is not one of them is a "decode"
-- error; a definition without a name, a repeated name or a writable field of the wrong type is a
-- "validation" error. Text whose first character (after white space) is not `{` or `[` is read
-- as CSV (csv_read.lua).
local core = require "posthog.event_definitions.core"
local util = require "posthog.event_definitions.schema.util"
local shape = require "posthog.event_definitions.schema.shape"
local csv_read = require "posthog.event_definitions.schema.csv_read"

local null = core.null
local fail, encode = util.fail, util.encode

-- Every field name of a definition, and the keys of a snapshot document: what else a snapshot
-- holds is a misspelling (or a field of a newer PostHog than this library knows), refused as
-- an unknown CSV column is, so that a typo never leaves a field unplanned.
local FIELD_NAMES = {}
for _, f in ipairs(core.fields) do FIELD_NAMES[#FIELD_NAMES + 1] = f.name end
local DOCUMENT_KEYS = { "version", "definitions", "$schema" }
local X_KEYWORDS = {}
for i, name in ipairs(FIELD_NAMES) do X_KEYWORDS[i] = "x-posthog-" .. name:gsub("_", "-") end

-- nil when every key of `t` is in `known` (an array), else the message naming the first
-- unknown one (in bytewise order) with the known name it is nearest to.
local function unknown_key(t, known, what)
  local allowed, unknown = {}, {}
  for _, k in ipairs(known) do allowed[k] = true end
  for k in pairs(t) do
    if not allowed[k] then unknown[#unknown + 1] = tostring(k) end
  end
  if #unknown == 0 then return nil end
  table.sort(unknown, util.byte_less)
  return "unknown " .. what .. " " .. encode(unknown[1]) .. util.did_you_mean(unknown[1], known)
end

-- nil when def has a name and writable fields the C shape accepts (null is always allowed: it
-- means "clear"), else the error kind and the message.
local function check_definition(def, where)
  if not util.is_object(def) then return "decode", where .. " is not an object" end
  if type(def.name) ~= "string" or def.name == "" then return "validation", where .. " has no name" end
  for _, f in ipairs(shape.writable) do
    local v = def[f.name]
    local message = v ~= nil and v ~= null and shape.check(f, v)
    if message then return "validation", where .. ": " .. message end
  end
end

-- The version of a snapshot as shown in a message.
local function version_text(version)
  if type(version) == "number" then return tostring(version) end
  if type(version) == "string" then return string.format("%q", version) end
  return "(" .. (version == nil and "none" or type(version)) .. ")"
end

-- `list` checked (each a definition, names unique), or nil, the error kind and the message;
-- where(i) names item i in messages.
local function checked(list, where)
  local defs, seen = {}, {}
  for i = 1, #list do
    local kind, message = check_definition(list[i], where(i))
    if kind then return nil, kind, message end
    if seen[list[i].name] then return nil, "validation", where(i) .. ": duplicate name " .. encode(list[i].name) end
    seen[list[i].name] = true
    defs[i] = list[i]
  end
  return defs
end

-- The definitions of a snapshot document, or nil, the error kind and the message.
local function from_snapshot(doc)
  if doc.version ~= 1 then
    return nil, "decode", "unsupported snapshot version " .. version_text(doc.version) .. ", expected 1"
  end
  local unknown = unknown_key(doc, DOCUMENT_KEYS, "key")
  if unknown then return nil, "decode", unknown .. " in the snapshot" end
  local list = doc.definitions
  if not util.is_json_array(list) then return nil, "decode", "definitions must be an array" end
  local function where(i) return "definitions[" .. i .. "]" end
  for i = 1, #list do
    unknown = util.is_object(list[i]) and unknown_key(list[i], FIELD_NAMES, "field")
    if unknown then
      local name = type(list[i].name) == "string" and " (" .. encode(list[i].name) .. ")" or ""
      return nil, "decode", where(i) .. name .. ": " .. unknown
    end
  end
  return checked(list, where)
end

-- The definitions of a CSV export, or nil, the error kind and the message.
local function from_csv(text)
  local list, kind, message = csv_read(text)
  if not list then return nil, kind, message end
  return checked(list, function(i) return "CSV row " .. (i + 1) end)
end

-- The definitions described by a JSON Schema export, sorted by name, or nil, the error kind and
-- the message. Each x-posthog-<field> keyword is the field (`-` read as `_`).
local function from_json_schema(doc)
  if not util.is_object(doc.definitions) then
    return nil, "decode", "a JSON Schema export needs a \"definitions\" object"
  end
  local defs = {}
  for name, sub in pairs(doc.definitions) do
    local where = "definitions[" .. encode(name) .. "]"
    if not util.is_object(sub) then return nil, "decode", where .. " is not an object" end
    local def = { name = name, description = sub.description }
    for k, v in pairs(sub) do
      if k:sub(1, 10) == "x-posthog-" then
        local field = k:sub(11):gsub("%-", "_")
        if not shape.field[field] then
          return nil, "decode", where .. ": unknown keyword " .. encode(k) .. util.did_you_mean(k, X_KEYWORDS)
        end
        def[field] = v
      end
    end
    local kind, message = check_definition(def, where)
    if kind then return nil, kind, message end
    defs[#defs + 1] = def
  end
  table.sort(defs, util.by_name)
  return defs
end

--- Parses a snapshot, a JSON Schema export or a CSV export back into an array of definitions;
-- explicit nulls of JSON stay as core.null ("clear this field"), empty CSV cells are left out.
-- Returns nil and an error table (kind "decode" or "validation") for anything else; raises only
-- when text is not a string.
return function(text)
  if type(text) ~= "string" then util.raise("load: text must be a string, got " .. type(text)) end
  if text:sub(1, 3) == "\239\187\191" then text = text:sub(4) end -- a UTF-8 byte order mark (spreadsheets)
  if not text:find("^%s*[{[]") and not text:find("^%s*$") then
    local defs, kind, message = from_csv(text)
    if not defs then return fail(kind, "schema.load: " .. message) end
    return defs
  end
  local doc, err = core.decode(text, nil, true)
  if doc == nil then return fail("decode", "schema.load: not valid JSON: " .. util.message(err)) end
  local defs, kind, message
  if not util.is_object(doc) then
    kind, message = "decode", "expected a JSON object (a snapshot or a JSON Schema export)"
  elseif doc.version ~= nil then -- a snapshot, even with a "$schema" an editor added
    defs, kind, message = from_snapshot(doc)
  elseif doc["$schema"] ~= nil then
    defs, kind, message = from_json_schema(doc)
  elseif doc.definitions ~= nil then
    defs, kind, message = from_snapshot(doc)
  else
    kind, message = "decode", "neither a snapshot (\"version\", \"definitions\") nor a JSON Schema export (\"$schema\")"
  end
  if not defs then return fail(kind, "schema.load: " .. message) end
  return defs
end
