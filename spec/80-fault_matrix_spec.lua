-- The fault matrix: every hostile behaviour of spec/support/hostile_server.lua against list, get,
-- update (PATCH), create (POST) and delete, on both transports: curl in this process, ngx inside a
-- real nginx (spec/nginx, as spec/60 starts it; that column only under LuaJIT, like spec/60).
-- Each case is checked against the contract (../shared/design/lua-api.md): err.kind, status,
-- attempts, retryable, retry_after, ambiguous; how many requests the server received (a POST
-- never twice after an ambiguous failure); that nothing reached another host or followed a
-- redirect; that the key is in no error text; that tostring(err) is one line and no field holds
-- a control character; and that the call ended within its deadlines (no hang: not a benchmark).
-- Retries sleep through an injected recorder, so no case waits for a backoff or a Retry-After.
-- Cases that wait for a client deadline are tagged #timing (make valgrind skips them).
-- At the end it prints "matrix: N cases, N held" on stderr (and the ids of the cases that did not).
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson.safe"
local evdefs = require "posthog.event_definitions"
local helpers = require "spec.helpers"
local runner = require "support.fault_runner"

local KEY = "phx_hostile_7c1e9a4b2d58f3"  -- distinctive, so any echo of it is found
local MAX_RETRIES, TIMING_RETRIES = 2, 1
local MAX_RETRY_WAIT = 10
local MAX_RESPONSE_BYTES = 65536
local VALGRIND = os.getenv("VALGRIND") == "1"
local TIMEOUT = VALGRIND and 10 or 2 -- per attempt, for cases that never wait for a deadline
local TIMING_TIMEOUT = 0.5           -- per attempt, for the #timing cases
local SLACK = VALGRIND and 20 or 1.5 -- seconds on top of timeout x requests
local WAIT_LIMIT = 120               -- the longest this file waits for any one answer

------------------------------------------------------------------------------------------------
-- Expectations (the contract), by class. `x` = {m = method name, all = attempts when every
-- retry is used, idem = not a POST, write = update, create or delete, gzip = the client asked
-- for gzip}. ambiguous: true (must be true), false (must not be true), "any".
------------------------------------------------------------------------------------------------

local function ok() return function() return { ok = true, primary = 1 } end end
-- Sent, and no complete answer came back: transport; retried unless POST; ambiguous.
local function cut(_, x)
  return { kind = "transport", attempts = x.idem and x.all or 1, ambiguous = true, retryable = x.idem }
end
-- The attempt's deadline passed: as cut, kind timeout.
local function stall(m, x)
  local e = cut(m, x)
  e.kind = "timeout"
  return e
end
-- Over max_response_bytes: transport, never retried (it would be as large again); ambiguous.
local function oversize()
  return { kind = "transport", attempts = 1, ambiguous = true, retryable = false }
end
-- 502/503/504: retried unless POST. Only a gateway answers 502 or 504: it got no complete
-- answer from PostHog, which may have applied a write, so a write is ambiguous; so is one
-- answered 503 without PostHog's error body (`html`). PostHog's own 503 is its answer: not.
local function gateway(status, html)
  return function(_, x)
    local unknown = x.write and (status ~= 503 or html)
    return { kind = "http", status = status, attempts = x.idem and x.all or 1, ambiguous = unknown == true,
      retryable = x.idem }
  end
end
local function status(code)
  return function() return { kind = "http", status = code, attempts = 1, ambiguous = false, retryable = false } end
end
-- A 500 without PostHog's error body (a crash page): a write may have been applied, ambiguous.
local function crashed(_, x)
  return { kind = "http", status = 500, attempts = 1, ambiguous = x.write, retryable = false }
end
-- 429 retried for every method, sleeping Retry-After (`slept`: the exact sleeps, when known).
local function throttled(retry_after, slept)
  return function(_, x)
    return { kind = "http", status = 429, attempts = x.all, ambiguous = false, retryable = true,
      retry_after = retry_after, slept = slept }
  end
end
-- 429 whose wait is over max_retry_wait: returned at once.
local function throttled_long(retry_after)
  return function()
    return { kind = "http", status = 429, attempts = 1, ambiguous = false, retry_after = retry_after }
  end
end
-- A complete 2xx answer whose body is not what was expected: decode, never retried. A write
-- answered 2xx may have been applied, so it is reported ambiguous (the contract: a write
-- reported failed without `ambiguous` did not happen).
local function decode(_, x)
  return { kind = "decode", attempts = 1, ambiguous = x.write, retryable = false }
end
-- As decode, but a DELETE accepts it (a 2xx with an empty or JSON-object body).
local function decode_but_delete_ok(m, x)
  if m == "delete" then return { ok = true, primary = 1 } end
  return decode(m, x)
end

local B = {} -- behaviour -> {expect = function(m, x), timing = bool, methods = set or nil}
local ORDER = {}
local function behaviour(name, expect, opts)
  opts = opts or {}
  B[name] = { expect = expect, timing = opts.timing, methods = opts.methods, prime = opts.prime }
  ORDER[#ORDER + 1] = name
end

behaviour("ok", ok())
behaviour("refused", function(_, x)
  return { kind = "transport", attempts = x.all, primary = 0, ambiguous = false, retryable = true }
end)
for _, name in ipairs { "close_before", "reset_before", "close_in_status", "close_in_headers", "reset_in_headers",
  "close_after_headers", "close_in_body", "reset_in_body", "close_in_chunk", "chunked_no_end" } do
  behaviour(name, cut)
end
-- The first request lost, then honest answers: GET/PATCH/DELETE retried to success; a create
-- is not replayed but confirmed with by_name (the definition exists as sent) and reported ok.
behaviour("close_once", function(m)
  if m == "create" then return { ok = true, primary = 1, by_name = { 1, 1 } } end
  return { ok = true, primary = 2 }
end)
-- The first request lost, then 404: a DELETE is then done (the definition is gone). A create's
-- by_name answered 404 proves nothing (the lost POST may still be in flight on the server), so
-- the create stays ambiguous.
behaviour("close_then_404", function(m, x)
  if m == "delete" then return { ok = true, primary = 2 } end
  if m == "create" then return { kind = "transport", attempts = 1, ambiguous = true, retryable = false,
    by_name = { 0, x.all } } end
  return { kind = "http", status = 404, attempts = 2, ambiguous = "any" } -- an earlier attempt was lost
end)
-- A stale keep-alive connection (the client primes it with a list): the request sent on it is
-- applied and the connection closed unanswered; the one replay on a new connection (libcurl's or
-- the ngx transport's) or the client's retry then meets the consequences: a DELETE 404 (done),
-- a POST "already exists" (confirmed with by_name, so ok). Counts exclude the priming list.
behaviour("stale_keepalive", function(m)
  if m == "create" then return { ok = true, primary = { 1, 2 }, by_name = { 1, 1 } } end
  return { ok = true, primary = 2 }
end, { prime = true })
behaviour("s503_once", function(m)
  if m == "create" then return { kind = "http", status = 503, attempts = 1, ambiguous = false, retryable = false } end
  return { ok = true, primary = 2 }
end)
behaviour("s500_json", status(500))
for _, code in ipairs { 502, 503, 504 } do
  behaviour("s" .. code .. "_json", gateway(code, false))
  behaviour("s" .. code .. "_html", gateway(code, true))
end
behaviour("s404_json", status(404))
behaviour("s400_json", status(400))
behaviour("r429_seconds", throttled(2, { 2, 2 }))
behaviour("r429_date", throttled({ 1, 4 }))
behaviour("r429_past", throttled(0, { 0, 0 }))
behaviour("r429_zero", throttled(0, { 0, 0 }))
behaviour("r429_padded", throttled(3, { 3, 3 }))
behaviour("r429_huge", throttled_long({ MAX_RETRY_WAIT + 1, math.huge }))
behaviour("r429_day", throttled_long(86400))
behaviour("r429_negative", throttled_long(60))
behaviour("r429_garbage", throttled_long(60))
behaviour("r429_absent", throttled_long(60))
for _, name in ipairs { "stall_before_headers", "stall_after_headers", "stall_in_body", "trickle_body",
  "trickle_headers" } do
  behaviour(name, stall, { timing = true })
end
for _, name in ipairs { "big_length", "big_chunked", "big_close", "big_http10", "huge_header", "endless_headers",
  "chunk_huge_size" } do
  behaviour(name, oversize)
end
-- A gzip bomb: a client that asked for gzip stops inflating at max_response_bytes; one that did
-- not ask must not inflate it, and the bytes are not JSON.
behaviour("gzip_bomb", function(m, x)
  if x.gzip then return oversize() end
  return decode(m, x)
end)
for _, name in ipairs { "invalid_json", "shape_array", "shape_scalar", "shape_null", "deep_nesting", "invalid_utf8",
  "nul_byte", "trailing_garbage", "number_overflow", "html_200", "cl_too_small", "echo_200_garbage" } do
  behaviour(name, decode)
end
behaviour("big_integer", decode, { methods = { list = true, get = true, update = true, create = true } })
for _, name in ipairs { "shape_wrong_types", "empty_200", "s204" } do behaviour(name, decode_but_delete_ok) end
for _, name in ipairs { "continue_then_ok", "http10_close", "http11_close", "chunked_ok" } do behaviour(name, ok()) end
for _, name in ipairs { "chunk_bad_hex", "chunk_overflow_hex", "chunk_negative", "chunk_short", "cl_conflict",
  "cl_list", "cl_negative", "not_http_ssh", "not_http_status", "not_http_v2", "not_http_bare" } do
  behaviour(name, cut)
end
behaviour("redirect_301_other", status(301))
behaviour("redirect_302_relative", status(302))
behaviour("redirect_307_other", status(307))
behaviour("redirect_308_localhost", status(308))
behaviour("echo_detail_400", status(400))
behaviour("echo_attr_401", status(401))
behaviour("echo_html_502", gateway(502))
behaviour("echo_text_500", crashed)
behaviour("echo_header_500", status(500))
behaviour("detail_crlf", status(400))
behaviour("html_crlf_502", gateway(502))

------------------------------------------------------------------------------------------------
-- The hostile server
------------------------------------------------------------------------------------------------

local server = {}

-- GET `url` with a bounded wait; returns body, status.
local function fetch(url, method, body)
  local chunks = {}
  local _, code = http.request {
    url = url, method = method or "GET", sink = ltn12.sink.table(chunks),
    source = body and ltn12.source.string(body) or nil,
    headers = body and { ["content-length"] = tostring(#body) } or nil,
    create = function()
      local s = socket.tcp()
      s:settimeout(WAIT_LIMIT)
      return s
    end,
  }
  return table.concat(chunks), code
end

function server.start()
  server.pipe = assert(io.popen("echo $$; exec env -u LUA_PATH -u LUA_CPATH lua5.4 spec/support/hostile_server.lua"))
  server.pid = assert(server.pipe:read("*l"))
  local line = assert(server.pipe:read("*l"), "the hostile server did not start")
  local main, other = line:match("^port (%d+) (%d+)$")
  assert(main, "the hostile server said: " .. line)
  server.base = "http://127.0.0.1:" .. main
  local probe = assert(socket.bind("127.0.0.1", 0)) -- a port with nobody listening
  server.refused = "http://127.0.0.1:" .. select(2, probe:getsockname())
  probe:close()
  server.other = tonumber(other)
end

function server.stop()
  if server.pid then os.execute("kill " .. server.pid .. " 2>/dev/null") end
  if server.pipe then server.pipe:close() end
  server.pid, server.pipe = nil, nil
end

function server.log(case)
  local body, code = fetch(server.base .. "/__ctl/log?case=" .. case)
  assert(code == 200, "hostile server log: " .. tostring(code))
  return assert(cjson.decode(body))
end

function server.behaviours()
  local body, code = fetch(server.base .. "/__ctl/behaviours")
  assert(code == 200, "hostile server behaviours: " .. tostring(code))
  return assert(cjson.decode(body))
end

------------------------------------------------------------------------------------------------
-- nginx (the ngx column), started as spec/60 starts it
------------------------------------------------------------------------------------------------

local nginx = {}

function nginx.start()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir .. " && chmod 755 " .. dir))
  nginx.dir = dir
  local pipe = assert(io.popen("FAKE_POSTHOG_URL=" .. helpers.fake_url() .. " spec/nginx/start --dir " .. dir
    .. " --workers 1"))
  local url = pipe:read("*l")
  pipe:close()
  assert(url and url:match("^http://127%.0%.0%.1:%d+$"), "nginx did not start in " .. dir)
  nginx.url = url
  local f = assert(io.open("spec/support/fault_runner.lua"))
  nginx.runner_source = f:read("*a")
  f:close()
end

function nginx.stop()
  if nginx.dir then os.execute("spec/fake/stop " .. nginx.dir .. " >/dev/null 2>&1; rm -rf " .. nginx.dir) end
  nginx.dir = nil
end

-- A Lua literal of a flat table of strings, numbers and booleans.
local function literal(t)
  local parts = {}
  for k, v in pairs(t) do
    local value = type(v) == "string" and string.format("%q", v)
      or type(v) == "number" and string.format("%.17g", v) or tostring(v)
    parts[#parts + 1] = string.format("[%q] = %s", k, value)
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

-- Runs one case inside nginx; returns the runner's outcome.
function nginx.run(options, method, name, prime)
  local code = "local app = ...\nlocal runner = (function()\n" .. nginx.runner_source .. "\nend)()\n"
    .. "return runner.run(app.evdefs, " .. literal(options) .. ", " .. string.format("%q", method) .. ", "
    .. string.format("%q", name) .. ", function() ngx.update_time() return ngx.now() end, "
    .. tostring(prime or false) .. ")\n"
  local body, code_ = fetch(nginx.url .. "/run", "POST", code)
  if code_ ~= 200 then return { raised = "/run answered " .. tostring(code_) .. ": " .. tostring(body) } end
  local answer = cjson.decode(body)
  if not answer then return { raised = "/run answer is not JSON: " .. body:sub(1, 200) } end
  if answer.error then return { raised = "inside nginx: " .. tostring(answer.error) } end
  return answer.value
end

------------------------------------------------------------------------------------------------
-- One case
------------------------------------------------------------------------------------------------

local PRIMARY_METHOD = { list = "GET", get = "GET", update = "PATCH", create = "POST", delete = "DELETE" }
local KINDS = { http = true, transport = true, timeout = true, decode = true, validation = true,
  rate_limit = true, config = true }

local function has_control(s)
  for i = 1, #s do
    local b = s:byte(i)
    if b < 32 or b == 127 then return true end
  end
  return false
end

local function within(v, want)
  if type(want) == "table" then return type(v) == "number" and v >= want[1] and v <= want[2] end
  return v == want
end

local function show(v)
  if type(v) == "table" then
    local parts = {}
    for _, x in ipairs(v) do parts[#parts + 1] = tostring(x) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return tostring(v)
end

-- Checks `out` (the runner's outcome) of case `c` against the expectation and the server's log;
-- returns the list of problems (empty: the case held).
local function check(c, out, log_answer)
  local problems = {}
  local function problem(fmt, ...) problems[#problems + 1] = string.format(fmt, ...) end
  local requests = log_answer and log_answer.requests or {}
  local x = { m = c.method, all = c.retries + 1, idem = c.method ~= "create",
    write = c.method ~= "list" and c.method ~= "get", gzip = false }
  for _, r in ipairs(requests) do
    if (r.accept_encoding or ""):lower():find("gzip", 1, true) then x.gzip = true end
  end
  local e = B[c.behaviour].expect(c.method, x)
  local primary, by_name, stray = 0, 0, {}
  for _, r in ipairs(requests) do
    if c.prime and r.n == 1 then -- the priming list
      if not out.primed then problem("the priming list failed") end
    elseif r.method == "GET" and r.rest:find("/by_name/?$") then by_name = by_name + 1
    elseif r.method == PRIMARY_METHOD[c.method] then primary = primary + 1
    else stray[#stray + 1] = r.method .. " " .. r.rest end
  end

  if out.raised then problem("raised: %s", out.raised) end
  local texts = { out.raised, out.line }
  if e.ok then
    if out.ok ~= true then
      local got = out.err and (tostring(out.err.kind) .. ": " .. tostring(out.line)) or "nothing"
      problem("expected success, got %s", got)
    elseif not out.value_ok then
      problem("success without the expected value")
    end
  elseif out.ok then
    problem("expected kind %s, got success", e.kind)
  elseif not out.raised then
    local err = out.err
    if out.err_type ~= "table" or not err then
      problem("err is a %s, not a table", tostring(out.err_type))
      err = {}
    end
    for _, v in pairs(err) do texts[#texts + 1] = tostring(v) end
    if not KINDS[err.kind] then problem("err.kind %s is not a documented kind", tostring(err.kind)) end
    if err.kind ~= e.kind then problem("kind %s, expected %s", tostring(err.kind), e.kind) end
    if e.status and err.status ~= e.status then problem("status %s, expected %d", tostring(err.status), e.status) end
    if e.attempts and err.attempts ~= e.attempts then
      problem("attempts %s, expected %d", tostring(err.attempts), e.attempts)
    end
    if e.ambiguous == true and err.ambiguous ~= true then
      problem("ambiguous %s, expected true (sent, no complete answer)", tostring(err.ambiguous))
    elseif e.ambiguous == false and err.ambiguous == true then
      problem("ambiguous true, expected not (nothing sent, or a complete answer)")
    end
    if e.retryable ~= nil and err.retryable ~= e.retryable then
      problem("retryable %s, expected %s", tostring(err.retryable), tostring(e.retryable))
    end
    if e.retry_after ~= nil and not within(tonumber(err.retry_after) or err.retry_after, e.retry_after) then
      problem("retry_after %s, expected %s", tostring(err.retry_after), show(e.retry_after))
    end
    if type(err.method) ~= "string" or type(err.path) ~= "string" then problem("err.method/err.path missing") end
    if has_control(out.line or "") then problem("tostring(err) holds a control character: %q", out.line) end
    for k, v in pairs(err) do
      if type(v) == "string" and has_control(v) then problem("err.%s holds a control character", k) end
    end
  end
  for _, s in ipairs(texts) do
    if s and s:find(KEY, 1, true) then
      problem("the key appears in the error: %s", s:sub(1, 160))
      break
    end
  end

  -- What the server received.
  local want_primary = e.primary or e.attempts or 1
  if not within(primary, want_primary) then
    problem("server received %d %s, expected %s", primary, PRIMARY_METHOD[c.method], show(want_primary))
  end
  local range = e.by_name or (c.method == "create" and not e.ok and e.ambiguous ~= false and { 0, x.all })
    or { 0, 0 }
  if by_name < range[1] or by_name > range[2] then
    problem("server received %d by_name GETs, expected %d..%d", by_name, range[1], range[2])
  end
  if #stray > 0 then problem("unexpected requests: %s", table.concat(stray, ", ")) end
  if log_answer and log_answer.other ~= c.other_before then problem("a request reached the other host") end
  if log_answer and log_answer.followed ~= c.followed_before then problem("a redirect was followed") end

  -- Time and sleeps: no hang, and never a sleep over max_retry_wait.
  if out.elapsed then
    local requests_made = math.max(1, #requests, e.attempts or 0)
    local bound = c.timeout * requests_made + SLACK
    if out.elapsed >= bound then problem("took %.2f s, bound %.2f s", out.elapsed, bound) end
  end
  local slept = out.slept or {}
  for _, s in ipairs(slept) do
    if type(s) ~= "number" or s < 0 or s > MAX_RETRY_WAIT then problem("slept %s", tostring(s)) end
  end
  if e.slept and (#slept ~= #e.slept or show(slept) ~= show(e.slept)) then
    problem("slept %s, expected %s", show(slept), show(e.slept))
  end
  if #problems > 0 and out.line then problems[#problems + 1] = "the error: " .. out.line:sub(1, 240) end
  return problems
end

------------------------------------------------------------------------------------------------
-- The matrix
------------------------------------------------------------------------------------------------

local tally = { cases = 0, held = 0, failed = {} }

local function case_list()
  local cases = {}
  for _, name in ipairs(ORDER) do
    for _, method in ipairs(runner.METHODS) do
      if not B[name].methods or B[name].methods[method] then
        cases[#cases + 1] = { behaviour = name, method = method, timing = B[name].timing, prime = B[name].prime }
      end
    end
  end
  return cases
end

local function run_case(c, transport)
  c.retries = c.timing and TIMING_RETRIES or MAX_RETRIES
  c.timeout = c.timing and TIMING_TIMEOUT or TIMEOUT
  c.id = table.concat({ c.behaviour, c.method, transport }, ".")
  local base = c.behaviour == "refused" and server.refused or server.base
  local options = { host = base .. "/b/" .. c.behaviour .. "/" .. c.id, personal_api_key = KEY, project_id = 1,
    rate_limit = false, timeout = c.timeout, max_retries = c.retries, max_retry_wait = MAX_RETRY_WAIT,
    max_response_bytes = MAX_RESPONSE_BYTES, transport = transport }
  local before = server.log("none")
  c.other_before, c.followed_before = before.other, before.followed
  local name = "matrix_" .. c.behaviour .. "_" .. c.method
  local out
  if transport == "curl" then
    out = runner.run(evdefs, options, c.method, name, socket.gettime, c.prime)
  else
    out = nginx.run(options, c.method, name, c.prime)
  end
  -- Let the server see the client's side of every connection end (a dropped stall) first.
  local log_answer = server.log(c.id)
  local problems = check(c, out, log_answer)
  tally.cases = tally.cases + 1
  if #problems == 0 then
    tally.held = tally.held + 1
  else
    tally.failed[#tally.failed + 1] = c.id
  end
  return problems
end

local function register(transport)
  for _, c in ipairs(case_list()) do
    local title = c.behaviour .. " x " .. c.method .. " x " .. transport .. (c.timing and " #timing" or "")
    it(title, function()
      local problems = run_case(c, transport)
      assert(#problems == 0, c.behaviour .. " x " .. c.method .. " x " .. transport .. ": "
        .. table.concat(problems, "; "))
    end)
  end
end

describe("the fault matrix", function()
  lazy_setup(function() server.start() end)
  lazy_teardown(function()
    server.stop()
    io.stderr:write(string.format("matrix: %d cases, %d held\n", tally.cases, tally.held))
    if #tally.failed > 0 then
      io.stderr:write("matrix: failed: " .. table.concat(tally.failed, " ") .. "\n")
    end
  end)

  it("covers every behaviour the hostile server plays, and plays every one it expects", function()
    local played = server.behaviours()
    local known = {}
    for _, name in ipairs(played) do
      known[name] = true
      assert(B[name], "the server plays " .. name .. ", which the matrix does not check")
    end
    for _, name in ipairs(ORDER) do
      assert(known[name] or name == "refused", "the matrix expects " .. name .. ", which the server does not play")
    end
  end)

  describe("curl transport", function() register("curl") end)

  -- The ngx column runs inside nginx; like spec/60, only once, under LuaJIT.
  if rawget(_G, "jit") then
    describe("ngx transport", function()
      lazy_setup(function() nginx.start() end)
      lazy_teardown(function() nginx.stop() end)
      register("ngx")
    end)
  end
end)
