-- The /api/ surface: routing (§2, §3), the request pipeline (content negotiation, authentication,
-- project, scopes, throttling, method; §4, §5, §15.3, §16) and the single-definition endpoints.
local json = require "fake_posthog.json"
local http = require "fake_posthog.http"
local auth = require "fake_posthog.auth"
local store = require "fake_posthog.store"
local throttle = require "fake_posthog.throttle"
local defs = require "fake_posthog.defs"
local list = require "fake_posthog.list"
local bulk = require "fake_posthog.bulk"
local codegen = require "fake_posthog.codegen"
local taxonomy = require "fake_posthog.taxonomy"
local ingest = require "fake_posthog.ingest"

local concat = table.concat

local M = {}

-- Routes: scope object and method -> action. Paths are relative to /api/projects/{project_id}/.
local ROUTES = {
  list = { object = "event_definition", GET = "list", POST = "create" },
  detail = { object = "event_definition", GET = "retrieve", PUT = "update", PATCH = "partial_update",
            DELETE = "destroy" },
  metrics = { object = "event_definition", GET = "metrics" },
  by_name = { object = "event_definition", GET = "by_name" },
  primary_properties = { object = "event_definition", GET = "primary_properties" },
  bulk_update_tags = { object = "event_definition", POST = "bulk_update_tags" },
  bulk_update_verified = { object = "event_definition", POST = "bulk_update_verified" },
  typescript = { object = "event_definition", GET = "typescript" },
  golang = { object = "event_definition", GET = "golang" },
  python = { object = "event_definition", GET = "python" },
  property_definitions = { object = "property_definition", GET = "property_definitions" },
  schema_property_groups = { object = "event_definition", GET = "schema_property_groups" },
  event_schemas = { object = "event_definition", GET = "event_schemas" },
}

-- Scope level per action; metrics declares none (§5.1) unless metrics_for_keys is set.
local LEVEL = {
  list = "read", retrieve = "read", by_name = "read", primary_properties = "read", typescript = "read",
  golang = "read", python = "read", property_definitions = "read", schema_property_groups = "read",
  event_schemas = "read", create = "write", update = "write", partial_update = "write", patch = "write",
  destroy = "write", bulk_update_tags = "write", bulk_update_verified = "write",
}

local COLLECTION_ACTIONS = { by_name = true, primary_properties = true, bulk_update_tags = true,
  bulk_update_verified = true, typescript = true, golang = true, python = true }
local TOP_LEVEL = { property_definitions = true, schema_property_groups = true, event_schemas = true }

local METHOD_ORDER = { "GET", "POST", "PUT", "PATCH", "DELETE" }

-- route(path) -> project segment, route name, definition id (detail routes) | nil when no route.
local function route(path)
  local project, rest = path:match("^/api/projects/([^/.]+)/(.-)/?$")
  if not project then return nil end
  if rest == "event_definitions" then return project, "list" end
  if TOP_LEVEL[rest] then return project, rest end
  local sub = rest:match("^event_definitions/([^/.]+)$")
  if sub then
    if COLLECTION_ACTIONS[sub] then return project, sub end
    return project, "detail", sub
  end
  local id = rest:match("^event_definitions/([^/.]+)/metrics$")
  if id then return project, "metrics", id end
  return nil
end

-- acceptable(req) -> false when the Accept header excludes JSON (DRF's 406).
local function acceptable(req)
  local accept = http.header(req, "accept")
  if not accept or not accept:find("%S") then return true end
  for range in accept:gmatch("[^,]+") do
    local media = range:match("^%s*([^;%s]+)")
    media = media and media:lower()
    if media == "*/*" or media == "application/*" or media == "application/json" then return true end
  end
  return false
end

-- method_not_allowed(req, r) -> 405 with DRF's body and Allow header.
local function method_not_allowed(req, r)
  local allowed = {}
  for _, m in ipairs(METHOD_ORDER) do
    if r[m] then allowed[#allowed + 1] = m end
  end
  if r.GET then allowed[#allowed + 1] = "HEAD" end
  allowed[#allowed + 1] = "OPTIONS"
  local res = http.error(405, "invalid_request", "method_not_allowed", 'Method "' .. req.method .. '" not allowed.',
    nil)
  res.headers["Allow"] = concat(allowed, ", ")
  return res
end

-- lookup(ctx) -> the addressed definition | nil, 404 (500 for an unknown well-formed UUID when
-- missing_uuid_status = 500, §8.1).
local function lookup(ctx)
  local id = defs.parse_uuid(ctx.id)
  if not id then return nil, http.not_found() end
  local rec = ctx.view.recs[id]
  if rec and rec.project_id == ctx.project_id then return rec end
  if ctx.cfg.missing_uuid_status == 500 then return nil, http.server_error() end
  return nil, http.not_found()
end

-- retrieve(ctx) -> 200 definition.
local function retrieve(ctx)
  local rec, err = lookup(ctx)
  if not rec then return err end
  return http.response(200, defs.json(ctx.view, rec, ctx.cfg.enterprise))
end

-- create(ctx) -> 201 definition | 400 (§9, §20.4) | 500 (tags PostHog cannot save, §20.2).
local function create(ctx)
  local data, err = ctx.req:data()
  if err then return err end
  local names = ctx.view.by_name[ctx.project_id] or {}
  local f
  f, err = defs.validate(data, "POST", ctx.cfg, function(name) return names[name] ~= nil end)
  if not f then return err end
  if f.server_fault then return http.server_error() end
  return store.write(function(tx)
    if tx:find(ctx.project_id, f.name) then return defs.duplicate(f.name) end
    local rec = defs.new_record(tx:new_id(), ctx.project_id, f.name)
    tx:insert(defs.apply(rec, f, ctx.user, tx:stamp()))
    return http.response(201, defs.encode(rec, ctx.cfg.enterprise))
  end)
end

-- update(ctx) -> 200 definition | 400 | 404 | 500. EE: PUT and PATCH alike, name ignored (§10).
-- Without the ee package name is required on PUT and renames; a name taken by another
-- definition breaks the unique index (500, nothing written; §20.4).
local function update(ctx)
  local rec, err = lookup(ctx)
  if not rec then return err end
  local data
  data, err = ctx.req:data()
  if err then return err end
  local f
  f, err = defs.validate(data, ctx.req.method, ctx.cfg)
  if not f then return err end
  if f.server_fault then return http.server_error() end
  return store.write(function(tx)
    local editable = tx:get(rec.id)
    if not editable then return http.not_found() end
    if f.name and f.name ~= editable.name then
      local other = tx:find(ctx.project_id, f.name)
      if other and other.id ~= rec.id then return http.server_error() end
    end
    editable = tx:edit(rec.id)
    defs.apply(editable, f, ctx.user, tx:stamp())
    return http.response(200, defs.encode(editable, ctx.cfg.enterprise))
  end)
end

-- destroy(ctx) -> 204 with an empty body.
local function destroy(ctx)
  local rec, err = lookup(ctx)
  if not rec then return err end
  store.write(function(tx) tx:delete(rec.id) end)
  return { status = 204, headers = {}, body = "" }
end

-- metrics(ctx) -> 200 {"query_usage_30_day": n}.
local function metrics(ctx)
  local rec, err = lookup(ctx)
  if not rec then return err end
  return http.response(200, '{"query_usage_30_day":' .. (rec.query_usage_30_day or 0) .. "}")
end

-- by_name(ctx) -> 200 definition | 400/404 with the plain {"detail"} bodies of §8.2.
local function by_name(ctx)
  local name = ctx.req.query.last.name
  if not name or name == "" then
    return http.response(400, '{"detail":"Query parameter \'name\' is required"}')
  end
  local names = ctx.view.by_name[ctx.project_id]
  local rec = names and names[name]
  if not rec then
    return http.response(404, '{"detail":' .. json.str("Event definition with name '" .. name .. "' not found") .. "}")
  end
  return http.response(200, defs.json(ctx.view, rec, ctx.cfg.enterprise))
end

-- primary_properties(ctx) -> 200 {"primary_properties": {name: property}} for the names asked
-- (every definition of the project without names), non-empty primary properties only (§8.3).
local function primary_properties(ctx)
  local view, wanted = ctx.view, ctx.req.query.all.names
  local recs = {}
  if wanted then
    local names = view.by_name[ctx.project_id] or {}
    for _, name in ipairs(wanted) do recs[#recs + 1] = names[name] end
  else
    for _, id in ipairs(view.order) do
      local rec = view.recs[id]
      if rec.project_id == ctx.project_id then recs[#recs + 1] = rec end
    end
  end
  local pairs_out, seen = {}, {}
  for _, rec in ipairs(recs) do
    if rec.primary_property and rec.primary_property ~= "" and not seen[rec.name] then
      seen[rec.name] = true
      pairs_out[#pairs_out + 1] = json.str(rec.name) .. ":" .. json.str(rec.primary_property)
    end
  end
  return http.response(200, '{"primary_properties":{' .. concat(pairs_out, ",") .. "}}")
end

local HANDLERS = {
  list = list.list, create = create, retrieve = retrieve, update = update, partial_update = update,
  destroy = destroy, metrics = metrics, by_name = by_name, primary_properties = primary_properties,
  bulk_update_tags = bulk.bulk_update_tags, bulk_update_verified = bulk.bulk_update_verified,
  typescript = codegen.handler("typescript"), golang = codegen.handler("golang"), python = codegen.handler("python"),
  property_definitions = taxonomy.property_definitions, schema_property_groups = taxonomy.schema_property_groups,
  event_schemas = taxonomy.event_schemas,
}

-- handle(path, req, cfg) -> response for a (projects) API path.
local function handle(path, req, cfg)
  local segment, name, id = route(path)
  if not segment then return http.not_found("Endpoint not found.") end
  if not acceptable(req) then
    return http.error(406, "invalid_request", "not_acceptable", "Could not satisfy the request Accept header.", nil)
  end
  local key, err = auth.authenticate(req)
  if not key then return err end
  local project_id
  project_id, err = auth.project(segment, key)
  if not project_id then return err end
  local r = ROUTES[name]
  local method = req.method == "HEAD" and "GET" or req.method
  local action = r[method] or (method == "PATCH" and "patch" or nil)
  local level = LEVEL[action] or (action == "metrics" and cfg.metrics_for_keys and "read")
  err = auth.authorize(key, level and (r.object .. ":" .. level) or false, project_id)
  if err then return err end
  err = throttle.check(req.key, cfg.windows, cfg.retry_after_header)
  if err then return err end
  if not action or action == "patch" then return method_not_allowed(req, r) end
  local res = HANDLERS[action]({
    req = req, cfg = cfg, user = key.user, project_id = project_id, id = id, view = store.current(),
  })
  if action == "list" and res.status == 200 then ingest.list_answered() end
  return res
end

-- dispatch(req, cfg) -> response for any non-control path. /api/environments/{id}/… is served as
-- /api/projects/{id}/… when that route exists, with Deprecation, Link and (if configured) Sunset (§2).
function M.dispatch(req, cfg)
  local path = req.uri
  local env_rest = path:match("^/api/environments/(.*)$")
  if env_rest and route("/api/projects/" .. env_rest) then
    local successor = req.raw_path:gsub("^/api/environments/", "/api/projects/")
    req.link_path = successor
    local res = handle("/api/projects/" .. env_rest, req, cfg)
    res.headers["Deprecation"] = "true"
    res.headers["Link"] = "<" .. successor .. (req.args ~= "" and "?" .. req.args or "") .. '>; rel="successor-version"'
    if cfg.sunset then res.headers["Sunset"] = cfg.sunset end
    return res
  end
  return handle(path, req, cfg)
end

return M
