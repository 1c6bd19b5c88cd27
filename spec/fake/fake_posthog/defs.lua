-- The event definition object (§6): API encoding of stored records, tag normalisation, validation
-- of create/update bodies (§9.2) and the verified/hidden rules (§9.1, §10).
local json = require "fake_posthog.json"
local http = require "fake_posthog.http"
local auth = require "fake_posthog.auth"
local clock = require "fake_posthog.clock"

local concat = table.concat

local M = {}

-- PostHog core events (a subset of its taxonomy): count as verified in list filters and are
-- always included by codegen.
M.CORE = {
  ["$pageview"] = true, ["$pageleave"] = true, ["$autocapture"] = true, ["$screen"] = true,
  ["$identify"] = true, ["$groupidentify"] = true, ["$create_alias"] = true, ["$set"] = true,
  ["$feature_flag_called"] = true, ["$rageclick"] = true, ["$exception"] = true,
}

-- parse_uuid(text) -> canonical lowercase hyphenated UUID, or nil. Like Python's uuid.UUID:
-- hyphens optional, any case, optional braces or urn:uuid: prefix.
function M.parse_uuid(text)
  if type(text) ~= "string" then return nil end
  local hex = text:lower():gsub("^urn:uuid:", ""):gsub("^{(.*)}$", "%1"):gsub("-", "")
  if #hex ~= 32 or hex:find("[^0-9a-f]") then return nil end
  return hex:sub(1, 8) .. "-" .. hex:sub(9, 12) .. "-" .. hex:sub(13, 16) .. "-" .. hex:sub(17, 20) .. "-"
    .. hex:sub(21)
end

-- time(us) -> JSON of a timestamp or null.
local function time(us)
  if us == nil then return "null" end
  return '"' .. clock.format(us) .. '"'
end

-- encode(rec) -> API JSON of a record, keys in the order of §6.4.
function M.encode(rec)
  return concat({
    '{"id":', json.str(rec.id),
    ',"name":', json.str(rec.name),
    ',"owner":', auth.user_json(rec.owner),
    ',"description":', json.str(rec.description),
    ',"created_at":', time(rec.created_at),
    ',"updated_at":', time(rec.updated_at),
    ',"updated_by":', auth.user_json(rec.updated_by),
    ',"last_seen_at":', time(rec.last_seen_at),
    ',"verified":', json.bool(rec.verified or false),
    ',"verified_at":', time(rec.verified_at),
    ',"verified_by":', auth.user_json(rec.verified_by),
    ',"hidden":', json.bool(rec.hidden),
    ',"enforcement_mode":', json.str(rec.enforcement_mode or "allow"),
    ',"primary_property":', json.str(rec.primary_property),
    ',"is_action":false,"post_to_slack":false',
    ',"default_columns":', json.array(rec.default_columns or {}, json.str),
    ',"media_preview_urls":', json.array(rec.media_preview_urls or {}, json.str),
    ',"tags":', json.array(rec.tags or {}, json.str),
    "}",
  })
end

-- json(view, rec) -> encode(rec), cached in the store view until the record changes.
function M.json(view, rec)
  local text = view.enc[rec.id]
  if not text then
    text = M.encode(rec)
    view.enc[rec.id] = text
  end
  return text
end

-- normalize_tags(list) -> tags trimmed, lower-cased, de-duplicated, first occurrence kept (§6.6).
function M.normalize_tags(list)
  local out, seen = {}, {}
  for _, tag in ipairs(list) do
    tag = tag:match("^%s*(.-)%s*$"):lower()
    if not seen[tag] then
      seen[tag] = true
      out[#out + 1] = tag
    end
  end
  return out
end

-- chars(s) -> number of UTF-8 characters (Python's len of the decoded string).
local function chars(s)
  local _, continuation = s:gsub("[\128-\191]", "")
  return #s - continuation
end
M.chars = chars

-- Python type names, for DRF's messages.
local function pytype(v)
  local t = type(v)
  if t == "string" then return "str" end
  if t == "boolean" then return "bool" end
  if t == "number" then return v % 1 == 0 and "int" or "float" end
  if v == json.null then return "NoneType" end
  if json.is_array(v) then return "list" end
  return "dict"
end
M.pytype = pytype

-- char_field(v, opts, attr) -> string | nil, 400 response. DRF CharField: numbers become text,
-- whitespace is trimmed; opts: null_ok, blank_ok, max.
local function char_field(v, opts, attr)
  if v == json.null then
    if opts.null_ok then return json.null end
    return nil, http.invalid("null", "This field may not be null.", attr)
  end
  if type(v) == "number" then
    v = v % 1 == 0 and string.format("%d", v) or tostring(v)
  elseif type(v) ~= "string" then
    return nil, http.invalid("invalid_input", "Not a valid string.", attr)
  end
  v = v:match("^%s*(.-)%s*$")
  if v == "" and not opts.blank_ok then return nil, http.invalid("blank", "This field may not be blank.", attr) end
  if opts.max and chars(v) > opts.max then
    return nil, http.invalid("max_length", "Ensure this field has no more than " .. opts.max .. " characters.", attr)
  end
  return v
end
M.char_field = char_field

local TRUE_VALUES = { t = true, y = true, yes = true, ["true"] = true, on = true, ["1"] = true }
local FALSE_VALUES = { f = true, n = true, no = true, ["false"] = true, off = true, ["0"] = true }

-- bool_field(v, null_ok, attr) -> boolean (or json.null) | nil, 400 response. DRF BooleanField.
local function bool_field(v, null_ok, attr)
  if v == json.null then
    if null_ok then return json.null end
    return nil, http.invalid("null", "This field may not be null.", attr)
  end
  if type(v) == "boolean" then return v end
  if v == 1 or v == 0 then return v == 1 end
  if type(v) == "string" then
    local lower = v:lower()
    -- DRF lists each word in lower case, upper case and capitalised ("yes", "YES", "Yes").
    local spelled = v == lower or v == v:upper() or v == lower:gsub("^%l", string.upper)
    if spelled and TRUE_VALUES[lower] then return true end
    if spelled and FALSE_VALUES[lower] then return false end
  end
  return nil, http.invalid("invalid_input", "Must be a valid boolean.", attr)
end
M.bool_field = bool_field

-- string_list(v, attr, max_item) -> list | nil, 400 response. DRF ListField of CharField.
local function string_list(v, attr, max_item)
  if v == json.null then return nil, http.invalid("null", "This field may not be null.", attr) end
  if type(v) ~= "table" or not json.is_array(v) then
    return nil, http.invalid("not_a_list", 'Expected a list of items but got type "' .. pytype(v) .. '".', attr)
  end
  local out = {}
  for i, item in ipairs(v) do
    local s, err = char_field(item, { blank_ok = true, max = max_item }, attr .. "__" .. (i - 1))
    if not s then return nil, err end
    out[i] = s
  end
  return out
end
M.string_list = string_list

-- owner_field(v) -> user id (or json.null) | nil, 400 response. DRF PrimaryKeyRelatedField.
local function owner_field(v)
  if v == json.null then return json.null end
  local id = type(v) == "number" and v or (type(v) == "string" and tonumber(v:match("^%s*(%d+)%s*$")))
  if not id then
    return nil, http.invalid("incorrect_type", "Incorrect type. Expected pk value, received " .. pytype(v) .. ".",
      "owner")
  end
  if not auth.user_exists(id) then
    local shown = (type(v) == "number" and v % 1 == 0) and string.format("%d", v) or tostring(v)
    return nil, http.invalid("does_not_exist", 'Invalid pk "' .. shown .. '" - object does not exist.', "owner")
  end
  return id
end

-- not_object(data) -> nil when data is a JSON object, else DRF's 400 "Invalid data. Expected a dictionary".
function M.not_object(data)
  if type(data) == "table" and not (json.is_array(data) and next(data) ~= nil) then return nil end
  return http.invalid("invalid_input", "Invalid data. Expected a dictionary, but got " .. pytype(data) .. ".", nil)
end

-- validate(body, creating, cfg) -> fields (validated, json.null = clear) | nil, 400 response.
-- Fields are checked in the serializer's order; only the first error is reported (§15.1).
function M.validate(body, creating, cfg)
  local f, err = {}, M.not_object(body)
  if err then return nil, err end
  if creating then
    if body.name == nil then return nil, http.invalid("required", "This field is required.", "name") end
    f.name, err = char_field(body.name, { max = 400 }, "name")
    if not f.name then return nil, err end
  end
  if body.owner ~= nil then
    f.owner, err = owner_field(body.owner)
    if not f.owner then return nil, err end
  end
  if body.description ~= nil then
    f.description, err = char_field(body.description, { null_ok = true, blank_ok = true }, "description")
    if not f.description then return nil, err end
  end
  if body.tags ~= nil then
    f.tags, err = string_list(body.tags, "tags", 255)
    if not f.tags then return nil, err end
    f.tags = M.normalize_tags(f.tags)
  end
  if body.verified ~= nil then
    f.verified, err = bool_field(body.verified, false, "verified")
    if f.verified == nil then return nil, err end
  end
  if body.hidden ~= nil then
    f.hidden, err = bool_field(body.hidden, true, "hidden")
    if f.hidden == nil then return nil, err end
  end
  if body.enforcement_mode ~= nil then
    local mode = body.enforcement_mode
    if mode == json.null then return nil, http.invalid("null", "This field may not be null.", "enforcement_mode") end
    if mode ~= "allow" and mode ~= "reject" then
      local shown = type(mode) == "number" and string.format("%g", mode) or tostring(mode)
      return nil, http.invalid("invalid_choice", '"' .. shown .. '" is not a valid choice.', "enforcement_mode")
    end
    f.enforcement_mode = mode
  end
  if body.primary_property ~= nil then
    f.primary_property, err = char_field(body.primary_property, { null_ok = true, max = 400 }, "primary_property")
    if not f.primary_property then return nil, err end
  end
  if body.post_to_slack ~= nil then
    local ok
    ok, err = bool_field(body.post_to_slack, false, "post_to_slack")
    if ok == nil then return nil, err end
  end
  if body.default_columns ~= nil then
    f.default_columns, err = string_list(body.default_columns, "default_columns")
    if not f.default_columns then return nil, err end
  end
  if f.verified == true and f.hidden == true then
    return nil, http.invalid("invalid_input", "An event cannot be both hidden and verified", nil)
  end
  if f.enforcement_mode == "reject" and not cfg.schema_enforcement_reject then
    return nil, http.invalid("invalid_input",
      'Setting schema enforcement mode to "reject" requires the schema-enforcement-reject feature flag', nil)
  end
  return f
end

-- unnull(v) -> nil for json.null, else v.
local function unnull(v)
  if v == json.null then return nil end
  return v
end

-- set_verified(rec, verified, user, stamp) -> nothing; §10: verifying stamps (once) and un-hides,
-- unverifying clears the stamp.
function M.set_verified(rec, verified, user, stamp)
  if verified then
    if not rec.verified then
      rec.verified, rec.verified_by, rec.verified_at = true, user, stamp
    end
    rec.hidden = false
  else
    rec.verified, rec.verified_by, rec.verified_at = false, nil, nil
  end
end

-- apply(rec, f, user, stamp) -> rec; applies validated fields (name excluded) and the rules of §10.
function M.apply(rec, f, user, stamp)
  if f.owner ~= nil then rec.owner = unnull(f.owner) end
  if f.description ~= nil then rec.description = unnull(f.description) end
  if f.tags ~= nil then rec.tags = f.tags end
  if f.enforcement_mode ~= nil then rec.enforcement_mode = f.enforcement_mode end
  if f.primary_property ~= nil then rec.primary_property = unnull(f.primary_property) end
  if f.default_columns ~= nil then rec.default_columns = f.default_columns end
  if f.verified ~= nil then M.set_verified(rec, f.verified, user, stamp) end
  if f.hidden ~= nil then
    rec.hidden = unnull(f.hidden)
    if f.hidden == true then M.set_verified(rec, false) end
  end
  rec.updated_by, rec.updated_at = user, stamp
  return rec
end

-- new_record(id, project_id, name) -> a record with the defaults of an API-created definition.
function M.new_record(id, project_id, name)
  return {
    id = id, project_id = project_id, name = name, description = "", verified = false, hidden = false,
    enforcement_mode = "allow", tags = {}, default_columns = {}, media_preview_urls = {}, query_usage_30_day = 0,
  }
end

return M
