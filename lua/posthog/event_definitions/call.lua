--- The call pipeline: one API call from a call spec to a value. The C core builds the request
-- (1), a transport carries it (2), the C core decodes and checks the answer (3); pacing and
-- retries happen between the steps. Every endpoint, the pager, the batch engine and the
-- taxonomy helpers send through `Pipeline:send`, and nothing else sends.
--
-- A call spec is a table {method, path, query, query_shape, body, body_shape, shape, headers,
-- raw}: `shape` names what a 2xx answer must be ("definition", "page", "bulk", "object", …,
-- checked by the core), `raw` asks for {status, headers, body, json} instead.
local core = require "posthog.event_definitions.core"
local errors = require "posthog.event_definitions.errors"
local retry = require "posthog.event_definitions.retry"
local runtime = require "posthog.event_definitions.runtime"

local type, setmetatable, tostring = type, setmetatable, tostring

local Pipeline = {}
Pipeline.__index = Pipeline

local call = {}

--- A pipeline for the resolved options `o` (see options.resolve) sending as `user_agent`;
-- returns it, or nil and a config problem (a pacing store that cannot be had).
function call.new(o, user_agent)
  local log, why = runtime.pacing_log(o.personal_api_key, o)
  if o.limits and not log then return nil, why end
  return setmetatable({
    options = o,
    key = o.personal_api_key,
    base = o.base,
    prefix = o.prefix,
    list_path = "/api/projects/" .. o.project .. "/event_definitions/",
    user_agent = user_agent,
    limits = o.limits,
    log = log,
    now = o.now or core.monotonic,
    random = o.random or math.random,
    cache = {}, -- the transports made for this pipeline (runtime.context)
  }, Pipeline)
end

--- An error table from `fields`, scrubbed of the key; `retryable` defaults to false.
function Pipeline:error(fields)
  fields.retryable = fields.retryable or false
  return errors.new(fields, self.key)
end

--- The path shown in errors for a request path: the host's prefix, no query.
function Pipeline:shown(path)
  return self.prefix .. (path or self.list_path):match("^[^?]*")
end

--- A "validation" error for `spec` (nothing was sent).
function Pipeline:validation(spec, detail)
  return self:error { kind = "validation", detail = detail, method = spec.method,
    path = self:shown(spec.path), attempts = 0 }
end

--- The request of `spec` prepared by the C core, or nil and a validation error.
function Pipeline:build(spec)
  local req, err = core.build_request {
    method = spec.method, base = self.base, path = spec.path,
    query = spec.query, query_shape = spec.query_shape,
    body = spec.body, body_shape = spec.body_shape,
    key = self.key, user_agent = self.user_agent, headers = spec.headers,
    timeout = self.options.timeout,
  }
  if not req then return nil, self:validation(spec, err.detail) end
  return req
end

--- The means of a call chosen now (see runtime.context), or nil and why.
function Pipeline:context()
  return runtime.context(self.options, self.cache)
end

--- Runs `workers` (functions of a ctx) concurrently; see runtime.concurrently.
function Pipeline:concurrently(workers)
  runtime.concurrently(self.options, self.cache, workers, self.now)
end

--- Runs fn(...) with SIGINT and SIGTERM caught outside nginx, released however it ends (see
-- runtime.holding); runtime.interrupted, the signal caught, or nil.
Pipeline.holding = function(_, how, fn, ...) return runtime.holding(how, fn, ...) end
Pipeline.interrupted = function() return runtime.interrupted() end

--- The error of an operation that was not started because the batch was interrupted by `signal`.
function Pipeline:not_started(spec, signal)
  return self:error { kind = "interrupted", detail = "not started, the batch was stopped by " .. signal,
    method = spec.method, path = self:shown(spec.path), attempts = 0 }
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

-- The answer of `request`: the raw response plus its JSON when it says it is JSON.
local function raw_result(res)
  local out = { status = res.status, headers = res.headers, body = res.body }
  local ctype = res.headers["content-type"] or ""
  if res.body ~= "" and ctype:find("json", 1, true) then
    local json, err = core.decode(res.body)
    if json == nil and err then return nil, { kind = "decode", status = res.status, detail = err.detail } end
    out.json = json
  end
  return out
end

-- One attempt: send, then decode. Returns value, or nil and an error table (not yet final).
-- Answers of a transport function get their header names normalised by the core, as the
-- built-in transports' are.
local function attempt_once(spec, req, ctx, key)
  local res, failure = ctx.transport(req)
  if res == nil then return nil, transport_failure(failure) end
  if type(res) ~= "table" or type(res.status) ~= "number" then
    return nil, { kind = "transport", sent = true, detail = "transport returned no status" }
  end
  if ctx.foreign then
    res = { status = res.status, headers = core.normalize_headers(res.headers or {}), body = res.body or "",
      replayed = res.replayed }
  end
  if res.status >= 300 then res.body = errors.scrub(res.body, key) end
  if spec.raw and res.status >= 200 and res.status < 300 then return raw_result(res) end
  local value, err = core.decode_response(res, spec.shape)
  if err and res.replayed then err.replayed = true end
  return value, err
end

-- Statuses that only a gateway answers (see retry.GATEWAY_ONLY).
local GATEWAY_ONLY = retry.GATEWAY_ONLY

-- Whether a failed attempt of `spec` may have been applied: it was sent and no complete answer
-- came back, from the transport or (a write answered 5xx) from PostHog: a 502 or 504, or any
-- other 5xx without PostHog's own error body (`type` and `code`: an HTML page of a proxy, a
-- crash page); or a write was answered 2xx with a body that could not be read; or the transport
-- replayed the request (an earlier copy may have been applied) and the answer is the conflict
-- that such a copy causes. PostHog's own 5xx answers (500 `error`, 503 `database_unavailable`)
-- are its complete answer: the write failed.
local function maybe_applied(spec, err)
  if err.kind == "transport" or err.kind == "timeout" then return err.sent ~= false end
  if spec.method == "GET" then return false end
  local status = err.status
  if err.kind == "decode" then
    return type(status) == "number" and status >= 200 and status < 300
  end
  if type(status) == "number" and status >= 500 and status < 600 then
    return GATEWAY_ONLY[status] or not (err.type and err.code)
  end
  return err.replayed == true and spec.conflict ~= nil and spec.conflict(err)
end

-- Whether a failed DELETE has done its work: answered 404 after an attempt that may have been
-- applied, or after the transport replayed it.
local function deleted(spec, err, ambiguous)
  return spec.method == "DELETE" and err.status == 404 and (ambiguous or err.replayed == true)
end

-- Waits for the pacing windows to allow one more request, then counts it; returns nil and the
-- wait when that would be longer than max_retry_wait, or nil, nil and why when the windows
-- cannot be had (Redis failed with rate_limit.redis_required). The windows are asked again
-- after each sleep, since other calls sharing the key may have gone out meanwhile, unless the
-- wait was a reservation (Redis counted the request for its end).
function Pipeline:pace(sleep)
  local log, max_wait = self.log, self.options.max_retry_wait
  if not log then return true end
  local wait, why, reserved = log:acquire(self.limits, self.now(), max_wait)
  while wait and wait > 0 do
    if wait > max_wait then return nil, wait end
    sleep(wait)
    if reserved then return true end -- counted for the end of that wait (pacing_redis)
    wait, why, reserved = log:acquire(self.limits, self.now(), max_wait)
  end
  if not wait then return nil, nil, why end
  return true
end

-- The value of an ambiguous call when `spec.confirm(p, ctx)` can tell that it took effect, else nil.
local function resolve(p, spec, ctx, ambiguous)
  if not (ambiguous and spec.confirm) then return nil end
  return spec.confirm(p, ctx)
end

-- The final error of `spec` from `err` of its last attempt (number `attempt`).
function Pipeline:final(spec, err, attempt, ambiguous)
  err.attempts, err.method, err.path = attempt, spec.method, self:shown(spec.path)
  err.ambiguous = ambiguous or nil
  err.sent, err.replayed = nil, nil
  return self:error(err)
end

--- Runs the call `spec` with pacing and retries. Returns the decoded value, or nil, err.
-- `ctx` (optional) = {transport, sleep[, interrupted]} replaces the pipeline's own, as a batch
-- runner does. An attempt that may have been applied (sent and no complete answer, or a write
-- answered 2xx with an unreadable body) makes the call ambiguous: a DELETE then
-- answered 404 has done its work; a spec with `confirm` is checked; what stays unknown comes
-- back with err.ambiguous = true. Once ctx.interrupted() names a signal, no attempt is started:
-- a call not yet sent returns kind "interrupted", one that was returns its last error.
function Pipeline:send(spec, ctx)
  local shown_path = self:shown(spec.path)
  local req, invalid = self:build(spec)
  if not req then return nil, invalid end
  if not (ctx and ctx.transport) then
    local why
    ctx, why = self:context()
    if not ctx then
      return nil, self:error { kind = "config", detail = why, method = spec.method,
        path = shown_path, attempts = 0 }
    end
  end
  local o = self.options
  local attempt, ambiguous, last = 0, false, nil
  -- the error to return once interrupted: not started, or the last attempt's
  local function halted()
    local signal = ctx.interrupted and ctx.interrupted()
    if not signal then return nil end
    if last then return self:final(spec, last, attempt, ambiguous) end
    return self:not_started(spec, signal)
  end
  while true do
    local halt = halted()
    if halt then return nil, halt end
    local paced, wait, why = self:pace(ctx.sleep)
    halt = paced and halted()
    if halt then return nil, halt end
    if not paced then
      return nil, self:error { kind = "rate_limit", method = spec.method,
        path = shown_path, attempts = attempt, retry_after = wait and math.ceil(wait),
        retryable = true, ambiguous = ambiguous or nil,
        detail = why or string.format("pacing would wait %.1f s, over max_retry_wait", wait) }
    end
    attempt = attempt + 1
    local value, err = attempt_once(spec, req, ctx, self.key)
    if value ~= nil then return value end
    if deleted(spec, err, ambiguous) then return true end
    ambiguous = ambiguous or maybe_applied(spec, err)
    local retryable = retry.should_retry(spec.method, err)
    err.retryable = retryable
    local too_long = err.retry_after and err.retry_after > o.max_retry_wait
    if not retryable or too_long or attempt > o.max_retries then
      local resolved = resolve(self, spec, ctx, ambiguous)
      if resolved then return resolved end
      return nil, self:final(spec, err, attempt, ambiguous)
    end
    last = err
    ctx.sleep(retry.delay(attempt, err.retry_after, self.random))
  end
end

--- Releases the connections; idempotent.
function Pipeline:close()
  runtime.close(self.cache)
end

return call
