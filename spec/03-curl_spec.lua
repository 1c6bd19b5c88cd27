-- The C core's libcurl multi driver, against spec/support/tiny_http.lua on loopback.
local core = require "posthog.event_definitions.core"
local socket = require "socket"

local server, pid, base, refused_port

local function request(path, t)
  t = t or {}
  return assert(core.build_request({
    method = t.method or "GET", base = t.base or base, path = path, key = "phx_test",
    user_agent = "spec", body = t.body, timeout = t.timeout or 3,
  }))
end

-- Polls until every id in ids has a result or `limit` seconds passed; returns id -> result.
local function wait(d, ids, limit)
  local results, left, deadline = {}, #ids, socket.gettime() + (limit or 4)
  while left > 0 and socket.gettime() < deadline do
    for _, r in ipairs(d:poll(0.2)) do
      results[r.id] = r
      left = left - 1
    end
  end
  return results
end

local function fetch(d, path, t, opts)
  local id = d:add(request(path, t), opts)
  return wait(d, { id })[id]
end

setup(function()
  local probe = assert(socket.bind("127.0.0.1", 0)) -- a port with nobody listening
  refused_port = select(2, probe:getsockname())
  probe:close()
  server = assert(io.popen("echo $$; exec env -u LUA_PATH -u LUA_CPATH lua5.4 spec/support/tiny_http.lua 0", "r"))
  pid = assert(server:read("*l"))
  local port = assert(assert(server:read("*l")):match("^port (%d+)$"), "tiny_http did not start")
  base = "http://127.0.0.1:" .. port
end)

teardown(function()
  if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
  if server then server:close() end
end)

describe("core.multi", function()
  local d
  before_each(function() d = core.multi() end)
  after_each(function() d:close() end)

  it("exposes curl's version", function()
    assert.matches("^libcurl/", core.curl_version)
  end)

  it("returns a response with lower-cased headers, repeated ones joined", function()
    local r = fetch(d, "/json")
    assert.is_table(r.res, r.err and r.err.detail)
    assert.equal(200, r.res.status)
    assert.equal("application/json", r.res.headers["content-type"])
    assert.equal("a, b", r.res.headers["x-dup"])
    assert.equal("v", r.res.headers["x-mixed-case"])
    assert.is_nil(r.res.headers["Content-Type"])
    assert.equal(123456789012, core.decode(r.res.body).id)
  end)

  it("returns non-2xx responses as responses", function()
    local r = fetch(d, "/status?n=503&retry_after=7")
    assert.equal(503, r.res.status)
    assert.equal("7", r.res.headers["retry-after"])
    local _, err = core.decode_response(r.res)
    assert.equal(7, err.retry_after)
    assert.equal("canned", err.detail)
  end)

  it("sends the method, headers and body of the request", function()
    local r = fetch(d, "/echo", { method = "PATCH", body = { name = "x", tags = {} } })
    local echo = core.decode(r.res.body)
    assert.equal("PATCH", echo.method)
    assert.equal('{"name":"x","tags":[]}', echo.body)
    assert.equal("application/json", echo.headers["content-type"])
    assert.equal("application/json", echo.headers.accept)
    assert.equal("Bearer phx_test", echo.headers.authorization)
    assert.equal("spec", echo.headers["user-agent"])
    assert.is_nil(echo.headers.expect)
    for _, method in ipairs({ "PUT", "DELETE", "GET" }) do
      echo = core.decode(fetch(d, "/echo", { method = method }).res.body)
      assert.equal(method, echo.method)
      assert.equal("", echo.body)
    end
    echo = core.decode(fetch(d, "/echo", { method = "POST" }).res.body)
    assert.equal("POST", echo.method)
    assert.equal("0", echo.headers["content-length"])
    assert.is_nil(echo.headers["content-type"]) -- curl's form type is suppressed
  end)

  it("assembles chunked bodies", function()
    local r = fetch(d, "/chunked")
    assert.equal('{"parts":[1,2,3],"done":true}', r.res.body)
  end)

  it("discards the headers of an interim 1xx response", function()
    local r = fetch(d, "/continue")
    assert.equal(200, r.res.status)
    assert.equal("after continue", r.res.body)
    assert.equal("1", r.res.headers["x-final"])
    assert.is_nil(r.res.headers["x-interim"])
  end)

  it("never returns a body cut short", function()
    for _, path in ipairs({ "/cut", "/cut-chunked" }) do
      local r = fetch(d, path)
      assert.is_nil(r.res, path)
      assert.equal("transport", r.err.kind)
      assert.is_true(r.err.sent)
      assert.is_string(r.err.detail)
    end
  end)

  it("classifies a refused connection as not sent", function()
    local r = fetch(d, "/json", { base = "http://127.0.0.1:" .. refused_port })
    assert.equal("transport", r.err.kind)
    assert.is_false(r.err.sent)
    assert.matches("onnect", r.err.detail)
  end)

  it("classifies a deadline that passed after sending as a timeout", function()
    local t0 = socket.gettime()
    local r = fetch(d, "/slow?ms=3000", { timeout = 0.3 })
    assert.equal("timeout", r.err.kind)
    assert.is_true(r.err.sent)
    assert.is_true(socket.gettime() - t0 < 2)
  end)

  it("refuses responses over max_response_bytes", function()
    for _, path in ipairs({ "/big?n=200000", "/big-chunked?n=200000" }) do
      local r = fetch(d, path, nil, { max_response_bytes = 1000 })
      assert.is_nil(r.res, path)
      assert.equal("transport", r.err.kind)
      assert.is_true(r.err.sent)
      assert.equal("response larger than max_response_bytes (1000)", r.err.detail)
    end
    local r = fetch(d, "/big?n=200000", nil, { max_response_bytes = 200000 })
    assert.equal(200000, #r.res.body)
  end)

  it("reuses one connection for sequential requests", function()
    local first = core.decode(fetch(d, "/conn").res.body)
    fetch(d, "/json")
    local third = core.decode(fetch(d, "/conn").res.body)
    assert.equal(first.connection, third.connection)
    assert.equal(first.served + 2, third.served)
  end)

  it("runs transfers concurrently and reports each once", function()
    local ids, t0 = {}, socket.gettime()
    for i = 1, 5 do ids[i] = d:add(request("/slow?ms=400")) end
    assert.equal(5, d:pending())
    local results = wait(d, ids, 4)
    local elapsed = socket.gettime() - t0
    local connections = {}
    for _, id in ipairs(ids) do
      assert.is_table(results[id].res, "transfer " .. id)
      assert.equal(200, results[id].res.status)
      connections[core.decode(results[id].res.body).connection] = true
    end
    local n = 0
    for _ in pairs(connections) do n = n + 1 end
    assert.equal(5, n)
    assert.is_true(elapsed < 1.6, "took " .. elapsed .. " s") -- one after another would take 2 s
    assert.equal(0, d:pending())
    assert.same({}, d:poll(0))
  end)

  it("aborts a transfer on remove", function()
    local id = d:add(request("/slow?ms=2000"))
    assert.equal(1, d:pending())
    assert.is_true(d:remove(id))
    assert.is_false(d:remove(id))
    assert.equal(0, d:pending())
    assert.same({}, d:poll(0.2))
    assert.equal(200, fetch(d, "/json").res.status) -- the driver still works
  end)

  it("returns at once from poll with nothing in flight", function()
    local t0 = socket.gettime()
    assert.same({}, d:poll(2))
    assert.is_true(socket.gettime() - t0 < 0.5)
  end)

  it("raises on a malformed request (a programmer error)", function()
    assert.has_error(function() d:add("x") end)
    assert.has_error(function() d:add({ method = "GET" }) end)
    assert.has_error(function() d:add({ method = "TRACE", url = base }) end)
    assert.has_error(function() d:add({ method = "GET", url = base, headers = { x = 1 } }) end)
    assert.has_error(function() d:add({ method = "GET", url = base, timeout = "1" }) end)
    assert.has_error(function() d:add({ method = "GET", url = base }, { max_response_bytes = 0 }) end)
    assert.equal(0, d:pending())
  end)
end)

describe("core.multi lifetime", function()
  it("closes idempotently and refuses use afterwards", function()
    local d = core.multi()
    d:add(request("/slow?ms=2000"))
    d:close()
    d:close()
    for _, call in ipairs({
      function() d:add(request("/json")) end,
      function() d:poll(0) end,
      function() d:pending() end,
      function() d:remove(1) end,
    }) do
      local ok, err = pcall(call)
      assert.is_false(ok)
      assert.matches("driver is closed", err)
    end
  end)

  it("releases pending transfers when collected", function()
    local d = core.multi()
    d:add(request("/slow?ms=2000"))
    d:add(request("/json"))
    d = nil -- luacheck: ignore 311 (dropping the last reference is the point)
    collectgarbage()
    collectgarbage()
    local d2 = core.multi()
    local id = d2:add(request("/json"))
    assert.equal(200, wait(d2, { id })[id].res.status)
    d2:close()
  end)
end)
