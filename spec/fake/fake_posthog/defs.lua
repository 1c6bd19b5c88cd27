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

-- encode_oss(rec) -> API JSON of a record as a deployment without the ee package answers (§6.2,
-- §20.4): the open-source serializer's fields that exist on the model, tags last.
local function encode_oss(rec)
  return concat({
    '{"id":', json.str(rec.id),
    ',"name":', json.str(rec.name),
    ',"created_at":', time(rec.created_at),
    ',"last_seen_at":', time(rec.last_seen_at),
    ',"enforcement_mode":', json.str(rec.enforcement_mode or "allow"),
    ',"primary_property":', json.str(rec.primary_property),
    ',"is_action":false,"post_to_slack":false',
    ',"tags":', json.array(rec.tags or {}, json.str),
    "}",
  })
end

-- encode(rec[, enterprise]) -> API JSON of a record, keys in the order of §6.4 (EE serializer);
-- enterprise = false: the open-source serializer's answer.
function M.encode(rec, enterprise)
  if enterprise == false then return encode_oss(rec) end
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

-- json(view, rec[, enterprise]) -> encode(rec, enterprise), cached in the store view until the
-- record changes.
function M.json(view, rec, enterprise)
  local cache = enterprise == false and view.enc_oss or view.enc
  local text = cache[rec.id]
  if not text then
    text = M.encode(rec, enterprise)
    cache[rec.id] = text
  end
  return text
end

-- Python's str.isspace() characters (what str.strip() removes), as UTF-8 byte sequences by length.
local SPACE_1 = "[\t\n\v\f\r\28-\31 ]"
local SPACE_2 = { ["\194\133"] = true, ["\194\160"] = true }
local SPACE_3 = {
  ["\225\154\128"] = true, ["\226\128\168"] = true, ["\226\128\169"] = true, ["\226\128\175"] = true,
  ["\226\129\159"] = true, ["\227\128\128"] = true,
}
for b = 128, 138 do SPACE_3["\226\128" .. string.char(b)] = true end   -- U+2000..U+200A

-- space_at(s, i) -> byte length of the white-space character starting at byte i, or nil.
local function space_at(s, i)
  if s:find("^" .. SPACE_1, i) then return 1 end
  if SPACE_2[s:sub(i, i + 1)] then return 2 end
  if SPACE_3[s:sub(i, i + 2)] then return 3 end
  return nil
end

-- space_before(s, j) -> byte length of the white-space character ending at byte j, or nil.
local function space_before(s, j)
  if j >= 1 and s:sub(j, j):find("^" .. SPACE_1) then return 1 end
  if j >= 2 and SPACE_2[s:sub(j - 1, j)] then return 2 end
  if j >= 3 and SPACE_3[s:sub(j - 2, j)] then return 3 end
  return nil
end

-- strip(s) -> s without leading and trailing white space, as Python's str.strip() (Unicode
-- white space included: a tag of U+00A0 alone is blank for PostHog).
function M.strip(s)
  local i, j = 1, #s
  while i <= j do
    local n = space_at(s, i)
    if not n then break end
    i = i + n
  end
  while j >= i do
    local n = space_before(s, j)
    if not n then break end
    j = j - n
  end
  return s:sub(i, j)
end
local strip = M.strip

-- normalize_tags(list) -> tags trimmed, lower-cased, de-duplicated, first occurrence kept (§6.6).
function M.normalize_tags(list)
  local out, seen = {}, {}
  for _, tag in ipairs(list) do
    tag = strip(tag):lower()
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
-- white space is trimmed (Python's strip), NUL refused; opts: null_ok, blank_ok, max.
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
  v = strip(v)
  if v == "" and not opts.blank_ok then return nil, http.invalid("blank", "This field may not be blank.", attr) end
  if opts.max and chars(v) > opts.max then
    return nil, http.invalid("max_length", "Ensure this field has no more than " .. opts.max .. " characters.", attr)
  end
  if v:find("%z") then
    return nil, http.invalid("null_characters_not_allowed", "Null characters are not allowed.", attr)
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

-- list_type(v, attr) -> nil when v is a JSON array, else the 400 of a DRF ListField (null, not_a_list).
local function list_type(v, attr)
  if v == json.null then return http.invalid("null", "This field may not be null.", attr) end
  if type(v) ~= "table" or not json.is_array(v) then
    return http.invalid("not_a_list", 'Expected a list of items but got type "' .. pytype(v) .. '".', attr)
  end
  return nil
end
M.list_type = list_type

-- string_list(v, attr, max_item) -> list | nil, 400 response. DRF ListField of CharField (blank
-- items refused, like DRF's default allow_blank = False: `tags__N` / `blank`).
local function string_list(v, attr, max_item)
  local err = list_type(v, attr)
  if err then return nil, err end
  local out = {}
  for i, item in ipairs(v) do
    local s
    s, err = char_field(item, { max = max_item }, attr .. "__" .. (i - 1))
    if not s then return nil, err end
    out[i] = s
  end
  return out
end
M.string_list = string_list

local TAG_MAX = 255          -- Tag.name's max_length

-- definition_tags(v) -> normalised tags, server_fault (bool) | nil, nil, 400 response. The `tags`
-- of a create or update body: a plain ListField in PostHog, its items tagified after the
-- definition is saved. A blank or white-space-only item is refused like a bulk tag (400 `blank`
-- on `tags__N`, so the fake never stores ""); an item that is not a string or is longer than 255
-- characters after trimming makes PostHog's tagify or Tag row fail: server_fault is then true
-- and the caller answers the generic 500 once the rest of the body is valid (§20.2).
local function definition_tags(v)
  local err = list_type(v, "tags")
  if err then return nil, nil, err end
  local fault = false
  for i, item in ipairs(v) do
    if type(item) ~= "string" then
      fault = true
    else
      local trimmed = strip(item)
      if trimmed == "" then
        return nil, nil, http.invalid("blank", "This field may not be blank.", "tags__" .. (i - 1))
      end
      if chars(trimmed) > TAG_MAX then fault = true end
    end
  end
  if fault then return {}, true end
  return M.normalize_tags(v), false
end

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

-- duplicate(name) -> the 400 of a create whose name exists in the project.
function M.duplicate(name)
  return http.invalid("invalid_input", "Event definition with name '" .. name .. "' already exists", "name")
end

-- Field checks of create/update bodies: check(f, v, cfg) -> nil | 400 response; each stores its
-- validated value in f (json.null = clear).

local function check_name(f, v)
  local err
  f.name, err = char_field(v, { max = 400 }, "name")
  return err
end

local function check_owner(f, v)
  local err
  f.owner, err = owner_field(v)
  return err
end

local function check_description(f, v)
  local err
  f.description, err = char_field(v, { null_ok = true, blank_ok = true }, "description")
  return err
end

local function check_tags(f, v)
  local tags, fault, err = definition_tags(v)
  f.tags, f.server_fault = tags, f.server_fault or fault
  return err
end

local function check_verified(f, v)
  local err
  f.verified, err = bool_field(v, false, "verified")
  return err
end

local function check_hidden(f, v)
  local err
  f.hidden, err = bool_field(v, true, "hidden")
  return err
end

local function check_enforcement_mode(f, v)
  if v == json.null then return http.invalid("null", "This field may not be null.", "enforcement_mode") end
  if v ~= "allow" and v ~= "reject" then
    local shown = type(v) == "number" and string.format("%g", v) or tostring(v)
    return http.invalid("invalid_choice", '"' .. shown .. '" is not a valid choice.', "enforcement_mode")
  end
  f.enforcement_mode = v
end

local function check_primary_property(f, v)
  local err
  f.primary_property, err = char_field(v, { null_ok = true, max = 400 }, "primary_property")
  return err
end

local function check_post_to_slack(_, v)
  local ok, err = bool_field(v, false, "post_to_slack")
  if ok == nil then return err end
end

local function check_default_columns(f, v)
  local err
  f.default_columns, err = string_list(v, "default_columns")
  return err
end

local DATETIME_FORMAT = "Datetime has wrong format. Use one of these formats instead: "
  .. "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."

-- datetime_check(attr) -> check of a DRF DateTimeField that allows null (ISO-8601 as Python's
-- fromisoformat reads it, a bare date included; no zone = UTC).
local function datetime_check(attr)
  return function(f, v)
    if v == json.null then f[attr] = json.null; return nil end
    local us = clock.parse(v)
    if not us then return http.invalid("invalid_input", DATETIME_FORMAT, attr) end
    f[attr] = us
  end
end

-- Writable fields in serializer order. EE (§6.2): name only on create. Without the ee package
-- (§20.4): name writable on every method, created_at and last_seen_at writable (ignored on create).
local EE_FIELDS = {
  { "owner", check_owner }, { "description", check_description }, { "tags", check_tags },
  { "verified", check_verified }, { "hidden", check_hidden }, { "enforcement_mode", check_enforcement_mode },
  { "primary_property", check_primary_property }, { "post_to_slack", check_post_to_slack },
  { "default_columns", check_default_columns },
}
local EE_CREATE_FIELDS = { { "name", check_name } }
for _, field in ipairs(EE_FIELDS) do EE_CREATE_FIELDS[#EE_CREATE_FIELDS + 1] = field end
local OSS_FIELDS = {
  { "name", check_name }, { "created_at", datetime_check("created_at") },
  { "last_seen_at", datetime_check("last_seen_at") }, { "tags", check_tags },
  { "enforcement_mode", check_enforcement_mode }, { "primary_property", check_primary_property },
  { "post_to_slack", check_post_to_slack },
}
-- Fields the open-source serializer refuses, in the order it reports them (§20.4).
local EE_ONLY = { "description", "verified", "hidden" }

-- validate(body, method, cfg[, taken]) -> fields | nil, 400 response. method: "POST" (create),
-- "PUT" or "PATCH"; cfg.enterprise picks the serializer; taken(name) -> true when a create's name
-- exists already (validate_name, reported with the name). Field checks run in the serializer's order, then
-- the cross-field rules; only the first error is reported (§15.1). fields.server_fault: the body
-- is valid but PostHog would fail saving it (answer 500, §20.2).
function M.validate(body, method, cfg, taken)
  local f, err = {}, M.not_object(body)
  if err then return nil, err end
  local enterprise = cfg.enterprise
  local name_required = method == "POST" or (not enterprise and method == "PUT")
  if name_required and body.name == nil then
    return nil, http.invalid("required", "This field is required.", "name")
  end
  local fields = enterprise and EE_FIELDS or OSS_FIELDS
  if enterprise and method == "POST" then fields = EE_CREATE_FIELDS end
  for _, field in ipairs(fields) do
    local key = field[1]
    if body[key] ~= nil then
      err = field[2](f, body[key], cfg)
      if err then return nil, err end
      if key == "name" and method == "POST" and taken and taken(f.name) then return nil, M.duplicate(f.name) end
    end
  end
  if not enterprise then
    for _, key in ipairs(EE_ONLY) do
      if body[key] ~= nil then
        return nil, http.invalid("invalid_input", "This field is not supported by this deployment.", key)
      end
    end
    if method == "POST" then f.created_at, f.last_seen_at = nil, nil end
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

-- apply(rec, f, user, stamp) -> rec; applies validated fields and the rules of §10 (f.name only
-- when the caller means to rename: creates have it in the new record already).
function M.apply(rec, f, user, stamp)
  if f.name ~= nil then rec.name = f.name end
  if f.created_at ~= nil then rec.created_at = unnull(f.created_at) end
  if f.last_seen_at ~= nil then rec.last_seen_at = unnull(f.last_seen_at) end
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
