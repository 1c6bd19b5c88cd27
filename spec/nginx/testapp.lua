--- The test app's handlers (spec/nginx/nginx.conf.in): runs the client inside nginx for
-- spec/60-nginx_spec.lua. Test-only: `run` and `broadcast` execute the Lua they are sent.
local cjson = require "cjson.safe"
local evdefs = require "posthog.event_definitions"

local app = { evdefs = evdefs }

local results = ngx.shared.test_results
local POLL_SECONDS = 0.05

--- Options for a client of the fake server, with `extra` merged over them.
function app.options(extra)
  local o = { host = os.getenv("FAKE_POSTHOG_URL"), personal_api_key = "phx_fake_all", project_id = 1,
    rate_limit = false }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

--- A client of the fake server (see `options`); raises when it cannot be made.
function app.client(extra)
  local client, err = evdefs.new(app.options(extra))
  if not client then error(tostring(err), 2) end
  return client
end

--- "ok", or "<kind>:<attempts>" of the error, of one list call of the client made in init_by_lua.
function app.outcome()
  local page, err = app.init_client:list { limit = 1 }
  if page then return "ok" end
  return err.kind .. ":" .. tostring(err.attempts)
end

--- The kind of error of the first result of a one-operation batch ("ok" when it went through).
function app.batch_outcome()
  local report = app.init_client:batch { { op = "create", fields = { name = "from_a_batch" } } }
  local first = report.results[1]
  return first.ok and "ok" or first.err.kind
end

--- Stores `value` (a string) under `name` in the results dict.
function app.record(name, value)
  results:set(name, value)
end

-- Runs the Lua source `code` with `app` as its argument; returns the JSON text of its result,
-- or nil and the error.
local function execute(code, name)
  local chunk, err = load(code, "=" .. name)
  if not chunk then return nil, err end
  local ok, value = xpcall(chunk, debug.traceback, app)
  if not ok then return nil, value end
  local text, why = cjson.encode({ value = value })
  if not text then return nil, "result not encodable: " .. why end
  return text
end

------------------------------------------------------------------------------------------------
-- Phase handlers
------------------------------------------------------------------------------------------------

--- init_by_lua: makes the shared client, and tries a call in the init phase.
function app.init()
  app.init_client = app.client()
  app.record("init", app.outcome())
end

-- A timer: runs the code of each new broadcast once in this worker, and stores its result.
local last_generation, busy = 0, false
local function poll(premature)
  if premature or busy then return end
  local generation = results:get("generation") or 0
  if generation == last_generation then return end
  last_generation, busy = generation, true
  local text, err = execute(results:get("code"), "broadcast")
  results:set("result:" .. generation .. ":" .. ngx.worker.pid(), text or cjson.encode({ error = err }))
  busy = false
end

--- init_worker_by_lua: a call made directly in this phase (no timer), and the broadcast poller.
function app.init_worker()
  app.record("init_worker", app.outcome())
  last_generation = results:get("generation") or 0
  assert(ngx.timer.every(POLL_SECONDS, poll))
end

--- rewrite_by_lua / access_by_lua: a call in that phase, recorded under the phase's name.
function app.call_in_phase()
  local phase = ngx.get_phase()
  app.record(phase, phase .. " " .. app.outcome())
end

--- content_by_lua after call_in_phase: says what was recorded for `phase`.
function app.say_recorded(phase)
  ngx.say(results:get(phase))
end

------------------------------------------------------------------------------------------------
-- Control locations
------------------------------------------------------------------------------------------------

local function request_body()
  ngx.req.read_body()
  return ngx.req.get_body_data() or ""
end

--- POST /run: executes the body as Lua (`local app = ...`) in the content phase; answers
-- {"value": result} or {"error": message}.
function app.run()
  local text, err = execute(request_body(), "run")
  ngx.say(text or cjson.encode({ error = err }))
end

--- POST /broadcast: every worker runs the body as Lua in a timer (within POLL_SECONDS); answers
-- {"generation": n} to fetch the results with.
function app.broadcast()
  results:set("code", request_body())
  local generation = results:incr("generation", 1, 0)
  ngx.say(cjson.encode({ generation = generation }))
end

--- GET /results?generation=n: {"<worker pid>": {"value": …} | {"error": …}} so far; GET
-- /results?name=x: {"value": the recorded string or null}.
function app.results()
  local args = ngx.req.get_uri_args()
  if args.name then
    ngx.say(cjson.encode({ value = results:get(args.name) }))
    return
  end
  local out, prefix = {}, "result:" .. tostring(args.generation) .. ":"
  for _, key in ipairs(results:get_keys(0)) do
    if key:sub(1, #prefix) == prefix then out[key:sub(#prefix + 1)] = cjson.decode(results:get(key)) end
  end
  ngx.say(cjson.encode(out))
end

return app
