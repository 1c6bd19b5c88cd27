-- Promises the client keeps when servers, networks and callers misbehave: walks that end,
-- selections that never mean "everything" by accident, ambiguous outcomes resolved or marked,
-- errors that stay one line, and bad options refused when the client is made.
local evdefs = require "posthog.event_definitions"
local helpers = require "spec.helpers"

local KEY = "phx_secret_for_safety_specs"
local ID = "0190c6a2-8f4e-7000-9c1d-3f5b2a7e9d11"
local BASE = "https://posthog.example.com/api/projects/7/event_definitions/"
local JSON = { ["content-type"] = "application/json" }

-- A client of a scripted transport (helpers.scripted) with an instant clock.
local function scripted_client(responses, options)
  local transport, seen = helpers.scripted(responses)
  local o = { host = "https://posthog.example.com", personal_api_key = KEY, project_id = 7,
    transport = transport, rate_limit = false, sleep = function() end, random = function() return 0.5 end }
  for k, v in pairs(options or {}) do o[k] = v end
  return assert(evdefs.new(o)), seen
end

-- A page body with `n` definitions named prefix_1…, `count` and `next`.
local function page(n, count, next_link, prefix)
  local items = {}
  for i = 1, n do
    items[i] = string.format('{"id":"0190c6a2-8f4e-7000-9c1d-%012d","name":"%s_%d"}', i, prefix or "d", i)
  end
  return string.format('{"count":%s,"next":%s,"previous":null,"results":[%s]}', count,
    next_link and ('"' .. next_link .. '"') or "null", table.concat(items, ","))
end

describe("walks end", function()
  it("an empty page that still has a next link ends each and all with a decode error", function()
    local n = 0
    local endless = function()
      n = n + 1
      return { status = 200, headers = JSON, body = page(0, 5, BASE .. "?offset=" .. n) }
    end
    local client, seen = scripted_client({ endless })
    local yielded, failure = 0, nil
    for def, err in client:each() do
      if def == false then failure = err else yielded = yielded + 1 end
    end
    assert.equal(0, yielded)
    assert.equal("decode", failure.kind)
    assert.matches("empty page", failure.detail)
    assert.equal(1, #seen)
    local defs, err = client:all()
    assert.is_nil(defs)
    assert.equal("decode", err.kind)
    assert.equal(2, #seen)
  end)

  it("each takes no more pages than the count allows", function()
    local n = 0
    local endless = function()
      n = n + 1
      local body = page(2, 4, BASE .. "?offset=" .. (2 * n), "p" .. n):gsub("%-0(%d+)\"", "-" .. n % 10 .. "%1\"")
      return { status = 200, headers = JSON, body = body } -- new ids on every page
    end
    local client, seen = scripted_client({ endless })
    local yielded, failure = 0, nil
    for def, err in client:each { limit = 2 } do
      if def == false then failure = err else yielded = yielded + 1 end
    end
    assert.equal("decode", failure.kind)
    assert.matches("more pages than the count allows", failure.detail)
    assert.is_true(#seen <= 4, #seen .. " pages for a count of 4")
  end)

  it("all plans no page ahead of the answers: a huge count with pages that stop ends the walk", function()
    local function answer(req)
      local offset = tonumber(req.url:match("offset=(%d+)") or "0")
      if offset >= 10 then return { status = 200, headers = JSON, body = page(0, 1e15, nil) } end
      return { status = 200, headers = JSON, body = page(2, 1e15, BASE .. "?limit=2&offset=" .. (offset + 2)) }
    end
    local client, seen = scripted_client({ answer })
    local defs, err = client:all { limit = 2 }
    assert.is_nil(defs)
    assert.equal("decode", err.kind)
    assert.is_true(#seen <= 10, #seen .. " requests")
  end)
end)

describe("walks on a live project (fake ingestion between pages)", function()
  before_each(function() helpers.reset { seed = 250 } end)

  it("each and all ask for ordering=name unless the caller chose an order", function()
    local client = helpers.client()
    assert.equal(250, #assert(client:all { limit = 100 }))
    for _ in client:each { limit = 100 } do end
    assert.equal(250, #assert(client:all { limit = 100, ordering = "-name" }))
    local orders = {}
    for _, r in ipairs(helpers.api_requests()) do orders[#orders + 1] = r.args:match("ordering=([^&]*)") end
    assert.is_true(#orders >= 6)
    for i = 1, #orders - 3 do assert.equal("name", orders[i]) end
    assert.equal("-name", orders[#orders])
  end)

  it("a definition seen on a new day between two pages neither repeats nor drops one", function()
    local client = helpers.client()
    local names = {}
    for _, d in ipairs(helpers.state()) do names[#names + 1] = d.name end
    table.sort(names)
    helpers.control("POST", "ingest", { after = 1, project_id = 1, seen = { names[#names] } })
    local defs = assert(client:all { limit = 100 })
    local ids = {}
    for _, d in ipairs(defs) do
      assert.is_nil(ids[d.id], "repeated " .. d.name)
      ids[d.id] = true
    end
    assert.equal(250, #defs)
  end)

  it("an insert between two pages makes all fail rather than repeat, and each never repeats", function()
    local client = helpers.client()
    helpers.control("POST", "ingest", { after = 1, project_id = 1, insert = { { name = "!first" } } })
    local defs, err = client:all { limit = 100 }
    assert.is_nil(defs)
    assert.equal("decode", err.kind)
    helpers.reset { seed = 250 }
    helpers.control("POST", "ingest", { after = 1, project_id = 1, insert = { { name = "!first" } } })
    local ids, n = {}, 0
    for def in client:each { limit = 100 } do
      assert.is_nil(ids[def.id], "each yielded " .. def.name .. " twice")
      ids[def.id] = true
      n = n + 1
    end
    assert.equal(250, n)
  end)

  it("a delete between two pages makes all fail rather than drop a definition", function()
    local client = helpers.client()
    local names = {}
    for _, d in ipairs(helpers.state()) do names[#names + 1] = d.name end
    table.sort(names)
    helpers.control("POST", "ingest", { after = 1, project_id = 1, delete = { names[1] } })
    local defs, err = client:all { limit = 100 }
    assert.is_nil(defs)
    assert.equal("decode", err.kind)
  end)
end)

describe("selections never mean everything by accident", function()
  before_each(function() helpers.reset { seed = 30 } end)

  local function writes()
    local n = 0
    for _, r in ipairs(helpers.api_requests()) do if r.method ~= "GET" then n = n + 1 end end
    return n
  end

  it("refuse filters PostHog ignores, sending no write, and act on all with opts.all", function()
    local client = helpers.client()
    for _, call in ipairs {
      function() return client:bulk_delete { event_type = "all" } end,
      function() return client:bulk_delete { event_type = "action_event" } end,
      function() return client:bulk_hide { names = { "" } } end,
      function() return client:bulk_verify { search = "  " } end,
      function() return client:bulk_tag({ tags = {} }, "add", { "x" }) end,
    } do
      local report, err = call()
      assert.is_nil(report)
      assert.equal("validation", err.kind)
      assert.matches("selects every definition", err.detail)
    end
    assert.equal(0, writes())
    assert.equal(30, #helpers.state())
    local report = assert(client:bulk_hide({ event_type = "all" }, { all = true }))
    assert.equal(30, report.ok)
    assert.equal(30, writes())
  end)

  it("raise on a misspelt key or a value of the wrong type, before any request, at the caller's line", function()
    local client = helpers.client()
    local line = debug.getinfo(1, "l").currentline + 2
    local calls = {
      { "list: params: unknown list parameter 'serach'", function() client:list { serach = "x" } end },
      { "all: params: unknown list parameter 'tag'", function() client:all { tag = "x" } end },
      { "each: params: unknown list parameter 'serach'", function() client:each { serach = "x" } end },
      { "stale: params: unknown list parameter 'serach'", function() client:stale { days = 1, serach = 1 } end },
      { "list parameter 'search' must be a string, got number", function() client:list { search = 3 } end },
      { "bulk_delete: filter: unknown list parameter 'serach'", function() client:bulk_delete { serach = "x" } end },
      { "bulk_hide: filter: unknown list parameter 'tag'", function() client:bulk_hide { tag = "x" } end },
      { "bulk_verify: filter: unknown list parameter 'Search'", function() client:bulk_verify { Search = "x" } end },
      { "bulk_tag: filter: unknown list parameter 'tag'",
        function() client:bulk_tag({ tag = "x" }, "add", { "y" }) end },
      { "bulk_delete: filter: list parameter 'event_type' must be a string, got boolean",
        function() client:bulk_delete { event_type = true } end },
    }
    for i, case in ipairs(calls) do
      local ok, message = pcall(case[2])
      assert.is_false(ok)
      assert.truthy(message:find(case[1], 1, true), message)
      if i < 5 then assert.truthy(message:find(":" .. (line + i - 1) .. ":", 1, true), message) end
    end
    assert.equal(0, #helpers.api_requests())
  end)

  it("act on a filter that narrows, and show the selection in a dry run", function()
    local client = helpers.client()
    local report = assert(client:bulk_delete({ search = "event_001" }, { dry_run = true }))
    assert.is_true(report.ok >= 1 and report.ok < 30)
    assert.equal("DELETE", report.results[1].request.method)
    assert.equal(0, writes())
  end)
end)

describe("tags checked before sending", function()
  it("refuse blank and over-long tags in bulk_update_tags and bulk_tag, sending nothing", function()
    local client, seen = scripted_client({ { status = 200, headers = JSON, body = '{"updated":[],"skipped":[]}' } })
    for _, tags in ipairs { { "ok", "" }, { "   " }, { "\194\160\t" }, { ("é"):rep(256) } } do
      local _, err = client:bulk_update_tags({ ID }, "add", tags)
      assert.equal("validation", err.kind)
      _, err = client:bulk_tag({ ID }, "set", tags)
      assert.equal("validation", err.kind)
    end
    assert.equal(0, #seen)
    assert.is_table(client:bulk_update_tags({ ID }, "add", { ("é"):rep(255) }))
  end)
end)

describe("ambiguous outcomes", function()
  local cut = { err = { kind = "transport", sent = true, detail = "connection reset after sending" } }
  local created = '{"id":"' .. ID .. '","name":"signed_up","description":"d","tags":["core"]}'

  it("a DELETE retried after a lost answer and answered 404 is success", function()
    local client, seen = scripted_client({ cut, { status = 404, headers = JSON, body = '{"detail":"Not found."}' } })
    assert.is_true(client:delete(ID))
    assert.equal(2, #seen)
  end)

  it("a create whose answer was lost is confirmed with by_name", function()
    local client, seen = scripted_client({ cut, { status = 200, headers = JSON, body = created } })
    local def = assert(client:create { name = "signed_up", description = "d", tags = { "Core" } })
    assert.equal(ID, def.id)
    assert.equal(2, #seen)
    assert.equal("POST", seen[1].method)
    assert.matches("by_name/%?name=signed_up$", seen[2].url)
  end)

  it("a create whose answer was lost and that by_name does not find stays ambiguous (it may be in flight)", function()
    local client = scripted_client({ cut, { status = 404, headers = JSON, body = '{"detail":"Not found."}' } })
    local def, err = client:create { name = "signed_up" }
    assert.is_nil(def)
    assert.equal("transport", err.kind)
    assert.is_true(err.ambiguous)
  end)

  it("a write answered 2xx with a body it cannot read is ambiguous; a read is not", function()
    local garbled = { status = 200, headers = JSON, body = '{"id": tru' }
    local client = scripted_client({ garbled, garbled })
    local _, err = client:update(ID, { description = "x" })
    assert.equal("decode", err.kind)
    assert.is_true(err.ambiguous)
    _, err = client:get(ID)
    assert.equal("decode", err.kind)
    assert.is_nil(err.ambiguous)
  end)

  it("what stays unknown is marked ambiguous, never a clean failure", function()
    local other = '{"id":"' .. ID .. '","name":"signed_up","description":"someone else"}'
    local client = scripted_client({ cut, { status = 200, headers = JSON, body = other } })
    local _, err = client:create { name = "signed_up", description = "d" }
    assert.is_true(err.ambiguous)
    local patcher = scripted_client({ cut }, { max_retries = 0 })
    _, err = patcher:update(ID, { description = "x" })
    assert.equal("transport", err.kind)
    assert.is_true(err.ambiguous)
    local refused = scripted_client({ { err = { kind = "transport", sent = false, detail = "refused" } } },
      { max_retries = 0 })
    _, err = refused:update(ID, { description = "x" })
    assert.is_nil(err.ambiguous)
  end)

  it("a write answered 502 or 504 by a gateway, or another 5xx without PostHog's error body, may have "
    .. "happened: ambiguous, confirmed where it can be", function()
    local gateway = { status = 504, headers = { ["content-type"] = "text/html" },
      body = "<html><title>504 Gateway Time-out</title></html>" }
    local missing = { status = 404, headers = JSON, body = '{"detail":"Not found."}' }
    local client, seen = scripted_client({ gateway, missing })
    local _, err = client:create { name = "signed_up" }
    assert.equal(504, err.status)
    assert.is_true(err.ambiguous)
    assert.equal(2, #seen) -- looked up with by_name, never sent again
    assert.matches("by_name", seen[2].url)
    client = scripted_client({ gateway, { status = 200, headers = JSON, body = created } })
    assert.equal(ID, assert(client:create { name = "signed_up", description = "d", tags = { "core" } }).id)
    for _, answer in ipairs {
      { status = 502, headers = JSON, body = '{"type":"server_error","code":"error","detail":"x","attr":null}' },
      { status = 503, headers = { ["content-type"] = "text/html" }, body = "<title>Service Unavailable</title>" },
      { status = 500, headers = { ["content-type"] = "text/html" }, body = "<h1>Server Error (500)</h1>" },
    } do
      client, seen = scripted_client({ answer })
      _, err = client:bulk_update_tags({ ID }, "add", { "x" })
      assert.equal(answer.status, err.status)
      assert.is_true(err.ambiguous, answer.body)
      assert.equal(1, #seen)
    end
    client, seen = scripted_client({ gateway, missing })
    assert.is_true(client:delete(ID)) -- retried after the 504 and gone
    assert.equal(2, #seen)
  end)

  it("PostHog's own 5xx answer to a write says it failed: not ambiguous", function()
    for _, answer in ipairs {
      { status = 500, headers = JSON, body = '{"type":"server_error","code":"error",'
        .. '"detail":"A server error occurred.","attr":null}' },
      { status = 503, headers = { ["content-type"] = "application/json", ["retry-after"] = "1" },
        body = '{"type":"server_error","code":"database_unavailable","detail":"We couldn\'t reach the '
        .. 'database just now. Please try again in a moment.","attr":null}' },
    } do
      local client, seen = scripted_client({ answer })
      local _, err = client:create { name = "signed_up" }
      assert.equal(answer.status, err.status)
      assert.is_nil(err.ambiguous)
      assert.equal(1, #seen)
    end
  end)

  it("an answer 'already exists' after a replay by the transport is confirmed too", function()
    local taken = { status = 400, headers = JSON, body = '{"type":"validation_error","code":"invalid_input",'
      .. '"detail":"Event definition with name \'signed_up\' already exists","attr":"name"}' }
    local client = scripted_client({ function()
      local res = { status = taken.status, headers = taken.headers, body = taken.body }
      res.replayed = true
      return res
    end, { status = 200, headers = JSON, body = created } })
    assert.equal(ID, assert(client:create { name = "signed_up", description = "d" }).id)
    local plain = scripted_client({ taken })
    local _, err = plain:create { name = "signed_up" }
    assert.equal(400, err.status)
    assert.is_nil(err.ambiguous)
  end)
end)

describe("errors and options", function()
  it("tostring(err) stays one line when the server's detail holds CR, LF or escapes", function()
    local client = scripted_client({ { status = 400, headers = JSON,
      body = '{"type":"validation_error","code":"invalid","detail":"bad\\r\\nX-Injected: yes\\u001b[31m",'
        .. '"attr":"a\\nb"}' } })
    local _, err = client:get(ID)
    local line = tostring(err)
    assert.is_nil(line:find("[%c]"), line)
    assert.matches("bad\\r\\nX%-Injected", line)
    assert.is_nil(err.attr:find("%c"))
  end)

  it("refuse an out-of-range port and an unreadable ca_file when the client is made", function()
    for _, o in ipairs {
      { host = "http://127.0.0.1:70000" }, { host = "http://127.0.0.1:0" },
      { host = "http://127.0.0.1:8000", ca_file = "/nonexistent/ca.pem" },
    } do
      o.personal_api_key = KEY
      local client, err = evdefs.new(o)
      assert.is_nil(client)
      assert.equal("config", err.kind)
    end
  end)

  it("stale refuses NaN and negative days before sending", function()
    local client, seen = scripted_client({ { status = 200, headers = JSON, body = page(0, 0) } })
    for _, days in ipairs { 0 / 0, -1, math.huge } do
      local defs, err = client:stale { days = days }
      assert.is_nil(defs)
      assert.equal("validation", err.kind)
    end
    assert.equal(0, #seen)
  end)
end)
