--- The API's endpoints as call specs for the pipeline (call.lua), and the checks of the values
-- they take: definition ids, bulk ids, tag actions, write operations. A check of a value
-- returns a message (the caller makes it a "validation" error); nothing here sends.
local core = require "posthog.event_definitions.core"

local endpoints = {}

local UUID_PATTERN = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
local TAG_ACTIONS = { add = true, remove = true, set = true }

--- True when `s` is a string shaped like a UUID (any case), as definition ids are.
function endpoints.is_uuid(s)
  return type(s) == "string" and s:match(UUID_PATTERN) ~= nil
end

--- The path of one definition under pipeline `p`, or nil and the reason when `id` is not a UUID.
function endpoints.id_path(p, id, suffix)
  if not endpoints.is_uuid(id) then
    return nil, "id must be a UUID, got " .. string.format("%q", id:sub(1, 60))
  end
  return p.list_path .. id:lower() .. "/" .. (suffix or "")
end

--- The call spec of one list page for `params`.
function endpoints.list(p, params)
  return { method = "GET", path = p.list_path, query = params, query_shape = "list", shape = "page" }
end

-- The write operations, by name: HTTP method and whether they take an id and fields.
local OPERATIONS = {
  create = { method = "POST", fields = true },
  update = { method = "PATCH", id = true, fields = true },
  replace = { method = "PUT", id = true, fields = true },
  delete = { method = "DELETE", id = true },
}

-- Whether the stored value `have` is what was sent as `sent` (tags as normalised sets, an owner
-- as its user id, arrays item by item).
local function same_value(field, have, sent)
  if sent == core.null then return have == nil end
  if field == "owner" and type(have) == "table" then return have.id == sent end
  if type(sent) ~= "table" then return have == sent end
  if type(have) ~= "table" or #have ~= #sent then return false end
  local set = {}
  for _, v in ipairs(have) do set[field == "tags" and core.normalize_tag(v) or v] = true end
  for _, v in ipairs(sent) do
    if not set[field == "tags" and core.normalize_tag(v) or v] then return false end
  end
  return true
end

-- The `confirm` of a create (see call.lua): the definition named as sent, when it exists with
-- every field that was sent; else nil. A 404 proves nothing: the lost POST may still be in flight
-- on the server.
local function confirm_create(fields)
  return function(p, ctx)
    if type(fields.name) ~= "string" then return nil end
    local def = p:send({ method = "GET", path = p.list_path .. "by_name/", query = { name = fields.name },
      shape = "definition" }, ctx)
    if not def then return nil end
    for field, sent in pairs(fields) do
      if not same_value(field, def[field], sent) then return nil end
    end
    return def
  end
end

-- Whether `err` is PostHog's "a definition with this name already exists".
local function name_taken(err)
  return err.status == 400 and err.attr == "name" and tostring(err.detail):find("already exists", 1, true) ~= nil
end

--- The call spec of a write operation {op, id, fields}, or nil and a validation error.
function endpoints.operation(p, op)
  if type(op) ~= "table" then
    return nil, p:validation({ method = "POST" }, "an operation must be a table")
  end
  local operation = OPERATIONS[op.op]
  if not operation then
    return nil, p:validation({ method = "POST" }, "unknown operation " .. string.format("%q", tostring(op.op)))
  end
  local spec = { method = operation.method, path = p.list_path,
    shape = operation.fields and "definition" or "none" }
  if operation.id then
    if type(op.id) ~= "string" then return nil, p:validation(spec, "id must be a string") end
    local path, why = endpoints.id_path(p, op.id)
    if not path then return nil, p:validation(spec, why) end
    spec.path = path
  end
  if operation.fields then
    if type(op.fields) ~= "table" then return nil, p:validation(spec, "fields must be a table") end
    spec.body, spec.body_shape = op.fields, "definition"
  end
  if op.op == "create" then spec.confirm, spec.conflict = confirm_create(op.fields), name_taken end
  return spec
end

--- The call spec of a POST of `body` to a bulk endpoint ("bulk_update_tags/").
function endpoints.bulk(p, endpoint, body)
  return { method = "POST", path = p.list_path .. endpoint, body = body, shape = "bulk" }
end

--- The ids of a bulk call checked as UUIDs and lower-cased as PostHog answers them; or nil
-- and the reason.
function endpoints.checked_ids(ids)
  if #ids == 0 then return nil, "ids must not be empty" end
  local out = {}
  for i, id in ipairs(ids) do
    if not endpoints.is_uuid(id) then return nil, "ids[" .. i .. "] is not a UUID" end
    out[i] = id:lower()
  end
  return out
end

local MAX_TAG_CHARS = 255 -- PostHog's tag column

--- Why `action` and `tags` cannot go to bulk_update_tags, or nil when they can: every tag a
-- string that is not blank once trimmed (PostHog answers 400 `blank`) and at most 255
-- characters long.
function endpoints.tags_problem(action, tags)
  if not TAG_ACTIONS[action] then return "action must be \"add\", \"remove\" or \"set\"" end
  for i, tag in ipairs(tags) do
    if type(tag) ~= "string" then return "tags[" .. i .. "] is not a string" end
    if core.normalize_tag(tag) == "" then return "tags[" .. i .. "] is blank" end
    local _, chars = tag:gsub("[^\128-\191]", "")
    if chars > MAX_TAG_CHARS then return "tags[" .. i .. "] is longer than " .. MAX_TAG_CHARS .. " characters" end
  end
  if #tags == 0 and next(tags) ~= nil then return "tags must be an array of strings" end
end

return endpoints
