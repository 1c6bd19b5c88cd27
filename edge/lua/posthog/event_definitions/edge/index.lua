--- The taxonomy index of the edge enforcement: built from the definitions and the schema property
-- groups, kept in a lua_shared_dict by one worker's refresh timer, read (and decoded once per
-- version) by every worker.
--
-- The index is {defs = {[name] = flags}, schemas = {[name] = {required = {…}, types = {…}}}}:
-- flags sum HIDDEN, VERIFIED and REJECT (enforcement_mode "reject"); schemas are kept only for
-- the events whose enforcement_mode is "reject", the only ones the "schema" class applies to.
--
-- Skipping an unchanged taxonomy: each refresh first asks for the definitions' count (a list page
-- of one) and the schema property groups (needed for the index anyway, and small). When the count
-- and the groups are what the stored index was built from, the definitions are not downloaded
-- again. Neither the codegen `schema_hash` nor this fingerprint sees an edit of only `hidden`,
-- `verified` or `enforcement_mode` (the hash covers the property schemas of the events codegen
-- includes, which the groups give too; PostHog offers no ordering by `updated_at`, so the newest
-- `updated_at` would cost the full download it is meant to save). So a full download still happens
-- at least every `full_refresh` seconds.
local core = require "posthog.event_definitions.core"
local taxonomy = require "posthog.event_definitions.taxonomy"

local index = {}

index.HIDDEN, index.VERIFIED, index.REJECT = 1, 2, 4

local K_INDEX, K_VERSION, K_FINGERPRINT = "index", "index_version", "index_fingerprint"
local K_FULL_AT, K_REFRESHED_AT, K_DEFINITIONS = "index_full_at", "index_refreshed_at", "index_definitions"

-- bit test without the bit library (flags are small sums of distinct powers of two)
local function has(flags, bit)
  return flags % (2 * bit) >= bit
end
index.has = has

-- The fingerprint of the groups: what in them the index depends on, in a stable order.
local function groups_fingerprint(groups)
  local parts = {}
  for _, g in ipairs(groups) do
    local items = { tostring(g.id), tostring(g.updated_at) }
    for _, e in ipairs(g.events or {}) do items[#items + 1] = tostring(e.id) .. "=" .. tostring(e.name) end
    for _, p in ipairs(g.properties or {}) do
      items[#items + 1] = table.concat({ tostring(p.name), tostring(p.property_type), tostring(p.is_required) }, ":")
    end
    parts[#parts + 1] = table.concat(items, ",")
  end
  table.sort(parts)
  return table.concat(parts, ";")
end

--- Builds the index table from definitions (API objects) and schema property groups.
function index.build(defs, groups)
  local flags, by_id, schemas = {}, {}, {}
  for _, d in ipairs(defs) do
    local f = (d.hidden == true and index.HIDDEN or 0) + (d.verified == true and index.VERIFIED or 0)
      + (d.enforcement_mode == "reject" and index.REJECT or 0)
    flags[d.name] = f
    by_id[d.id] = d.name
  end
  for _, g in ipairs(groups) do
    for _, e in ipairs(g.events or {}) do
      local name = by_id[e.id] or e.name
      if name and flags[name] and has(flags[name], index.REJECT) then
        local s = schemas[name]
        if not s then
          s = { required = setmetatable({}, core.array_mt), types = {} }
          schemas[name] = s
        end
        for _, p in ipairs(g.properties or {}) do
          if p.is_required == true then s.required[#s.required + 1] = p.name end
          local t = s.types[p.name]
          if t == nil then s.types[p.name] = p.property_type or ""
          elseif t ~= p.property_type then s.types[p.name] = "" end -- two groups disagree: any type
        end
      end
    end
  end
  return { defs = flags, schemas = schemas }
end

--- One refresh through `client` into `dict`: returns "full" (downloaded and stored), "unchanged"
-- (download skipped), or nil and the error (the stored index stays). `full_refresh`: the most
-- seconds an unchanged fingerprint may defer a full download; `now`: the current time.
function index.refresh(client, dict, full_refresh, now)
  local page, err = client:list { limit = 1 }
  if not page then return nil, err end
  local groups, gerr = taxonomy.project_list(client.pipeline, "schema_property_groups/", {})
  if not groups then
    if gerr.status ~= 403 then return nil, gerr end
    groups = {} -- a key that may not read the groups (older PostHog): no schemas, every event passes them
  end
  local fingerprint = tostring(page.count) .. "|" .. groups_fingerprint(groups)
  local full_at = dict:get(K_FULL_AT)
  if dict:get(K_VERSION) and dict:get(K_FINGERPRINT) == fingerprint and full_at and now - full_at < full_refresh then
    dict:set(K_REFRESHED_AT, now)
    return "unchanged"
  end
  local defs
  defs, err = client:all()
  if not defs then return nil, err end
  local ok, why = index.store(dict, assert(core.encode(index.build(defs, groups))), fingerprint, #defs, now)
  if not ok then return nil, why end
  return "full"
end

--- Stores the index `text` (JSON of index.build), built from `definitions` definitions with
-- `fingerprint`, as the new version of `dict`'s index; true, or nil and why (it does not fit).
function index.store(dict, text, fingerprint, definitions, now)
  local ok, why = dict:set(K_INDEX, text)
  if not ok then return nil, "the index (" .. #text .. " bytes) does not fit the shared dict: " .. tostring(why) end
  dict:set(K_FINGERPRINT, fingerprint)
  dict:set(K_FULL_AT, now)
  dict:set(K_REFRESHED_AT, now)
  dict:set(K_DEFINITIONS, definitions)
  dict:incr(K_VERSION, 1, 0)
  return true
end

--- The stored index: its text, fingerprint and number of definitions (nil before the first).
function index.stored(dict)
  return dict:get(K_INDEX), dict:get(K_FINGERPRINT), dict:get(K_DEFINITIONS)
end

--- What the metrics show of the stored index: definitions, seconds since the last good refresh
-- (nil before the first).
function index.status(dict, now)
  local at = dict:get(K_REFRESHED_AT)
  return dict:get(K_DEFINITIONS) or 0, at and now - at
end

local cached_version, cached -- this worker's decoded index

--- The index as a table, decoded once per stored version in each worker; nil before the first
-- good refresh.
function index.current(dict)
  local version = dict:get(K_VERSION)
  if version == nil then return nil end
  if version ~= cached_version then
    local text = dict:get(K_INDEX)
    local value = text and core.decode(text, "object")
    if not value then return cached end -- the dict lost it (evicted): keep what this worker had
    value.defs, value.schemas = value.defs or {}, value.schemas or {}
    cached_version, cached = version, value
  end
  return cached
end

return index
