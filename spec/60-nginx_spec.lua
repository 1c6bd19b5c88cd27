-- The client inside real nginx (Debian's nginx + libnginx-mod-http-lua, LuaJIT 2.1 from luajit2):
-- the ngx transport against the fake server, non-blocking behaviour, batches as light threads,
-- pacing shared by workers through a lua_shared_dict, phases without cosockets, and the
-- nginx.conf of examples/nginx/posthog-admin.conf (shown in README.md) as written.
--
-- The code under test runs inside nginx, whatever interpreter runs busted; this file only drives
-- nginx over HTTP. So it runs once, under LuaJIT (the interpreter of nginx's own family), and
-- registers nothing under Lua 5.4 and 5.1, where it would repeat the same tests against the
-- same nginx (and take its waits three times).
if not rawget(_G, "jit") then return end

local socket = require "socket"
local cjson = require "cjson.safe"
local helpers = require "spec.helpers"

local nginx = require "support.nginx"

local WAIT_LIMIT = nginx.WAIT_LIMIT
local request, eventually, start, stop = nginx.request, nginx.eventually, nginx.start, nginx.stop

-- Runs Lua `code` in a content handler of `app` (its argument: spec/nginx/testapp.lua); returns
-- what the code returned.
local function run(app, code)
  local body, status = request("POST", app.url .. "/run", code)
  assert(status == 200, "/run answered " .. tostring(status) .. ": " .. body)
  local answer = assert(cjson.decode(body))
  assert(answer.error == nil, answer.error)
  return answer.value
end

-- How many lines of app's error log contain `text`.
local function log_lines(app, text)
  local n = 0
  for line in io.lines(app.dir .. "/logs/error.log") do
    if line:find(text, 1, true) then n = n + 1 end
  end
  return n
end

-- Sends a POST /run of `code` on a raw connection without waiting; returns a function that
-- reads the answer (status, body); HTTP/1.0, so the body is not chunked.
local function run_in_background(app, code)
  local host, port = app.url:match("^http://([^:]+):(%d+)$")
  local conn = assert(socket.connect(host, tonumber(port)))
  conn:settimeout(WAIT_LIMIT)
  assert(conn:send("POST /run HTTP/1.0\r\nHost: " .. host .. "\r\nContent-Length: "
    .. #code .. "\r\n\r\n" .. code))
  return function()
    local text = conn:receive("*a")
    conn:close()
    local status = tonumber(text:match("^HTTP/1%.%d (%d+)"))
    return status, text:match("\r\n\r\n(.*)$")
  end
end

-- Chunks of Lua run inside nginx start with this prelude: `app`, and `ok(v, err)` that raises
-- the error's one-line text when v is nil.
local PRELUDE = [[
local app = ...
local function ok(v, err)
  if v == nil then error(tostring(err), 2) end
  return v
end
]]

-- The fields of an error worth comparing, as the chunks below return them.
local ERR_FIELDS = [[
local function fields(err)
  return { kind = err.kind, status = err.status, attempts = err.attempts, code = err.code,
    detail = err.detail, retryable = err.retryable, retry_after = err.retry_after }
end
]]

describe("inside nginx (one worker)", function()
  local app

  lazy_setup(function()
    helpers.fake_url()
    app = start("--workers 1", "FAKE_POSTHOG_URL=" .. helpers.fake_url())
  end)
  lazy_teardown(function() stop(app) end)

  before_each(function() helpers.reset { seed = 20 } end)

  describe("the ngx transport", function()
    it("serves every endpoint of the contract", function()
      local out = run(app, PRELUDE .. [[
        local c = app.client { transport = "ngx" }
        local out = {}
        local def = ok(c:create { name = "made_in_nginx", tags = { "Core" }, owner = 1 })
        out.created = { name = def.name, tags = def.tags, owner = def.owner.id }
        out.got = ok(c:get(def.id)).id == def.id
        out.by_name = ok(c:by_name("made_in_nginx")).id == def.id
        out.updated = ok(c:update(def.id, { description = "d", verified = true })).verified
        out.replaced = ok(c:replace(def.id, { description = "r", tags = {} })).description
        local page = ok(c:list { limit = 5, ordering = "name" })
        out.page = { count = page.count, n = #page.results, first = page.results[1].name,
          has_next = page.next ~= nil }
        local n = 0
        for d in c:each { limit = 7 } do
          if d == false then error("each failed") end
          n = n + 1
        end
        out.each = n
        out.all = #ok(c:all { limit = 6 })
        out.primary = ok(c:primary_properties { "event_0008", "event_0001" })
        for _, lang in ipairs { "typescript", "golang", "python" } do
          local code = ok(c[lang](c))
          out[lang] = type(code.content) == "string" and type(code.schema_hash) == "string"
        end
        out.tagged = ok(c:bulk_update_tags({ def.id }, "add", { "extra" })).updated[1].tags
        out.verified = #ok(c:bulk_update_verified({ def.id }, false)).updated
        local raw = ok(c:request("GET", "by_name/", { query = { name = "made_in_nginx" } }))
        out.raw = { status = raw.status, name = raw.json.name, ctype = raw.headers["content-type"] }
        out.deleted = ok(c:delete(def.id))
        local legacy = app.client { transport = "ngx", personal_api_key = "phx_fake_legacy" }
        out.metrics = ok(legacy:metrics(ok(legacy:by_name("event_0005")).id)).query_usage_30_day
        return out
      ]])
      assert.same({ name = "made_in_nginx", tags = { "core" }, owner = 1 }, out.created)
      assert.is_true(out.got)
      assert.is_true(out.by_name)
      assert.is_true(out.updated)
      assert.equal("r", out.replaced)
      assert.same({ count = 21, n = 5, first = "event_0001", has_next = true }, out.page)
      assert.equal(21, out.each)
      assert.equal(21, out.all)
      assert.same({ event_0008 = "order_id" }, out.primary)
      assert.is_true(out.typescript and out.golang and out.python)
      assert.same({ "extra" }, out.tagged)
      assert.equal(1, out.verified)
      assert.same({ status = 200, name = "made_in_nginx", ctype = "application/json" }, out.raw)
      assert.is_true(out.deleted)
      assert.equal(5, out.metrics)
      local log = helpers.api_requests()
      assert.matches("^posthog%-event%-definitions/", log[1].headers["user-agent"])
      assert.equal("header", log[1].key_source)
    end)

    it("reuses connections through the keepalive pool, after content-length and chunked bodies", function()
      helpers.faults { { match = { query = "offset=2" }, action = "chunked", times = 2 } }
      local out = run(app, PRELUDE .. [[
        local c = app.client()
        local names = {}
        for offset = 0, 4 do
          local page = ok(c:list { limit = 2, offset = offset, ordering = "name" })
          names[#names + 1] = page.results[1].name .. "/" .. #page.results .. "/" .. page.count
        end
        local chunked_again = ok(c:list { limit = 2, offset = 2, ordering = "name" })
        names[#names + 1] = chunked_again.results[2].name
        return names
      ]])
      assert.same({ "event_0001/2/20", "event_0002/2/20", "event_0003/2/20", "event_0004/2/20",
        "event_0005/2/20", "event_0004" }, out)
      local log = helpers.api_requests()
      assert.equal(6, #log)
      assert.equal("chunked", log[3].fault)
      assert.equal("chunked", log[6].fault)
      local connections = {}
      for _, r in ipairs(log) do connections[r.connection] = true end
      local distinct = 0
      for _ in pairs(connections) do distinct = distinct + 1 end
      assert.equal(1, distinct)
      assert.is_true(helpers.stats().connections < #log)
    end)

    it("returns PostHog's errors with their fields, and never the key", function()
      local out = run(app, PRELUDE .. ERR_FIELDS .. [[
        local c = app.client()
        local _, err = c:get("01900000-0000-7000-8000-000000000000")
        local _, bad = c:get("not-a-uuid")
        return { missing = fields(err), line = tostring(err), validation = bad.kind }
      ]])
      assert.equal("http", out.missing.kind)
      assert.equal(404, out.missing.status)
      assert.equal("not_found", out.missing.code)
      assert.equal(1, out.missing.attempts)
      assert.is_nil(out.line:find("phx_fake_all", 1, true))
      assert.equal("validation", out.validation)
    end)

    it("honours Retry-After of a 429, sleeping with ngx.sleep", function()
      helpers.faults { { status = 429, headers = { ["Retry-After"] = 1 } } }
      local out = run(app, PRELUDE .. [[
        return #ok(app.client():list { limit = 3 }).results
      ]])
      assert.equal(3, out)
      local log = helpers.api_requests()
      assert.equal(2, #log)
      assert.equal(429, log[1].status)
      assert.equal(200, log[2].status)
      assert.is_true(log[2].time - log[1].time >= 0.95)
    end)

    it("retries a 503 for GET, but never replays a POST after a 502", function()
      helpers.faults { { match = { method = "GET" }, status = 503, times = 2 },
        { match = { method = "POST" }, status = 502 } }
      local out = run(app, PRELUDE .. ERR_FIELDS .. [[
        local c = app.client { random = function() return 0 end }
        local page = ok(c:list { limit = 1 })
        local _, err = c:create { name = "not_replayed" }
        return { count = page.count, post = fields(err) }
      ]])
      assert.equal(20, out.count)
      assert.equal("http", out.post.kind)
      assert.equal(502, out.post.status)
      assert.equal(1, out.post.attempts)
      assert.is_false(out.post.retryable)
      local statuses = {}
      for _, r in ipairs(helpers.api_requests()) do statuses[#statuses + 1] = r.method .. " " .. r.status end
      -- a gateway's 502 may hide an applied create: looked up with by_name (not found), never sent again
      assert.same({ "GET 503", "GET 503", "GET 200", "POST 502", "GET 404" }, statuses)
    end)

    it("retries a connection cut mid-body for GET, not for POST (kind transport)", function()
      helpers.faults { { match = { method = "GET" }, action = "cut" }, { match = { method = "POST" }, action = "cut" },
        { match = { query = "limit=9" }, action = "cut", times = 5 } }
      local out = run(app, PRELUDE .. ERR_FIELDS .. [[
        local c = app.client { random = function() return 0 end, max_retries = 2 }
        local page = ok(c:list { limit = 1 })
        local def = c:create { name = "cut_after_create" }
        local _, spent = c:list { limit = 9 }
        return { count = page.count, confirmed = def and def.name, spent = fields(spent) }
      ]])
      assert.equal(20, out.count)
      -- the POST was cut after the fake applied it: never replayed, confirmed with by_name
      assert.equal("cut_after_create", out.confirmed)
      assert.equal("transport", out.spent.kind)
      assert.equal(3, out.spent.attempts)
      assert.matches("body", out.spent.detail)
      local created = 0
      for _, d in ipairs(helpers.state()) do if d.name == "cut_after_create" then created = created + 1 end end
      assert.equal(1, created)
    end)

    it("reports malformed and truncated JSON as decode, and an HTML gateway page as http", function()
      helpers.faults { { match = { query = "limit=1$" }, action = "malformed" },
        { match = { query = "limit=2$" }, action = "truncate" }, { match = { query = "limit=3$" }, action = "html" } }
      local out = run(app, PRELUDE .. ERR_FIELDS .. [[
        local c = app.client { max_retries = 0 }
        local _, malformed = c:list { limit = 1 }
        local _, truncated = c:list { limit = 2 }
        local _, html = c:list { limit = 3 }
        return { fields(malformed), fields(truncated), fields(html) }
      ]])
      assert.equal("decode", out[1].kind)
      assert.equal("decode", out[2].kind)
      assert.equal("http", out[3].kind)
      assert.equal(502, out[3].status)
      assert.matches("Bad Gateway", out[3].detail)
    end)

    it("gives up an attempt at its deadline (kind timeout) and retries it for GET", function()
      helpers.faults { { action = "delay", seconds = 1, times = 2 } }
      local out = run(app, PRELUDE .. ERR_FIELDS .. [[
        local c = app.client { timeout = 0.2, max_retries = 0 }
        local _, err = c:list { limit = 1 }
        local retried = app.client { timeout = 0.2, max_retries = 1, random = function() return 0 end }
        return { first = fields(err), second = #ok(retried:list { limit = 1 }).results }
      ]])
      assert.equal("timeout", out.first.kind)
      assert.equal(1, out.first.attempts)
      assert.equal(1, out.second)
    end)

    it("refuses bodies over max_response_bytes, by length and by chunk (kind transport)", function()
      helpers.faults { { match = { query = "offset=1" }, action = "chunked" } }
      local out = run(app, PRELUDE .. ERR_FIELDS .. [[
        local c = app.client { max_response_bytes = 500, max_retries = 0 }
        local _, by_length = c:list { limit = 10 }
        local _, by_chunk = c:list { limit = 10, offset = 1 }
        return { fields(by_length), fields(by_chunk) }
      ]])
      for _, err in ipairs(out) do
        assert.equal("transport", err.kind)
        assert.matches("max_response_bytes", err.detail)
      end
    end)

    it("retries a refused connection (nothing sent) for every method", function()
      local out = run(app, PRELUDE .. ERR_FIELDS .. [[
        local c = app.client { host = "http://127.0.0.1:1", max_retries = 1, random = function() return 0 end }
        local _, err = c:create { name = "never_sent" }
        return fields(err)
      ]])
      assert.equal("transport", out.kind)
      assert.equal(2, out.attempts)
      assert.matches("connect", out.detail)
    end)

    it("resends once on a new connection when a pooled one closes before answering", function()
      local code = PRELUDE .. [[ return #ok(app.client { max_retries = 0 }:list { limit = 2 }).results ]]
      assert.equal(2, run(app, code)) -- leaves the connection in the worker's pool
      helpers.faults { { action = "close" } }
      assert.equal(2, run(app, code))
      local log = helpers.api_requests()
      assert.equal(3, #log)
      local closed, replay = log[2], log[3]
      assert.equal("close", closed.fault)
      assert.equal(log[1].connection, closed.connection)
      assert.is_true(closed.connection_requests > 1)
      assert.are_not.equal(closed.connection, replay.connection)
      assert.equal(200, replay.status)
    end)

    it("replays at most once, on a new connection, and then reports the POST as sent", function()
      local prime = PRELUDE .. [[
        local c = app.client { max_retries = 0 }
        local r = ok(c:batch({ { op = "create", fields = { name = "p1" } },
          { op = "create", fields = { name = "p2" } } }, { concurrency = 2 }))
        return r.ok ]]
      assert.equal(2, run(app, prime)) -- two connections in the worker's pool
      helpers.control("DELETE", "requests")
      helpers.faults { { match = { method = "POST" }, action = "close", times = 3 } }
      local answer = run(app, PRELUDE .. ERR_FIELDS .. [[
        local _, err = app.client { max_retries = 3 }:create { name = "once" }
        return fields(err) ]])
      assert.equal("transport", answer.kind)
      assert.equal(1, answer.attempts) -- the POST went out: never replayed by the client
      local posts = {}
      for _, r in ipairs(helpers.api_requests()) do if r.method == "POST" then posts[#posts + 1] = r end end
      assert.equal(2, #posts) -- the stale try and one replay on a new connection (then by_name checks)
      assert.are_not.equal(posts[1].connection, posts[2].connection)
      assert.equal(1, posts[2].connection_requests)
    end)

    describe("against odd servers", function()
      local tiny, tiny_pid, tiny_url
      lazy_setup(function()
        tiny = assert(io.popen("echo $$; exec env -u LUA_PATH -u LUA_CPATH lua5.4 spec/support/tiny_http.lua 0"))
        tiny_pid = assert(tiny:read("*l"))
        tiny_url = "http://127.0.0.1:" .. assert(assert(tiny:read("*l")):match("^port (%d+)$"))
      end)
      lazy_teardown(function()
        if tiny_pid then os.execute("kill " .. tiny_pid .. " 2>/dev/null") end
        if tiny then tiny:close() end
      end)

      it("keeps the deadline while an answer trickles in", function()
        local answer = run(app, PRELUDE .. ERR_FIELDS .. [[
          local c = app.client { host = "]] .. tiny_url .. [[", timeout = 1, max_retries = 0 }
          local res, err = c:request("GET", "/trickle", { query = { ms = 300 } })
          return res and { body = res.body } or fields(err) ]])
        assert.equal("timeout", answer.kind)
      end)

      it("counts a long header line against max_response_bytes", function()
        local answer = run(app, PRELUDE .. ERR_FIELDS .. [[
          local c = app.client { host = "]] .. tiny_url .. [[", max_response_bytes = 1000, max_retries = 0 }
          local res, err = c:request("GET", "/long-header", { query = { n = 2000000 } })
          return res and { status = res.status } or fields(err) ]])
        assert.equal("transport", answer.kind)
        assert.is_false(answer.retryable)
      end)
    end)

    it("verifies TLS certificates and host names, with SNI, trusting lua_ssl_trusted_certificate", function()
      local out = run(app, (PRELUDE .. ERR_FIELDS .. [[
        local good = app.client { host = "https://127.0.0.1:" .. app.tls_port }
        local page = ok(good:list { limit = 2 })
        local _, mismatch = app.client { host = "https://127.0.0.2:" .. app.tls_port, max_retries = 0 }
          :list { limit = 2 }
        local insecure = app.client { host = "https://127.0.0.2:" .. app.tls_port, insecure = true }
        local _, with_ca = app.evdefs.new(app.options { ca_file = "/etc/ssl/certs/ca-certificates.crt" })
        return { n = #page.results, mismatch = fields(mismatch), insecure = #ok(insecure:list { limit = 3 }).results,
          ca_file = fields(with_ca) }
      ]]):gsub("app%.tls_port", app.tls_port))
      assert.equal(2, out.n)
      assert.equal("transport", out.mismatch.kind)
      assert.matches("certificate", out.mismatch.detail)
      assert.equal(3, out.insecure)
      assert.equal("config", out.ca_file.kind)
      assert.matches("lua_ssl_trusted_certificate", out.ca_file.detail)
    end)
  end)

  describe("non-blocking", function()
    it("answers another request while a call waits on a slow answer", function()
      helpers.faults { { match = { query = "search=slow" }, action = "delay", seconds = 2 } }
      local slow = run_in_background(app, PRELUDE .. [[ return #ok(app.client():list { search = "slow" }).results ]])
      eventually("the slow call to reach the fake", function()
        if helpers.stats().inflight >= 1 then return true end
      end)
      local fast = run(app, PRELUDE .. [[ return ok(app.client():list { limit = 1 }).count ]])
      local inflight = helpers.stats().inflight
      assert.equal(20, fast)
      assert.is_true(inflight >= 1, "the slow call had finished before the other answer arrived")
      local status, body = slow()
      assert.equal(200, status)
      assert.equal('{"value":0}', body:match("^%s*(.-)%s*$"))
    end)

    it("answers another request while a call sleeps before a retry", function()
      helpers.faults { { match = { query = "search=throttled" }, status = 429, headers = { ["Retry-After"] = 2 } } }
      local sleeper = run_in_background(app, PRELUDE .. [[
        return #ok(app.client():list { search = "throttled" }).results
      ]])
      eventually("the 429 to be logged", function()
        if #helpers.api_requests() >= 1 then return true end
      end)
      assert.equal(20, run(app, PRELUDE .. [[ return ok(app.client():list { limit = 1 }).count ]]))
      local status = sleeper()
      assert.equal(200, status)
      local order = {}
      for _, r in ipairs(helpers.api_requests()) do order[#order + 1] = r.args:match("search=(%a+)") or "other" end
      assert.same({ "throttled", "other", "throttled" }, order)
    end)
  end)

  describe("batches", function()
    it("run 200 updates as light threads, at most `concurrency` in flight, every one reported", function()
      helpers.reset { seed = 200 }
      helpers.config { latency = 0.02 }
      local out = run(app, PRELUDE .. [[
        local c = app.client()
        local ops = {}
        for i, def in ipairs(ok(c:all { limit = 500 })) do
          ops[i] = { op = "update", id = def.id, fields = { description = "batched " .. def.name } }
        end
        local progress = 0
        local report = c:batch(ops, { concurrency = 8, on_progress = function(done) progress = done end })
        local reported = 0
        for _, r in ipairs(report.results) do if r.ok and r.value.description:find("^batched ") then
          reported = reported + 1 end end
        return { ok = report.ok, failed = report.failed, n = #report.results, reported = reported,
          progress = progress }
      ]])
      assert.same({ ok = 200, failed = 0, n = 200, reported = 200, progress = 200 }, out)
      local stats = helpers.stats()
      assert.is_true(stats.inflight_high >= 2 and stats.inflight_high <= 8,
        "inflight_high " .. stats.inflight_high)
      assert.is_true(stats.connections <= 8)
      for _, def in ipairs(helpers.state()) do assert.equal("batched " .. def.name, def.description) end
    end)

    it("run a transport function in light threads too", function()
      helpers.config { latency = 0.02 }
      local out = run(app, PRELUDE .. [[
        local ngx_transport = require("posthog.event_definitions.transport.ngx").new { max_response_bytes = 2 ^ 20 }
        local seen = 0
        local c = app.client { transport = function(req)
          seen = seen + 1
          return ngx_transport:request(req)
        end }
        local ops = {}
        for i = 1, 24 do ops[i] = { op = "create", fields = { name = "threaded_" .. i } } end
        local report = c:batch(ops, { concurrency = 4 })
        return { ok = report.ok, seen = seen }
      ]])
      assert.same({ ok = 24, seen = 24 }, out)
      local high = helpers.stats().inflight_high
      assert.is_true(high >= 2 and high <= 4, "inflight_high " .. high)
    end)

    it("when on_progress raises, start nothing new, finish the threads in flight, then raise", function()
      helpers.reset { seed = 0 }
      helpers.config { latency = 0.1 }
      local out = run(app, PRELUDE .. [[
        local c = app.client()
        local ops = {}
        for i = 1, 16 do ops[i] = { op = "create", fields = { name = ("raising_%02d"):format(i) } } end
        local raised, err = pcall(c.batch, c, ops, { concurrency = 8, on_progress = function()
          error("progress bar broke", 0)
        end })
        return { raised = not raised, err = err }
      ]])
      assert.same({ raised = true, err = "progress bar broke" }, out)
      assert.equal(0, helpers.stats().inflight, "the error came back with requests still in flight")
      assert.equal(8, #helpers.state())
    end)
  end)

  describe("footprint", function()
    it("never maps libcurl nor simdjson's libstdc++ into a worker that used the ngx transport", function()
      local out = run(app, PRELUDE .. [[
        local c = app.client()
        ok(c:list { limit = 1 })
        ok(c:batch { { op = "create", fields = { name = "footprint" } } })
        local mapped, cxx, core = {}, {}, false
        for line in io.lines("/proc/self/maps") do
          if line:find("libcurl", 1, true) then mapped[#mapped + 1] = line end
          if line:find("libstdc++", 1, true) or line:find("libsimdjson", 1, true) then cxx[#cxx + 1] = line end
          if line:find("event_definitions/core.so", 1, true) then core = true end
        end
        return { mapped = #mapped, cxx = #cxx, core = core,
          parser = require("posthog.event_definitions").json_parser() }
      ]])
      assert.same({ mapped = 0, cxx = 0, core = true, parser = "yajl" }, out)
    end)

    -- after the test above: from here on the worker that ran this has libstdc++ mapped. The
    -- module is required from a world-readable copy: workers run as nobody, and a checkout under
    -- /root is not theirs to read (the master loads the rest of the library for them).
    it("decodes with simdjson, with the same answers, in a worker that requires its module", function()
      local dir = assert(io.popen("mktemp -d")):read("*l")
      finally(function() os.execute("rm -rf '" .. dir .. "'") end)
      assert(os.execute(("mkdir -p '%s/posthog/event_definitions' && cp "
        .. "build/jit/posthog/event_definitions/simdjson.so '%s/posthog/event_definitions/' && chmod -R a+rX '%s'")
        :format(dir, dir, dir)))
      local out = run(app, PRELUDE .. ("local dir = %q\n"):format(dir) .. [[
        local core = require "posthog.event_definitions.core"
        local c = app.client()
        local before = ok(c:list { limit = 5 })
        package.cpath = dir .. "/?.so;" .. package.cpath
        require "posthog.event_definitions.simdjson"
        local after = ok(c:list { limit = 5 })
        local mapped = false
        for line in io.lines("/proc/self/maps") do
          if line:find("libsimdjson", 1, true) then mapped = true end
        end
        return { parser = require("posthog.event_definitions").json_parser(), mapped = mapped,
          results = #after.results, same = core.encode(before) == core.encode(after) }
      ]])
      assert.same({ parser = "simdjson", mapped = true, results = 5, same = true }, out)
    end)
  end)

  describe("phases", function()
    it("work in rewrite, access, content and timers, with a client made in init_by_lua", function()
      assert.equal("rewrite ok\n", (request("GET", app.url .. "/phase/rewrite")))
      assert.equal("access ok\n", (request("GET", app.url .. "/phase/access")))
      assert.equal("ok", run(app, PRELUDE .. [[ return app.outcome() ]]))
      run(app, PRELUDE .. [[
        ngx.timer.at(0, function() app.record("timer", app.outcome()) end)
      ]])
      assert.equal("ok", eventually("the timer", function()
        return cjson.decode((request("GET", app.url .. "/results?name=timer"))).value
      end))
    end)

    it("return a config error at once, sending nothing, where cosockets do not work", function()
      local recorded = function(name)
        return cjson.decode((request("GET", app.url .. "/results?name=" .. name))).value
      end
      assert.equal("config:0", recorded("init"))
      assert.equal("config:0", recorded("init_worker"))
      assert.equal("config:0", (request("GET", app.url .. "/phase/set")))
      local body, status, headers = request("GET", app.url .. "/phase/header_filter")
      assert.equal(200, status)
      assert.equal("header_filter\n", body)
      assert.equal("config:0", headers["x-outcome"])
      assert.equal("config", headers["x-batch"])
      request("GET", app.url .. "/phase/log")
      assert.equal("config:0", eventually("the log phase", function() return recorded("log") end))
      assert.equal(0, #helpers.api_requests())
    end)
  end)

  describe("choices and warnings", function()
    it("let transport = \"curl\" work inside nginx, with one warning per worker", function()
      local out = run(app, PRELUDE .. [[
        local c = app.client { transport = "curl" }
        local first = ok(c:list { limit = 1 }).count
        local report = c:batch({ { op = "create", fields = { name = "by_curl_1" } },
          { op = "create", fields = { name = "by_curl_2" } } }, { concurrency = 2 })
        local again = ok(app.client { transport = "curl" }:list { limit = 1 }).count
        return { first, report.ok, again }
      ]])
      assert.same({ 20, 2, 22 }, out)
      assert.equal(1, log_lines(app, 'transport "curl" blocks the nginx worker'))
    end)

    it("fall back to per-worker pacing with one warning when no shared_dict is named", function()
      local out = run(app, PRELUDE .. [[
        local first = ok(app.client { rate_limit = { per_minute = 1000 } }:list { limit = 1 }).count
        local second = ok(app.client { rate_limit = {} }:list { limit = 1 }).count
        local _, err = app.evdefs.new(app.options { rate_limit = { shared_dict = "no_such_dict" } })
        return { first, second, err.kind, err.detail }
      ]])
      assert.same({ 20, 20, "config", 'rate_limit.shared_dict: no lua_shared_dict named "no_such_dict"' }, out)
      assert.equal(1, log_lines(app, "no rate_limit.shared_dict"))
    end)

    it("pace through the shared dict within one worker, keyed by a hash of the key", function()
      local out = run(app, PRELUDE .. [[
        local c = app.client { rate_limit = { per_second = 3, shared_dict = "posthog_pacing" }, max_retry_wait = 0.5 }
        for _ = 1, 3 do ok(c:list { limit = 1 }) end
        local _, err = c:list { limit = 1 }
        local keys = ngx.shared.posthog_pacing:get_keys(0)
        local leaked = false
        for _, k in ipairs(keys) do if k:find("phx_", 1, true) then leaked = true end end
        return { kind = err.kind, retry_after = err.retry_after, keys = #keys, leaked = leaked }
      ]])
      assert.equal("rate_limit", out.kind)
      assert.equal(1, out.retry_after)
      assert.is_true(out.keys >= 4)
      assert.is_false(out.leaked)
      assert.equal(3, #helpers.api_requests())
    end)
  end)
end)

describe("inside nginx (two workers)", function()
  local app

  lazy_setup(function()
    app = start("--workers 2", "FAKE_POSTHOG_URL=" .. helpers.fake_url())
  end)
  lazy_teardown(function() stop(app) end)

  it("share one pacing budget per key through the lua_shared_dict", function()
    helpers.reset { seed = 5 }
    local PER_SECOND, CALLS = 4, 6
    local body = request("POST", app.url .. "/broadcast", PRELUDE .. ([[
      local c = app.client { rate_limit = { per_second = PER_SECOND, shared_dict = "posthog_pacing" } }
      for _ = 1, CALLS do ok(c:list { limit = 1 }) end
      return CALLS
    ]]):gsub("PER_SECOND", PER_SECOND):gsub("CALLS", CALLS))
    local generation = assert(cjson.decode(body)).generation
    local by_worker = eventually("both workers", function()
      local results = cjson.decode((request("GET", app.url .. "/results?generation=" .. generation)))
      local n = 0
      for _ in pairs(results) do n = n + 1 end
      if n == 2 then return results end
    end)
    for pid, result in pairs(by_worker) do assert.same({ value = CALLS }, result, "worker " .. pid) end
    local times = {}
    for _, r in ipairs(helpers.api_requests()) do times[#times + 1] = r.time end
    table.sort(times)
    assert.equal(2 * CALLS, #times)
    -- No PER_SECOND + 1 requests within one second (less the jitter between the client's clock
    -- and the fake's arrival times).
    for i = 1, #times - PER_SECOND do
      assert.is_true(times[i + PER_SECOND] - times[i] >= 0.95,
        string.format("requests %d and %d only %.3f s apart", i, i + PER_SECOND, times[i + PER_SECOND] - times[i]))
    end
  end)
end)

describe("examples/nginx/posthog-admin.conf (README.md's nginx.conf), as written", function()
  local app
  local ADMIN = "/admin/event-definitions"

  lazy_setup(function()
    helpers.reset { seed = 20 }
    app = start("--docs", "POSTHOG_HOST=" .. helpers.fake_url() .. " POSTHOG_PERSONAL_API_KEY=" .. helpers.KEY
      .. " POSTHOG_PROJECT_ID=1")
  end)
  lazy_teardown(function() stop(app) end)

  it("lists definitions on the admin endpoint", function()
    local body, status = request("GET", app.url .. ADMIN .. "?search=event_001")
    assert.equal(200, status)
    local doc = assert(cjson.decode(body))
    assert.equal(1, doc.version)
    assert.equal(10, #doc.definitions)
    assert.equal("event_0010", doc.definitions[1].name)
  end)

  it("updates a definition on the admin endpoint, and passes PostHog's 4xx through", function()
    local def = assert(helpers.client():by_name("event_0003"))
    local body, status = request("PATCH", app.url .. ADMIN .. "/" .. def.id,
      '{"description": "from the admin endpoint", "tags": ["admin"], "owner": null}')
    assert.equal(200, status, body)
    local updated = assert(cjson.decode(body)).definitions[1]
    assert.equal("from the admin endpoint", updated.description)
    assert.same({ "admin" }, updated.tags)
    for _, d in ipairs(helpers.state()) do
      if d.id == def.id then assert.equal("from the admin endpoint", d.description) end
    end
    body, status = request("PATCH", app.url .. ADMIN .. "/01900000-0000-7000-8000-000000000000", "{}")
    assert.equal(404, status)
    assert.matches("404 not_found", assert(cjson.decode(body)).error)
    assert.is_nil(body:find(helpers.KEY, 1, true))
    assert.equal(400, select(2, request("PATCH", app.url .. ADMIN .. "/" .. def.id, "not json")))
    assert.equal(405, select(2, request("DELETE", app.url .. ADMIN .. "/" .. def.id)))
  end)

  it("refreshes the cached taxonomy in a timer", function()
    local function snapshot_names()
      local body, status = request("GET", app.url .. "/admin/taxonomy")
      if status ~= 200 then return nil end
      local names = {}
      for _, d in ipairs(assert(cjson.decode(body)).definitions) do names[d.name] = true end
      return names
    end
    assert.is_true(eventually("a first snapshot", snapshot_names).event_0001)
    assert(helpers.client():create { name = "added_later" })
    eventually("a refreshed snapshot", function()
      local names = snapshot_names()
      return names and names.added_later
    end)
    assert.equal(0, log_lines(app, "no rate_limit.shared_dict"))
    assert.equal(0, log_lines(app, "taxonomy refresh failed"))
    assert.equal(0, log_lines(app, "taxonomy not cached"))
    assert.equal(0, log_lines(app, "runtime error"))
  end)
end)
