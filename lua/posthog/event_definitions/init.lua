--- posthog.event_definitions: a client for PostHog's event-definitions API.
-- Lua orchestrates every call: the C core builds the request (1), a transport carries it (2),
-- the C core decodes the answer (3); retries, pacing and pagination live here, between the steps.
local core = require "posthog.event_definitions.core"
local errors = require "posthog.event_definitions.errors"
local retry = require "posthog.event_definitions.retry"
local pacing = require "posthog.event_definitions.pacing"
local batch = require "posthog.event_definitions.batch"

local evdefs = {
  VERSION = "0.1.0",
  null = core.null,
}

--- The defaults of every option, in one table (nil means "no default": see `new`).
evdefs.DEFAULTS = {
  host = "https://us.posthog.com",
  project_id = "@current",
  timeout = 30,
  max_response_bytes = 64 * 1024 * 1024,
  max_retries = 3,
  max_retry_wait = 60,
  rate_limit = pacing.DEFAULT_LIMITS,
  insecure = false,
}

-- Option name -> the Lua types it accepts. Anything else raises in `new`.
local OPTION_TYPES = {
  host = "string", personal_api_key = "string", project_id = "string number",
  timeout = "number", max_response_bytes = "number", max_retries = "number",
  max_retry_wait = "number", rate_limit = "table boolean", transport = "string function",
  user_agent = "string", ca_file = "string", insecure = "boolean",
  sleep = "function", now = "function", random = "function",
}

local UUID_PATTERN = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true }
local TAG_ACTIONS = { add = true, remove = true, set = true }
local DEFAULT_PORTS = { http = "80", https = "443" }

local Client = {}
Client.__index = Client

------------------------------------------------------------------------------------------------
-- Construction
------------------------------------------------------------------------------------------------

local function raise(message, level)
  error("posthog.event_definitions: " .. message, (level or 2) + 1)
end

local function config_error(detail)
  return nil, errors.new({ kind = "config", detail = detail, retryable = false, attempts = 0 })
end

-- "scheme://host[:port][/prefix]" with a lower-cased scheme and host, no default port and no
-- trailing slash; or nil and the reason.
local function normalise_host(host)
  if host:find("[%c%s]") then return nil, "host contains whitespace or control characters" end
  local scheme, rest = host:match("^(%a[%w+.-]*)://(.*)$")
  scheme = scheme and scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then
    return nil, "host must be an http:// or https:// URL"
  end
  local authority, path = rest:match("^([^/?#]*)(.*)$")
  if authority == "" then return nil, "host has no host name" end
  if authority:find("@", 1, true) then return nil, "host must not carry credentials" end
  if path:find("[?#]") then return nil, "host must not carry a query or fragment" end
  local name, port = authority:match("^(.-):(%d+)$")
  if not name then name = authority end
  if port == DEFAULT_PORTS[scheme] then port = nil end
  path = path:gsub("/+$", "")
  return scheme .. "://" .. name:lower() .. (port and (":" .. port) or "") .. path, path
end

local function normalise_project(id)
  if id == "@current" then return id end
  if type(id) == "number" and id >= 0 and id % 1 == 0 and id < 2 ^ 53 then
    return string.format("%d", id)
  end
  if type(id) == "string" and id:match("^%d+$") and #id <= 19 then return id end
  return nil
end

local function monotonic_now() return core.monotonic() end

-- The environment variable `name`, or nil when it is unset or empty.
local function env(name)
  local value = os.getenv(name)
  if value ~= "" then return value end
end

-- The nginx phases in which cosockets, ngx.sleep and light threads work.
local YIELDING_PHASES = { server_rewrite = true, rewrite = true, access = true, content = true,
  timer = true, ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true }

-- The current nginx phase ("init", "content", "timer", …), or nil outside nginx.
local function nginx_phase()
  if type(ngx) == "table" and ngx.get_phase then return ngx.get_phase() end
  return nil
end

local warned = {}
-- Logs `message` at the nginx warn level, once per worker process for each `what`.
local function warn_once(what, message)
  if warned[what] then return end
  warned[what] = true
  ngx.log(ngx.WARN, "posthog.event_definitions: ", message)
end

-- The pacing log of `key`: nil when pacing is off; inside nginx the lua_shared_dict named by
-- rate_limit.shared_dict (shared by the workers) or, without one, the worker's own log with a
-- warning; outside nginx the process's log. Returns log, or nil and a config problem.
local function pacing_log(key, rate_limit, limits)
  if not limits then return nil end
  local name = type(rate_limit) == "table" and rate_limit.shared_dict or nil
  if nginx_phase() then
    if name then
      local dict = ngx.shared[name]
      if not dict then return nil, "rate_limit.shared_dict: no lua_shared_dict named \"" .. name .. "\"" end
      return pacing.shared_log(dict, ngx.md5(key))
    end
    warn_once("per_worker_pacing", "no rate_limit.shared_dict: pacing counts each worker's requests "
      .. "alone, so the workers together may exceed the limits")
  end
  return pacing.log_for(pacing.fingerprint(key))
end

--- Makes a client. Returns client, or nil and a "config" error; unknown option keys and options
-- of the wrong Lua type raise.
function evdefs.new(options)
  if options ~= nil and type(options) ~= "table" then raise("new: options must be a table") end
  options = options or {}
  for k, v in pairs(options) do
    local accepted = OPTION_TYPES[k]
    if not accepted then raise("new: unknown option '" .. tostring(k) .. "'") end
    if not accepted:find(type(v), 1, true) then
      raise("new: option '" .. k .. "' must be a " .. accepted:gsub(" ", " or "))
    end
  end
  local o = {}
  for k, v in pairs(evdefs.DEFAULTS) do o[k] = v end
  o.host = env("POSTHOG_HOST") or o.host
  o.personal_api_key = env("POSTHOG_PERSONAL_API_KEY")
  o.project_id = env("POSTHOG_PROJECT_ID") or o.project_id
  for k, v in pairs(options) do o[k] = v end

  local key = o.personal_api_key
  if key == nil or key == "" then
    return config_error("personal_api_key is required (option or POSTHOG_PERSONAL_API_KEY)")
  end
  if key:find("[%c%s]") then
    return config_error("personal_api_key contains white space or control characters")
  end
  local base, prefix = normalise_host(o.host)
  if not base then return config_error(prefix) end
  local project = normalise_project(o.project_id)
  if not project then
    return config_error("project_id must be an integer or \"@current\"")
  end
  if o.user_agent and o.user_agent:find("[\r\n%z]") then
    return config_error("user_agent contains CR or LF")
  end
  local in_nginx = nginx_phase() ~= nil
  if type(o.transport) == "string" and o.transport ~= "curl" and o.transport ~= "ngx" then
    return config_error("transport must be \"curl\", \"ngx\" or a function (got \"" .. o.transport .. "\")")
  end
  if o.transport == "ngx" and not in_nginx then
    return config_error("transport \"ngx\" needs nginx with the Lua module; outside nginx leave it unset")
  end
  if o.ca_file and in_nginx and (o.transport == nil or o.transport == "ngx") then
    return config_error("ca_file cannot be used with the ngx transport: its trust comes from nginx's "
      .. "lua_ssl_trusted_certificate")
  end
  for _, name in ipairs { "timeout", "max_response_bytes", "max_retry_wait" } do
    local v = o[name]
    if not (v > 0 and v < math.huge) then return config_error(name .. " must be a positive finite number") end
  end
  if o.max_response_bytes < 1 or o.max_response_bytes % 1 ~= 0 then
    return config_error("max_response_bytes must be a whole number of bytes")
  end
  if o.max_retries < 0 or o.max_retries % 1 ~= 0 then
    return config_error("max_retries must be a non-negative integer")
  end

  local limits = pacing.limits(o.rate_limit)
  local log, why = pacing_log(key, o.rate_limit, limits)
  if limits and not log then return config_error(why) end
  local self = setmetatable({
    options = o,
    key = key,
    base = base,
    prefix = prefix,
    list_path = "/api/projects/" .. project .. "/event_definitions/",
    user_agent = "posthog-event-definitions/" .. evdefs.VERSION
      .. (o.user_agent and (" " .. o.user_agent) or ""),
    limits = limits,
    log = log,
    sleep = o.sleep or core.sleep,
    now = o.now or monotonic_now,
    random = o.random or math.random,
  }, Client)
  return self
end

------------------------------------------------------------------------------------------------
-- The call pipeline: build -> (pace, send, decode, maybe retry) -> value | nil, err
------------------------------------------------------------------------------------------------

local function check_open(self, level)
  if getmetatable(self) ~= Client then raise("methods must be called as client:method(…)", level + 1) end
  if self.closed then raise("the client is closed", level + 1) end
end

function Client:_error(fields)
  fields.retryable = fields.retryable or false
  return errors.new(fields, self.key)
end

-- The means of this call, chosen now: {transport = function(req) -> res | nil, err, sleep,
-- runner = "threads" | "curl" | nil (how a batch runs its workers: nginx light threads, the
-- libcurl multi driver, or one after the other)}; or nil and why (a "config" problem). Inside
-- nginx the automatic choice is the ngx transport where cosockets work and nothing elsewhere
-- (a call never blocks a worker unless "curl" is forced), and retries sleep with ngx.sleep
-- wherever it works.
function Client:_transport()
  local o = self.options
  local chosen, phase = o.transport, nginx_phase()
  local yielding = phase and YIELDING_PHASES[phase]
  local sleep = (yielding and not o.sleep) and ngx.sleep or self.sleep
  if type(chosen) == "function" then
    return { transport = chosen, sleep = sleep, runner = yielding and "threads" or nil }
  end
  if phase and chosen ~= "curl" then
    if not yielding then
      return nil, "no cosockets in the nginx phase \"" .. phase .. "\": call from rewrite, access, "
        .. "content or a timer (ngx.timer.at)"
    end
    if not self.ngx then
      local transport = require("posthog.event_definitions.transport.ngx").new(o)
      self.ngx = function(req) return transport:request(req) end
    end
    return { transport = self.ngx, sleep = sleep, runner = "threads" }
  end
  if phase then
    warn_once("curl", "transport \"curl\" blocks the nginx worker during every call; leave "
      .. "transport unset to use cosockets")
  end
  if not self.curl then
    self.curl = require("posthog.event_definitions.transport.curl").new(o)
    local curl = self.curl
    self.curl_request = function(req) return curl:request(req) end
  end
  return { transport = self.curl_request, sleep = sleep, runner = "curl" }
end

-- A transport failure as an error table: a string becomes {kind = "transport", sent = true}.
local function transport_failure(err)
  if type(err) == "table" then
    local kind = err.kind == "timeout" and "timeout" or "transport"
    return { kind = kind, sent = err.sent ~= false, detail = tostring(err.detail or kind),
      retryable = err.retryable }
  end
  return { kind = "transport", sent = true, detail = tostring(err or "transport failed") }
end

-- A transport function's answer, checked and with lower-cased header names.
local function checked_response(res)
  if type(res) ~= "table" or type(res.status) ~= "number" then
    return nil, { kind = "transport", sent = true, detail = "transport returned no status" }
  end
  local headers = {}
  for name, value in pairs(res.headers or {}) do headers[string.lower(name)] = value end
  return { status = res.status, headers = headers, body = res.body or "" }
end

-- The answer of `request`: the raw response plus its JSON when it says it is JSON.
local function raw_result(res)
  local out = { status = res.status, headers = res.headers, body = res.body }
  local ctype = res.headers["content-type"] or ""
  if res.body ~= "" and ctype:find("json", 1, true) then
    local json, msg = core.decode(res.body)
    if json == nil and msg then return nil, { kind = "decode", status = res.status, detail = msg } end
    out.json = json
  end
  return out
end

-- Why a decoded 2xx answer is not what `spec` expects (a table; `spec.check` for the details),
-- or nil when it is.
local function unexpected(spec, value)
  if spec.shape == "none" or spec.raw then return nil end
  if type(value) ~= "table" then return "decode: expected a JSON object, got " .. type(value) end
  return spec.check and spec.check(value)
end

-- One attempt: send, then decode. Returns value, or nil and an error table (not yet final).
local function attempt_once(spec, req, transport, key)
  local res, failure = transport(req)
  if res == nil then return nil, transport_failure(failure) end
  res, failure = checked_response(res)
  if not res then return nil, failure end
  if res.status >= 300 then res.body = errors.scrub(res.body, key) end
  if spec.raw and res.status >= 200 and res.status < 300 then return raw_result(res) end
  return core.decode_response(res, spec.shape)
end

-- Waits for the pacing windows to allow one more request, then counts it; returns nil and the
-- wait when that would be longer than max_retry_wait. The windows are asked again after each
-- sleep, since other calls sharing the key may have gone out meanwhile.
function Client:_pace(sleep)
  local log = self.log
  if not log then return true end
  local wait = log:acquire(self.limits, self.now())
  while wait > 0 do
    if wait > self.options.max_retry_wait then return nil, wait end
    sleep(wait)
    wait = log:acquire(self.limits, self.now())
  end
  return true
end

-- The request of `spec` prepared by the C core, or nil and the validation message.
function Client:_build(spec)
  return core.build_request {
    method = spec.method, base = self.base, path = spec.path,
    query = spec.query, query_shape = spec.query_shape,
    body = spec.body, body_shape = spec.body_shape,
    key = self.key, user_agent = self.user_agent, headers = spec.headers,
    timeout = self.options.timeout,
  }
end

-- A "validation" error for `spec` (nothing was sent).
function Client:_validation(spec, detail)
  return self:_error { kind = "validation", detail = detail, method = spec.method,
    path = self.prefix .. (spec.path or self.list_path):match("^[^?]*"), attempts = 0 }
end

--- Runs one API call described by `spec` = {method, path, query, query_shape, body, body_shape,
-- shape, headers, raw} with retries and pacing. Returns the decoded value, or nil, err.
-- `ctx` (optional) = {transport, sleep} replaces the client's own, as a batch runner does.
function Client:_send(spec, ctx)
  local shown_path = self.prefix .. spec.path:match("^[^?]*")
  local req, msg = self:_build(spec)
  if not req then return nil, self:_validation(spec, msg) end
  if not ctx then
    local why
    ctx, why = self:_transport()
    if not ctx then
      return nil, self:_error { kind = "config", detail = why, method = spec.method,
        path = shown_path, attempts = 0 }
    end
  end
  local transport, sleep = ctx.transport, ctx.sleep
  local o = self.options
  local attempt = 0
  while true do
    local paced, wait = self:_pace(sleep)
    if not paced then
      return nil, self:_error { kind = "rate_limit", method = spec.method,
        path = shown_path, attempts = attempt, retry_after = math.ceil(wait),
        retryable = true,
        detail = string.format("pacing would wait %.1f s, over max_retry_wait", wait) }
    end
    attempt = attempt + 1
    local value, err = attempt_once(spec, req, transport, self.key)
    if value ~= nil then
      local bad = unexpected(spec, value)
      if not bad then return value end
      return nil, self:_error { kind = "decode", detail = bad, method = spec.method, path = shown_path,
        attempts = attempt }
    end
    local retryable = retry.should_retry(spec.method, err)
    err.retryable = retryable
    local too_long = err.retry_after and err.retry_after > o.max_retry_wait
    if not retryable or too_long or attempt > o.max_retries then
      err.attempts, err.method, err.path = attempt, spec.method, shown_path
      err.sent = nil
      return nil, self:_error(err)
    end
    sleep(retry.delay(attempt, err.retry_after, self.random))
  end
end

------------------------------------------------------------------------------------------------
-- Argument checks: wrong Lua types raise; wrong values return a "validation" error
------------------------------------------------------------------------------------------------

local function expect(value, wanted, what, level)
  if type(value) ~= wanted then
    raise(what .. " must be a " .. wanted .. ", got " .. type(value), (level or 2) + 1)
  end
end

function Client:_invalid(method, detail)
  return nil, self:_validation({ method = method }, detail)
end

-- The path of one definition, or nil when `id` is not a UUID.
function Client:_id_path(id, suffix)
  if not id:match(UUID_PATTERN) then return nil end
  return self.list_path .. id:lower() .. "/" .. (suffix or "")
end

local function not_uuid(id)
  return "id must be a UUID, got " .. string.format("%q", id:sub(1, 60))
end

------------------------------------------------------------------------------------------------
-- Endpoints
------------------------------------------------------------------------------------------------

--- GET / — one page `{count, next, previous, results, count_is_capped}`.
function Client:list(params)
  check_open(self, 2)
  if params ~= nil then expect(params, "table", "list: params") end
  return self:_page { method = "GET", path = self.list_path, query = params, query_shape = "list" }
end

-- Checks a list page: its results must be an array.
local function check_page(page)
  if type(page.results) ~= "table" then return "decode: expected a page with results" end
end

-- One list page of `spec`, checked, with count_is_capped a boolean; or nil, err.
function Client:_page(spec)
  spec.shape, spec.check = "page", check_page
  local page, err = self:_send(spec)
  if page then page.count_is_capped = page.count_is_capped == true end
  return page, err
end

-- The path and query of a `next` link, to be requested from the configured host; or nil and
-- the reason when it does not point at this client's list endpoint.
function Client:_next_target(url)
  local path, query = url:match("^[hH][tT][tT][pP][sS]?://[^/?#]*(/[^?#]*)(%??[^#]*)$")
  if not path then return nil, "next link is not an absolute http(s) URL" end
  local prefix = self.prefix
  if prefix ~= "" and path:sub(1, #prefix + 1) == prefix .. "/" then path = path:sub(#prefix + 1) end
  if path ~= self.list_path and path .. "/" ~= self.list_path then
    return nil, "next link points outside this project's event definitions"
  end
  return path .. query
end

-- The page after `page`, or nil (no more pages), or nil, err. `seen` holds the targets already
-- followed, so that a `next` that comes round again ends the walk instead of looping.
function Client:_next_page(page, seen)
  if not page.next then return nil end
  local target, why = self:_next_target(page.next)
  if target and seen[target] then why, target = "next link repeats an earlier page", nil end
  if not target then
    return nil, self:_error { kind = "decode", detail = why, method = "GET",
      path = self.prefix .. self.list_path, attempts = 0 }
  end
  seen[target] = true
  return self:_page { method = "GET", path = target }
end

--- Iterator over every definition matching `params`, one page in memory at a time:
-- `for def, err in client:each{…}`; a failure yields `false, err` once and ends the loop.
function Client:each(params)
  check_open(self, 2)
  if params ~= nil then expect(params, "table", "each: params") end
  local page, index, finished, seen = nil, 0, false, {}
  return function()
    while not finished do
      if page and index < #page.results then
        index = index + 1
        return page.results[index]
      end
      local err
      if page then page, err = self:_next_page(page, seen) else page, err = self:list(params) end
      index = 0
      if not page then
        finished = true
        if err then return false, err end
      end
    end
    return nil
  end
end

local PAGE_FETCHERS = 4 -- pages of `all` fetched at once once the count is known
local DEFAULT_PAGE_SIZE = 100 -- PostHog's PAGE_SIZE

-- Appends the results of `page` to `out`.
local function append_results(out, page)
  for _, def in ipairs(page.results) do out[#out + 1] = def end
end

-- The pages after `first`, fetched by offset at most PAGE_FETCHERS at a time; nil, err if any
-- fails. `size` is the page size, `offset` the first page's offset.
function Client:_remaining_pages(params, first, size, offset)
  local specs = {}
  for o = offset + size, first.count - 1, size do
    local query = {}
    for k, v in pairs(params or {}) do query[k] = v end
    query.limit, query.offset = size, o
    specs[#specs + 1] = { method = "GET", path = self.list_path, query = query, query_shape = "list",
      shape = "page", check = check_page }
  end
  local pages, taken, failure = {}, 0, nil
  local function fetcher(ctx)
    while not failure and taken < #specs do
      taken = taken + 1
      local i = taken
      local page, err = self:_send(specs[i], ctx)
      if not page then failure = failure or err else pages[i] = page end
    end
  end
  local fetchers = {}
  for w = 1, math.min(PAGE_FETCHERS, #specs) do fetchers[w] = fetcher end
  self:_run_concurrently(fetchers)
  if failure then return nil, failure end
  return pages
end

--- Every definition matching `params` as one array, or nil, err (never a partial array). When
-- the first page is full and its count exact, the other pages are fetched by offset, a few at a
-- time, and the total must match the count; otherwise `next` is followed page by page.
function Client:all(params)
  check_open(self, 2)
  if params ~= nil then expect(params, "table", "all: params") end
  local page, err = self:list(params)
  if not page then return nil, err end
  local out = {}
  append_results(out, page)
  local size = (params and params.limit) or DEFAULT_PAGE_SIZE
  local offset = (params and params.offset) or 0
  if not page.next then return out end
  if page.count_is_capped or type(page.count) ~= "number" or #page.results ~= size then
    local seen = {}
    while page.next do
      page, err = self:_next_page(page, seen)
      if not page then return nil, err end
      append_results(out, page)
    end
    return out
  end
  local pages
  pages, err = self:_remaining_pages(params, page, size, offset)
  if not pages then return nil, err end
  for _, p in ipairs(pages) do append_results(out, p) end
  if #out ~= page.count - offset then
    return nil, self:_error { kind = "decode", method = "GET", path = self.prefix .. self.list_path,
      attempts = 1 + #pages, detail = string.format("the definitions changed while paging (count %d, "
        .. "received %d); try again", page.count - offset, #out) }
  end
  return out
end

--- GET /{id}/ — one definition.
function Client:get(id)
  check_open(self, 2)
  expect(id, "string", "get: id")
  local path = self:_id_path(id)
  if not path then return self:_invalid("GET", not_uuid(id)) end
  return self:_send { method = "GET", path = path, shape = "definition" }
end

--- GET /by_name/?name= — the definition with exactly this name.
function Client:by_name(name)
  check_open(self, 2)
  expect(name, "string", "by_name: name")
  if name == "" then return self:_invalid("GET", "name must not be empty") end
  return self:_send { method = "GET", path = self.list_path .. "by_name/", query = { name = name },
    shape = "definition" }
end

-- The write operations that `batch` runs, by name: HTTP method and whether they take an id
-- and fields.
local OPERATIONS = {
  create = { method = "POST", fields = true },
  update = { method = "PATCH", id = true, fields = true },
  replace = { method = "PUT", id = true, fields = true },
  delete = { method = "DELETE", id = true },
}

-- The call `spec` of a write operation {op, id, fields}, or nil and a validation error.
function Client:_op_spec(op)
  if type(op) ~= "table" then
    return nil, self:_validation({ method = "POST" }, "an operation must be a table")
  end
  local operation = OPERATIONS[op.op]
  if not operation then
    return nil, self:_validation({ method = "POST" }, "unknown operation " .. string.format("%q", tostring(op.op)))
  end
  local spec = { method = operation.method, path = self.list_path,
    shape = operation.fields and "definition" or "none" }
  if operation.id then
    if type(op.id) ~= "string" then return nil, self:_validation(spec, "id must be a string") end
    spec.path = self:_id_path(op.id)
    if not spec.path then
      spec.path = self.list_path
      return nil, self:_validation(spec, not_uuid(op.id))
    end
  end
  if operation.fields then
    if type(op.fields) ~= "table" then return nil, self:_validation(spec, "fields must be a table") end
    spec.body, spec.body_shape = op.fields, "definition"
  end
  return spec
end

-- Runs one write operation now.
function Client:_run_op(op)
  local spec, err = self:_op_spec(op)
  if not spec then return nil, err end
  return self:_send(spec)
end

--- POST / — creates a definition from `fields` (201); returns it.
function Client:create(fields)
  check_open(self, 2)
  expect(fields, "table", "create: fields")
  return self:_run_op { op = "create", fields = fields }
end

--- PATCH /{id}/ — changes the given fields; returns the definition.
function Client:update(id, fields)
  check_open(self, 2)
  expect(id, "string", "update: id")
  expect(fields, "table", "update: fields")
  return self:_run_op { op = "update", id = id, fields = fields }
end

--- PUT /{id}/ — replaces the writable fields; returns the definition.
function Client:replace(id, fields)
  check_open(self, 2)
  expect(id, "string", "replace: id")
  expect(fields, "table", "replace: fields")
  return self:_run_op { op = "replace", id = id, fields = fields }
end

--- DELETE /{id}/ — returns true (204).
function Client:delete(id)
  check_open(self, 2)
  expect(id, "string", "delete: id")
  return self:_run_op { op = "delete", id = id }
end

--- GET /{id}/metrics/ — e.g. `{query_usage_30_day = n}`.
function Client:metrics(id)
  check_open(self, 2)
  expect(id, "string", "metrics: id")
  local path = self:_id_path(id, "metrics/")
  if not path then return self:_invalid("GET", not_uuid(id)) end
  return self:_send { method = "GET", path = path }
end

--- GET /primary_properties/?names= — `{[event name] = property}`.
function Client:primary_properties(names)
  check_open(self, 2)
  if names ~= nil then expect(names, "table", "primary_properties: names") end
  local body, err = self:_send { method = "GET", path = self.list_path .. "primary_properties/",
    query = names and { names = names } or nil, check = function(v)
      local map = v.primary_properties
      if map ~= nil and type(map) ~= "table" then return "decode: primary_properties is not an object" end
      for name, property in pairs(map or {}) do
        if type(name) ~= "string" or type(property) ~= "string" then
          return "decode: primary_properties must map event names to property names"
        end
      end
    end }
  if not body then return nil, err end
  return body.primary_properties or {}
end

-- The codegen endpoints: `{content, event_count, schema_hash, generator_version}`.
for _, lang in ipairs { "typescript", "golang", "python" } do
  Client[lang] = function(self)
    check_open(self, 2)
    return self:_send { method = "GET", path = self.list_path .. lang .. "/", shape = "codegen" }
  end
end

-- Checks a bulk endpoint's answer: `updated` and `skipped` arrays of objects with string ids.
local function check_bulk_answer(v)
  for _, list in ipairs { "updated", "skipped" } do
    if v[list] ~= nil and type(v[list]) ~= "table" then return "decode: " .. list .. " is not an array" end
    for _, item in ipairs(v[list] or {}) do
      if type(item) ~= "table" or type(item.id) ~= "string" then
        return "decode: an item of " .. list .. " has no id"
      end
    end
  end
end

-- The call spec of a POST of `body` to a bulk endpoint ("bulk_update_tags/"), answer checked.
function Client:_bulk_spec(endpoint, body)
  return { method = "POST", path = self.list_path .. endpoint, body = body, check = check_bulk_answer }
end

-- The ids of a bulk call checked as UUIDs and lower-cased as PostHog answers them; or nil and
-- the reason.
function Client._checked_ids(_, ids)
  if #ids == 0 then return nil, "ids must not be empty" end
  local out = {}
  for i, id in ipairs(ids) do
    if type(id) ~= "string" or not id:match(UUID_PATTERN) then return nil, "ids[" .. i .. "] is not a UUID" end
    out[i] = id:lower()
  end
  return out
end

-- Why `action` and `tags` cannot go to bulk_update_tags, or nil when they can.
function Client._tags_problem(_, action, tags)
  if not TAG_ACTIONS[action] then return "action must be \"add\", \"remove\" or \"set\"" end
  for i, tag in ipairs(tags) do
    if type(tag) ~= "string" then return "tags[" .. i .. "] is not a string" end
  end
  if #tags == 0 and next(tags) ~= nil then return "tags must be an array of strings" end
end

-- Checks an ids array: raises when it is not a table, returns an error message for values.
local function check_ids(client, ids, what)
  expect(ids, "table", what, 3)
  local _, why = client:_checked_ids(ids)
  return why
end

--- POST /bulk_update_tags/ — `{updated, skipped}`; `action` is "add", "remove" or "set".
function Client:bulk_update_tags(ids, action, tags)
  check_open(self, 2)
  local bad = check_ids(self, ids, "bulk_update_tags: ids")
  expect(action, "string", "bulk_update_tags: action")
  expect(tags, "table", "bulk_update_tags: tags")
  bad = bad or self:_tags_problem(action, tags)
  if bad then return self:_invalid("POST", bad) end
  return self:_send(self:_bulk_spec("bulk_update_tags/", { ids = ids, action = action, tags = tags }))
end

--- POST /bulk_update_verified/ — `{updated, skipped}`.
function Client:bulk_update_verified(ids, verified)
  check_open(self, 2)
  local bad = check_ids(self, ids, "bulk_update_verified: ids")
  expect(verified, "boolean", "bulk_update_verified: verified")
  if bad then return self:_invalid("POST", bad) end
  return self:_send(self:_bulk_spec("bulk_update_verified/", { ids = ids, verified = verified }))
end

--- Any path with the same auth, retries, pacing and errors. `path` is absolute (/api/…) or
-- relative to …/event_definitions/; opts = {query, body, headers}. Returns
-- `{status, headers, body, json}` for 2xx, nil, err otherwise.
function Client:request(method, path, opts)
  check_open(self, 2)
  expect(method, "string", "request: method")
  expect(path, "string", "request: path")
  if opts ~= nil then expect(opts, "table", "request: opts") end
  opts = opts or {}
  method = method:upper()
  if not METHODS[method] then return self:_invalid(method, "unsupported method " .. method) end
  if path:find("[%c%s#]") then return self:_invalid(method, "path contains spaces or control characters") end
  if path:sub(1, 1) ~= "/" then path = self.list_path .. path end
  return self:_send { method = method, path = path, query = opts.query, body = opts.body,
    headers = opts.headers, raw = true }
end

------------------------------------------------------------------------------------------------
-- Batches
------------------------------------------------------------------------------------------------

-- Runs `workers` (functions of a ctx) concurrently until all have returned: as nginx light
-- threads, or as coroutines over the libcurl multi driver; a blocking transport function runs
-- them one after the other, and so does a call that cannot be made (each op then reports the
-- config error).
function Client:_run_concurrently(workers)
  local ctx = self:_transport()
  if ctx and ctx.runner == "threads" then
    local threads = {}
    for i, worker in ipairs(workers) do threads[i] = ngx.thread.spawn(worker, ctx) end
    local failed
    for _, thread in ipairs(threads) do
      local ok, err = ngx.thread.wait(thread)
      if not ok and not failed then failed = err end
    end
    if failed then error(failed, 0) end
  elseif ctx and ctx.runner == "curl" then
    self.curl:run(workers, self.now, ctx.sleep)
  else
    for _, worker in ipairs(workers) do worker(ctx) end
  end
end

--- Runs many write operations `{op = "create"|"update"|"replace"|"delete", id, fields}` at most
-- `opts.concurrency` (default 8) at a time; returns the report {ok, failed, results} in input
-- order, or nil and a validation error for an empty batch. opts: concurrency, on_progress, dry_run.
function Client:batch(ops, opts)
  check_open(self, 2)
  return batch.run(self, ops, opts)
end

--- Deletes every selected definition (an ids array, or `list` params); returns a batch report.
function Client:bulk_delete(ids_or_filter, opts)
  check_open(self, 2)
  return batch.each_id(self, ids_or_filter, opts, "bulk_delete",
    function(id) return { op = "delete", id = id } end)
end

--- Hides every selected definition (PATCH hidden = true each); returns a batch report.
function Client:bulk_hide(ids_or_filter, opts)
  check_open(self, 2)
  return batch.each_id(self, ids_or_filter, opts, "bulk_hide",
    function(id) return { op = "update", id = id, fields = { hidden = true } } end)
end

--- Verifies (or, with opts.verified = false, unverifies) every selected definition through
-- bulk_update_verified, 500 ids a request; returns a report with one result per id.
function Client:bulk_verify(ids_or_filter, opts)
  check_open(self, 2)
  return batch.verify(self, ids_or_filter, opts)
end

--- Adds, removes or sets `tags` on every selected definition through bulk_update_tags, in
-- chunks PostHog accepts; returns a report with one result per id.
function Client:bulk_tag(ids_or_filter, action, tags, opts)
  check_open(self, 2)
  return batch.tag(self, ids_or_filter, action, tags, opts)
end

------------------------------------------------------------------------------------------------
-- Taxonomy helpers
------------------------------------------------------------------------------------------------

local SECONDS_PER_DAY = 86400

-- Seconds since the Unix epoch of an ISO-8601 UTC timestamp ("2024-07-11T09:59:58.5Z"), or nil.
local function utc_seconds(iso)
  local y, m, d, hh, mm, ss = iso:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)")
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m <= 2 then y, m = y - 1, m + 12 end -- count years from March, so leap days come last
  local days = 365 * y + math.floor(y / 4) - math.floor(y / 100) + math.floor(y / 400)
    + math.floor((153 * (m - 3) + 2) / 5) + d - 719469
  return days * SECONDS_PER_DAY + tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss)
end

--- Definitions not seen for `days` (default 30, PostHog's threshold): `last_seen_at` older than
-- that. Never-seen ones (null `last_seen_at`) only with include_never_seen = true. Other keys
-- are `list` filters; `now` (Unix seconds) replaces the current time. Returns an array or nil, err.
function Client:stale(params)
  check_open(self, 2)
  if params ~= nil then expect(params, "table", "stale: params") end
  local filters, days, include_never, now = {}, 30, false, os.time()
  for k, v in pairs(params or {}) do
    if k == "days" then days = v
    elseif k == "include_never_seen" then include_never = v
    elseif k == "now" then now = v
    else filters[k] = v end
  end
  if type(days) ~= "number" or days < 0 then return self:_invalid("GET", "days must be a non-negative number") end
  local defs, err = self:all(filters)
  if not defs then return nil, err end
  local cutoff, out = now - days * SECONDS_PER_DAY, {}
  for _, def in ipairs(defs) do
    local seen = def.last_seen_at and utc_seconds(def.last_seen_at)
    if (seen and seen < cutoff) or (not def.last_seen_at and include_never) then out[#out + 1] = def end
  end
  return out
end

-- GETs every page of a project-level list endpoint (`path` under /api/projects/{id}/).
function Client:_project_list(path, query)
  local project_path = self.list_path:gsub("event_definitions/$", "")
  local out, offset = {}, 0
  while true do
    query.limit, query.offset = 500, offset
    local res, err = self:request("GET", project_path .. path, { query = query })
    if not res then return nil, err end
    local results = type(res.json) == "table" and res.json.results
    if type(results) ~= "table" then
      return nil, self:_error { kind = "decode", status = res.status, method = "GET",
        path = self.prefix .. project_path .. path, detail = "expected a page with results", attempts = 1 }
    end
    for _, item in ipairs(results) do out[#out + 1] = item end
    if not res.json.next or #results == 0 then return out end
    offset = offset + #results
  end
end

-- One property as event_properties returns it.
local function property(name, ptype, required, description)
  return { name = name, type = ptype, required = required == true, description = description }
end

--- The properties of each named event: `{ [event] = { {name, type, required, description}, … } }`
-- and the source used: "schema" (the schema property groups attached to each event, which say
-- what is required) when the key may read them, else "property_definitions" (types only).
function Client:event_properties(names)
  check_open(self, 2)
  expect(names, "table", "event_properties: names")
  if #names == 0 then return self:_invalid("GET", "names must not be empty") end
  local defs, err = self:all { names = names }
  if not defs then return nil, err end
  local out, source = {}, "schema"
  for _, def in ipairs(defs) do
    local props = {}
    if source == "schema" then
      local schemas, serr = self:_project_list("event_schemas/", { event_definition = def.id })
      if schemas then
        for _, s in ipairs(schemas) do
          for _, p in ipairs(s.property_group and s.property_group.properties or {}) do
            props[#props + 1] = property(p.name, p.property_type, p.is_required, p.description)
          end
        end
      elseif serr.status == 403 then
        source = "property_definitions"
      else
        return nil, serr
      end
    end
    if source == "property_definitions" then
      local found, perr = self:_project_list("property_definitions/", { type = "event",
        event_names = core.encode(setmetatable({ def.name }, core.array_mt)), filter_by_event_names = true })
      if not found then return nil, perr end
      for _, p in ipairs(found) do
        props[#props + 1] = property(p.name, p.property_type, false, p.description)
      end
    end
    out[def.name] = props
  end
  return out, source
end

--- Releases the connections; idempotent (also happens when the client is collected).
function Client:close()
  if self.closed then return end
  self.closed = true
  if self.curl then self.curl:close() end
end

return evdefs
