--- The quarantine's test app (spec/nginx/quarantine.conf.in): one quarantine per worker, made in
-- init_worker from the JSON options in QUARANTINE_OPTIONS, over the dict posthog_edge, with its
-- counters kept there as "m|<name>|<a>|<b>" (as the edge's metrics keep them).
local cjson = require "cjson.safe"
local quarantine = require "posthog.event_definitions.edge.quarantine"

local app = {}

local dict = ngx.shared.posthog_edge
local q

local hooks = {
  count = function(n, name, a, b) dict:incr("m|" .. name .. "|" .. (a or "") .. "|" .. (b or ""), n, 0) end,
  log = ngx.log,
}

--- Makes this worker's quarantine and starts its periodic check.
function app.init_worker()
  local cfg = assert(cjson.decode(os.getenv("QUARANTINE_OPTIONS") or "null"), "QUARANTINE_OPTIONS: JSON expected")
  local err
  q, err = quarantine.new(cfg, dict, hooks)
  if not q then error(err) end
  assert(q:start())
end

local function answer(value) -- as application/json, the conf's default_type
  ngx.print(cjson.encode(value))
end

--- POST /push {"project": …, "events": [{"name": …, "text": …}, …]}: q:push; answers {"pid": …}.
function app.push()
  ngx.req.read_body()
  local body = cjson.decode(ngx.req.get_body_data() or "")
  if type(body) ~= "table" or type(body.events) ~= "table" then return ngx.exit(400) end
  q:push(body.events, body.project)
  answer { pid = ngx.worker.pid() }
end

--- GET /status: {"status": q:status(), "counters": {"name|a|b": n}, "pid": …}.
function app.status()
  local counters = {}
  for _, key in ipairs(dict:get_keys(0)) do
    local name = key:match("^m|(.*)$")
    if name then counters[name] = dict:get(key) end
  end
  answer { status = q:status(), counters = counters, pid = ngx.worker.pid() }
end

--- GET /errors: {case = what quarantine.new says to it} for bad options, hooks and dicts.
function app.errors()
  local token = "phc_secret_token"
  local cases = {
    not_a_table = { "x" },
    no_host = { { token = token } },
    ftp_host = { { host = "ftp://example.com", token = token } },
    no_token = { { host = "http://example.com" } },
    empty_token = { { host = "http://example.com", token = "" } },
    zero_timeout = { { host = "http://example.com", token = token, timeout = 0 } },
    nan_retry = { { host = "http://example.com", token = token, retry_min = 0 / 0 } },
    text_interval = { { host = "http://example.com", token = token, interval = "1" } },
    fractional_batch = { { host = "http://example.com", token = token, batch_events = 1.5 } },
    queue_too_large = { { host = "http://example.com", token = token, queue_bytes = 9 * 1024 * 1024 } },
    unknown_option = { { host = "http://example.com", token = token, colour = 1 } },
    no_hooks = { { host = "http://example.com", token = token }, dict, {} },
    no_dict = { { host = "http://example.com", token = token }, "posthog_edge", hooks },
  }
  local out = {}
  for name, c in pairs(cases) do
    local made, err = quarantine.new(c[1], c[2] or dict, c[3] or hooks)
    out[name] = made and "made" or err
  end
  answer(out)
end

return app
