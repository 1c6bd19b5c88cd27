-- The edge's quarantine (posthog.event_definitions.edge.quarantine) in real nginx, without
-- edge.init: the test app of spec/nginx/quarantine.conf.in (spec/nginx/start --quarantine) pushes
-- the events it is sent (POST /push), and a fake PostHog (spec/fake) is the quarantine's capture
-- host, recording each /batch/ body byte for byte and answering faults on demand. Covers delivery
-- exactly once across requests and workers, retries through failures (503, a host that is down,
-- a reload, workers killed mid-POST), the bounded queue's `lost` count and log, and a 400 that
-- does not block later events.
--
-- nginx runs LuaJIT; this file only drives it over HTTP, so it runs once, under LuaJIT.
if not rawget(_G, "jit") then return end

local socket = require "socket"
local mime = require "mime"
local cjson = require "cjson.safe"
local helpers = require "spec.helpers"
local nginx = require "support.nginx"

local request, eventually = nginx.request, nginx.eventually

local TOKEN = "phc_quarantine_spec"
local PREFIX = '{"api_key":"' .. TOKEN .. '","batch":['

-- Options of the quarantine over `host`, with `extra` merged in (quick checks and retries).
local function options(host, extra)
  local o = { host = host, token = TOKEN, interval = 0.05, retry_min = 0.05, retry_max = 0.4, timeout = 5 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- Starts the test app with `workers` workers and the quarantine options `o`.
local function start(o, workers)
  local json = assert(cjson.encode(o))
  assert(not json:find("'", 1, true))
  return nginx.start("--quarantine --workers " .. (workers or 2), "QUARANTINE_OPTIONS='" .. json .. "'")
end

-- Event texts as senders write them (spacing, escapes, number forms, key orders), each with its
-- own id and tagged as the edge tags them; `events[id] = {name, text}`.
local events, made = {}, 0
local function event(id)
  made = made + 1
  local name = "ev_" .. id
  local text
  if made % 2 == 0 then
    text = '{ "event" : "' .. name .. '",\n\t"properties": {"id": "' .. id .. '", "s": "caf\\u00e9 é \\"q\\" \\/", '
      .. '"n": 12345678901234567890, "f": -0.0e+0, "nested": {"a": [1, {}], "b": null}, '
      .. '"$taxonomy_violation": "unknown"}, "timestamp": "2026-01-01T00:00:00Z"}'
  else
    text = '{"properties":{"id":"' .. id .. '","$taxonomy_violation":"schema",'
      .. '"$taxonomy_violation_detail":"[{\\"property\\":\\"x\\"}]"},"event":"' .. name .. '"}'
  end
  events[id] = { name = name, text = text }
  return events[id]
end

-- Pushes the events of `ids` as project `project` through `app`; returns the pid that served it.
local function push(app, ids, project)
  local list = {}
  for i, id in ipairs(ids) do list[i] = events[id] or event(id) end
  local body, status = request("POST", app.url .. "/push", cjson.encode { project = project, events = list },
    { ["content-type"] = "application/json" })
  assert(status == 200, "push answered " .. tostring(status) .. ": " .. tostring(body))
  return cjson.decode(body).pid
end

local function ids(prefix, from, to)
  local out = {}
  for i = from, to do out[#out + 1] = prefix .. i end
  return out
end

-- {status = q:status(), counters = {"name|a|b" = n}} of `app`.
local function state(app)
  local body, status = request("GET", app.url .. "/status")
  assert(status == 200, "status answered " .. tostring(status))
  return cjson.decode(body)
end
local function counter(s, key) return s.counters[key] or 0 end

-- The /batch/ POSTs the fake at `url` recorded: each checked (method, path, Content-Type, the
-- envelope, every event's bytes as pushed); returns the number of POSTs and {id = times delivered}.
local function delivered(url)
  local seen, posts = {}, 0
  for _, r in ipairs(helpers.control("GET", "captured", nil, url).captured) do
    posts = posts + 1
    assert.equal("POST", r.method)
    assert.equal("/batch/", r.uri)
    assert.equal("application/json", r.content_type)
    local body = mime.unb64(r.body_b64) or ""
    local batch = assert(cjson.decode(body), "not JSON: " .. body).batch
    local texts = {}
    for i, e in ipairs(batch) do
      local id = e.properties.id
      texts[i] = assert(events[id], "an unknown event " .. tostring(id)).text
      seen[id] = (seen[id] or 0) + 1
    end
    assert.equal(PREFIX .. table.concat(texts, ",") .. "]}", body)
  end
  return posts, seen
end

-- Waits until the fake at `url` holds `n` events; asserts each of `expected` arrived exactly once
-- and nothing else; returns the number of POSTs.
local function assert_delivered_once(url, expected)
  local got = eventually(#expected .. " events at the quarantine", function()
    local p, s = delivered(url)
    local n = 0
    for _, times in pairs(s) do n = n + times end
    if n >= #expected then return { posts = p, seen = s } end
  end)
  local posts, seen = got.posts, got.seen
  local want = {}
  for _, id in ipairs(expected) do want[id] = 1 end
  assert.same(want, seen)
  return posts
end

-- A loopback port nothing listens on (bound for a moment by the OS's choice, then closed).
local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

-- A fake PostHog on `port`: its URL and directory.
local function fake_on(port)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir .. " && chmod 755 " .. dir))
  local pipe = assert(io.popen("spec/fake/start --dir " .. dir .. " --port " .. port))
  local url = pipe:read("*l")
  pipe:close()
  assert(url == "http://127.0.0.1:" .. port, "the fake did not start on port " .. port)
  return url, dir
end

-- The names the error log says were lost (`reason`), in log order.
local function lost_names(app, reason)
  local names = {}
  for line in nginx.log(app):gmatch("[^\n]+") do
    local list = line:match("lost %(" .. reason .. ": [^)]*%): (.*)$")
    if list then
      list = list:gsub(", client: .*$", ""):gsub(", context: .*$", "")
      for name in list:gmatch('"([^"]*)"') do names[#names + 1] = name end
    end
  end
  return names
end

-- The pids of nginx's workers (children of its master).
local function worker_pids(app)
  local f = assert(io.open(app.dir .. "/nginx.pid"))
  local master = f:read("*l")
  f:close()
  local pipe = assert(io.popen("cat /proc/[0-9]*/stat 2>/dev/null")) -- no ps on a bare Debian
  local pids = {}
  for line in pipe:lines() do
    local pid, ppid = line:match("^(%d+) %(.*%) %S+ (%d+) ")
    if ppid == master then pids[#pids + 1] = pid end
  end
  pipe:close()
  return pids, master
end

-- Waits until a request is served by a worker not in `old` (a set of pids).
local function new_workers(app, old)
  eventually("new workers", function()
    local ok, s = pcall(state, app)
    if ok and not old[tostring(s.pid)] then return true end
  end)
end

describe("edge quarantine in real nginx", function()
  local fake

  lazy_setup(function()
    fake = helpers.fake_url()
    helpers.reset()
  end)
  before_each(function()
    helpers.control("DELETE", "faults")
    helpers.control("DELETE", "captured")
  end)

  describe("with PostHog answering", function()
    local app
    lazy_setup(function() app = start(options(fake)) end)
    lazy_teardown(function() nginx.stop(app) end)

    it("delivers every pushed event exactly once, byte for byte, across requests and both workers", function()
      local before = state(app)
      local expected, pids, n = {}, {}, 0
      for r = 1, 40 do
        local list = ids("a" .. r .. "_", 1, r % 5 + 1)
        for _, id in ipairs(list) do expected[#expected + 1] = id end
        pids[push(app, list, r % 2 == 0 and "p2" or "p1")] = true
      end
      for _ in pairs(pids) do n = n + 1 end
      assert.equal(2, n, "both workers pushed")
      assert_delivered_once(fake, expected)
      local s = eventually("the queue empty", function()
        local s = state(app)
        if s.status.queued == 0 and s.status.in_flight == 0 and s.status.bytes == 0 then return s end
      end)
      local queued = counter(s, "quarantine|queued|p1") + counter(s, "quarantine|queued|p2")
        - counter(before, "quarantine|queued|p1") - counter(before, "quarantine|queued|p2")
      local sent = counter(s, "quarantine|sent|p1") + counter(s, "quarantine|sent|p2")
        - counter(before, "quarantine|sent|p1") - counter(before, "quarantine|sent|p2")
      assert.equal(#expected, queued)
      assert.equal(#expected, sent)
      assert.equal(0, counter(s, "quarantine|lost|p1") + counter(s, "quarantine|lost|p2"))
    end)

    it("refuses bad options with a message naming the option, never the token", function()
      local body = request("GET", app.url .. "/errors")
      assert.is_nil(body:find("secret", 1, true))
      assert.same({
        not_a_table = "quarantine must be a table {host = …, token = …}",
        no_host = "quarantine.host must be an http(s) URL",
        ftp_host = "quarantine.host must be an http(s) URL",
        no_token = "quarantine.token must be a project token",
        empty_token = "quarantine.token must be a project token",
        zero_timeout = "quarantine.timeout must be a positive number",
        nan_retry = "quarantine.retry_min must be a positive number",
        text_interval = "quarantine.interval must be a positive number",
        fractional_batch = "quarantine.batch_events must be a whole number",
        queue_too_large = "quarantine.queue_bytes (9437184) may not exceed half of the dict's capacity (16777216 "
          .. "bytes): the edge keeps its indexes and counters there too",
        unknown_option = "quarantine.colour: unknown option",
        no_hooks = "quarantine: hooks must be {count = function, log = function}",
        no_dict = "quarantine: dict must be an ngx.shared dict",
      }, cjson.decode(body))
    end)

    it("retries through 503s and delivers once, without duplicates", function()
      local before = state(app)
      helpers.faults { { match = { path = "^/batch" }, status = 503, times = 3 } }
      local expected = ids("b", 1, 12)
      push(app, ids("b", 1, 6), "p1")
      push(app, ids("b", 7, 12), "p1")
      assert_delivered_once(fake, expected)
      local s = state(app)
      assert.equal(3, counter(s, "quarantine_posts|503|") - counter(before, "quarantine_posts|503|"))
      assert.is_true(counter(s, "quarantine|retried|p1") - counter(before, "quarantine|retried|p1") >= 3)
      assert.same({}, helpers.control("GET", "faults").faults)
      assert.matches("quarantine: POST http://127.0.0.1:%d+/batch/ %(token phc_quar…%) failed: HTTP 503",
        nginx.log(app))
      assert.is_nil(nginx.log(app):find(TOKEN, 1, true), "the whole token in the log")
    end)
  end)

  describe("when PostHog refuses a batch (400), one worker", function()
    local app
    lazy_setup(function() app = start(options(fake), 1) end)
    lazy_teardown(function() nginx.stop(app) end)

    it("splits the batch and delivers its events when the halves are accepted", function()
      helpers.faults { { match = { path = "^/batch" }, status = 400 } }
      local expected = ids("c", 1, 4)
      push(app, expected, "p1")
      local posts = assert_delivered_once(fake, expected)
      assert.equal(2, posts)
      assert.equal(0, counter(state(app), "quarantine|lost|p1"))
    end)

    it("counts an event refused alone as lost, logs its name, and later events still go", function()
      local before = state(app)
      helpers.faults { { match = { path = "^/batch" }, status = 400, times = 3 } }
      push(app, { "d1", "d2" }, "p1")
      eventually("two events lost", function()
        local s = state(app)
        if counter(s, "quarantine_lost|refused|p1") - counter(before, "quarantine_lost|refused|p1") == 2 then
          return true
        end
      end)
      push(app, { "d3" }, "p1")
      assert_delivered_once(fake, { "d3" })
      local names = lost_names(app, "refused")
      assert.same({ "ev_d1", "ev_d2" }, { names[#names - 1], names[#names] })
      local s = eventually("the queue empty", function()
        local s = state(app)
        if s.status.bytes == 0 then return s end
      end)
      assert.equal(0, s.status.queued)
    end)
  end)

  describe("when PostHog is down", function()
    local app, dir
    after_each(function()
      nginx.stop(app)
      if dir then helpers.stop_fake(dir) end
      app, dir = nil, nil
    end)

    it("keeps the events queued and delivers them once it is back, in a few POSTs", function()
      local port = free_port()
      app = start(options("http://127.0.0.1:" .. port))
      local expected = {}
      for r = 1, 20 do
        local list = ids("e" .. r .. "_", 1, 3)
        for _, id in ipairs(list) do expected[#expected + 1] = id end
        push(app, list, "p1")
      end
      local s = eventually("failed tries", function()
        local s = state(app)
        if counter(s, "quarantine_posts|transport|") > 0 then return s end
      end)
      assert.equal(#expected, s.status.queued + s.status.in_flight)
      local url
      url, dir = fake_on(port)
      local posts = assert_delivered_once(url, expected)
      assert.is_true(posts < 20, posts .. " POSTs for 20 requests")
      assert.equal(#expected, counter(state(app), "quarantine|sent|p1"))
    end)

    it("keeps the queue through a reload (HUP)", function()
      local port = free_port()
      app = start(options("http://127.0.0.1:" .. port))
      local expected = ids("f", 1, 10)
      push(app, expected, "p1")
      eventually("failed tries", function()
        if counter(state(app), "quarantine_posts|transport|") > 0 then return true end
      end)
      local old, master = worker_pids(app)
      local set = {}
      for _, pid in ipairs(old) do set[pid] = true end
      assert(os.execute("kill -HUP " .. master))
      new_workers(app, set)
      eventually("the old workers' exit", function()
        if nginx.log(app):find("worker exiting with %d+ event%(s%) queued") then return true end
      end)
      local url
      url, dir = fake_on(port)
      assert_delivered_once(url, expected)
    end)

    it("counts what overflows queue_bytes as lost, exactly, and logs their names", function()
      local port = free_port()
      app = start(options("http://127.0.0.1:" .. port, { queue_bytes = 4096 }))
      local pushed = {}
      for r = 1, 5 do
        local list = ids("g" .. r .. "_", 1, 6)
        for _, id in ipairs(list) do pushed[#pushed + 1] = id end
        push(app, list, "p1")
      end
      local s = state(app)
      local lost = counter(s, "quarantine_lost|full|p1")
      assert.is_true(lost > 0 and lost < #pushed)
      assert.equal(lost, counter(s, "quarantine|lost|p1"))
      assert.equal(#pushed - lost, counter(s, "quarantine|queued|p1"))
      assert.is_true(s.status.bytes <= 4096)
      local url
      url, dir = fake_on(port)
      local seen = eventually("the queued events delivered", function()
        local _, got = delivered(url)
        local n = 0
        for _ in pairs(got) do n = n + 1 end
        if n == #pushed - lost then return got end
      end)
      local names = {}
      for _, name in ipairs(lost_names(app, "full")) do names[name] = (names[name] or 0) + 1 end
      for _, id in ipairs(pushed) do
        if seen[id] then
          assert.equal(1, seen[id])
          assert.is_nil(names[events[id].name], id .. " delivered and logged lost")
        else
          assert.equal(1, names[events[id].name], id .. " neither delivered nor logged lost once")
        end
      end
    end)
  end)

  describe("when workers die in the middle of a POST", function()
    local app, dir, holder, holder_pid
    after_each(function()
      nginx.stop(app)
      if holder_pid then os.execute("kill " .. holder_pid .. " 2>/dev/null") end
      if dir then helpers.stop_fake(dir) end
      if holder then os.remove(holder) end
    end)

    it("puts their batch back and delivers it once", function()
      -- a server that accepts connections and never answers (for at most 60 s)
      holder = os.tmpname()
      local pipe = assert(io.popen("luajit -e '" .. [[
        local socket = require "socket"
        local s = assert(socket.bind("127.0.0.1", 0))
        s:settimeout(0.2)
        io.stdout:write(select(2, s:getsockname()), "\n")
        io.stdout:flush()
        local held, t0 = {}, socket.gettime()
        while socket.gettime() - t0 < 60 do held[#held + 1] = s:accept() end
      ]] .. "' > " .. holder .. " 2>&1 & echo $!"))
      holder_pid = pipe:read("*l")
      pipe:close()
      local port = eventually("the holder's port", function()
        local f = io.open(holder)
        local p = f and tonumber(f:read("*l") or "")
        if f then f:close() end
        return p
      end)
      app = start(options("http://127.0.0.1:" .. port, { timeout = 30 }))
      local expected = ids("h", 1, 5)
      push(app, expected, "p1")
      eventually("the batch in flight", function()
        if state(app).status.in_flight == 5 then return true end
      end)
      local old = worker_pids(app)
      local set = {}
      for _, pid in ipairs(old) do
        set[pid] = true
        assert(os.execute("kill -9 " .. pid))
      end
      new_workers(app, set)
      eventually("the batch recovered", function()
        if counter(state(app), "quarantine|recovered|p1") == 5 then return true end
      end)
      os.execute("kill " .. holder_pid)
      eventually("the holder's exit", function()
        local gone = os.execute("kill -0 " .. holder_pid .. " 2>/dev/null")
        if gone ~= 0 and gone ~= true then return true end
      end)
      holder_pid = nil
      local url
      url, dir = fake_on(port)
      assert_delivered_once(url, expected)
      assert.matches("5 event%(s%) of a batch whose worker %(pid %d+%) ended before settling it put back",
        nginx.log(app))
    end)
  end)
end)
