--- schema.plan: the batch ops that turn one state of the taxonomy into another. Definitions match
-- by name; every writable field of the C shape counts when the desired state gives it.
local core = require "posthog.event_definitions.core"
local util = require "posthog.event_definitions.schema.util"
local shape = require "posthog.event_definitions.schema.shape"

local null = core.null
local sort = table.sort

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
  return util.sorted(out)
end

-- v of field f as compared: absent and null are what PostHog stores then (the field's default);
-- tags normalised; a user by id.
local function comparable(f, v)
  if v == nil or v == null then v = f.default end
  if f.name == "tags" and v ~= nil then return normal_tags(v) end
  if f.type == "user" then return util.owner_id(v) end
  return v
end

local function same(f, a, b)
  a, b = comparable(f, a), comparable(f, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  if #a ~= #b then return false end
  for i = 1, #a do
    if a[i] ~= b[i] then return false end
  end
  return true
end

-- The value to send for field f: the desired one (tags normalised, a user as its id, arrays
-- marked); for null, what clears the field.
local function wire(f, v)
  if v == null then v = shape.cleared(f) end
  if v == null then return null end
  if f.name == "tags" then return normal_tags(v) end
  if f.type == "user" then return util.owner_id(v) end
  return shape.exported(f.name, v)
end

-- name -> definition of list, or nil and the error.
local function index(list, what)
  if type(list) ~= "table" then util.raise("plan: " .. what .. " must be a table, got " .. type(list)) end
  local map = {}
  for i = 1, #list do
    local def = list[i]
    local where = what .. "[" .. i .. "]"
    if type(def) ~= "table" or type(def.name) ~= "string" then
      return util.fail("validation", "schema.plan: " .. where .. " has no name")
    end
    if map[def.name] then
      return util.fail("validation", "schema.plan: " .. where .. ": duplicate name " .. util.encode(def.name))
    end
    map[def.name] = def
  end
  return map
end

--- The batch ops that turn `current` (definitions as the API returns them) into `desired`
-- (as `load` returns them): { ops = { … }, skipped = { … } }, or nil and an error table (kind
-- "validation") when a definition has no name or a name repeats. Only the writable fields present
-- in desired count (tags as normalised sets, a user by id, null = cleared). Ops, each carrying
-- `name`: { op = "create", name, fields = { name, … } } for names only in desired, then
-- { op = "update", name, id, fields = { the changed fields } }, then, with opts.delete_missing,
-- { op = "delete", name, id } for names only in current; each group sorted by name (bytewise).
-- With opts.enterprise = false (a deployment without PostHog's Enterprise package) the fields
-- such a deployment refuses or ignores are left out of every op and listed in `skipped` as
-- { name, field, reason = "refused" | "ignored" }, sorted by name then field.
return function(current, desired, opts)
  if opts ~= nil and type(opts) ~= "table" then util.raise("plan: opts must be a table, got " .. type(opts)) end
  opts = opts or {}
  if opts.enterprise ~= nil and type(opts.enterprise) ~= "boolean" then
    util.raise("plan: opts.enterprise must be a boolean, got " .. type(opts.enterprise))
  end
  local have, err = index(current, "current")
  if not have then return nil, err end
  local want
  want, err = index(desired, "desired")
  if not want then return nil, err end
  local creates, updates, deletes, skipped = {}, {}, {}, {}
  for name, d in pairs(want) do
    local c, fields = have[name], {}
    for _, f in ipairs(shape.writable) do
      local v = d[f.name]
      if v ~= nil and (c == nil and v ~= null or c ~= nil and not same(f, c[f.name], v)) then
        if opts.enterprise == false and f.without_enterprise then
          skipped[#skipped + 1] = { name = name, field = f.name, reason = f.without_enterprise }
        else
          fields[f.name] = wire(f, v)
        end
      end
    end
    if c == nil then
      fields.name = name
      creates[#creates + 1] = { op = "create", name = name, fields = fields }
    elseif next(fields) ~= nil then
      updates[#updates + 1] = { op = "update", name = name, id = c.id, fields = fields }
    end
  end
  if opts.delete_missing then
    for name, c in pairs(have) do
      if not want[name] then deletes[#deletes + 1] = { op = "delete", name = name, id = c.id } end
    end
  end
  local ops = {}
  for _, group in ipairs { creates, updates, deletes } do
    sort(group, util.by_name)
    for _, op in ipairs(group) do ops[#ops + 1] = op end
  end
  sort(skipped, function(a, b)
    if a.name ~= b.name then return a.name < b.name end
    return a.field < b.field
  end)
  return { ops = ops, skipped = skipped }
end
