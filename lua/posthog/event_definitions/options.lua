--- Every default and every option check of the library, in one place: the client's options
-- (`new`), `rate_limit`, the options of a batch, and the tuning numbers the other modules use.
-- Wrong Lua types and unknown keys raise (programmer errors); wrong values of the right type
-- come back as a message, which the facade turns into a "config" error.
local core = require "posthog.event_definitions.core"

local options = {}

--- The defaults of the client's options (nil means "no default": see `resolve`).
options.DEFAULTS = {
  host = "https://us.posthog.com",
  project_id = "@current",
  timeout = 30,
  max_response_bytes = 64 * 1024 * 1024,
  max_retries = 3,
  max_retry_wait = 60,
  rate_limit = { per_minute = 480, per_hour = 4800 },
  insecure = false,
}

--- The defaults of a batch's options (`client:batch` and the bulk helpers).
options.BATCH_DEFAULTS = { concurrency = 8 }

--- Fixed numbers the other modules use: backoff, paging, the bulk endpoints' limits and the
-- ngx transport's reads.
options.TUNING = {
  backoff_base = 0.5,         -- seconds before the first retry, doubled each time
  backoff_cap = 30,           -- the longest computed backoff
  page_size = 100,            -- PostHog's PAGE_SIZE
  page_fetchers = 4,          -- pages of `all` fetched at once once the count is known
  max_walk_pages = 100000,    -- the most pages a walk takes when no exact count bounds it
  project_page_size = 500,    -- pages of the project-level lists (schemas, properties)
  bulk_max_ids = 500,         -- PostHog's BULK_UPDATE_TAGS_MAX_IDS, also for bulk verify
  bulk_max_tags = 100,        -- tags in one bulk_update_tags request
  bulk_max_changes = 10000,   -- ids x distinct tags in one bulk_update_tags request
  stale_days = 30,            -- PostHog's own threshold for stale definitions
  -- the ngx transport
  keepalive_idle_ms = 10000,  -- below the keep-alive timeouts servers and load balancers use
  read_bytes = 65536,         -- the most one read takes from the socket
  head_allowance = 65536,     -- bytes of status lines, headers and trailers allowed on top of the body
  max_line = 65536,           -- the longest chunk-size or trailer line accepted
  max_head = 65536,           -- the largest response head (status line and headers) accepted
  -- pacing through Redis
  redis_timeout = 0.5,        -- seconds: the bound of one whole Redis call (name lookup, connect,
                              -- every command sent and its whole reply read)
  redis_cooldown = 30,        -- seconds of host-local pacing after Redis failed
  redis_window_margin = 0.05, -- seconds added to each window, in Redis and on the host while Redis
                              -- fails: the spread, between hosts and requests, of the time from
                              -- the decision to PostHog's count
  redis_max_ahead = 60,       -- seconds: the furthest ahead of Redis's clock a request is reserved;
                              -- a request time stored further ahead is bad data (a clock stepped
                              -- back, a foreign write), and Redis is then not used
  redis_max_reply = 64 * 1024 * 1024, -- bytes: the largest Redis reply accepted
  redis_max_elements = 65536, -- elements (of all its arrays) in one Redis reply, at most
  redis_keepalive_ms = 30000, -- idle Redis connections kept in the nginx cosocket pool
  redis_pool_size = 32,       -- idle Redis connections per worker and server
}

-- Option name -> the Lua types it accepts.
local OPTION_TYPES = {
  host = "string", personal_api_key = "string", project_id = "string number",
  timeout = "number", max_response_bytes = "number", max_retries = "number",
  max_retry_wait = "number", rate_limit = "table boolean", transport = "string function",
  user_agent = "string", ca_file = "string", insecure = "boolean",
  sleep = "function", now = "function", random = "function",
}

local WINDOW_SECONDS = { per_second = 1, per_minute = 60, per_hour = 3600 }
options.WINDOW_SECONDS = WINDOW_SECONDS

local DEFAULT_PORTS = { http = "80", https = "443" }

--- Raises a programmer error with the library's prefix, blaming the caller `level` levels up.
function options.raise(message, level)
  error("posthog.event_definitions: " .. message, (level or 1) + 1)
end
local raise = options.raise

--- Raises unless `value` is of Lua type `wanted` (`what` names the argument in the message).
function options.expect(value, wanted, what, level)
  if type(value) ~= wanted then
    raise(what .. " must be a " .. wanted .. ", got " .. type(value), (level or 1) + 1)
  end
end

--- Raises unless `params` is nil or a table of `list` parameters whose values have the right Lua
-- types (core.check_params): a misspelt key must never widen a selection.
function options.params(params, what, level)
  if params == nil then return end
  level = (level or 1) + 1
  options.expect(params, "table", what, level)
  local ok, message = pcall(core.check_params, params)
  if not ok then raise(what .. ": " .. tostring(message):gsub("^posthog%.event_definitions: ", ""), level) end
end

-- The environment variable `name`, or nil when it is unset or empty.
local function env(name)
  local value = os.getenv(name)
  if value ~= "" then return value end
end

-- "scheme://host[:port][/prefix]" with a lower-cased scheme and host, no default port and no
-- trailing slash, and the path prefix; or nil and the reason.
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
  if port and not (tonumber(port) >= 1 and tonumber(port) <= 65535) then
    return nil, "host port must be between 1 and 65535 (got " .. port .. ")"
  end
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

--- The pacing limits of a `rate_limit` option: false stays false; a table is merged over the
-- defaults. Raises on unknown keys or values that are not positive integers.
function options.limits(option, level)
  level = (level or 1) + 1
  if option == false then return false end
  if option == true then raise("rate_limit must be a table or false", level) end
  local limits = {}
  for k, v in pairs(options.DEFAULTS.rate_limit) do limits[k] = v end
  for k, v in pairs(option or {}) do
    if k == "shared_dict" or k == "redis_prefix" then
      if type(v) ~= "string" then raise("rate_limit." .. k .. " must be a string", level) end
    elseif k == "redis_required" then
      if type(v) ~= "boolean" then raise("rate_limit.redis_required must be a boolean", level) end
    elseif k == "redis" then
      if type(v) ~= "string" and type(v) ~= "table" then
        raise("rate_limit.redis must be a redis:// URL or a table", level)
      end
    else
      if not WINDOW_SECONDS[k] then raise("unknown rate_limit key '" .. tostring(k) .. "'", level) end
      if type(v) ~= "number" or v < 1 or v % 1 ~= 0 then
        raise("rate_limit." .. k .. " must be a positive integer", level)
      end
      limits[k] = v
    end
  end
  return limits
end

local REDIS_FIELDS = { host = "string", port = "number", password = "string", db = "number",
  timeout = "number", cooldown = "number" }

-- "%41" -> "A" in the password of a redis:// URL.
local function unescape(text)
  return (text:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The table form of a redis:// URL, or nil and why (naming the option `name`).
local function parse_redis_url(url, name)
  local rest = url:match("^redis://(.*)$")
  if not rest then return nil, name .. " must start with redis://" end
  local userinfo, hostpart = rest:match("^(.*)@([^@]*)$")
  local password
  if userinfo then
    password = userinfo:match("^[^:]*:(.*)$")
    if not password or password == "" then
      return nil, name .. ": the password goes after a colon (redis://:password@host:port/db)"
    end
    password = unescape(password)
  else
    hostpart = rest
  end
  local host, port, db = hostpart:match("^([^:/]+):?(%d*)/?(%d*)$")
  if not host then return nil, name .. " must look like redis://[:password@]host[:port][/db]" end
  return { host = host, port = tonumber(port), password = password, db = tonumber(db) }
end

--- The Redis settings of a `rate_limit` option: nil without `redis`, else {host, port (6379),
-- password, db (0), timeout (seconds, 0.5), cooldown (seconds, 30), prefix, required}; or nil
-- and the reason of a "config" error. Wrong Lua types and unknown keys of the table form raise.
-- Messages name the option `name` (default "rate_limit.redis"; the edge's is "redis"); `fail`
-- raises them (default options.raise, whose conventions it keeps).
function options.redis(option, level, name, fail)
  level = (level or 1) + 1
  name, fail = name or "rate_limit.redis", fail or raise
  if type(option) ~= "table" or option.redis == nil then return nil end
  local given = option.redis
  if type(given) == "string" then
    local why
    given, why = parse_redis_url(given, name)
    if not given then return nil, why end
  else
    for k, v in pairs(given) do
      local accepted = REDIS_FIELDS[k]
      if not accepted then fail("unknown " .. name .. " key '" .. tostring(k) .. "'", level) end
      if type(v) ~= accepted then fail(name .. "." .. k .. " must be a " .. accepted, level) end
    end
  end
  local r = { host = given.host, port = given.port or 6379, password = given.password, db = given.db or 0,
    timeout = given.timeout or options.TUNING.redis_timeout, cooldown = given.cooldown or options.TUNING.redis_cooldown,
    prefix = option.redis_prefix or "posthog-evdefs:", required = option.redis_required == true }
  if not r.host or r.host == "" or r.host:find("[%s%c/]") then return nil, name .. " needs a host" end
  if r.port < 1 or r.port > 65535 or r.port % 1 ~= 0 then
    return nil, name .. ": port must be between 1 and 65535"
  end
  if r.db < 0 or r.db % 1 ~= 0 then return nil, name .. ": db must be a non-negative integer" end
  if not (r.timeout > 0 and r.timeout <= 60) then
    return nil, name .. ": timeout must be a number of seconds above 0 and at most 60"
  end
  if not (r.cooldown > 0 and r.cooldown < math.huge) then
    return nil, name .. ": cooldown must be a positive number of seconds"
  end
  if r.password == "" then r.password = nil end
  return r
end

--- The client's options resolved: defaults, then the environment, then `given`. Returns the
-- resolved table (with `base`, `prefix`, `project` and `limits` added), or nil and the reason
-- of a "config" error; unknown keys and wrong Lua types raise at `level`.
function options.resolve(given, in_nginx, level)
  level = (level or 1) + 1
  if given ~= nil and type(given) ~= "table" then raise("new: options must be a table", level) end
  given = given or {}
  for k, v in pairs(given) do
    local accepted = OPTION_TYPES[k]
    if not accepted then raise("new: unknown option '" .. tostring(k) .. "'", level) end
    if not accepted:find(type(v), 1, true) then
      raise("new: option '" .. k .. "' must be a " .. accepted:gsub(" ", " or "), level)
    end
  end
  local o = {}
  for k, v in pairs(options.DEFAULTS) do o[k] = v end
  o.host = env("POSTHOG_HOST") or o.host
  o.personal_api_key = env("POSTHOG_PERSONAL_API_KEY")
  o.project_id = env("POSTHOG_PROJECT_ID") or o.project_id
  for k, v in pairs(given) do o[k] = v end

  local key = o.personal_api_key
  if key == nil or key == "" then
    return nil, "personal_api_key is required (option or POSTHOG_PERSONAL_API_KEY)"
  end
  if key:find("[%c%s]") then return nil, "personal_api_key contains white space or control characters" end
  local base, prefix = normalise_host(o.host)
  if not base then return nil, prefix end
  o.base, o.prefix = base, prefix
  o.project = normalise_project(o.project_id)
  if not o.project then return nil, "project_id must be an integer or \"@current\"" end
  if o.user_agent and o.user_agent:find("[\r\n%z]") then return nil, "user_agent contains CR or LF" end
  if type(o.transport) == "string" and o.transport ~= "curl" and o.transport ~= "ngx" then
    return nil, "transport must be \"curl\", \"ngx\" or a function (got \"" .. o.transport .. "\")"
  end
  if o.transport == "ngx" and not in_nginx then
    return nil, "transport \"ngx\" needs nginx with the Lua module; outside nginx leave it unset"
  end
  if o.ca_file and in_nginx and (o.transport == nil or o.transport == "ngx") then
    return nil, "ca_file cannot be used with the ngx transport: its trust comes from nginx's "
      .. "lua_ssl_trusted_certificate"
  end
  if o.ca_file then
    local file, why = io.open(o.ca_file, "rb")
    if not file then return nil, "ca_file cannot be read: " .. tostring(why) end
    file:close()
  end
  for _, name in ipairs { "timeout", "max_response_bytes", "max_retry_wait" } do
    local v = o[name]
    if not (v > 0 and v < math.huge) then return nil, name .. " must be a positive finite number" end
  end
  if o.max_response_bytes < 1 or o.max_response_bytes % 1 ~= 0 then
    return nil, "max_response_bytes must be a whole number of bytes"
  end
  if o.max_retries < 0 or o.max_retries % 1 ~= 0 then
    return nil, "max_retries must be a non-negative integer"
  end
  o.limits = options.limits(o.rate_limit, level)
  if o.limits then
    local redis, why = options.redis(o.rate_limit, level)
    if why then return nil, why end
    o.redis = redis
  end
  return o
end

--- The `opts` of a batch or bulk helper with defaults filled in; raises on wrong types.
function options.batch(opts, level)
  level = (level or 1) + 1
  if opts ~= nil and type(opts) ~= "table" then raise("batch: opts must be a table", level) end
  local out = {}
  for k, v in pairs(options.BATCH_DEFAULTS) do out[k] = v end
  for k, v in pairs(opts or {}) do out[k] = v end
  local c = out.concurrency
  if type(c) ~= "number" or c < 1 or c % 1 ~= 0 then
    raise("batch: concurrency must be a positive integer", level)
  end
  if out.on_progress ~= nil and type(out.on_progress) ~= "function" then
    raise("batch: on_progress must be a function", level)
  end
  return out
end

return options
