--- Where a call runs: plain Lua or nginx. Everything that differs between the two lives here:
-- the transport chosen at each call, how to sleep, how workers run concurrently, and where the
-- pacing windows are kept. Nothing here knows the API.
local core = require "posthog.event_definitions.core"
local pacing = require "posthog.event_definitions.pacing"

local runtime = {}

local type, ipairs, pcall, error = type, ipairs, pcall, error

-- The nginx phases in which cosockets, ngx.sleep and light threads work.
local YIELDING_PHASES = { server_rewrite = true, rewrite = true, access = true, content = true,
  timer = true, ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true }

--- The current nginx phase ("init", "content", "timer", …), or nil outside nginx.
function runtime.phase()
  if type(ngx) == "table" and ngx.get_phase then return ngx.get_phase() end
  return nil
end

-- Outside nginx the decoder gets its faster parser, simdjson (the same answers), when its rock
-- (posthog-event-definitions-simdjson) is installed; without it, yajl decodes alone. Inside
-- nginx it is left out, since it maps libstdc++ into every worker (a require of the module adds
-- it). core.json_parser() says which runs.
if runtime.phase() == nil then pcall(require, "posthog.event_definitions.simdjson") end

local warned = {}
-- Logs `message` at the nginx warn level, once per worker process for each `what`.
local function warn_once(what, message)
  if warned[what] then return end
  warned[what] = true
  ngx.log(ngx.WARN, "posthog.event_definitions: ", message)
end

--- The pacing log of `key` for the resolved options `o`: nil when pacing is off; with
-- rate_limit.redis the windows kept in Redis (pacing_redis), over the host-local log below as
-- its fallback; else inside nginx the lua_shared_dict named by rate_limit.shared_dict (shared
-- by the workers) or, without one, the worker's own log with a warning; outside nginx the
-- process's log. Returns log, or nil and a config problem.
function runtime.pacing_log(key, o)
  local log, why = runtime.local_pacing_log(key, o)
  if log and o.redis then
    return require("posthog.event_definitions.pacing_redis").log(o.redis, core.sha256(key), log)
  end
  return log, why
end

--- The pacing log of `key` on this host alone (what `pacing_log` gives without rate_limit.redis,
-- and what it falls back to while Redis fails); nil and a config problem as there.
function runtime.local_pacing_log(key, o)
  if not o.limits then return nil end
  local name = type(o.rate_limit) == "table" and o.rate_limit.shared_dict or nil
  if runtime.phase() then
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

--- The means of a call, chosen now for the resolved options `o`: {transport = function(req) ->
-- res | nil, err, sleep, runner = "threads" | "curl" | nil, foreign = true for a transport
-- function, whose answers the pipeline normalises}; or nil and why (a "config"
-- problem). `cache` (one per client) keeps the transports made, for reuse and `close`. Inside
-- nginx the automatic choice is the ngx transport where cosockets work and nothing elsewhere
-- (a call never blocks a worker unless "curl" is forced); retries sleep with ngx.sleep wherever
-- it works.
function runtime.context(o, cache)
  local chosen, phase = o.transport, runtime.phase()
  local yielding = phase and YIELDING_PHASES[phase]
  local sleep = (yielding and not o.sleep) and ngx.sleep or o.sleep or core.sleep
  if type(chosen) == "function" then
    return { transport = chosen, sleep = sleep, runner = yielding and "threads" or nil, foreign = true }
  end
  if phase and chosen ~= "curl" then
    if not yielding then
      return nil, "no cosockets in the nginx phase \"" .. phase .. "\": call from rewrite, access, "
        .. "content or a timer (ngx.timer.at)"
    end
    if not cache.ngx then
      local transport = require("posthog.event_definitions.transport.ngx").new(o)
      cache.ngx = function(req) return transport:request(req) end
    end
    return { transport = cache.ngx, sleep = sleep, runner = "threads" }
  end
  if phase then
    warn_once("curl", "transport \"curl\" blocks the nginx worker during every call; leave "
      .. "transport unset to use cosockets")
  end
  if not cache.curl then
    local curl = require("posthog.event_definitions.transport.curl").new(o)
    cache.curl = curl
    cache.curl_request = function(req) return curl:request(req) end
  end
  return { transport = cache.curl_request, sleep = sleep, runner = "curl" }
end

-- Runs `workers` as nginx light threads sharing `ctx`. A worker that raises marks
-- ctx.cancelled (the others start nothing new); once every thread has ended, the first error
-- is raised again.
local function run_threads(ctx, workers)
  local failure
  local function guarded(worker)
    return function()
      local ok, err = pcall(worker, ctx)
      if not ok and not failure then failure = { err } end
      if not ok then ctx.cancelled = true end
    end
  end
  local threads = {}
  for i, worker in ipairs(workers) do threads[i] = ngx.thread.spawn(guarded(worker)) end
  for _, thread in ipairs(threads) do ngx.thread.wait(thread) end
  if failure then error(failure[1], 0) end
end

------------------------------------------------------------------------------------------------
-- Interrupts: SIGINT and SIGTERM outside nginx (the C side is in the libcurl driver's module)
------------------------------------------------------------------------------------------------

-- The line the library writes when a second signal ends the process during a batch.
local AGAIN = "posthog.event_definitions: interrupted again: exiting at once; operations in flight may "
  .. "have been applied\n"

local holds = {} -- what runtime.hold_interrupts asked, innermost last

local LIBCURL = "posthog.event_definitions.transport.libcurl"
local libcurl -- the libcurl driver's module, once loaded (runtime.interrupted asks it at each tick)

-- The signal functions of the libcurl driver's module.
local function signals()
  if not libcurl then libcurl = require(LIBCURL) end
  return libcurl
end

-- Puts the innermost hold in force, or the dispositions from before the first one.
local function enforce_holds()
  local top = holds[#holds]
  if top then
    signals().trap(top.at_once ~= nil, top.at_once or top.again)
  else
    signals().untrap()
  end
end

--- Outside nginx, catches SIGINT and SIGTERM until the returned function is called (holds
-- nest; the innermost decides). `how.at_once` (a line): the first signal writes it to stderr
-- and ends the process (status 128 + the signal's number). Otherwise the first signal is only
-- noted (runtime.interrupted says which, from then on) and a second one writes `how.again`
-- (default: that of the hold around this one, else the library's line) and ends the process.
-- Signals the process ignored from the start (a background job's SIGINT) stay ignored. Inside
-- nginx nothing is caught, ever.
function runtime.hold_interrupts(how)
  if runtime.phase() then return function() end end
  local below = holds[#holds]
  local hold = { at_once = how and how.at_once, again = how and how.again or below and below.again or AGAIN }
  holds[#holds + 1] = hold
  enforce_holds()
  return function()
    for i = #holds, 1, -1 do
      if holds[i] == hold then table.remove(holds, i) end
    end
    enforce_holds()
  end
end

-- The values given, in a table with their number (table.pack of Lua 5.2+).
local function pack(...)
  return { n = select("#", ...), ... }
end
local unpack = rawget(table, "unpack") or rawget(_G, "unpack") -- Lua 5.2+, else 5.1

--- Runs fn(...) under runtime.hold_interrupts(how) and releases the hold however fn ends:
-- returns what fn returned, or raises again what it raised (as it came, with level 0), the hold
-- released first.
function runtime.holding(how, fn, ...)
  local release = runtime.hold_interrupts(how)
  local results = pack(pcall(fn, ...))
  release()
  if not results[1] then error(results[2], 0) end
  return unpack(results, 2, results.n)
end

--- "SIGINT" or "SIGTERM" once one was caught by a hold of this process (it stays so), else nil.
function runtime.interrupted()
  if runtime.phase() or not (libcurl or package.loaded[LIBCURL]) then return nil end
  return signals().caught()
end

--- Runs `workers` (functions of a ctx) concurrently until all have returned: nginx light
-- threads, coroutines over the libcurl multi driver, or one after the other (a blocking
-- transport function, or a call that cannot be made: each worker then meets the config error).
-- Workers stop taking new work once `ctx.cancelled` is set; when one raises, the others finish
-- what they have in flight and then the error propagates. Outside nginx, while interrupts are
-- held, ctx.interrupted() says whether a signal came (then sleeps end early).
function runtime.concurrently(o, cache, workers, now)
  local ctx = runtime.context(o, cache)
  local interrupted = #holds > 0 and runtime.phase() == nil and runtime.interrupted or nil
  if ctx and ctx.runner == "threads" then
    ctx.cancelled = false
    run_threads(ctx, workers)
  elseif ctx and ctx.runner == "curl" then
    local sleep = ctx.sleep
    if interrupted and sleep == core.sleep then sleep = signals().nap end
    cache.curl:run(workers, now, sleep, interrupted)
  else
    ctx = ctx or { cancelled = false }
    ctx.interrupted = interrupted
    for _, worker in ipairs(workers) do worker(ctx) end
  end
end

--- Releases the transports made for `cache`; idempotent.
function runtime.close(cache)
  if cache.curl then cache.curl:close() end
end

return runtime
