-- The libcurl multi driver (posthog.event_definitions.transport.libcurl), against
-- spec/support/tiny_http.lua on loopback. No test here measures time: concurrency shows as
-- order and overlap (distinct connections, a quick answer overtaking slow ones).
local core = require "posthog.event_definitions.core"
local libcurl = require "posthog.event_definitions.transport.libcurl"
local faults = require "alloc_faults"
local socket = require "socket"
local run_child = require "support.child"

local server, pid, base, refused_port

local function request(path, t)
  t = t or {}
  return assert(core.build_request({
    method = t.method or "GET", base = t.base or base, path = path, key = "phx_test",
    user_agent = "spec", body = t.body, timeout = t.timeout or 3,
  }))
end

-- Polls until every id in ids has a result (at most `polls` polls of 0.2 s, so that a lost
-- transfer fails the test instead of hanging it); returns id -> result and the ids in the
-- order their results came back.
local function wait(d, ids, polls)
  local results, order, left = {}, {}, #ids
  for _ = 1, polls or 40 do
    if left == 0 then break end
    for _, r in ipairs(d:poll(0.2)) do
      assert.is_nil(results[r.id], "result delivered twice")
      results[r.id] = r
      order[#order + 1] = r.id
      left = left - 1
    end
  end
  return results, order
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

describe("the libcurl driver", function()
  local d
  before_each(function() d = libcurl.new() end)
  after_each(function() d:close() end)

  it("exposes curl's version", function()
    assert.matches("^libcurl/", libcurl.version)
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

  it("classifies a deadline that passed after sending as a timeout, ended before the server answers", function()
    local late = d:add(request("/slow?ms=5000", { timeout = 0.3 }))
    local slow = d:add(request("/slow?ms=2000"))
    local results, order = wait(d, { late, slow }, 60)
    assert.equal("timeout", results[late].err.kind)
    assert.is_true(results[late].err.sent)
    assert.equal(200, results[slow].res.status)
    assert.same({ late, slow }, order) -- the deadline, not the server's answer, ended it
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

  it("runs transfers concurrently, each on its own connection, and reports each once", function()
    local ids = {}
    for i = 1, 5 do ids[i] = d:add(request("/slow?ms=1500")) end
    local quick = d:add(request("/json"))
    local results, order = wait(d, { ids[1], ids[2], ids[3], ids[4], ids[5], quick }, 60)
    local connections = {}
    for _, id in ipairs(ids) do
      assert.is_table(results[id].res, "transfer " .. id)
      assert.equal(200, results[id].res.status)
      connections[core.decode(results[id].res.body).connection] = true
    end
    local n = 0
    for _ in pairs(connections) do n = n + 1 end
    assert.equal(5, n) -- one after another, they would have reused one connection
    assert.equal(quick, order[1]) -- added last, answered first: nothing waits for the slow ones
    assert.equal(6, #order)
    assert.same({}, d:poll(0))
  end)

  it("aborts a transfer on remove, whose result never comes", function()
    local id = d:add(request("/slow?ms=300"))
    local other = d:add(request("/slow?ms=1000"))
    assert.is_true(d:remove(id))
    assert.is_false(d:remove(id))
    assert.is_false(d:remove(12345))
    local results, order = wait(d, { other }, 60)
    assert.same({ other }, order) -- the removed one would have come back first
    assert.equal(200, results[other].res.status)
    assert.equal(200, fetch(d, "/json").res.status) -- the driver still works
    assert.is_false(d:remove(other)) -- delivered: done
  end)

  it("returns from poll with nothing in flight, whatever its timeout", function()
    assert.same({}, d:poll(0))
    -- an hour's poll must come back at once: a child process, killed after 30 s if it does not
    assert.equal(0, run_child('local d = require("posthog.event_definitions.transport.libcurl").new() ' ..
      'local r = d:poll(3600) d:close() os.exit(#r == 0 and 0 or 1)'))
  end)

  it("keeps a finished transfer's result when building it runs out of memory, for the next poll", function()
    local failures = 0
    for n = 1, 200 do
      local id = d:add(request("/json"))
      local ok, got, hit
      for _ = 1, 40 do -- poll with the nth allocation failing until the result comes or a poll fails
        ok, got, hit = faults.run(n, d.poll, d, 0.2)
        if not ok or #got > 0 then break end
      end
      if ok then
        assert.equal(id, got[1].id)
        if not hit then break end -- every allocation of a poll has been made to fail once
      else
        failures = failures + 1
        assert.matches("not enough memory", got)
        local results = wait(d, { id }) -- a later poll delivers it
        assert.is_table(results[id], "the result of transfer " .. id .. " was lost")
        assert.equal(200, results[id].res.status)
      end
    end
    assert.is_true(failures > 3)
    assert.same({}, d:poll(0))
  end)

  it("drops a finished result not delivered yet when asked to remove it", function()
    local id = d:add(request("/json"))
    local ok, got
    for _ = 1, 40 do -- allocation 1 is poll's array, 2 the first result's table: fails once one is done
      ok, got = faults.run(2, d.poll, d, 0.2)
      if not ok then break end
      assert.same({}, got)
    end
    assert.is_false(ok)
    assert.matches("not enough memory", got)
    assert.is_true(d:remove(id)) -- finished, not delivered: dropped
    assert.is_false(d:remove(id))
    assert.same({}, d:poll(0.2))
  end)

  it("raises on a malformed request (a programmer error)", function()
    assert.has_error(function() d:add("x") end)
    assert.has_error(function() d:add({ method = "GET" }) end)
    assert.has_error(function() d:add({ method = "TRACE", url = base }) end)
    assert.has_error(function() d:add({ method = "GET", url = base, headers = { x = 1 } }) end)
    assert.has_error(function() d:add({ method = "GET", url = base, timeout = "1" }) end)
    assert.has_error(function() d:add({ method = "GET", url = base }, { max_response_bytes = 0 }) end)
    -- the framing headers are the driver's (core.build_request refuses them too)
    for _, name in ipairs({ "Content-Length", "transfer-encoding", "HOST", "Connection" }) do
      local ok, msg = pcall(d.add, d, { method = "POST", url = base, body = "{}", headers = { [name] = "7" } })
      assert.is_false(ok)
      assert.matches("framing header", msg)
    end
    assert.same({}, d:poll(0)) -- nothing was started
  end)

  it("has no pending method (observe through poll)", function()
    assert.is_nil(d.pending)
  end)
end)

describe("the libcurl driver's response heads", function()
  -- Answers one request of d with the bytes raw from a socket of this process: the transfer is
  -- started, the connection accepted, the request read (head and Content-Length body), raw
  -- sent; returns the result and the request's head. opts: method and body of the request,
  -- banner (sent as soon as the connection is accepted, before the request is read), close
  -- (close the connection right after raw instead of after the result).
  local function answer(raw, opts)
    opts = opts or {}
    local d = libcurl.new()
    local srv = assert(socket.bind("127.0.0.1", 0))
    srv:settimeout(5)
    local id = d:add({ method = opts.method or "GET", body = opts.body, timeout = 5,
      url = "http://127.0.0.1:" .. select(2, srv:getsockname()) .. "/" })
    d:poll(0.05) -- lets curl connect and send
    local c = assert(srv:accept())
    c:settimeout(5)
    if opts.banner then c:send(opts.banner) end
    local head, length = {}, 0
    repeat
      local line = assert(c:receive("*l"))
      head[#head + 1] = line
      length = tonumber(line:match("^[Cc]ontent%-[Ll]ength: *(%d+)")) or length
    until line == ""
    if length > 0 then assert(c:receive(length)) end
    local early -- raw as pieces: the driver reads between them (a head larger than the socket buffers)
    for _, piece in ipairs(type(raw) == "table" and raw or { raw }) do
      if not c:send(piece) then break end
      for _, r in ipairs(type(raw) == "table" and d:poll(0.02) or {}) do early = r end
      if early then break end
    end
    if opts.close then c:close() end
    local result = early or wait(d, { id })[id]
    c:close()
    srv:close()
    d:close()
    return result, head
  end

  it("are parsed by the core's one header normalisation: folded lines, repeated headers", function()
    local r = answer("HTTP/1.1 200 OK\r\nX-Folded: one\r\n  two\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\n\r\nok")
    assert.same({ ["x-folded"] = "one two", ["x-a"] = "1, 2", ["content-length"] = "2" }, r.res.headers)
    assert.equal("ok", r.res.body)
  end)

  it("keep only the final answer's head after interim 1xx ones", function()
    local r = answer("HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" ..
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert.same({ ["content-length"] = "0" }, r.res.headers)
  end)

  it("make a malformed header line a transport error", function()
    local r = answer("HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\nok")
    assert.is_nil(r.res)
    assert.equal("transport", r.err.kind)
    assert.is_true(r.err.sent)
  end)

  -- issue 9, defect 2: libcurl 7.88 reports such an answer as a complete 200 (CURLE_OK)
  it("make a head cut before the blank line that ends it a transport error, sent", function()
    for _, raw in ipairs({ "HTTP/1.1 200 OK\r\nContent-Ty", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
      "HTTP/1.1 204 No Content\r\n", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX: 1" }) do
      for _, method in ipairs({ "GET", "DELETE", "POST" }) do
        local r = answer(raw, { close = true, method = method, body = method == "POST" and "{}" or nil })
        assert.is_nil(r.res, raw)
        assert.equal("transport", r.err.kind)
        assert.is_true(r.err.sent)
      end
    end
    assert.equal("the response was cut off inside its head", answer("HTTP/1.1 200 OK\r\nContent-Ty",
      { close = true }).err.detail)
    local r = answer("HTTP/1.1 204 No Content\r\n\r\n", { close = true, method = "DELETE" })
    assert.equal(204, r.res.status) -- a complete head with no body is complete
  end)

  -- issue 9, defect 1: libcurl says CURLE_UNSUPPORTED_PROTOCOL after sending as well
  it("count a request answered with something that is not HTTP/1.x as sent", function()
    for _, case in ipairs({
      { "HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n" },
      { "HTTP/2.0 200 OK\r\n\r\n" },
      { "garbage\r\n\r\n" },
      { "", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n" },
    }) do
      local r, head = answer(case[1], { close = true, method = "POST", body = '{"name":"x"}', banner = case[2] })
      assert.equal("POST / HTTP/1.1", head[1]) -- it did leave
      assert.is_nil(r.res, case[1])
      assert.equal("transport", r.err.kind)
      assert.is_true(r.err.sent, case[1] .. " " .. tostring(r.err.detail))
    end
  end)

  -- issue 9's fault matrix: libcurl 7.88 takes a 70 KB header line, and reports heads past its
  -- own limits as out of memory, which was retried
  it("refuse a head over 64 KiB, never to be retried", function()
    local line = ("h"):rep(8192)
    for _, raw in ipairs({ "HTTP/1.1 200 OK\r\nX-Huge: " .. ("h"):rep(70000) .. "\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.1 200 OK\r\n" .. ("X-Endless: " .. ("e"):rep(1000) .. "\r\n"):rep(80),
      { "HTTP/1.1 200 OK\r\nX-Huger: ", line, line, line, line, line, line, line, line, line, line, line, line, line,
        line, line, line, line, line, line, line, "\r\nContent-Length: 2\r\n\r\nok" } }) do
      local r = answer(raw, { close = true })
      assert.is_nil(r.res)
      assert.same({ kind = "transport", sent = true, retryable = false,
        detail = "response head larger than 65536 bytes" }, r.err)
    end
    local r = answer("HTTP/1.1 200 OK\r\nX-Big: " .. ("b"):rep(60000) .. "\r\nContent-Length: 2\r\n\r\nok")
    assert.equal("ok", r.res.body)
  end)

  -- issue 9's fault matrix: libcurl 7.88 reads "10, 42" as 10, and of two fields the last
  it("refuse a Content-Length that is not one number", function()
    for _, lengths in ipairs({ { "10", "2" }, { "2", "10" }, { "2, 10" }, { "10, 2" }, { "2, 2, 3" }, { "2,2" } }) do
      local head = "HTTP/1.1 200 OK\r\n"
      for _, n in ipairs(lengths) do head = head .. "Content-Length: " .. n .. "\r\n" end
      local r = answer(head .. "\r\nok", { close = true })
      assert.is_nil(r.res, table.concat(lengths, " | ")) -- or libcurl finds the body cut short
      assert.equal("transport", r.err.kind)
      assert.is_true(r.err.sent)
    end
    assert.equal("the response's Content-Length is not one number",
      answer("HTTP/1.1 200 OK\r\nContent-Length: 2, 10\r\n\r\nok", { close = true }).err.detail)
    for _, lengths in ipairs({ { "2" }, { "2", "2" }, { "2, 2" } }) do
      local head = "HTTP/1.1 200 OK\r\n"
      for _, n in ipairs(lengths) do head = head .. "Content-Length: " .. n .. "\r\n" end
      assert.equal("ok", answer(head .. "\r\nok").res.body)
    end
  end)

  it("still count a request that never left as not sent", function()
    local probe = assert(socket.bind("127.0.0.1", 0))
    local port = select(2, probe:getsockname())
    probe:close()
    local d = libcurl.new()
    local id = d:add({ method = "POST", body = "{}", url = "http://127.0.0.1:" .. port .. "/", timeout = 5 })
    local r = wait(d, { id })[id]
    assert.is_false(r.err.sent)
    id = d:add({ method = "POST", body = "{}", url = "ftp://127.0.0.1:" .. port .. "/", timeout = 5 })
    r = wait(d, { id })[id]
    assert.equal("transport", r.err.kind)
    assert.is_false(r.err.sent)
    d:close()
  end)
end)

describe("the libcurl driver's lifetime", function()
  it("closes idempotently and refuses use afterwards", function()
    local d = libcurl.new()
    d:add(request("/slow?ms=2000"))
    d:close()
    d:close()
    for _, call in ipairs({
      function() d:add(request("/json")) end,
      function() d:poll(0) end,
      function() d:remove(1) end,
    }) do
      local ok, err = pcall(call)
      assert.is_false(ok)
      assert.matches("driver is closed", err)
    end
  end)

  it("releases pending transfers when collected", function()
    local d = libcurl.new()
    d:add(request("/slow?ms=2000"))
    d:add(request("/json"))
    d = nil -- luacheck: ignore 311 (dropping the last reference is the point)
    collectgarbage()
    collectgarbage()
    local d2 = libcurl.new()
    local id = d2:add(request("/json"))
    assert.equal(200, wait(d2, { id })[id].res.status)
    d2:close()
  end)
end)
