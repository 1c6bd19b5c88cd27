-- The facade with a scripted transport: options, argument checks, the retry policy, pacing and
-- key hygiene, each checked on exact edge cases without a server.
local evdefs = require "posthog.event_definitions"
local helpers = require "spec.helpers"

local KEY = "phx_secret_key_0123456789"
local ID = "0190c6a2-8f4e-0000-9c1d-3f5b2a7e9d11"
local DEF = '{"id":"' .. ID .. '","name":"downloaded_file","tags":[],"verified":false}'
local THROTTLED = '{"type":"throttled_error","code":"throttled",'
  .. '"detail":"Request was throttled. Expected available in 2 seconds.","attr":null}'

-- A client over a scripted transport, with recorded sleeps and a manual clock.
local function scripted_client(responses, options)
  local transport, seen = helpers.scripted(responses)
  local clock = { t = 1000, slept = {} }
  local o = {
    host = "https://posthog.example.com", personal_api_key = KEY, project_id = 7,
    transport = transport, rate_limit = false,
    now = function() return clock.t end,
    sleep = function(s) clock.slept[#clock.slept + 1] = s; clock.t = clock.t + s end,
    random = function() return 0.5 end,
  }
  for k, v in pairs(options or {}) do o[k] = v end
  return assert(evdefs.new(o)), seen, clock
end

describe("evdefs.new", function()
  it("keeps every default in one table", function()
    assert.same({
      host = "https://us.posthog.com", project_id = "@current", timeout = 30,
      max_response_bytes = 64 * 1024 * 1024, max_retries = 3, max_retry_wait = 60,
      rate_limit = { per_minute = 480, per_hour = 4800 }, insecure = false,
    }, evdefs.DEFAULTS)
    assert.matches("^%d+%.%d+%.%d+$", evdefs.VERSION)
  end)

  it("hands out its defaults as a copy: changing evdefs.DEFAULTS changes no later client", function()
    local defaults = evdefs.DEFAULTS
    defaults.timeout, defaults.max_retries, defaults.host = 0.001, 0, "http://127.0.0.1:9"
    defaults.rate_limit.per_minute = 1
    assert.equal(30, evdefs.DEFAULTS.timeout)
    assert.equal(480, evdefs.DEFAULTS.rate_limit.per_minute)
    local requests, slept = {}, {}
    local client = assert(evdefs.new { personal_api_key = "phx_defaults_spec", project_id = 7,
      random = function() return 0.5 end, sleep = function(s) slept[#slept + 1] = s end,
      transport = function(req)
        requests[#requests + 1] = req
        return { status = 503, headers = {}, body = "" }
      end })
    local _, err = client:get(ID)
    assert.equal(4, err.attempts) -- max_retries is still 3
    assert.equal(30, requests[1].timeout)
    if not os.getenv("POSTHOG_HOST") then assert.matches("^https://us%.posthog%.com/", requests[1].url) end
    for _, s in ipairs(slept) do assert.is_true(s < 30, "slept " .. s) end -- backoff only, no pacing wait
  end)

  it("refuses a missing key, a non-http host and a bad project id as config errors", function()
    local cases = {
      { { personal_api_key = "" }, "personal_api_key is required" },
      { { personal_api_key = KEY, host = "ftp://x" }, "http:// or https://" },
      { { personal_api_key = KEY, host = "https://user:pw@x" }, "credentials" },
      { { personal_api_key = KEY, project_id = "12a" }, "project_id" },
      { { personal_api_key = KEY, project_id = -1 }, "project_id" },
      { { personal_api_key = KEY, project_id = 1.5 }, "project_id" },
      { { personal_api_key = "phx_\r\nX: y" }, "control characters" },
      { { personal_api_key = " " }, "white space" },
      { { personal_api_key = KEY, user_agent = "a\nb" }, "CR or LF" },
      { { personal_api_key = KEY, timeout = 0 }, "timeout must be a positive finite number" },
      { { personal_api_key = KEY, timeout = 0 / 0 }, "timeout must be a positive finite number" },
      { { personal_api_key = KEY, max_response_bytes = 0.5 }, "max_response_bytes must be a whole number" },
    }
    for _, case in ipairs(cases) do
      local client, err = evdefs.new(case[1])
      assert.is_nil(client)
      assert.equal("config", err.kind)
      assert.matches(case[2], err.detail, 1, true)
      assert.is_nil(tostring(err):find("phx_", 1, true))
    end
  end)

  it("raises on unknown options and options of the wrong type", function()
    assert.has_error(function() evdefs.new { personal_api_key = KEY, hots = "x" } end,
      "posthog.event_definitions: new: unknown option 'hots'")
    assert.has_error(function() evdefs.new { personal_api_key = KEY, timeout = "30" } end)
    assert.has_error(function() evdefs.new { personal_api_key = KEY, rate_limit = { per_day = 1 } } end)
    assert.has_error(function() evdefs.new("key") end)
    assert.has_error(function() evdefs.new { personal_api_key = KEY, rate_limit = true } end,
      "posthog.event_definitions: rate_limit must be a table or false")
  end)

  it("normalises the host: default ports, case, trailing slashes, path prefix", function()
    local client, seen = scripted_client({ { body = DEF } }, { host = "HTTPS://PostHog.Example.com:443/ph/" })
    assert(client:get(ID))
    assert.equal("https://posthog.example.com/ph/api/projects/7/event_definitions/" .. ID .. "/", seen[1].url)
    client, seen = scripted_client({ { body = DEF } }, { host = "http://127.0.0.1:8000", project_id = "@current" })
    assert(client:get(ID))
    assert.equal("http://127.0.0.1:8000/api/projects/@current/event_definitions/" .. ID .. "/", seen[1].url)
  end)

  it("sends the key as a Bearer token and a versioned User-Agent", function()
    local client, seen = scripted_client({ { body = DEF } }, { user_agent = "my-tool/2" })
    assert(client:get(ID))
    assert.equal("Bearer " .. KEY, seen[1].headers.Authorization)
    assert.equal("posthog-event-definitions/" .. evdefs.VERSION .. " my-tool/2", seen[1].headers["User-Agent"])
    assert.equal(30, seen[1].timeout)
  end)
end)

describe("arguments", function()
  it("raise on wrong Lua types", function()
    local client = scripted_client({ { body = DEF } })
    assert.has_error(function() client:get(123) end)
    assert.has_error(function() client:update(ID, "x") end)
    assert.has_error(function() client:create(nil) end)
    assert.has_error(function() client:list("x") end)
    assert.has_error(function() client.get(nil, ID) end)
  end)

  it("return validation errors for bad values, sending nothing", function()
    local client, seen = scripted_client({ { body = DEF } })
    local cases = {
      function() return client:get("not-a-uuid") end,
      function() return client:update(ID, { tags = "core" }) end,
      function() return client:update(ID, { verified = "yes" }) end,
      function() return client:create { name = "x", tags = { 1, 2 } } end,
      function() return client:list { names = { "a,b" } } end,
      function() return client:list { limit = 0 } end,
      function() return client:bulk_update_tags({ "nope" }, "add", { "a" }) end,
      function() return client:bulk_update_tags({ ID }, "merge", { "a" }) end,
      function() return client:bulk_update_tags({ ID }, "add", { 1, {} }) end,
      function() return client:bulk_update_verified({}, true) end,
      function() return client:request("GET", "x", { headers = { ["X-A"] = "1\r\nX-B: 2" } }) end,
    }
    for i, call in ipairs(cases) do
      local value, err = call()
      assert.is_nil(value, "case " .. i)
      assert.equal("validation", err.kind, "case " .. i)
      assert.equal(0, err.attempts)
    end
    assert.equal(0, #seen)
  end)

  it("refuse calls on a closed client, and close is idempotent", function()
    local client = scripted_client({ { body = DEF } })
    client:close()
    client:close()
    assert.has_error(function() client:get(ID) end, "posthog.event_definitions: the client is closed")
  end)
end)

describe("errors", function()
  it("map PostHog's error body into the fields and one line", function()
    local client = scripted_client({ { status = 404,
      body = '{"type":"invalid_request","code":"not_found","detail":"Not found.","attr":null}' } })
    local def, err = client:get(ID)
    assert.is_nil(def)
    assert.equal("http", err.kind)
    assert.equal(404, err.status)
    assert.equal("invalid_request", err.type)
    assert.equal("not_found", err.code)
    assert.equal("Not found.", err.detail)
    assert.equal("GET", err.method)
    assert.equal("/api/projects/7/event_definitions/" .. ID .. "/", err.path)
    assert.equal(1, err.attempts)
    assert.is_false(err.retryable)
    assert.equal("posthog.event_definitions: 404 not_found: Not found. (GET /api/projects/7/event_definitions/"
      .. ID .. "/)", tostring(err))
  end)

  it("never carry the key, even when the server echoes it", function()
    local client = scripted_client({ { status = 401, headers = { ["content-type"] = "text/html" },
      body = "<html><title>bad key " .. KEY .. "</title></html>" } })
    local _, err = client:get(ID)
    assert.equal(401, err.status)
    helpers.assert_no_key(err, KEY)
    local failing = scripted_client({ { err = "connect failed for " .. KEY } })
    local _, terr = failing:get(ID)
    assert.equal("transport", terr.kind)
    helpers.assert_no_key(terr, KEY)
  end)
end)

describe("retries", function()
  it("honour Retry-After on 429 for any method", function()
    local client, seen, clock = scripted_client({
      { status = 429, headers = { ["retry-after"] = "2" }, body = THROTTLED },
      { status = 201, body = DEF },
    })
    local def = assert(client:create { name = "downloaded_file" })
    assert.equal(ID, def.id)
    assert.equal(2, #seen)
    assert.same({ 2 }, clock.slept)
  end)

  it("take a 429 without Retry-After as Retry-After: 60, slept only when max_retry_wait allows", function()
    local client, seen, clock = scripted_client({
      { status = 429, body = THROTTLED },
      { status = 200, body = DEF },
    })
    assert.equal(ID, assert(client:get(ID)).id)
    assert.equal(2, #seen)
    assert.same({ 60 }, clock.slept)
    local impatient, seen2, clock2 = scripted_client({ { status = 429, body = THROTTLED } }, { max_retry_wait = 59 })
    local _, err = impatient:get(ID)
    assert.equal(429, err.status)
    assert.equal(60, err.retry_after)
    assert.equal(1, #seen2)
    assert.same({}, clock2.slept)
  end)

  it("return a too-long Retry-After at once", function()
    local client, seen, clock = scripted_client({
      { status = 429, headers = { ["retry-after"] = "3600" }, body = THROTTLED },
    })
    local _, err = client:get(ID)
    assert.equal(429, err.status)
    assert.equal(3600, err.retry_after)
    assert.equal(1, err.attempts)
    assert.equal(1, #seen)
    assert.same({}, clock.slept)
  end)

  it("retry 503 event_definitions_timeout for GET with backoff, up to max_retries", function()
    local body = '{"type":"server_error","code":"event_definitions_timeout",'
      .. '"detail":"Loading events took too long.","attr":null}'
    local client, seen, clock = scripted_client({ { status = 503, body = body } }, { max_retries = 2 })
    local _, err = client:list()
    assert.equal("event_definitions_timeout", err.code)
    assert.equal(3, err.attempts)
    assert.is_true(err.retryable)
    assert.equal(3, #seen)
    assert.same({ 0.375, 0.75 }, clock.slept)
  end)

  it("never replay a POST after a 502 or a cut connection", function()
    local client, seen = scripted_client({ { status = 502, body = "<html>Bad gateway</html>" } })
    local _, err = client:create { name = "x" }
    assert.equal(502, err.status)
    assert.is_true(err.ambiguous) -- looked up with by_name (answered 502 too), never sent again
    assert.equal("POST", seen[1].method)
    for i = 2, #seen do assert.equal("GET", seen[i].method) end
    client, seen = scripted_client({ { err = { kind = "transport", sent = true, detail = "reset" } } })
    _, err = client:bulk_update_verified({ ID }, true)
    assert.equal("transport", err.kind)
    assert.equal(1, err.attempts)
    assert.equal(1, #seen)
  end)

  it("retry a POST that certainly was not sent", function()
    local client, seen = scripted_client({
      { err = { kind = "transport", sent = false, detail = "connection refused" } },
      { status = 201, body = DEF },
    })
    assert(client:create { name = "x" })
    assert.equal(2, #seen)
  end)

  it("retry a cut connection and a timeout for GET", function()
    local client, seen = scripted_client({
      { err = { kind = "transport", sent = true, detail = "connection reset" } },
      { err = { kind = "timeout", sent = true, detail = "deadline passed" } },
      { body = DEF },
    })
    assert(client:get(ID))
    assert.equal(3, #seen)
  end)

  it("report a timeout as kind timeout once attempts run out", function()
    local client = scripted_client({ { err = { kind = "timeout", sent = true, detail = "deadline" } } },
      { max_retries = 1 })
    local _, err = client:delete(ID)
    assert.equal("timeout", err.kind)
    assert.equal(2, err.attempts)
  end)

  it("do not retry client errors or decode errors", function()
    local client, seen = scripted_client({ { status = 200, body = '{"id": ' } })
    local _, err = client:get(ID)
    assert.equal("decode", err.kind)
    assert.equal(1, #seen)
  end)
end)

describe("odd answers", function()
  local function page(results, extra)
    return '{"count":8,"next":' .. (extra or "null") .. ',"previous":null,"results":[' .. results .. ']}'
  end

  it("turn a 2xx answer of the wrong shape into a decode error, never a raise", function()
    for _, r in ipairs {
      { call = "list", res = { body = "{}" } },
      { call = "list", res = { status = 204, body = "" } },
      { call = "each", res = { body = '{"count":1}' } },
      { call = "get", res = { status = 204, body = "" } },
      { call = "primary_properties", res = { body = "5" } },
      { call = "primary_properties", res = { body = '{"primary_properties":[1]}' } },
      { call = "bulk_update_verified", res = { body = '{"updated":[{"verified":true}]}' } },
      { call = "bulk_update_verified", res = { body = '{"updated":5}' } },
    } do
      local client = scripted_client({ r.res })
      local value, err
      if r.call == "each" then value, err = client:each()()
      elseif r.call == "get" then value, err = client:get(ID)
      elseif r.call == "bulk_update_verified" then value, err = client:bulk_update_verified({ ID }, true)
      elseif r.call == "primary_properties" then value, err = client:primary_properties { "a" }
      else value, err = client[r.call](client) end
      assert.is_falsy(value, r.call .. " " .. r.res.body)
      assert.equal("decode", err.kind, r.call .. " " .. r.res.body)
    end
  end)

  it("all follows next when the server sends smaller pages than asked, and gets every definition", function()
    local defs = {}
    for i = 1, 8 do defs[i] = ('{"id":"%s","name":"e%d"}'):format(ID:sub(1, -2) .. i, i) end
    local base = "https://posthog.example.com/api/projects/7/event_definitions/"
    local client, seen = scripted_client({
      { body = page(defs[1] .. "," .. defs[2], '"' .. base .. '?limit=4&offset=2"') },
      { body = page(defs[3] .. "," .. defs[4], '"' .. base .. '?limit=4&offset=4"') },
      { body = page(defs[5] .. "," .. defs[6], '"' .. base .. '?limit=4&offset=6"') },
      { body = page(defs[7] .. "," .. defs[8]) },
    })
    local all = assert(client:all { limit = 4 })
    assert.equal(8, #all)
    assert.equal("e8", all[8].name)
    assert.equal(4, #seen)
  end)

  it("ends a walk whose next link comes round again", function()
    local base = "https://posthog.example.com/api/projects/7/event_definitions/"
    local looping = page('{"id":"' .. ID .. '","name":"x"}', '"' .. base .. '?limit=1&offset=1"')
    local client, seen = scripted_client({ { body = looping } })
    local results, err = {}, nil
    for def, e in client:each { limit = 1 } do
      if def == false then err = e else results[#results + 1] = def end
    end
    assert.equal(1, #results) -- the second page repeats the same id, which each never yields twice
    assert.equal("decode", err.kind)
    assert.matches("repeats", err.detail)
    assert.equal(2, #seen)
  end)

  it("scrubs the key from an error body before it is sampled", function()
    local client = scripted_client({ { status = 500, headers = { ["content-type"] = "text/plain" },
      body = string.rep("x", 80) .. " " .. KEY .. " trailing" } })
    local _, err = client:get(ID)
    assert.equal(500, err.status)
    assert.is_nil(err.detail:find("phx_secret", 1, true))
    helpers.assert_no_key(err, KEY)
  end)
end)

describe("pacing", function()
  it("lets a burst through, then waits for the sliding window", function()
    local stamps = {}
    local client, _, clock
    local transport = function()
      stamps[#stamps + 1] = clock.t
      return { status = 200, headers = { ["content-type"] = "application/json" }, body = DEF }
    end
    client, _, clock = scripted_client({}, { transport = transport,
      rate_limit = { per_second = 3, per_minute = 5 }, personal_api_key = "phx_pacing_1" })
    for _ = 1, 7 do assert(client:get(ID)) end
    assert.same({ 1000, 1000, 1000, 1001, 1001, 1060, 1060 }, stamps)
  end)

  it("shares one budget between clients of the same key, and none with rate_limit = false", function()
    local t = 0
    local count = 0
    local opts = {
      rate_limit = { per_minute = 2 }, personal_api_key = "phx_pacing_2",
      now = function() return t end, sleep = function(s) t = t + s end,
      transport = function() count = count + 1
        return { status = 200, headers = { ["content-type"] = "application/json" }, body = DEF } end,
    }
    local a = scripted_client({}, opts)
    local b = scripted_client({}, opts)
    assert(a:get(ID)); assert(b:get(ID))
    assert.equal(0, t)
    assert(a:get(ID))
    assert.equal(60, t)
    opts.rate_limit = false
    local free = scripted_client({}, opts)
    for _ = 1, 5 do assert(free:get(ID)) end
    assert.equal(60, t)
  end)

  it("returns rate_limit without sending when the wait exceeds max_retry_wait", function()
    local client, seen = scripted_client({ { body = DEF } },
      { rate_limit = { per_hour = 1 }, personal_api_key = "phx_pacing_3" })
    assert(client:get(ID))
    local _, err = client:get(ID)
    assert.equal("rate_limit", err.kind)
    assert.equal(3600, err.retry_after)
    assert.equal(1, #seen)
  end)

  it("counts retries as requests", function()
    local client, seen, clock = scripted_client({
      { status = 429, headers = { ["retry-after"] = "0" }, body = THROTTLED },
      { body = DEF },
    }, { rate_limit = { per_second = 1 }, personal_api_key = "phx_pacing_4" })
    assert(client:get(ID))
    assert.equal(2, #seen)
    assert.same({ 0, 1 }, clock.slept)
  end)
end)

describe("the JSON parser", function()
  local run_child = require "spec.support.child"

  it("is simdjson when its module is installed, yajl without it, and json_parser() says which", function()
    assert.equal("simdjson", evdefs.json_parser()) -- the facade loaded it (outside nginx)
    -- a machine without the rock posthog-event-definitions-simdjson: its require fails
    assert.equal(0, run_child([[
      package.preload["posthog.event_definitions.simdjson"] = function() error("module not installed") end
      local e = require "posthog.event_definitions"
      assert(e.json_parser() == "yajl", e.json_parser())
      local v = require("posthog.event_definitions.core").decode([=[{"a":"\ud83d\ude00","a":[1]}]=])
      assert(v.a[1] == 1)
      os.exit(0)]]))
  end)
end)
