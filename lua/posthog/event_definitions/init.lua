--- posthog.event_definitions: a client for PostHog's event-definitions API.
-- The facade: `new`, `null`, `VERSION` and the client's methods. Each method checks its
-- arguments (wrong Lua types raise, wrong values return a "validation" error) and hands a call
-- spec to the pipeline (call.lua), or the work to the pager, the batch engine or the taxonomy
-- helpers, which use the same pipeline.
local core = require "posthog.event_definitions.core"
local errors = require "posthog.event_definitions.errors"
local options = require "posthog.event_definitions.options"
local runtime = require "posthog.event_definitions.runtime"
local call = require "posthog.event_definitions.call"
local endpoints = require "posthog.event_definitions.endpoints"
local pager = require "posthog.event_definitions.pager"
local batch = require "posthog.event_definitions.batch"
local taxonomy = require "posthog.event_definitions.taxonomy"

local expect, raise = options.expect, options.raise

local evdefs = {
  VERSION = "0.1.0",
  null = core.null,
}

-- A copy of the table `t` and of the tables in it.
local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = type(v) == "table" and copy(v) or v end
  return out
end

-- `evdefs.DEFAULTS`, the defaults of `new`'s options, is a copy made at each read: code that
-- changes it changes no client's options, nor what other code reads there.
setmetatable(evdefs, { __index = function(_, name)
  if name == "DEFAULTS" then return copy(options.DEFAULTS) end
end })

--- The JSON parser that decodes answers first in this Lua state: "simdjson" (outside nginx, when
-- the rock posthog-event-definitions-simdjson is installed) or "yajl" (always there; it also
-- reads whatever simdjson refuses, so answers never depend on which runs).
function evdefs.json_parser()
  return core.json_parser()
end

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true }

------------------------------------------------------------------------------------------------
-- Plain HTTP and Redis for companions (the edge): the client's transports and Redis connections
------------------------------------------------------------------------------------------------

--- JSON text of `value` (tables with core's array marker, evdefs.array, or a sequence are
-- arrays; evdefs.null is null; integers stay integers), or nil and a "validation" error.
function evdefs.encode(value)
  return core.encode(value)
end

--- The Lua value of JSON `text` (null becomes nil in objects and arrays; integers stay
-- integers), or nil and a "decode" error.
function evdefs.decode(text)
  expect(text, "string", "decode: text", 2)
  return core.decode(text)
end

--- Marks `t` (default: a new table) as a JSON array for evdefs.encode, so that it encodes as
-- `[]` when empty; returns it.
function evdefs.array(t)
  return setmetatable(t or {}, core.array_mt)
end

local HTTP_OPTIONS = { max_response_bytes = "number", ca_file = "string", insecure = "boolean" }
local http_cache = {} -- the transports of evdefs.http, by option set
local http_options = setmetatable({}, { __mode = "k" })

--- One HTTP request on the automatic transport (cosockets inside nginx, where they work;
-- libcurl outside), with the client's TLS and size rules and no key, retry or pacing:
-- req = {method, url, headers = {name = value}, body, timeout = seconds}; opts (optional) =
-- {`max_response_bytes`, `ca_file`, `insecure`} as for `new`. Returns `{status, headers (lower-cased
-- names), body}`, or nil and `{kind = "transport"|"timeout"|"config", sent, detail}`.
function evdefs.http(req, opts)
  expect(req, "table", "http: req", 2)
  if opts ~= nil then expect(opts, "table", "http: opts", 2) end
  opts = opts or {}
  local o = http_options[opts]
  if not o then
    o = { max_response_bytes = options.DEFAULTS.max_response_bytes, insecure = false }
    for k, v in pairs(opts) do
      if not HTTP_OPTIONS[k] then raise("http: unknown option " .. tostring(k), 2) end
      expect(v, HTTP_OPTIONS[k], "http: opts." .. k, 2)
      o[k] = v
    end
    http_options[opts] = o
  end
  local key = tostring(o.max_response_bytes) .. "|" .. tostring(o.ca_file) .. "|" .. tostring(o.insecure)
  http_cache[key] = http_cache[key] or {}
  local ctx, why = runtime.context(o, http_cache[key])
  if not ctx then return nil, { kind = "config", sent = false, detail = why } end
  return ctx.transport { method = req.method or "GET", url = req.url, headers = req.headers or {},
    body = req.body, timeout = req.timeout or options.DEFAULTS.timeout }
end

--- A Redis server for Lua scripts shared by a fleet, as rate_limit.redis names one: `config` is
-- "redis://[:password@]host[:port][/db]" or {host, port, password, db, timeout, cooldown}.
-- Returns a handle `{cooldown = seconds, eval = function(self, script, keys, args)}` whose eval
-- runs `script` on the server (cosockets inside nginx, hiredis outside) and returns its reply,
-- or nil and a message without the password; or nil and a "config" error. Wrong key names or
-- Lua types raise.
function evdefs.redis(config)
  local cfg, why = options.redis({ redis = config }, 2, "redis")
  if not cfg then
    return nil, errors.new({ kind = "config", detail = why or "redis: a URL or a table is required",
      retryable = false, attempts = 0 })
  end
  local redis = require "posthog.event_definitions.redis"
  return { cooldown = cfg.cooldown,
    eval = function(_, script, keys, args) return redis.eval(cfg, script, keys, args) end }
end

local Client = {}
Client.__index = Client

--- Makes a client. Returns client, or nil and a "config" error; unknown option keys and options
-- of the wrong Lua type raise.
function evdefs.new(given)
  local o, why = options.resolve(given, runtime.phase() ~= nil, 2)
  local pipeline
  if o then
    pipeline, why = call.new(o, "posthog-event-definitions/" .. evdefs.VERSION
      .. (o.user_agent and (" " .. o.user_agent) or ""))
  end
  if not pipeline then
    return nil, errors.new({ kind = "config", detail = why, retryable = false, attempts = 0 })
  end
  return setmetatable({ pipeline = pipeline }, Client)
end

-- Raises unless `self` is an open client (the method was called with a colon).
local function check_open(self)
  if getmetatable(self) ~= Client then raise("methods must be called as client:method(…)", 3) end
  if self.closed then raise("the client is closed", 3) end
  return self.pipeline
end

-- nil and a "validation" error of a `method` call (nothing was sent).
local function invalid(p, method, detail)
  return nil, p:validation({ method = method }, detail)
end

-- Sends the call of the definition `id` (`suffix` under it), or returns a validation error.
local function send_by_id(p, method, id, suffix, shape)
  local path, why = endpoints.id_path(p, id, suffix)
  if not path then return invalid(p, method, why) end
  return p:send { method = method, path = path, shape = shape }
end

------------------------------------------------------------------------------------------------
-- Reading
------------------------------------------------------------------------------------------------

--- GET / — one page `{count, next, previous, results, count_is_capped}`.
function Client:list(params)
  local p = check_open(self)
  options.params(params, "list: params", 2)
  return pager.list(p, params)
end

--- Iterator over every definition matching `params`, one page in memory at a time:
-- `for def, err in client:each{…}`; a failure yields `false, err` once and ends the loop.
function Client:each(params)
  local p = check_open(self)
  options.params(params, "each: params", 2)
  return pager.each(p, params)
end

--- Every definition matching `params` as one array, or nil, err (never a partial array).
-- opts (optional): `{on_progress = function(read, total)}`, called as pages arrive with the
-- definitions read so far and the count (nil when PostHog caps it).
function Client:all(params, opts)
  local p = check_open(self)
  options.params(params, "all: params", 2)
  local on_progress
  if opts ~= nil then
    expect(opts, "table", "all: opts", 2)
    for k, v in pairs(opts) do
      if k ~= "on_progress" then raise("all: unknown option " .. tostring(k), 2) end
      expect(v, "function", "all: opts.on_progress", 2)
    end
    on_progress = opts.on_progress
  end
  return pager.all(p, params, on_progress)
end

--- GET /{id}/ — one definition.
function Client:get(id)
  local p = check_open(self)
  expect(id, "string", "get: id", 2)
  return send_by_id(p, "GET", id, nil, "definition")
end

--- `GET /by_name/?name=` — the definition with exactly this name.
function Client:by_name(name)
  local p = check_open(self)
  expect(name, "string", "by_name: name", 2)
  if name == "" then return invalid(p, "GET", "name must not be empty") end
  return p:send { method = "GET", path = p.list_path .. "by_name/", query = { name = name },
    shape = "definition" }
end

--- GET /{id}/metrics/ — e.g. `{query_usage_30_day = n}`.
function Client:metrics(id)
  local p = check_open(self)
  expect(id, "string", "metrics: id", 2)
  return send_by_id(p, "GET", id, "metrics/", "object")
end

--- `GET /primary_properties/?names=` — `{[event name] = property}`.
function Client:primary_properties(names)
  local p = check_open(self)
  if names ~= nil then expect(names, "table", "primary_properties: names", 2) end
  local body, err = p:send { method = "GET", path = p.list_path .. "primary_properties/",
    query = names and { names = names } or nil, shape = "primary_properties" }
  if not body then return nil, err end
  return body.primary_properties or {}
end

-- The codegen endpoints: `{content, event_count, schema_hash, generator_version}`.
for _, lang in ipairs { "typescript", "golang", "python" } do
  Client[lang] = function(self)
    local p = check_open(self)
    return p:send { method = "GET", path = p.list_path .. lang .. "/", shape = "codegen" }
  end
end

------------------------------------------------------------------------------------------------
-- Writing
------------------------------------------------------------------------------------------------

-- Runs one write operation now.
local function run_operation(p, op)
  local spec, err = endpoints.operation(p, op)
  if not spec then return nil, err end
  return p:send(spec)
end

--- POST / — creates a definition from `fields` (201); returns it.
function Client:create(fields)
  local p = check_open(self)
  expect(fields, "table", "create: fields", 2)
  return run_operation(p, { op = "create", fields = fields })
end

-- update: PATCH /{id}/ changes the given fields; replace: PUT /{id}/ replaces the writable
-- fields. Each returns the definition.
for _, op in ipairs { "update", "replace" } do
  Client[op] = function(self, id, fields)
    local p = check_open(self)
    expect(id, "string", op .. ": id", 2)
    expect(fields, "table", op .. ": fields", 2)
    return run_operation(p, { op = op, id = id, fields = fields })
  end
end

--- DELETE /{id}/ — returns true (204).
function Client:delete(id)
  local p = check_open(self)
  expect(id, "string", "delete: id", 2)
  return run_operation(p, { op = "delete", id = id })
end

-- The ids of a bulk call checked: raises when not a table; nil and the reason for bad values.
local function bulk_ids(ids, what)
  expect(ids, "table", what, 3)
  return endpoints.checked_ids(ids)
end

--- `POST /bulk_update_tags/` — `{updated, skipped}`; `action` is "add", "remove" or "set".
function Client:bulk_update_tags(ids, action, tags)
  local p = check_open(self)
  local checked, bad = bulk_ids(ids, "bulk_update_tags: ids")
  expect(action, "string", "bulk_update_tags: action", 2)
  expect(tags, "table", "bulk_update_tags: tags", 2)
  bad = bad or endpoints.tags_problem(action, tags)
  if not checked or bad then return invalid(p, "POST", bad) end
  return p:send(endpoints.bulk(p, "bulk_update_tags/", { ids = ids, action = action, tags = tags }))
end

--- `POST /bulk_update_verified/` — `{updated, skipped}`.
function Client:bulk_update_verified(ids, verified)
  local p = check_open(self)
  local checked, bad = bulk_ids(ids, "bulk_update_verified: ids")
  expect(verified, "boolean", "bulk_update_verified: verified", 2)
  if not checked then return invalid(p, "POST", bad) end
  return p:send(endpoints.bulk(p, "bulk_update_verified/", { ids = ids, verified = verified }))
end

--- Any path with the same auth, retries, pacing and errors. `path` is absolute (/api/…) or
-- relative to …/event_definitions/; opts = {query, body, headers}. Returns
-- `{status, headers, body, json}` for 2xx, nil, err otherwise.
function Client:request(method, path, opts)
  local p = check_open(self)
  expect(method, "string", "request: method", 2)
  expect(path, "string", "request: path", 2)
  if opts ~= nil then expect(opts, "table", "request: opts", 2) end
  opts = opts or {}
  method = method:upper()
  if not METHODS[method] then return invalid(p, method, "unsupported method " .. method) end
  if path:find("[%c%s#]") then return invalid(p, method, "path contains spaces or control characters") end
  if path:sub(1, 1) ~= "/" then path = p.list_path .. path end
  return p:send { method = method, path = path, query = opts.query, body = opts.body,
    headers = opts.headers, raw = true }
end

------------------------------------------------------------------------------------------------
-- Batches and bulk helpers (batch.lua)
------------------------------------------------------------------------------------------------

--- Runs many write operations `{op = "create"|"update"|"replace"|"delete", id, fields}` at most
-- `opts.concurrency` (default 8) at a time; returns the report {ok, failed, results} in input
-- order, or nil and a validation error for an empty batch. opts: `concurrency`, `on_progress`, `dry_run`.
function Client:batch(ops, opts)
  return batch.run(check_open(self), ops, opts)
end

--- Deletes every selected definition (an ids array, or `list` params); returns a batch report.
function Client:bulk_delete(ids_or_filter, opts)
  return batch.each_id(check_open(self), ids_or_filter, opts, "bulk_delete",
    function(id) return { op = "delete", id = id } end)
end

--- Hides every selected definition (PATCH hidden = true each); returns a batch report.
function Client:bulk_hide(ids_or_filter, opts)
  return batch.each_id(check_open(self), ids_or_filter, opts, "bulk_hide",
    function(id) return { op = "update", id = id, fields = { hidden = true } } end)
end

--- Verifies (or, with opts.verified = false, unverifies) every selected definition through
-- `bulk_update_verified`, 500 ids a request; returns a report with one result per id.
function Client:bulk_verify(ids_or_filter, opts)
  return batch.verify(check_open(self), ids_or_filter, opts)
end

--- Adds, removes or sets `tags` on every selected definition through `bulk_update_tags`, in
-- chunks PostHog accepts; returns a report with one result per id.
function Client:bulk_tag(ids_or_filter, action, tags, opts)
  return batch.tag(check_open(self), ids_or_filter, action, tags, opts)
end

------------------------------------------------------------------------------------------------
-- Taxonomy helpers (taxonomy.lua)
------------------------------------------------------------------------------------------------

--- Definitions not seen for `days` (default 30, PostHog's threshold); never-seen ones only with
-- `include_never_seen = true`; other keys are `list` filters. Returns an array or nil, err.
function Client:stale(params)
  local p = check_open(self)
  if params ~= nil then expect(params, "table", "stale: params", 2) end
  local filters, settings = taxonomy.stale_settings(params)
  options.params(filters, "stale: params", 2)
  return taxonomy.stale(p, filters, settings)
end

--- The properties of each named event, `{ [event] = { {name, type, required, description}, … } }`,
-- and the source used (`"schema"` or `"property_definitions"`).
function Client:event_properties(names)
  local p = check_open(self)
  expect(names, "table", "event_properties: names", 2)
  if #names == 0 then return invalid(p, "GET", "names must not be empty") end
  return taxonomy.event_properties(p, names)
end

--- Where the client's calls go: its host ("scheme://host[:port][/prefix]", normalised) and its
-- project id (a string: digits, or "@current"). Never the key.
function Client:origin()
  local p = check_open(self)
  return p.base, p.options.project
end

--- Every schema property group of the project (`GET /api/projects/{id}/schema_property_groups/`,
-- every page): an array of `{id, name, properties = {{name, property_type, is_required, …}, …},
-- events = {{id, name}, …}, …}` as PostHog sends them, or nil, err (status 403 where the key may
-- not read them).
function Client:schema_property_groups()
  local p = check_open(self)
  return taxonomy.project_list(p, "schema_property_groups/", {})
end

--- Releases the connections; idempotent (also happens when the client is collected).
function Client:close()
  if self.closed then return end
  self.closed = true
  self.pipeline:close()
end

return evdefs
