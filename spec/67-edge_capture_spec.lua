-- edge/capture.lua and edge/inflate.lua in real nginx (spec/nginx/start --capture, no edge.init):
-- every SDK body of spec/support/sdk_bodies.lua is read to its JSON text; a changed text written
-- back reaches the fake PostHog exactly as the SDK would have sent it; the bypasses of issue 18
-- are closed (query data= on GET and on a POST with an empty body, percent-encoded form keys,
-- gzip without a hint on every path, /engage/, path prefixes), unreadable inputs give their
-- reason, and a gzip bomb inflates no further than the ratio allows.
--
-- nginx runs LuaJIT; this file only drives it over HTTP, so it runs once, under LuaJIT.
if not rawget(_G, "jit") then return end

local mime = require "mime"
local cjson = require "cjson.safe"
local helpers = require "spec.helpers"
local nginx = require "support.nginx"
local sdk = require "support.sdk_bodies"

local FROM, TO = "change_me", "changed_into_a_longer_name" -- as spec/nginx/capture_app.lua changes them
local FORM = "application/x-www-form-urlencoded"

-- Events with what senders put in them: escapes, non-ASCII, HTML characters, numbers, nesting.
local EVENTS = {
  { event = "signup", properties = { plan = "pro", note = "café & <b> 'x'=y \"q\" a/b 😀", n = 1.5,
    nested = sdk.object { { "b", { 1, 2, sdk.object {} } }, { "a", sdk.null } } } },
  { event = FROM, properties = { order_id = 17 } },
  { event = "Application Opened", properties = { ["$set"] = { email = "a@example.com" } } },
}

local function null(v) if v == cjson.null then return nil end return v end

describe("edge capture: every capture input read and written back in real nginx", function()
  local app

  lazy_setup(function()
    app = nginx.start("--capture", "FAKE_POSTHOG_URL=" .. helpers.fake_url())
  end)
  lazy_teardown(function() nginx.stop(app) end)

  -- Sends `req` (method, path, query, headers, body) to the app's `mode` location.
  local function send(mode, req, extra)
    local headers = {}
    for k, v in pairs(req.headers or {}) do headers[k] = v end
    for k, v in pairs(extra or {}) do headers[k] = v end
    local body = req.body
    if req.method == "GET" and (body == nil or body == "") then body = nil end
    local url = app.url .. "/t/" .. mode .. req.path .. (req.query and "?" .. req.query or "")
    return nginx.request(req.method or "POST", url, body, headers)
  end

  -- What capture.read made of `req`: {kind, text, bearer, reason, detail, memory_kb}.
  local function read(req, extra)
    local text, status = send("report", req, extra)
    assert.equal(200, status, text)
    local r = assert(cjson.decode(text))
    for k, v in pairs(r) do r[k] = null(v) end
    return r
  end

  -- The one request the fake PostHog received for `req` sent through `mode` (body decoded).
  local function forward(mode, req, extra)
    helpers.control("DELETE", "captured")
    local answer, status = send(mode, req, extra)
    assert.equal(200, status, answer)
    local got = helpers.control("GET", "captured").captured
    assert.equal(1, #got)
    local rec = got[1]
    for k, v in pairs(rec) do rec[k] = null(v) end
    rec.body = mime.unb64(rec.body_b64 or "") or ""
    return rec
  end

  -- Asserts that upstream record `rec` is request `expected` as its SDK frames it: method, query,
  -- headers, and the body byte for byte (compressed ones: the same format, the same content).
  local function assert_received(expected, rec)
    assert.equal(expected.method, rec.method)
    assert.equal(expected.query, rec.args)
    assert.equal(expected.headers["content-type"], rec.content_type)
    assert.equal(expected.headers["content-encoding"], rec.content_encoding)
    if expected.compression then
      assert.equal(expected.text, sdk.decompress(expected.compression, rec.body))
    else
      assert.equal(expected.body, rec.body)
    end
    if rec.body ~= "" then assert.equal(tostring(#rec.body), rec.content_length) end
  end

  describe("every SDK body of reference §21.3", function()
    for _, name in ipairs(sdk.SDKS) do
      it(name .. " is read to its JSON text", function()
        local req = sdk.build(name, EVENTS)
        local r = read(req)
        if req.lz64 then
          assert.same({ "lz64", nil }, { r.reason, r.text })
          return
        end
        assert.is_nil(r.reason, r.detail)
        assert.equal(req.text, r.text)
        assert.equal(name:find("^v1") and sdk.TOKEN or nil, r.bearer)
      end)

      it(name .. ": a changed text reaches PostHog as " .. name .. " would have sent it", function()
        local req = sdk.build(name, EVENTS)
        if req.lz64 then -- not read: forwarded untouched
          assert_received(req, forward("change", req))
          return
        end
        local changed = req.text:gsub(FROM, TO)
        if name == "posthog_js_engage" then changed = req.text end -- no event name to change
        assert_received(sdk.rewrap(req, changed), forward("change", req))
        assert_received(req, forward("same", req))
      end)
    end
  end)

  describe("bypasses closed", function()
    local array = '[{"event":"' .. FROM .. '","properties":{"token":"' .. sdk.TOKEN .. '"}}]'
    local encoded = sdk.uri_component(sdk.base64(array))

    it("reads a GET's query data= and rewrites it, other arguments byte for byte", function()
      local req = { method = "GET", path = "/e/", query = "ver=1.2&data=" .. encoded .. "&ip=1&x=%20+y" }
      assert.equal(array, read(req).text)
      local rec = forward("change", req)
      assert.equal("GET", rec.method)
      assert.equal("ver=1.2&data=" .. sdk.uri_component(sdk.base64((array:gsub(FROM, TO)))) .. "&ip=1&x=%20+y",
        rec.args)
      -- plain JSON in data= (not base64) is read too
      assert.equal(array, read { method = "GET", path = "/i/v0/e/", query = "data=" .. sdk.uri_component(array) }.text)
    end)

    it("reads query data= on a POST with an empty body, and prefers it to a body", function()
      local req = { method = "POST", path = "/batch/", query = "data=" .. encoded, body = "",
        headers = { ["content-type"] = "text/plain" } }
      assert.equal(array, read(req).text)
      local with_body = { method = "POST", path = "/e/", query = "data=" .. encoded,
        body = '[{"event":"from_the_body"}]', headers = { ["content-type"] = "application/json" } }
      assert.equal(array, read(with_body).text)
      local rec = forward("change", with_body)
      assert.equal(with_body.body, rec.body) -- PostHog ignores the body then: left as it was
      assert.equal("data=" .. sdk.uri_component(sdk.base64((array:gsub(FROM, TO)))), rec.args)
      -- an empty data= leaves the body in charge, as in PostHog
      assert.equal(with_body.body, read { method = "POST", path = "/e/", query = "data=&ver=1",
        body = with_body.body, headers = { ["content-type"] = "application/json" } }.text)
    end)

    it("percent-decodes form and query keys (d%61ta=)", function()
      local form = { method = "POST", path = "/e/", headers = { ["content-type"] = FORM },
        body = "_=1&d%61ta=" .. encoded .. "&compr%65ssion=base64" }
      assert.equal(array, read(form).text)
      local rec = forward("change", form)
      assert.equal("_=1&d%61ta=" .. sdk.uri_component(sdk.base64((array:gsub(FROM, TO)))) .. "&compr%65ssion=base64",
        rec.body)
      assert.equal(array, read { method = "GET", path = "/e/", query = "d%61ta=" .. encoded }.text)
      -- a base64 value whose '+' a form decoder turned into spaces is mended, as PostHog does
      local plus = '[{"event":"' .. FROM .. '","properties":{"v":">>>"}}]'
      assert.truthy(sdk.base64(plus):find("+", 1, true))
      assert.equal(plus, read { method = "POST", path = "/e/", headers = { ["content-type"] = FORM },
        body = "data=" .. sdk.base64(plus) }.text)
    end)

    it("reads gzip without any hint, by its magic bytes, on every capture path", function()
      local gz = sdk.compress("gzip", array)
      for _, path in ipairs { "/e/", "/e", "/i/v0/e/", "/capture/", "/track/", "/batch/", "/batch", "/engage/",
          "/i/v0/ai/batch/", "/ph/i/v0/e/", "/ingest/batch/" } do
        local r = read { method = "POST", path = path, body = gz, headers = { ["content-type"] = "text/plain" } }
        assert.is_nil(r.reason, path)
        assert.equal(array, r.text, path)
      end
      local rec = forward("change", { method = "POST", path = "/ph/i/v0/e/", body = gz,
        headers = { ["content-type"] = "text/plain" } })
      assert.equal(array:gsub(FROM, TO), sdk.decompress("gzip", rec.body))
      assert.equal("/i/v0/e/", rec.uri)
    end)

    it("takes the compression hint from the query, else the form, else Content-Encoding, as PostHog", function()
      local json = { ["content-type"] = "text/plain", ["content-encoding"] = "gzip" }
      -- a base64 hint settles it: Content-Encoding is not looked at, the plain text is read
      assert.equal(array, read { method = "POST", path = "/e/", headers = { ["content-type"] = FORM,
        ["content-encoding"] = "gzip" }, body = "data=" .. encoded .. "&compression=base64" }.text)
      assert.equal(array, read { method = "POST", path = "/batch/", query = "compression=b64", headers = json,
        body = array }.text)
      -- query and form values in any case, Content-Encoding only exactly
      assert.equal(array, read { method = "POST", path = "/batch/", query = "compression=GZIP-JS",
        headers = { ["content-type"] = "text/plain" }, body = sdk.compress("gzip", array) }.text)
      assert.equal(array, read { method = "POST", path = "/batch/", body = array,
        headers = { ["content-type"] = "text/plain", ["content-encoding"] = "GZIP" } }.text)
      local r = read { method = "POST", path = "/batch/", headers = json, body = array }
      assert.same({ "gzip" }, { r.reason, r.text })
    end)

    it("reads /engage/ (a nameless $set object) and knows every path under a prefix", function()
      local r = read { method = "POST", path = "/ph/engage/", body = '{"$set":{"a":1},"$token":"t"}',
        headers = { ["content-type"] = "application/json" } }
      assert.same({ "engage", '{"$set":{"a":1},"$token":"t"}' }, { r.kind, r.text })
      local kinds = {
        ["/ph/i/v0/e/"] = "events", ["/ph/e"] = "events", ["/a/b/batch/"] = "events", ["/ingest/capture"] = "events",
        ["/ph/track/"] = "events", ["/ph/i/v0/ai/batch/"] = "events", ["/ph/engage"] = "engage",
        ["/ph/i/v1/analytics/events"] = "v1", ["/ph/i/v1/analytics/events/"] = "v1", ["/ph/s/"] = "recording",
        ["/s"] = "recording", ["/ph/flags/"] = false, ["/ph/decide/"] = false, ["/ph/static/array.js"] = false,
      }
      for path, kind in pairs(kinds) do
        assert.equal(kind or nil, read { method = "POST", path = path, body = "[]" }.kind, path)
      end
      assert.equal("events", read { method = "GET", path = "/ph/e/", query = "data=" .. encoded }.kind)
      assert.is_nil(read { method = "GET", path = "/i/v1/analytics/events" }.kind) -- v1 is POST only
    end)

    it("leaves recordings (/s/) and empty requests uninspected without a reason", function()
      local r = read { method = "POST", path = "/s/", body = '[{"event":"$snapshot","properties":{}}]',
        headers = { ["content-type"] = "application/json" } }
      assert.same({ "recording" }, { r.kind, r.text, r.reason })
      r = read { method = "POST", path = "/e/", body = "", headers = { ["content-type"] = "text/plain" } }
      assert.same({ "events" }, { r.kind, r.text, r.reason })
      r = read { method = "GET", path = "/e/", query = "ver=1&_=2" }
      assert.same({ "events" }, { r.kind, r.text, r.reason })
    end)
  end)

  describe("what cannot be read gives its reason", function()
    local array = '[{"event":"x"}]'
    local function reason(req)
      local r = read(req)
      assert.is_nil(r.text)
      return r.reason
    end

    it("lz64 by the form, the query or Content-Encoding", function()
      assert.equal("lz64", reason { method = "POST", path = "/e/", headers = { ["content-type"] = FORM },
        body = "data=N4IgJghgLhIF&compression=lz64" })
      assert.equal("lz64", reason { method = "POST", path = "/e/", query = "compression=lz-string",
        body = "N4IgJghgLhIF", headers = { ["content-type"] = "text/plain" } })
      assert.equal("lz64", reason { method = "POST", path = "/e/", body = "N4IgJghgLhIFwEY",
        headers = { ["content-type"] = "text/plain", ["content-encoding"] = "lz64" } })
    end)

    it("unknown encodings and garbage in every compression", function()
      local v1 = { authorization = "Bearer " .. sdk.TOKEN, ["content-type"] = "application/json" }
      local function with(h, extra)
        local t = {}
        for k, v in pairs(h) do t[k] = v end
        for k, v in pairs(extra) do t[k] = v end
        return t
      end
      local path = "/i/v1/analytics/events"
      assert.equal("encoding", reason { method = "POST", path = path, body = array,
        headers = with(v1, { ["content-encoding"] = "lz4" }) })
      for _, enc in ipairs { "gzip", "deflate", "zstd", "br" } do
        assert.equal(enc, reason { method = "POST", path = path, body = "garbage, not " .. enc .. " at all",
          headers = with(v1, { ["content-encoding"] = enc }) }, enc)
      end
      local truncated = sdk.compress("gzip", string.rep(array, 50))
      assert.equal("gzip", reason { method = "POST", path = "/batch/", body = truncated:sub(1, -9),
        headers = { ["content-type"] = "application/json" } })
      assert.equal("gzip", reason { method = "POST", path = "/e/", query = "compression=gzip-js", body = array,
        headers = { ["content-type"] = "text/plain" } })
      local form = { ["content-type"] = FORM }
      assert.equal("form", reason { method = "POST", path = "/e/", body = array, headers = form })
      assert.equal("form", reason { method = "POST", path = "/e/", body = "_=1&ver=2", headers = form })
      assert.equal("query", reason { method = "GET", path = "/e/", query = "data=e30%3D&d%61ta=e30%3D" })
      assert.equal("multipart", reason { method = "POST", path = "/i/v0/ai", body = "--b\r\n",
        headers = { ["content-type"] = "multipart/form-data; boundary=b" } })
      -- v1 reads the token whatever the scheme's case and the spaces around it
      assert.equal(sdk.TOKEN, read { method = "POST", path = path, body = array,
        headers = with(v1, { authorization = "bEaReR   " .. sdk.TOKEN .. "  " }) }.bearer)
    end)
  end)

  describe("large bodies and bombs", function()
    -- events with incompressible values, so that even the gzip body is over nginx's 16 KiB buffer
    local function big_events(n)
      local list = {}
      for i = 1, n do
        list[i] = { event = i == n and FROM or "e" .. i, properties = { r = mime.b64(tostring(math.random()) .. i
          .. tostring(math.random())) .. string.format("%08x%08x", math.random(0, 2 ^ 31), math.random(0, 2 ^ 31)) } }
      end
      return list
    end

    it("reads and rewrites bodies that nginx keeps in its temporary file", function()
      for _, name in ipairs { "posthog_python", "posthog_js", "v1_zstd", "posthog_js_beacon_base64" } do
        local req = sdk.build(name, big_events(600))
        assert.is_true(#req.body > 16 * 1024, name)
        assert.equal(req.text, read(req).text, name)
        assert_received(sdk.rewrap(req, (req.text:gsub(FROM, TO))), forward("change", req))
      end
    end)

    it("stops inflating a 20 KB gzip of 20 MB of `{},` at max_ratio times its size (too_large)", function()
      local bomb = sdk.compress("gzip", "[" .. string.rep("{},", 20 * 1024 * 1024 / 3) .. "{}]")
      assert.is_true(#bomb < 30 * 1024)
      local req = { method = "POST", path = "/i/v0/e/", body = bomb, headers = { ["content-type"] = "text/plain" } }
      local r = read(req, { ["x-test-max-ratio"] = "100" })
      assert.equal("too_large", r.reason)
      assert.truthy(r.detail:find("inflates past " .. 100 * #bomb, 1, true), r.detail)
      -- what the read allocated stays within a few times the ratio's bound (100 x 20 KB), far below 64 MB
      assert.is_true(r.memory_kb < 3 * 100 * #bomb / 1024, tostring(r.memory_kb))
      -- max_body bounds it as well, whatever the ratio
      r = read(req, { ["x-test-max-ratio"] = "1e9", ["x-test-max-body"] = tostring(1024 * 1024) })
      assert.equal("too_large", r.reason)
      -- a body within both limits is read, though its ratio is high
      local small = sdk.compress("gzip", "[" .. string.rep("{},", 300000) .. "{}]")
      r = read({ method = "POST", path = "/batch/", body = small, headers = { ["content-type"] = "text/plain" } },
        { ["x-test-max-ratio"] = "2000" })
      assert.is_nil(r.reason)
      assert.equal(2 + 300001 * 2 + 300000, #r.text)
      -- and every other compression is bounded the same way
      for _, format in ipairs { "zstd", "br", "zlib" } do
        local data = sdk.compress(format, "[" .. string.rep("{},", 1024 * 1024) .. "{}]")
        local names = { zstd = "zstd", br = "br", zlib = "deflate" }
        r = read({ method = "POST", path = "/i/v1/analytics/events", body = data, headers = {
          ["content-type"] = "application/json", ["content-encoding"] = names[format] } },
          { ["x-test-max-ratio"] = "100" })
        assert.equal("too_large", r.reason, format)
      end
    end)
  end)
end)
