-- Pacing shared by a fleet through a real Redis (Debian's redis-server on a free loopback port,
-- with a password, started and stopped here): the rate_limit.redis options, processes and nginx
-- instances sharing one budget (checked on the fake PostHog's request log), the script loaded
-- again after SCRIPT FLUSH, Redis killed or stalled in the middle of a batch, a clock stepped
-- back, a wrong password, a read-only replica, redis_required, and keys that never hold the API
-- key. spec/65-redis_hostile_spec.lua has the hostile servers.
local socket = require "socket"
local cjson = require "cjson.safe"
local helpers = require "spec.helpers"
local redis_server = require "spec.support.redis_server"
local nginx = require "support.nginx"
local evdefs = require "posthog.event_definitions"
local core = require "posthog.event_definitions.core"
local options = require "posthog.event_definitions.options"

local DEADLINE = 60   -- seconds: the longest any child process or poll may take
local TUNING = options.TUNING

local literal, caller = redis_server.literal, redis_server.caller
local arrival_times, assert_paced = redis_server.arrival_times, redis_server.assert_paced
local count, capture_stderr = redis_server.count_lines, redis_server.capture_stderr

describe("rate_limit.redis options", function()
  local function resolve(rate_limit)
    return options.resolve({ personal_api_key = "phx_k", rate_limit = rate_limit }, false)
  end

  it("read a redis:// URL with password and db, and the table form, with defaults", function()
    local o = assert(resolve { redis = "redis://:p%40ss@10.0.0.5:6380/3" })
    assert.same({ host = "10.0.0.5", port = 6380, password = "p@ss", db = 3, timeout = 0.5, cooldown = 30,
      prefix = "posthog-evdefs:", required = false }, o.redis)
    o = assert(resolve { redis = { host = "r1" }, redis_prefix = "x:", redis_required = true })
    assert.same({ host = "r1", port = 6379, db = 0, timeout = 0.5, cooldown = 30, prefix = "x:",
      required = true }, o.redis)
    assert.same({ per_minute = 480, per_hour = 4800 }, o.limits)
    assert.is_nil(assert(resolve { per_second = 2 }).redis)
  end)

  it("raise on unknown keys and wrong Lua types", function()
    assert.has_error(function() resolve { redis = 5 } end,
      "posthog.event_definitions: rate_limit.redis must be a redis:// URL or a table")
    assert.has_error(function() resolve { redis = { host = "h", user = "u" } } end,
      "posthog.event_definitions: unknown rate_limit.redis key 'user'")
    assert.has_error(function() resolve { redis = { host = "h", port = "1" } } end,
      "posthog.event_definitions: rate_limit.redis.port must be a number")
    assert.has_error(function() resolve { redis = "redis://h", redis_required = "yes" } end,
      "posthog.event_definitions: rate_limit.redis_required must be a boolean")
    assert.has_error(function() resolve { redis = "redis://h", redis_prefix = 1 } end,
      "posthog.event_definitions: rate_limit.redis_prefix must be a string")
  end)

  it("turn wrong values into config errors from new", function()
    for given, why in pairs {
      ["http://h:1"] = "rate_limit.redis must start with redis://",
      ["redis://h:99999"] = "rate_limit.redis: port must be between 1 and 65535",
      ["redis://pw@h"] = "rate_limit.redis: the password goes after a colon (redis://:password@host:port/db)",
      ["redis://h:1/x"] = "rate_limit.redis must look like redis://[:password@]host[:port][/db]",
    } do
      local client, err = evdefs.new { personal_api_key = "phx_k", rate_limit = { redis = given } }
      assert.is_nil(client)
      assert.same({ "config", why }, { err.kind, err.detail }, given)
    end
    local _, err = evdefs.new { personal_api_key = "phx_k", rate_limit = { redis = { host = "h", timeout = 0 } } }
    assert.equal("rate_limit.redis: timeout must be a number of seconds above 0 and at most 60", err.detail)
  end)

  it("name keys by core.sha256, the SHA-256 of the key", function()
    for _, s in ipairs { "", "abc", string.rep("phx_0123456789", 9) } do
      local pipe = assert(io.popen("printf '%s' '" .. s .. "' | sha256sum"))
      local expected = pipe:read("*a"):match("^(%x+)")
      pipe:close()
      assert.equal(expected, core.sha256(s))
    end
  end)
end)

describe("posthog.event_definitions.hiredis (Redis connections outside nginx)", function()
  local hiredis = require "posthog.event_definitions.hiredis"
  local server
  lazy_setup(function() server = redis_server.start() end)
  lazy_teardown(function() if server then server:stop() end end)

  it("connects, flags Redis errors apart from failures, and turns replies into Lua values", function()
    local refused, why = hiredis.connect("127.0.0.1", 1, 0.5, TUNING.redis_max_reply, TUNING.redis_max_elements)
    assert.is_nil(refused)
    assert.matches("^connect: ", why)
    -- by name through the lookup thread where the machine names localhost (a bare chroot has no
    -- /etc/hosts: then by address)
    local host = socket.dns.toip("localhost") and "localhost" or "127.0.0.1"
    local c = assert(hiredis.connect(host, server.port, 1, TUNING.redis_max_reply, TUNING.redis_max_elements))
    assert.same({ nil, "NOAUTH Authentication required.", true }, { c:command("PING") })
    local _, wrong, is_reply = c:command("AUTH", "not-the-password")
    assert.matches("^WRONGPASS", wrong)
    assert.is_true(is_reply)
    assert.is_false(c:closed()) -- an error reply leaves the connection usable
    assert.equal("OK", c:command("AUTH", server.password))
    assert.equal("OK", c:command("SET", "hiredis-spec", 42))
    assert.equal("42", c:command("GET", "hiredis-spec"))
    assert.is_false(c:command("GET", "hiredis-spec-absent"))
    assert.equal(43, c:command("INCR", "hiredis-spec"))
    assert.same({ 1, "a", false, { err = "ERR inner" } },
      c:command("EVAL", "return { 1, 'a', false, redis.error_reply('ERR inner') }", 0))
    assert.has_error(function() c:command() end)
    assert.has_error(function() c:command("SET", "k", {}) end)
    c:close()
    c:close()
    assert.is_true(c:closed())
    assert.same({ nil, "the connection is closed" }, { c:command("PING") })
  end)

  it("bounds a command by the timeout and closes the connection after a failure", function()
    local c = assert(hiredis.connect("127.0.0.1", server.port, 0.2, TUNING.redis_max_reply, TUNING.redis_max_elements))
    assert.equal("OK", c:command("AUTH", server.password))
    local t0 = socket.gettime()
    local v, why, is_reply = c:command("BLPOP", "hiredis-spec-never", 5)
    assert.is_nil(v)
    assert.equal("timeout", why)
    assert.is_nil(is_reply)
    assert.is_true(socket.gettime() - t0 < 4) -- well before BLPOP's own 5 s
    assert.is_true(c:closed())
  end)
end)

describe("pacing through a real Redis #timing", function()
  local server

  lazy_setup(function() server = redis_server.start() end)
  lazy_teardown(function() if server then server:stop() end end)

  local function redis_option(extra)
    local r = { host = "127.0.0.1", port = server.port, password = server.password, timeout = 0.5 }
    for k, v in pairs(extra or {}) do r[k] = v end
    return r
  end

  -- A client of the shared fake paced through the server (real sleeps).
  local function client(per_second, redis_extra, rate_extra)
    local rate_limit = { per_second = per_second, redis = redis_option(redis_extra) }
    for k, v in pairs(rate_extra or {}) do rate_limit[k] = v end
    return assert(evdefs.new { host = helpers.fake_url(), personal_api_key = helpers.KEY, project_id = 1,
      rate_limit = rate_limit })
  end

  -- Every key of the server (SCAN), sorted.
  local function keys()
    local out, cursor = {}, "0"
    repeat
      local text = server:cli("SCAN", cursor, "COUNT", 1000)
      local lines = {}
      for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
      cursor = lines[1]
      for i = 2, #lines do out[#out + 1] = lines[i] end
    until cursor == "0"
    table.sort(out)
    return out
  end

  local KEY_NAME
  before_each(function()
    server:cli("FLUSHALL")
    server:cli("CONFIG", "RESETSTAT")
    KEY_NAME = "posthog-evdefs:" .. core.sha256(helpers.KEY)
  end)

  it("share one budget between two processes: never more than N requests in any second", function()
    helpers.reset { seed = 5 }
    local PER_SECOND, CALLS = 4, 6
    local script = caller({ per_second = PER_SECOND, redis = redis_option() }, CALLS)
    local a, b = redis_server.spawn(script, DEADLINE), redis_server.spawn(script, DEADLINE)
    for _, child in ipairs { a, b } do
      local code, out, err = child.wait()
      assert.same({ 0, "done\n", "" }, { code, out, err })
    end
    local times = arrival_times()
    assert.equal(2 * CALLS, #times)
    assert_paced(times, PER_SECOND)
    assert.same({ KEY_NAME }, keys())
    assert.equal(tostring(2 * CALLS), server:cli("LLEN", KEY_NAME))
    -- one round trip per call, the waits included: a wait is a reservation, not asked again
    local evalsha = server:cli("INFO", "commandstats"):match("cmdstat_evalsha:calls=(%d+)")
    assert.equal(tostring(2 * CALLS), evalsha)
  end)

  it("store only a hash of the key, and numbers, with an expiry", function()
    local c = client(5)
    for _ = 1, 3 do assert(c:list { limit = 1 }) end
    local all = keys()
    assert.same({ KEY_NAME }, all)
    for _, k in ipairs(all) do assert.is_nil(k:find(helpers.KEY, 1, true)) end
    for _, v in ipairs { server:cli("LRANGE", KEY_NAME, 0, -1) } do
      for item in v:gmatch("[^\n]+") do assert.truthy(item:match("^%d+$"), item) end
    end
    local ttl = tonumber(server:cli("PTTL", KEY_NAME)) -- the longest window: per_hour, by default
    assert.is_true(ttl > 3500 * 1000 and ttl <= 3600 * 1000 + 50 + 1, "PTTL " .. ttl) -- the margin: 50 ms
  end)

  it("return a wait over max_retry_wait as a rate_limit error, reserving nothing", function()
    socket.sleep(1.1) -- the process's host-local log keeps the earlier tests' last second
    local c = assert(evdefs.new { host = helpers.fake_url(), personal_api_key = helpers.KEY, project_id = 1,
      max_retry_wait = 0.2, rate_limit = { per_second = 2, redis = redis_option() } })
    assert(c:list { limit = 1 })
    assert(c:list { limit = 1 })
    local value, err = c:list { limit = 1 }
    assert.is_nil(value)
    assert.same({ "rate_limit", 0 }, { err.kind, err.attempts })
    -- the second's window, widened by the margin, ends in a little over 1 s
    assert.is_true(err.retry_after == 1 or err.retry_after == 2, err.retry_after)
    assert.equal("2", server:cli("LLEN", KEY_NAME))
  end)

  it("load the script again after SCRIPT FLUSH, without falling back", function()
    local c = client(50)
    local _, _, logged = capture_stderr(function()
      assert(c:list { limit = 1 })
      assert.equal("OK", server:cli("SCRIPT", "FLUSH"))
      assert(c:list { limit = 1 })
    end)
    assert.equal("", logged)
    assert.equal("2", server:cli("LLEN", KEY_NAME))
  end)

  it("fall back when Redis is killed in the middle of a batch, lose nothing, and go back to it", function()
    helpers.reset { seed = 5 }
    local PER_SECOND, CALLS = 4, 14
    local child = redis_server.spawn(caller({ per_second = PER_SECOND,
      redis = redis_option { cooldown = 2, timeout = 0.3 } }, CALLS), DEADLINE)
    -- killed once the child has sent a few requests through Redis
    local deadline = socket.gettime() + DEADLINE
    while #helpers.api_requests() < 3 and socket.gettime() < deadline do socket.sleep(0.05) end
    server:signal("KILL")
    socket.sleep(0.3)
    server:start()
    local code, out, err = child.wait()
    assert.same({ 0, "done\n" }, { code, out })
    assert.equal(CALLS, #helpers.api_requests())
    assert.equal(1, count(err, "failed (connect: Connection refused); pacing on this host alone for 2 s"), err)
    assert.equal(1, count(err, "answers again"))
    assert.is_nil(err:find(server.password, 1, true))
    assert.is_nil(err:find(helpers.KEY, 1, true))
    assert.is_true(tonumber(server:cli("LLEN", KEY_NAME)) >= 1) -- paced through Redis again
    assert_paced(arrival_times(), PER_SECOND) -- the host-local log kept the pace meanwhile
  end)

  it("fall back when Redis stalls in the middle of a batch, never more than N in a second", function()
    helpers.reset { seed = 5 }
    local PER_SECOND, CALLS = 4, 14
    local child = redis_server.spawn(caller({ per_second = PER_SECOND,
      redis = redis_option { cooldown = 1, timeout = 0.3, db = 6 } }, CALLS), DEADLINE)
    local deadline = socket.gettime() + DEADLINE
    while #helpers.api_requests() < 3 and socket.gettime() < deadline do socket.sleep(0.05) end
    server:signal("STOP")
    while #helpers.api_requests() < 9 and socket.gettime() < deadline do socket.sleep(0.05) end
    server:signal("CONT")
    local code, out, err = child.wait()
    assert.same({ 0, "done\n" }, { code, out }, err)
    assert.equal(CALLS, #helpers.api_requests())
    assert.is_true(count(err, "timeout); pacing on this host alone for 1 s") >= 1, err)
    assert_paced(arrival_times(), PER_SECOND)
  end)

  -- The server's clock (TIME) in microseconds.
  local function server_clock()
    local seconds, micros = server:cli("TIME"):match("^(%d+)\n(%d+)$")
    return tonumber(seconds) * 1e6 + tonumber(micros)
  end

  it("take a request time far ahead of Redis's clock as bad data: host-local pacing, said once", function()
    helpers.reset { seed = 5 }
    -- as after the server's clock stepped back 10 minutes
    server:cli("RPUSH", KEY_NAME, string.format("%.0f", server_clock() + 600e6))
    local c = client(2)
    local _, _, logged = capture_stderr(function()
      for _ = 1, 5 do assert(c:list { limit = 1 }) end
    end)
    assert.equal(1, count(logged, "failed (BADDATA the list of request times holds a request time 6"), logged)
    assert.equal(1, count(logged, " s ahead of the server clock); pacing on this host alone for 30 s"), logged)
    assert_paced(arrival_times(), 2)
    assert.equal("1", server:cli("LLEN", KEY_NAME)) -- nothing reserved behind the bad time
    -- with redis_required, the bad data is the error; so is a stored time that is not a number
    local _, err = client(2, nil, { redis_required = true }):list { limit = 1 }
    assert.matches("failed: BADDATA the list of request times holds a request time %d+%.%d s ahead", err.detail)
    server:cli("-n", 8, "RPUSH", KEY_NAME, "not-a-time")
    _, err = client(2, { db = 8 }, { redis_required = true }):list { limit = 1 }
    assert.matches("failed: BADDATA the list of request times holds a request time that is not a number$", err.detail)
  end)

  it("honour a reservation ahead within the furthest one, without calling it bad data", function()
    server:cli("-n", 9, "RPUSH", KEY_NAME, string.format("%.0f", server_clock() + 3e6))
    local c = assert(evdefs.new { host = helpers.fake_url(), personal_api_key = helpers.KEY, project_id = 1,
      max_retry_wait = 0.5, rate_limit = { per_second = 50, redis = redis_option { db = 9 } } })
    local value, err, logged = capture_stderr(function() return c:list { limit = 1 } end)
    assert.is_nil(value)
    assert.same({ "rate_limit", 3 }, { err.kind, err.retry_after })
    assert.equal("", logged)
  end)

  it("bound a stalled Redis by its timeout and fall back", function()
    local c = client(50, { timeout = 0.2, cooldown = 30, db = 4 })
    server:signal("STOP")
    local ok, page, _, logged = pcall(capture_stderr, function() return c:list { limit = 1 } end)
    server:signal("CONT")
    assert(ok, page)
    assert.truthy(page)
    assert.equal(1, count(logged, ": timeout)"), logged)
    -- within the cool-down, no more attempts (nor messages)
    local _, _, again = capture_stderr(function() return assert(c:list { limit = 1 }) end)
    assert.equal("", again)
  end)

  it("fall back on a wrong password (logged without it), or fail with redis_required", function()
    helpers.reset { seed = 5 }
    local wrong = "not-the-password-91c2"
    -- another db than the other tests' (the cool-down is per server and db)
    local c = client(50, { password = wrong, db = 1 })
    local page, _, logged = capture_stderr(function() return c:list { limit = 1 } end)
    assert.truthy(page)
    assert.equal(1, count(logged, "failed (AUTH: WRONGPASS"))
    assert.is_nil(logged:find(wrong, 1, true))
    assert.is_nil(logged:find(helpers.KEY, 1, true))

    local strict = client(50, { password = wrong, db = 2 }, { redis_required = true })
    local before = #helpers.api_requests()
    local value, err = strict:list { limit = 1 }
    assert.is_nil(value)
    assert.same({ "rate_limit", 0, true }, { err.kind, err.attempts, err.retryable })
    assert.truthy(err.detail:find("AUTH: WRONGPASS", 1, true), err.detail)
    assert.is_nil(tostring(err):find(wrong, 1, true))
    helpers.assert_no_key(err, helpers.KEY)
    assert.equal(before, #helpers.api_requests()) -- nothing sent
  end)

  it("fall back on a read-only replica, or fail with redis_required", function()
    local replica = redis_server.start { password = false,
      extra = string.format("--replicaof 127.0.0.1 %d --masterauth '%s'", server.port, server.password) }
    local ok, why = pcall(function()
      local r = { host = "127.0.0.1", port = replica.port, timeout = 0.5 }
      local c = assert(evdefs.new { host = helpers.fake_url(), personal_api_key = helpers.KEY, project_id = 1,
        rate_limit = { per_second = 50, redis = r } })
      local page, _, logged = capture_stderr(function() return c:list { limit = 1 } end)
      assert.truthy(page)
      assert.equal(1, count(logged, "READONLY"))
      r = { host = "127.0.0.1", port = replica.port, timeout = 0.5, db = 3 }
      local strict = assert(evdefs.new { host = helpers.fake_url(), personal_api_key = helpers.KEY,
        project_id = 1, rate_limit = { per_second = 50, redis = r, redis_required = true } })
      local value, err = strict:list { limit = 1 }
      assert.is_nil(value)
      assert.equal("rate_limit", err.kind)
      assert.truthy(err.detail:find("READONLY", 1, true), err.detail)
    end)
    replica:stop()
    assert(ok, why)
  end)
end)

------------------------------------------------------------------------------------------------
-- nginx (the code runs inside nginx whatever runs busted: only under LuaJIT, as spec/60)
------------------------------------------------------------------------------------------------

if not rawget(_G, "jit") then return end

local request = nginx.request

-- Starts the test app of spec/nginx with `workers`; returns {url, dir}.
local function start_nginx(workers)
  return nginx.start("--workers " .. workers, "FAKE_POSTHOG_URL=" .. helpers.fake_url())
end

-- Has every worker of `app` run `code` in a timer; returns a function that waits for the
-- `workers` results and returns them ({pid = {value} | {error}}).
local function broadcast(app, code, workers)
  local body = request("POST", app.url .. "/broadcast", code)
  local generation = assert(cjson.decode(body)).generation
  return function()
    local deadline = socket.gettime() + DEADLINE
    while socket.gettime() < deadline do
      local results = cjson.decode((request("GET", app.url .. "/results?generation=" .. generation)))
      local n = 0
      for _ in pairs(results) do n = n + 1 end
      if n == workers then return results end
      socket.sleep(0.05)
    end
    error("timed out waiting for the workers of " .. app.url)
  end
end

describe("pacing through a real Redis inside nginx #timing", function()
  local server, apps = nil, {}

  lazy_setup(function()
    server = redis_server.start()
    apps[1] = start_nginx(1)
    apps[2] = start_nginx(2)
  end)
  lazy_teardown(function()
    for _, app in ipairs(apps) do
      redis_server.sh("spec/fake/stop " .. app.dir .. " >/dev/null 2>&1; rm -rf " .. app.dir)
    end
    if server then server:stop() end
  end)

  it("share one budget between two nginx instances (three workers) and a plain process", function()
    helpers.reset { seed = 5 }
    server:cli("FLUSHALL")
    local PER_SECOND, CALLS = 4, 5
    local rate_limit = { per_second = PER_SECOND, redis = string.format("redis://:%s@127.0.0.1:%d/0",
      server.password, server.port) }
    local code = string.format([[
      local app = ...
      local c = assert(app.evdefs.new(app.options { rate_limit = %s }))
      for _ = 1, %d do
        local page, err = c:list { limit = 1 }
        if not page then error(tostring(err)) end
      end
      return "done"
    ]], literal(rate_limit), CALLS)
    local plain = redis_server.spawn(caller(rate_limit, CALLS), DEADLINE)
    local first, second = broadcast(apps[1], code, 1), broadcast(apps[2], code, 2)
    for _, results in ipairs { first(), second() } do
      for pid, result in pairs(results) do assert.same({ value = "done" }, result, "worker " .. pid) end
    end
    local exit, out = plain.wait()
    assert.same({ 0, "done\n" }, { exit, out })
    local times = arrival_times()
    assert.equal(4 * CALLS, #times)
    assert_paced(times, PER_SECOND)
    assert.same({ "posthog-evdefs:" .. core.sha256(helpers.KEY) }, { server:cli("KEYS", "*") })
    for _, app in ipairs(apps) do
      local log = io.open(app.dir .. "/logs/error.log"):read("*a")
      assert.equal(0, count(log, "Redis at"), log) -- no fallback
      assert.is_nil(log:find(server.password, 1, true))
    end
  end)

  it("fall back on a wrong password, logged once per period in the error log, without secrets", function()
    helpers.reset { seed = 5 }
    local wrong = "wrong-password-in-nginx-5d1e"
    local rate_limit = { per_second = 50, shared_dict = "posthog_pacing",
      redis = { host = "127.0.0.1", port = server.port, password = wrong, db = 5 } }
    local results = broadcast(apps[1], string.format([[
      local app = ...
      local c = assert(app.evdefs.new(app.options { rate_limit = %s }))
      for _ = 1, 3 do
        local page, err = c:list { limit = 1 }
        if not page then error(tostring(err)) end
      end
      return "done"
    ]], literal(rate_limit)), 1)()
    for pid, result in pairs(results) do assert.same({ value = "done" }, result, "worker " .. pid) end
    assert.equal(3, #helpers.api_requests())
    local log = io.open(apps[1].dir .. "/logs/error.log"):read("*a")
    assert.equal(1, count(log, "/5 failed (AUTH: WRONGPASS"), log)
    assert.equal(1, count(log, "pacing on this host alone for 30 s"), log)
    assert.is_nil(log:find(wrong, 1, true))
    assert.is_nil(log:find(helpers.KEY, 1, true))
  end)
end)
