-- Pacing through a broken or hostile Redis: the fake RESP server of spec/support/fake_resp.lua,
-- its own process, answers wrong types, negative and absurd lengths, partial replies, slow
-- drips or nothing at all; a resolver that never answers holds a name lookup. Outside nginx
-- (the hiredis module) and inside nginx (cosockets), the configured timeout bounds a whole call,
-- absurd replies are refused when their header arrives, and a reply the pacing script never
-- gives is never taken as a go. Whatever may hang without these bounds runs in a child process
-- killed after WAIT_LIMIT, far above every timeout here.
local socket = require "socket"
local cjson = require "cjson.safe"
local helpers = require "spec.helpers"
local redis_server = require "spec.support.redis_server"
local nginx = require "support.nginx"
local evdefs = require "posthog.event_definitions"
local options = require "posthog.event_definitions.options"

local WAIT_LIMIT = 20  -- seconds: the longest a child process may run
local TIMEOUT = 0.5    -- seconds: the Redis timeout of every call here
local TUNING = options.TUNING
local literal = redis_server.literal

-- Starts a fake with `scenario`, runs fn(fake) and stops the fake, even when fn raises.
local function with_fake(scenario, fn)
  local fake = redis_server.fake(scenario)
  local ok, err = pcall(fn, fake)
  fake:stop()
  if not ok then error(err, 0) end
end

-- A connection of the hiredis module to `fake`.
local function connect(fake)
  local hiredis = require "posthog.event_definitions.hiredis"
  return assert(hiredis.connect("127.0.0.1", fake.port, TIMEOUT, TUNING.redis_max_reply, TUNING.redis_max_elements))
end

-- Runs `body` (Lua source, after `hiredis` and `started` are set) in a child process (its
-- command after the shell words `wrapper`); returns its exit code and output.
local function child(body, wrapper)
  local handle = redis_server.spawn("local hiredis = require 'posthog.event_definitions.hiredis'\n"
    .. "local socket = require 'socket'\nlocal started = socket.gettime()\n" .. body, WAIT_LIMIT, wrapper)
  local code, out, err = handle.wait()
  return code, out, err
end

-- The Redis option of a client paced through `fake`.
local function through(fake, extra)
  local r = { host = "127.0.0.1", port = fake.port, timeout = TIMEOUT }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

describe("the hiredis module against a hostile server", function()
  it("refuses absurd and negative lengths as soon as their header arrives, and closes", function()
    local cases = {
      ["*2147483647\r\n"] = "reply refused: an array of 2147483647 elements (at most 65536 in a reply)",
      ["$1000000000\r\n"] = "reply refused: a string of 1000000000 bytes (at most 67108864 in a reply)",
      ["*-5\r\n"] = "protocol error: a malformed array length",
      ["$-5\r\n"] = "protocol error: a malformed string length",
      ["*2\r\n*40000\r\n*40000\r\n"] = "reply refused: an array of 40000 elements (at most 65536 in a reply)",
      [string.rep("*1\r\n", 8) .. ":1\r\n"] = "reply refused: arrays nested over 7 deep",
      ["$99999999999999999999\r\n"] = "protocol error: a malformed string length",
      [":12a\r\n"] = "protocol error: a malformed integer",
      ["%1\r\n"] = "protocol error: a reply starting with byte 37",
      ["$3\r\nabcd\r\n"] = "protocol error: a string longer than its length",
      ["+OK\r+OK\r\n"] = "protocol error: CR without LF",
      ["+OK\r\n+OK\r\n"] = "protocol error: more than one reply to a command",
      ["+" .. string.rep("a", 70000)] = "reply refused: a line over 65536 bytes",
    }
    for raw, why in pairs(cases) do
      with_fake({ EVALSHA = raw }, function(fake)
        local c = connect(fake)
        assert.same({ nil, why }, { c:command("EVALSHA", "x", 0) }, raw:sub(1, 30))
        assert.is_true(c:closed())
      end)
    end
  end)

  it("takes what is within the bounds, and reports partial replies and silence", function()
    with_fake({ EVALSHA = { "*3\r\n$-1\r\n*0\r\n*1\r\n-ERR inner\r\n", "*2\r\n:1\r\n",
      { send = "*2\r\n:1\r\n", close = true }, { stall = true } } }, function(fake)
      local c = connect(fake)
      assert.same({ false, {}, { { err = "ERR inner" } } }, c:command("EVALSHA", "x", 0))
      assert.same({ nil, "timeout" }, { c:command("EVALSHA", "x", 0) }) -- half a reply, then nothing
      c = connect(fake)
      assert.same({ nil, "Server closed the connection" }, { c:command("EVALSHA", "x", 0) })
      c = connect(fake)
      assert.same({ nil, "timeout" }, { c:command("EVALSHA", "x", 0) })
      assert.is_true(c:closed())
    end)
  end)

  it("takes a reply up to the connection's bounds, and refuses one over them", function()
    local hiredis = require "posthog.event_definitions.hiredis"
    local elements = { "*100\r\n" }
    for i = 1, 100 do elements[#elements + 1] = ":" .. i .. "\r\n" end
    local size = 1024 * 1024 - 12 -- with its header (10 bytes) and CRLF, exactly the bound
    with_fake({ EVALSHA = { "$" .. size .. "\r\n" .. string.rep("x", size) .. "\r\n", table.concat(elements),
      "$" .. (size + 1) .. "\r\n", "*101\r\n" } }, function(fake)
      local c = assert(hiredis.connect("127.0.0.1", fake.port, 5, 1024 * 1024, 100))
      assert.equal(size, #c:command("EVALSHA", "x"))
      assert.equal(100, #c:command("EVALSHA", "x"))
      assert.same({ nil, "reply refused: a string of 1048565 bytes (at most 1048576 in a reply)" },
        { c:command("EVALSHA", "x") })
      c = assert(hiredis.connect("127.0.0.1", fake.port, 5, 1024 * 1024, 100))
      assert.same({ nil, "reply refused: an array of 101 elements (at most 100 in a reply)" },
        { c:command("EVALSHA", "x") })
    end)
  end)

  it("ends a slow drip at the timeout, for the whole reply, however long it says it is", function()
    for _, scenario in ipairs {
      { EVALSHA = { send = "$1000\r\n", drip = 0.4 } },
      { EVALSHA = { send = "+", drip = 0.4 } },
      { AUTH = { send = "", drip = 0.2 } },
    } do
      with_fake(scenario, function(fake)
        local code, out = child(string.format([[
local c = assert(hiredis.connect("127.0.0.1", %d, %s, %d, %d))
local v, why = c:command(%s, "x")
print(tostring(v) .. " " .. tostring(why) .. " " .. string.format("%%.3f", socket.gettime() - started))
]], fake.port, TIMEOUT, TUNING.redis_max_reply, TUNING.redis_max_elements, literal(next(scenario))))
        assert.equal(0, code, out)
        local value, why, elapsed = out:match("^(%S+) (%S+) (%S+)\n$")
        assert.same({ "nil", "timeout" }, { value, why })
        assert.is_true(tonumber(elapsed) < 10 * TIMEOUT, elapsed)
      end)
    end
  end)

  it("bounds the name lookup by the timeout too", function()
    -- a private mount namespace whose resolv.conf points at a loopback resolver that never
    -- answers (root only: a port below 1024 and a bind mount)
    local silent = socket.udp()
    if not (redis_server.sh("unshare -m true 2>/dev/null") and silent:setsockname("127.53.0.1", 53)) then
      silent:close()
      pending("needs root (unshare -m, a resolver on 127.53.0.1:53)")
      return
    end
    local resolv = os.tmpname()
    local f = assert(io.open(resolv, "w"))
    f:write("nameserver 127.53.0.1\noptions timeout:30 attempts:1\n")
    f:close()
    local code, out = child(string.format([[
local c, why = hiredis.connect("fleet-redis.example", 6379, %s, %d, %d)
print(tostring(c) .. " " .. tostring(why) .. string.format(" %%.3f", socket.gettime() - started))
]], TIMEOUT, TUNING.redis_max_reply, TUNING.redis_max_elements),
      "unshare -m sh -c 'mount --bind " .. resolv .. " /etc/resolv.conf && exec \"$@\"' sh")
    silent:close()
    os.remove(resolv)
    assert.equal(0, code, out)
    local elapsed = out:match("^nil connect: timeout resolving fleet%-redis%.example (%S+)\n$")
    assert.truthy(elapsed, out)
    assert.is_true(tonumber(elapsed) < 10 * TIMEOUT, elapsed)
  end)

  it("leaks neither a socket nor a reply when Lua runs out of memory in the middle", function()
    local faults = require "alloc_faults"
    local hiredis = require "posthog.event_definitions.hiredis"
    local BIG = 8 * 1024 * 1024
    local jit = rawget(_G, "jit")
    -- the first line of the output of `command`, `%d` replaced by this process's pid
    local function first_line(command)
      local stat = io.open("/proc/self/stat")
      local pipe = io.popen(command:format(tonumber(stat:read("*l"):match("^(%d+)"))))
      stat:close()
      local line = pipe:read("*l")
      pipe:close()
      return line
    end
    local function open_fds() return tonumber(first_line("ls /proc/%d/fd | wc -l")) end
    local function resident_mb() return tonumber(first_line("cut -d' ' -f2 /proc/%d/statm")) * 4096 / 1048576 end
    with_fake({ EVALSHA = "$" .. BIG .. "\r\n" .. string.rep("x", BIG) .. "\r\n" }, function(fake)
      local function op()
        local c = assert(hiredis.connect("127.0.0.1", fake.port, 5, TUNING.redis_max_reply, TUNING.redis_max_elements))
        local value = c:command("EVALSHA", "x", 0)
        c:close()
        return #value
      end
      if jit then jit.off() end
      assert.equal(BIG, op())
      collectgarbage()
      local fds, resident = open_fds(), resident_mb()
      local _, _, _, count = faults.run(0, op)
      local raised = 0
      for _ = 1, 8 do
        for n = 1, count do
          local done, value = faults.run(n, op)
          if not done then
            assert.matches("not enough memory", tostring(value))
            raised = raised + 1
          end
          collectgarbage() -- closes the connections whose call raised
        end
      end
      if jit then jit.on() end
      assert.is_true(raised >= 8, raised)
      assert.equal(fds, open_fds())
      -- each conversion that raised would leak the 8 MiB reply (about five of them; 8 to 15 MiB
      -- of growth without a leak). ASan's quarantine and valgrind hold freed memory: under them
      -- (make sanitize, make valgrind) the tool itself reports a leak instead.
      if not (os.getenv("SANITIZE") == "1" or os.getenv("VALGRIND") == "1") then
        assert.is_true(resident_mb() - resident < 32, string.format("%.0f MiB more", resident_mb() - resident))
      end
      assert.equal(BIG, op())
    end)
  end)
end)

describe("pacing through a hostile Redis #timing", function()
  local function client(fake, per_second, redis_extra, rate_extra, key)
    local rate_limit = { per_second = per_second, redis = through(fake, redis_extra) }
    for k, v in pairs(rate_extra or {}) do rate_limit[k] = v end
    return assert(evdefs.new { host = helpers.fake_url(), personal_api_key = key or helpers.KEY, project_id = 1,
      rate_limit = rate_limit })
  end

  it("never takes a reply the script cannot give as a go, with redis_required: nothing is sent", function()
    for _, raw in ipairs {
      "*2\r\n:0\r\n:0\r\n",                -- not reserved, no wait
      "*2\r\n:1\r\n:-1000000000000\r\n",   -- reserved in the past
      "*2\r\n:1\r\n:600000000\r\n",        -- reserved further than the longest wait asked for
      "*2\r\n:0\r\n:4000000000\r\n",       -- a wait further than any window and reservation
      "*2\r\n:2\r\n:0\r\n",                -- no such verdict
      "*3\r\n:1\r\n:0\r\n:0\r\n",          -- three values
      "*2\r\n$1\r\n1\r\n$1\r\n0\r\n",      -- strings
      "+OK\r\n", ":1\r\n", "$-1\r\n",
    } do
      helpers.reset { seed = 5 }
      with_fake({ EVALSHA = raw }, function(fake)
        local c = client(fake, 2, nil, { redis_required = true })
        for _ = 1, 10 do
          local page, err = c:list { limit = 1 }
          assert.is_nil(page)
          assert.equal("rate_limit", err.kind)
          assert.matches("^Redis at 127%.0%.0%.1:%d+/0 failed: the pacing script answered ", err.detail)
        end
        assert.equal(0, #helpers.api_requests(), raw)
      end)
    end
  end)

  it("paces on the host alone instead, saying so once, never more than N in a second", function()
    for _, raw in ipairs { "*2\r\n:0\r\n:0\r\n", "*2\r\n:1\r\n:-1000000000000\r\n" } do
      helpers.reset { seed = 5 }
      with_fake({ EVALSHA = raw }, function(fake)
        local c = client(fake, 2)
        local _, _, logged = redis_server.capture_stderr(function()
          for _ = 1, 5 do assert(c:list { limit = 1 }) end
        end)
        assert.equal(1, redis_server.count_lines(logged, "failed (the pacing script answered {"), logged)
        assert.equal(1, redis_server.count_lines(logged, "pacing on this host alone for 30 s"))
        local times = redis_server.arrival_times()
        assert.equal(5, #times)
        redis_server.assert_paced(times, 2)
      end)
    end
  end)

  it("falls back within the timeout from a slow drip, a stall or a close", function()
    for _, reply in ipairs {
      { send = "$1000000000\r\n", drip = 0.4 }, { send = "$1000\r\n", drip = 0.4 },
      { stall = true }, { send = "*2\r\n", close = true },
    } do
      helpers.reset { seed = 5 }
      with_fake({ EVALSHA = reply }, function(fake)
        local script = redis_server.caller({ per_second = 50, redis = through(fake) }, 3)
        local handle = redis_server.spawn(script, WAIT_LIMIT)
        local code, out, err = handle.wait()
        assert.same({ 0, "done\n" }, { code, out }, err)
        assert.equal(1, redis_server.count_lines(err, "pacing on this host alone"), err)
        assert.equal(3, #helpers.api_requests())
      end)
    end
  end)

  it("counts from the end of a stalled call: never more than N in a second at PostHog", function()
    helpers.reset { seed = 5 }
    local PER_SECOND, CALLS = 5, 12
    -- Redis never answers: each call to it ends at the timeout, and the fallback takes over
    with_fake({ EVALSHA = { stall = true } }, function(fake)
      local handle = redis_server.spawn(redis_server.caller({ per_second = PER_SECOND,
        redis = through(fake, { cooldown = 2 }) }, CALLS), WAIT_LIMIT)
      local code, out, err = handle.wait()
      assert.same({ 0, "done\n" }, { code, out }, err)
      local times = redis_server.arrival_times()
      assert.equal(CALLS, #times)
      redis_server.assert_paced(times, PER_SECOND)
      assert.is_true(fake:count("EVALSHA") >= 2) -- asked again after the cool-down
    end)
  end)

  it("widens the host-local windows by the margin while Redis fails", function()
    local t, stamps = 1000, {}
    local c = assert(evdefs.new { host = helpers.fake_url(), personal_api_key = "phx_margin_spec", project_id = 1,
      now = function() return t end, sleep = function(s) t = t + s end,
      transport = function()
        stamps[#stamps + 1] = t
        return { status = 200, headers = { ["content-type"] = "application/json" },
          body = '{"count":0,"next":null,"previous":null,"results":[]}' }
      end,
      rate_limit = { per_second = 2, redis = { host = "127.0.0.1", port = 1, timeout = TIMEOUT } } })
    redis_server.capture_stderr(function()
      for _ = 1, 3 do assert(c:list { limit = 1 }) end
    end)
    assert.equal(3, #stamps)
    assert.is_true(stamps[3] - stamps[1] >= 1 + TUNING.redis_window_margin, tostring(stamps[3] - stamps[1]))
  end)
end)

------------------------------------------------------------------------------------------------
-- nginx (the code runs inside nginx whatever runs busted: only under LuaJIT, as spec/60)
------------------------------------------------------------------------------------------------

if not rawget(_G, "jit") then return end

describe("Redis calls inside nginx against a hostile server", function()
  local app
  lazy_setup(function() app = nginx.start("--workers 1", "FAKE_POSTHOG_URL=" .. helpers.fake_url()) end)
  lazy_teardown(function() nginx.stop(app) end)

  -- redis.eval of `script` (default "return 1") through `fake` in nginx's content phase:
  -- {value, why, elapsed}.
  local function eval(fake, script)
    local body = nginx.request("POST", app.url .. "/run", string.format([[
      local redis = require "posthog.event_definitions.redis"
      local core = require "posthog.event_definitions.core"
      local cfg = { host = "127.0.0.1", port = %d, db = 0, timeout = %s }
      local started = core.monotonic()
      local value, why = redis.eval(cfg, %s, {}, {})
      return { value = value, why = why, elapsed = core.monotonic() - started }
    ]], fake.port, TIMEOUT, literal(script or "return 1")))
    local decoded = cjson.decode(body or "")
    assert(decoded and decoded.value, "no answer from nginx: " .. tostring(body))
    return decoded.value
  end

  it("ends a slow drip at the timeout, for the whole reply", function()
    for script, scenario in pairs {
      ["return 1"] = { EVALSHA = { send = "$1000\r\n", drip = 0.4 } },
      ["return 'a script not loaded yet'"] = { SCRIPT = { send = "$40\r\n", drip = 0.2 } },
    } do
      with_fake(scenario, function(fake)
        local out = eval(fake, script)
        assert.matches("^[A-Z :]*timeout$", out.why) -- "timeout", "SCRIPT LOAD: timeout"
        assert.is_true(out.elapsed < 10 * TIMEOUT, tostring(out.elapsed))
      end)
    end
  end)

  it("refuses absurd and negative lengths when their header arrives, and takes the rest", function()
    for raw, expected in pairs {
      ["*2147483647\r\n"] = { why = "reply refused: an array of 2147483647 elements (at most 65536 in a reply)" },
      ["$1000000000\r\n"] = { why = "reply refused: a string of 1000000000 bytes (at most 67108864 in a reply)" },
      ["*-5\r\n"] = { why = "protocol error: a malformed array length" },
      ["$-5\r\n"] = { why = "protocol error: a malformed string length" },
      [string.rep("*1\r\n", 8) .. ":1\r\n"] = { why = "reply refused: arrays nested over 7 deep" },
      ["+OK\r\n+OK\r\n"] = { why = "protocol error: more than one reply to a command" },
      ["*3\r\n$-1\r\n*0\r\n*1\r\n-ERR inner\r\n"] = { value = { false, {}, { { err = "ERR inner" } } } },
      ["-ERR outer\r\n"] = { why = "ERR outer" },
      [{ stall = true }] = { why = "timeout" },
      [{ send = "*2\r\n:1\r\n", close = true }] = { why = "closed" },
    } do
      with_fake({ EVALSHA = raw }, function(fake)
        local out = eval(fake)
        out.elapsed = nil
        assert.same(expected, out, type(raw) == "string" and raw:sub(1, 30) or nil)
      end)
    end
  end)

  it("records what Redis allowed in the shared dict, even while another worker holds its lock", function()
    local body = nginx.request("POST", app.url .. "/run", [[
      local pacing = require "posthog.event_definitions.pacing"
      local dict = ngx.shared.posthog_pacing
      local lock = "posthog.evdefs:record-spec:lock"
      assert(dict:add(lock, true, 1))
      ngx.timer.at(0.05, function() dict:delete(lock) end)
      pacing.shared_log(dict, "record-spec"):record(ngx.now())
      return dict:get("posthog.evdefs:record-spec:n")
    ]])
    assert.equal(1, assert(cjson.decode(body)).value, body)
  end)

  it("never takes a reply the script cannot give as a go, with redis_required", function()
    helpers.reset { seed = 5 }
    with_fake({ EVALSHA = "*2\r\n:0\r\n:0\r\n" }, function(fake)
      local body = nginx.request("POST", app.url .. "/run", string.format([[
        local app = ...
        local c = app.client { rate_limit = { per_second = 2, redis = %s, redis_required = true } }
        local out = {}
        for i = 1, 5 do
          local page, err = c:list { limit = 1 }
          out[i] = page and "sent" or err.detail
        end
        return out
      ]], literal(through(fake))))
      local out = assert(cjson.decode(body)).value
      assert.equal(5, #out, body)
      for _, detail in ipairs(out) do assert.matches("the pacing script answered {0, 0}", detail) end
      assert.equal(0, #helpers.api_requests())
    end)
  end)
end)

describe("Redis calls inside nginx by a host name", function()
  local app, silent, dns

  -- An nginx whose /silent/eval resolves through a resolver that never answers (a UDP socket
  -- here that reads nothing; nginx gives up after 30 s) and /answering/eval through the fake
  -- DNS; both run redis.eval against "fleet-redis.example", port ?port=.
  lazy_setup(function()
    silent = assert(socket.udp())
    assert(silent:setsockname("127.0.0.1", 0))
    local _, silent_port = silent:getsockname()
    dns = redis_server.fake_dns()
    local eval = string.format([[
      local core = require "posthog.event_definitions.core"
      local redis = require "posthog.event_definitions.redis"
      local started = core.monotonic()
      local cfg = { host = "fleet-redis.example", port = tonumber(ngx.var.arg_port), db = 0, timeout = %s }
      local value, why = redis.eval(cfg, "return 1", {}, {})
      ngx.say(tostring(value), " ", tostring(why), string.format(" %%.3f", core.monotonic() - started))
    ]], TIMEOUT)
    app = redis_server.nginx_resolving {
      ["/silent/eval"] = { resolver = silent_port, content = eval },
      ["/answering/eval"] = { resolver = dns.port, content = eval },
    }
  end)
  lazy_teardown(function()
    if app then nginx.stop(app) end
    if silent then silent:close() end
    if dns then dns:stop() end
  end)

  it("bounds the name lookup by the timeout too", function()
    local body = nginx.request("GET", app.url .. "/silent/eval?port=6379")
    local elapsed = (body or ""):match("^nil connect: timeout resolving fleet%-redis%.example (%S+)\n$")
    assert.truthy(elapsed, body)
    assert.is_true(tonumber(elapsed) < 10 * TIMEOUT, elapsed)
  end)

  it("runs the commands on the connection made while resolving", function()
    with_fake({ EVALSHA = ":7\r\n" }, function(fake)
      local body = nginx.request("GET", app.url .. "/answering/eval?port=" .. fake.port)
      assert.matches("^7 nil ", body)
      assert.equal(1, fake:count("EVALSHA"))
    end)
  end)
end)
