-- What codegen and schema export read (§17, §18): schema property groups, event schemas and
-- property definitions. Seeded through /__fake/reset and listed (GET only) under
-- /api/projects/{id}/schema_property_groups/, /event_schemas/ and /property_definitions/.
--
-- Stored taxonomy (timestamps as ISO text): { groups = {{id, project_id, name, description, properties, created_at}},
--   schemas = {{id, event_definition, property_group, created_at}},
--   properties = {{id, project_id, name, property_type, is_numerical, events = {names}, …}} }
local json = require "fake_posthog.json"
local http = require "fake_posthog.http"
local clock = require "fake_posthog.clock"
local defs = require "fake_posthog.defs"
local list = require "fake_posthog.list"
local auth = require "fake_posthog.auth"

local concat, sort = table.concat, table.sort

local M = {}

local PROPERTY_TYPES = { String = true, Numeric = true, Boolean = true, DateTime = true, Object = true, Array = true,
  Duration = true }
local LOOKUP_TYPES = { event = true, person = true, group = true, session = true }

-- fail(message) -> raises a reset error (caught by the control API and answered with 400).
local function fail(message)
  error({ fake_error = message }, 0)
end

-- project_of(spec) -> the project id of a seeded object (default 1).
local function project_of(spec)
  local id = spec.project_id or 1
  if not auth.PROJECTS[id] then fail("unknown project_id " .. tostring(id)) end
  return id
end

-- group_property(tx, spec, now) -> a stored property of a group.
local function group_property(tx, spec, now)
  if type(spec) ~= "table" or type(spec.name) ~= "string" or not spec.name:find("^[%a_][%w_]*$") then
    fail("property names must match ^[a-zA-Z_][a-zA-Z0-9_]*$")
  end
  local ptype = spec.property_type or "String"
  if not PROPERTY_TYPES[ptype] then fail("unknown property_type " .. tostring(ptype)) end
  return {
    id = tx:new_id(), name = spec.name, property_type = ptype, is_required = spec.is_required == true,
    is_optional_in_types = spec.is_optional_in_types == true, description = spec.description or "",
    validation_rules = spec.validation_rules, created_at = now, updated_at = now,
  }
end

-- event_record(tx, project_id, name) -> the definition of that name, created when missing.
local function event_record(tx, project_id, name)
  if type(name) ~= "string" or name == "" then fail("group events must be event names") end
  local rec = tx:find(project_id, name)
  if not rec then
    rec = defs.new_record(tx:new_id(), project_id, name)
    rec.updated_at = tx:stamp()
    tx:insert(rec)
  end
  return rec
end

-- build(tx, groups, properties, now) -> nothing; stores the taxonomy seeded by a reset. Events
-- named by a group are created as definitions when the reset did not define them.
function M.build(tx, groups, properties, now)
  now = clock.format(now)              -- taxonomy timestamps are only ever shown
  local t = { groups = {}, schemas = {}, properties = {} }
  local derived, names = {}, {}
  for _, spec in ipairs(groups or {}) do
    if type(spec) ~= "table" or type(spec.name) ~= "string" then fail("property groups need a name") end
    local project_id = project_of(spec)
    local group = { id = tx:new_id(), project_id = project_id, name = spec.name, description = spec.description or "",
      properties = {}, created_at = now, updated_at = now }
    for i, p in ipairs(spec.properties or {}) do group.properties[i] = group_property(tx, p, now) end
    sort(group.properties, function(a, b) return a.name < b.name end)
    t.groups[#t.groups + 1] = group
    for _, name in ipairs(spec.events or {}) do
      local rec = event_record(tx, project_id, name)
      t.schemas[#t.schemas + 1] = { id = tx:new_id(), event_definition = rec.id, property_group = group.id,
        created_at = now, updated_at = now }
      for _, p in ipairs(group.properties) do
        local key = project_id .. "\0" .. p.name
        local d = derived[key]
        if not d then
          d = { project_id = project_id, name = p.name, property_type = p.property_type, description = p.description,
            events = {} }
          derived[key] = d
          names[#names + 1] = key
        end
        d.events[#d.events + 1] = name
      end
    end
  end
  for _, spec in ipairs(properties or {}) do
    if type(spec) ~= "table" or type(spec.name) ~= "string" then fail("property definitions need a name") end
    local key = project_of(spec) .. "\0" .. spec.name
    if not derived[key] then names[#names + 1] = key end
    derived[key] = spec
  end
  for _, key in ipairs(names) do
    local d = derived[key]
    t.properties[#t.properties + 1] = {
      id = tx:new_id(), project_id = project_of(d), name = d.name, property_type = d.property_type,
      is_numerical = d.is_numerical == nil and d.property_type == "Numeric" or d.is_numerical == true,
      description = d.description or "", tags = d.tags or {}, verified = d.verified == true,
      hidden = d.hidden == true, events = d.events or {}, type = d.type or "event",
    }
  end
  tx:set_taxonomy(t)
end

-- time(text) -> JSON of a stored (preformatted) timestamp.
local function time(text)
  return json.str(text)
end

-- group_json(view, group) -> JSON of a schema property group (§18).
local function group_json(view, group)
  local props = {}
  for i, p in ipairs(group.properties) do
    props[i] = '{"id":' .. json.str(p.id) .. ',"name":' .. json.str(p.name)
      .. ',"property_type":' .. json.str(p.property_type) .. ',"is_required":' .. json.bool(p.is_required)
      .. ',"is_optional_in_types":' .. json.bool(p.is_optional_in_types)
      .. ',"validation_rules":' .. (p.validation_rules ~= nil and json.encode(p.validation_rules) or "null")
      .. ',"description":' .. json.str(p.description) .. ',"created_at":' .. time(p.created_at)
      .. ',"updated_at":' .. time(p.updated_at) .. "}"
  end
  local events = {}
  for _, s in ipairs(view.taxonomy.schemas) do
    local rec = s.property_group == group.id and view.recs[s.event_definition]
    if rec then events[#events + 1] = '{"id":' .. json.str(rec.id) .. ',"name":' .. json.str(rec.name) .. "}" end
  end
  return '{"id":' .. json.str(group.id) .. ',"name":' .. json.str(group.name) .. ',"description":'
    .. json.str(group.description) .. ',"properties":[' .. concat(props, ",") .. '],"events":[' .. concat(events, ",")
    .. '],"created_at":' .. time(group.created_at) .. ',"updated_at":' .. time(group.updated_at)
    .. ',"created_by":' .. auth.user_json(1) .. "}"
end

-- groups_by_id(view) -> {group id = group}.
local function groups_by_id(view)
  local by_id = {}
  for _, g in ipairs(view.taxonomy.groups) do by_id[g.id] = g end
  return by_id
end

-- groups_of(view) -> {definition id = list of its property groups, ordered by group name}.
function M.groups_of(view)
  local by_id, out = groups_by_id(view), {}
  for _, s in ipairs(view.taxonomy.schemas) do
    local list_of = out[s.event_definition]
    if not list_of then list_of = {}; out[s.event_definition] = list_of end
    list_of[#list_of + 1] = by_id[s.property_group]
  end
  for _, gs in pairs(out) do sort(gs, function(a, b) return a.name < b.name end) end
  return out
end

-- envelope(ctx, texts) -> paginated 200 response over already-encoded items.
local function envelope(ctx, texts)
  local limit, limit_text, offset = list.limits(ctx.req.query)
  if not limit then return limit_text end
  local items = {}
  for i = offset + 1, math.min(offset + limit, #texts) do items[#items + 1] = texts[i] end
  local next_link, previous = list.links(ctx.req, limit, limit_text, offset, offset + limit < #texts)
  return http.response(200, '{"count":' .. #texts .. ',"next":' .. json.str(next_link) .. ',"previous":'
    .. json.str(previous) .. ',"results":[' .. concat(items, ",") .. "]}")
end

-- schema_property_groups(ctx) -> paginated list of the project's groups, by name.
function M.schema_property_groups(ctx)
  local groups = {}
  for _, g in ipairs(ctx.view.taxonomy.groups) do
    if g.project_id == ctx.project_id then groups[#groups + 1] = g end
  end
  sort(groups, function(a, b) return a.name < b.name end)
  local texts = {}
  for i, g in ipairs(groups) do texts[i] = group_json(ctx.view, g) end
  return envelope(ctx, texts)
end

-- event_schemas(ctx) -> paginated list of event schemas, filtered by ?event_definition=<uuid>.
function M.event_schemas(ctx)
  local view = ctx.view
  local wanted = ctx.req.query.last.event_definition
  local by_id = groups_by_id(view)
  local texts = {}
  for _, s in ipairs(view.taxonomy.schemas) do
    local rec = view.recs[s.event_definition]
    if rec and rec.project_id == ctx.project_id and (not wanted or defs.parse_uuid(wanted) == rec.id) then
      texts[#texts + 1] = '{"id":' .. json.str(s.id) .. ',"event_definition":' .. json.str(rec.id)
        .. ',"property_group":' .. group_json(view, by_id[s.property_group]) .. ',"created_at":' .. time(s.created_at)
        .. ',"updated_at":' .. time(s.updated_at) .. "}"
    end
  end
  return envelope(ctx, texts)
end

-- property_json(p, seen) -> JSON of a property definition (EE fields included); seen: bool or nil.
local function property_json(p, seen)
  return '{"id":' .. json.str(p.id) .. ',"name":' .. json.str(p.name) .. ',"is_numerical":' .. json.bool(p.is_numerical)
    .. ',"property_type":' .. json.str(p.property_type) .. ',"tags":' .. json.array(p.tags, json.str)
    .. ',"is_seen_on_filtered_events":' .. json.bool(seen) .. ',"is_optimized":false,"description":'
    .. json.str(p.description) .. ',"updated_at":null,"updated_by":null,"verified":' .. json.bool(p.verified)
    .. ',"verified_at":null,"verified_by":null,"hidden":' .. json.bool(p.hidden) .. "}"
end

-- json_names(text) -> set of the strings of a JSON array, or nil.
local function json_names(text)
  local value = text and json.decode(text)
  if type(value) ~= "table" then return nil end
  local set
  for _, v in ipairs(value) do
    if type(v) == "string" then set = set or {}; set[v] = true end
  end
  return set
end

-- property_definitions(ctx) -> paginated property definitions (§17): type, search, properties,
-- event_names, filter_by_event_names, excluded_properties, exclude_hidden, is_numerical.
function M.property_definitions(ctx)
  local q = ctx.req.query.last
  local lookup = q.type or "event"
  if not LOOKUP_TYPES[lookup] then
    return http.invalid("invalid_choice", '"' .. lookup .. '" is not a valid choice.', "type")
  end
  local event_names = json_names(q.event_names)
  local only_seen = (q.filter_by_event_names or ""):lower() == "true"
  local excluded = json_names(q.excluded_properties)
  local wanted
  if q.properties then
    wanted = {}
    for name in q.properties:gmatch("[^,]+") do wanted[name] = true end
  end
  local search = q.search and q.search:lower():gsub("%z", "")
  local numerical = q.is_numerical and q.is_numerical:lower() == "true"
  local rows = {}
  for _, p in ipairs(ctx.view.taxonomy.properties) do
    local seen
    if event_names then
      seen = false
      for _, e in ipairs(p.events) do if event_names[e] then seen = true; break end end
    end
    local keep = p.project_id == ctx.project_id and p.type == lookup
      and not (only_seen and event_names and not seen)
      and not (excluded and excluded[p.name]) and not (wanted and not wanted[p.name])
      and not ((q.exclude_hidden or ""):lower() == "true" and p.hidden)
      and not (q.is_numerical and p.is_numerical ~= numerical)
    if keep and search then
      for term in search:gmatch("[^ ]+") do
        if not p.name:lower():find(term, 1, true) then keep = false; break end
      end
    end
    if keep then rows[#rows + 1] = { p = p, seen = seen } end
  end
  sort(rows, function(a, b)
    if (a.seen or false) ~= (b.seen or false) then return a.seen == true end
    if a.p.verified ~= b.p.verified then return a.p.verified end
    return a.p.name < b.p.name
  end)
  local texts = {}
  for i, r in ipairs(rows) do texts[i] = property_json(r.p, r.seen) end
  return envelope(ctx, texts)
end

-- state_json(view) -> JSON fields "property_groups", "event_schemas" and "property_definitions" of /__fake/state.
function M.state_json(view)
  local groups, schemas, props = {}, {}, {}
  for i, g in ipairs(view.taxonomy.groups) do
    groups[i] = '{"project_id":' .. g.project_id .. "," .. group_json(view, g):sub(2)
  end
  for _, s in ipairs(view.taxonomy.schemas) do
    schemas[#schemas + 1] = '{"id":' .. json.str(s.id) .. ',"event_definition":' .. json.str(s.event_definition)
      .. ',"property_group":' .. json.str(s.property_group) .. "}"
  end
  for i, p in ipairs(view.taxonomy.properties) do
    props[i] = '{"project_id":' .. p.project_id .. ',"events":' .. json.array(p.events, json.str) .. ","
      .. property_json(p, nil):sub(2)
  end
  return '"property_groups":[' .. concat(groups, ",") .. '],"event_schemas":[' .. concat(schemas, ",")
    .. '],"property_definitions":[' .. concat(props, ",") .. "]"
end

return M
