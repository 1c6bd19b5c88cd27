--- The taxonomy index of each project: built from its definitions and schema property groups,
-- kept as JSON in the edge's lua_shared_dict (so every worker reads the one a refresh stored),
-- and decoded once per stored version in each worker.
--
-- An index is {defs = {[name] = flags}, schemas = {[name] = compiled schema}} (judge.HIDDEN,
-- VERIFIED, REJECT; edge/schema.lua). Dict keys, per project key P: "i|P|text", "i|P|version",
-- "i|P|definitions", "i|P|at" (the last good refresh), "i|P|suspect" (the size of a far smaller
-- download held back until the next refresh confirms it).
local evdefs = require "posthog.event_definitions"
local judge = require "posthog.event_definitions.edge.judge"
local schema = require "posthog.event_definitions.edge.schema"

local index = {}

--- Builds the index of definitions `defs` (API objects) and schema property groups `groups`.
function index.build(defs, groups)
  local flags, by_id, groups_of = {}, {}, {}
  for _, d in ipairs(defs) do
    if type(d.name) == "string" then
      flags[d.name] = (d.hidden == true and judge.HIDDEN or 0) + (d.verified == true and judge.VERIFIED or 0)
        + (d.enforcement_mode == "reject" and judge.REJECT or 0)
      if d.id then by_id[d.id] = d.name end
    end
  end
  for _, g in ipairs(groups) do
    for _, e in ipairs(type(g.events) == "table" and g.events or {}) do
      local name = by_id[e.id] or e.name
      if name and flags[name] then
        groups_of[name] = groups_of[name] or {}
        table.insert(groups_of[name], g)
      end
    end
  end
  local schemas = {}
  for name, list in pairs(groups_of) do schemas[name] = schema.compile(list) end
  return { defs = flags, schemas = schemas }
end

local function key(p, field) return "i|" .. p .. "|" .. field end

--- What a refresh of project `p` does with the index `text` built from `definitions`
-- definitions: "stored" (a new version), "unchanged" (the same text as stored), or "suspect"
-- (far smaller than the stored one: empty, or under half; held back until the next refresh
-- confirms it). The refresh time is stamped unless suspect. Returns the outcome, or nil and why
-- (the dict is full).
function index.offer(dict, p, text, definitions, now)
  local current = dict:get(key(p, "definitions"))
  local smaller = current and current > 0 and definitions < current / 2
  if smaller and not dict:get(key(p, "suspect")) then
    dict:set(key(p, "suspect"), definitions)
    return "suspect"
  end
  dict:delete(key(p, "suspect"))
  if dict:get(key(p, "text")) == text then
    dict:set(key(p, "at"), now)
    return "unchanged"
  end
  local ok, why = index.store(dict, p, text, definitions, now)
  if not ok then return nil, why end
  return "stored"
end

--- Stores `text` (JSON of index.build, `definitions` definitions) as project `p`'s new index
-- version, refreshed at `now`; true, or nil and why (it does not fit the dict).
function index.store(dict, p, text, definitions, now)
  local ok, why = dict:set(key(p, "text"), text)
  if not ok then return nil, "the index (" .. #text .. " bytes) does not fit the shared dict: " .. tostring(why) end
  dict:set(key(p, "definitions"), definitions)
  dict:set(key(p, "at"), now)
  dict:incr(key(p, "version"), 1, 0)
  return true
end

--- The stored index of project `p`: its text and number of definitions (nil before the first).
function index.stored(dict, p)
  return dict:get(key(p, "text")), dict:get(key(p, "definitions"))
end

--- What the metrics show of project `p`'s index: definitions, seconds since the last good
-- refresh (nil before the first), and the size of a far smaller download waiting for
-- confirmation (nil when none).
function index.status(dict, p, now)
  local at = dict:get(key(p, "at"))
  return dict:get(key(p, "definitions")) or 0, at and now - at, dict:get(key(p, "suspect"))
end

--- Marks (a number of definitions) or clears (nil) a far smaller download of project `p` held
-- back, as the fleet's Redis says.
function index.hold_back(dict, p, definitions)
  if definitions then dict:set(key(p, "suspect"), definitions) else dict:delete(key(p, "suspect")) end
end

--- Stamps project `p`'s index as confirmed by a refresh at time `at` (a fleet host refreshed it).
function index.stamp(dict, p, at)
  if dict:get(key(p, "version")) then dict:set(key(p, "at"), at) end
end

local cache = {} -- project -> {version, index}: this worker's decoded indexes

--- Project `p`'s index as a table, decoded once per stored version in each worker; nil before
-- its first good refresh.
function index.current(dict, p)
  local version = dict:get(key(p, "version"))
  if version == nil then return nil end
  local c = cache[p]
  if c and c.version == version then return c.index end
  local text = dict:get(key(p, "text"))
  local value = text and evdefs.decode(text)
  if type(value) ~= "table" then return c and c.index end -- evicted: keep what this worker had
  value.defs, value.schemas = value.defs or {}, value.schemas or {}
  cache[p] = { version = version, index = value }
  return value
end

return index
