-- POST …/bulk_update_tags/ and …/bulk_update_verified/ (§12).
local json = require "fake_posthog.json"
local http = require "fake_posthog.http"
local store = require "fake_posthog.store"
local defs = require "fake_posthog.defs"

local concat, sort = table.concat, table.sort

local M = {}

local MAX_IDS = 500            -- BULK_UPDATE_TAGS_MAX_IDS
local MAX_TAGS = 100
local MAX_CHANGES = 10000

-- list_field(v, attr) -> v | nil, 400 response: the type checks of a required DRF ListField (its
-- items and length are checked by the caller: item errors come before max_length).
local function list_field(v, attr)
  if v == nil then return nil, http.invalid("required", "This field is required.", attr) end
  if v == json.null then return nil, http.invalid("null", "This field may not be null.", attr) end
  if type(v) ~= "table" or not json.is_array(v) then
    return nil, http.invalid("not_a_list", 'Expected a list of items but got type "' .. defs.pytype(v) .. '".', attr)
  end
  return v
end

-- max_items(list, max, attr) -> nil | 400 response.
local function max_items(list, max, attr)
  if #list > max then
    return http.invalid("max_length", "Ensure this field has no more than " .. max .. " elements.", attr)
  end
end

-- ids_field(data) -> list of canonical UUIDs (1..500) | nil, 400 response.
local function ids_field(data)
  local list, err = list_field(data.ids, "ids")
  if not list then return nil, err end
  if #list == 0 then return nil, http.invalid("empty", "This list may not be empty.", "ids") end
  local ids = {}
  for i, v in ipairs(list) do
    ids[i] = defs.parse_uuid(v)
    if not ids[i] then return nil, http.invalid("invalid_input", "Must be a valid UUID.", "ids__" .. (i - 1)) end
  end
  err = max_items(ids, MAX_IDS, "ids")
  if err then return nil, err end
  return ids
end

-- body(ctx) -> the request's JSON object | nil, error response.
local function body(ctx)
  local data, err = ctx.req:data()
  if err then return nil, err end
  local invalid = defs.not_object(data)
  if invalid then return nil, invalid end
  return data
end

-- skipped_json(id) -> JSON of a skipped item.
local function skipped_json(id)
  return '{"id":' .. json.str(id) .. ',"reason":"Not found"}'
end

-- changed_tags(current, action, tags) -> the new tag list (add merges, remove deletes, set replaces).
local function changed_tags(current, action, tags)
  if action == "set" then return tags end
  local drop, out = {}, {}
  if action == "remove" then
    for _, t in ipairs(tags) do drop[t] = true end
  end
  local present = {}
  for _, t in ipairs(current) do
    if not drop[t] then out[#out + 1] = t; present[t] = true end
  end
  if action == "add" then
    for _, t in ipairs(tags) do
      if not present[t] then out[#out + 1] = t end
    end
  end
  return out
end

-- bulk_body(ctx) -> data, ids | nil, nil, error response: the JSON body of a bulk request and
-- its checked `ids`.
local function bulk_body(ctx)
  local data, err = body(ctx)
  if not data then return nil, nil, err end
  local ids
  ids, err = ids_field(data)
  if not ids then return nil, nil, err end
  return data, ids
end

-- bulk_update(ids, ctx, apply, skip_repeats) -> 200 {"updated": [...], "skipped": [...]}: in one
-- transaction, apply(tx, rec, id) for each distinct id of the project, whose answer (JSON text, or
-- nil for "unchanged") joins `updated`; ids not found join `skipped`, once per occurrence unless
-- skip_repeats (bulk_update_tags lists a repeated unknown id each time, bulk_update_verified once).
local function bulk_update(ids, ctx, apply, skip_repeats)
  local updated, skipped = {}, {}
  store.write(function(tx)
    local listed = {}
    for _, id in ipairs(ids) do
      local rec = tx:get(id)
      if rec and rec.project_id == ctx.project_id then
        if not listed[id] then updated[#updated + 1] = apply(tx, rec, id) end
        listed[id] = true
      elseif not (skip_repeats and listed[id]) then
        skipped[#skipped + 1] = skipped_json(id)
        listed[id] = true
      end
    end
  end)
  return http.response(200, '{"updated":[' .. concat(updated, ",") .. '],"skipped":[' .. concat(skipped, ",") .. "]}")
end

-- same(a, b) -> true when two tag lists hold the same tags in the same order.
local function same(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- bulk_update_tags(ctx) -> 200 {"updated": [{id, tags (sorted)}], "skipped": [{id, reason}]} | 400.
function M.bulk_update_tags(ctx)
  local data, ids, err = bulk_body(ctx)
  if not data then return err end
  local action = data.action
  if action == nil then return http.invalid("required", "This field is required.", "action") end
  if action ~= "add" and action ~= "remove" and action ~= "set" then
    local shown = tostring(action == json.null and "None" or action)
    return http.invalid("invalid_choice", '"' .. shown .. '" is not a valid choice.', "action")
  end
  local tags
  tags, err = list_field(data.tags, "tags")       -- required for every action, `set` included (§20.2)
  if not tags then return err end
  tags, err = defs.string_list(tags, "tags", 255) -- blank items: 400 `blank` on tags__N
  if not tags then return err end
  err = max_items(tags, MAX_TAGS, "tags")
  if err then return err end
  tags = defs.normalize_tags(tags)
  if #tags == 0 and action ~= "set" then
    return http.invalid("invalid_input", "tags must not be empty for action '" .. action .. "'.", "tags")
  end
  if #ids * #tags > MAX_CHANGES then
    return http.invalid("invalid_input",
      "Too many changes in one request: ids × distinct tags must not exceed " .. MAX_CHANGES .. ".", "tags")
  end
  return bulk_update(ids, ctx, function(tx, rec, id)
    local new = changed_tags(rec.tags, action, tags)
    if not same(new, rec.tags) then tx:edit(id).tags = new end
    local sorted = { unpack(new) }
    sort(sorted)
    return '{"id":' .. json.str(id) .. ',"tags":' .. json.array(sorted, json.str) .. "}"
  end)
end

-- bulk_update_verified(ctx) -> 200 {"updated": [{id, verified}], "skipped": [{id, reason}]} | 400.
-- Definitions already in the requested state appear in neither list; one transaction. Without
-- the ee package: 400 before the body is read (§20.4).
function M.bulk_update_verified(ctx)
  if not ctx.cfg.enterprise then
    return http.invalid("invalid_input", "Verifying event definitions requires an enterprise license.", nil)
  end
  local data, ids, err = bulk_body(ctx)
  if not data then return err end
  if data.verified == nil then return http.invalid("required", "This field is required.", "verified") end
  local verified
  verified, err = defs.bool_field(data.verified, false, "verified")
  if verified == nil then return err end
  return bulk_update(ids, ctx, function(tx, rec, id)
    if (rec.verified or false) == verified then return nil end
    rec = tx:edit(id)
    local stamp = tx:stamp()
    defs.set_verified(rec, verified, ctx.user, stamp)
    rec.updated_by, rec.updated_at = ctx.user, stamp
    return '{"id":' .. json.str(id) .. ',"verified":' .. tostring(verified) .. "}"
  end, true)
end

return M
