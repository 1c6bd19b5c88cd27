-- The tracking plan enforced at the edge (posthog.event_definitions.edge) in real nginx: the
-- capture proxy of examples/nginx/edge.conf as written (spec/nginx/start --edge), with the fake
-- PostHog as both the API the taxonomy comes from and the capture upstream, which records every
-- body it receives byte for byte. Covers each class and action, `$` events, every body form and
-- compression, unreadable bodies, byte preservation, the metrics and the summary, and the cache
-- (start before the first refresh, unchanged taxonomy not downloaded again, a change picked up, a
-- failing refresh keeping the last index).
--
-- nginx runs LuaJIT; this file only drives it over HTTP, so it runs once, under LuaJIT (as
-- spec/60-nginx_spec.lua does).
if not rawget(_G, "jit") then return end

local socket = require "socket"
local mime = require "mime"
local cjson = require "cjson.safe"
local helpers = require "spec.helpers"

local nginx = require "support.nginx"
local request, eventually = nginx.request, nginx.eventually

-- Runs a shell command with `input` on its stdin (through a file); returns its stdout.
local function filter(command, input)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(input)
  f:close()
  local pipe = assert(io.popen(command .. " < " .. path))
  local out = pipe:read("*a")
  pipe:close()
  os.remove(path)
  return out
end
local function gzip(text) return filter("gzip -c -n", text) end
local function gunzip(data) return filter("gzip -dc 2>/dev/null", data) end
-- zlib-wrapped deflate (RFC 1950) with Python's zlib, which Debian's python3 always has
local function zlib_deflate(text)
  return filter("python3 -c 'import sys,zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))'", text)
end
local function zlib_inflate(data)
  return filter("python3 -c 'import sys,zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))'", data)
end
local function url_escape(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", c:byte()) end))
end
local function url_unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The taxonomy of the fake: one definition per class, a schema for checkout (enforcement
-- "reject"), and 200 seeded definitions around them.
local TAXONOMY = {
  seed = 200,
  definitions = {
    { name = "signup", verified = true },
    { name = "page_viewed" },
    { name = "junk_event", hidden = true },
    { name = "checkout", verified = true, enforcement_mode = "reject" },
    { name = "$pageview", verified = true },
    { name = "$identify", verified = true },
  },
  property_groups = { { name = "checkout", events = { "checkout" }, properties = {
    { name = "order_id", property_type = "Numeric", is_required = true },
    { name = "coupon", property_type = "String" },
  } } },
}

-- Events as senders write them: odd spacing, escapes, number forms, key orders.
local E = {
  good = '{ "event" : "signup", "properties": {"n": 1.50, "big": 12345678901234567890, "s": "caf\\u00e9 \\"q\\"",'
    .. ' "nested": {"b": [1, 2, {}], "a": null}}, "timestamp": "2026-01-01T00:00:00Z"}',
  good2 = '{"properties":{"$current_url":"https:\\/\\/example.com\\/?a=1&b=2","e":-0.0e+0},"event":"signup"}',
  unknown = '{"event":"mystery_event","properties":{"a":1}}',
  hidden = '{"event":"junk_event","properties":{}}',
  unverified = '{"event":"page_viewed"}',
  schema = '{"event":"checkout","properties":{"order_id":"A-1","coupon":"X"}}',
  schema_ok = '{"event":"checkout","properties":{"order_id":17,"coupon":"X"}}',
  pageview = '{"event":"$pageview","properties":{"$current_url":"/"}}',
  autocapture = '{"event":"$autocapture","properties":{"$event_type":"click"}}',
  identify = '{"event":"$identify","properties":{"$anon_distinct_id":"x"}}',
}
-- The same events with the tag inserted (the only change a tag makes).
local TAGGED = {
  unknown = '{"event":"mystery_event","properties":{"a":1,"$taxonomy_violation":"unknown"}}',
  hidden = '{"event":"junk_event","properties":{"$taxonomy_violation":"hidden"}}',
  unverified = '{"event":"page_viewed","properties":{"$taxonomy_violation":"unverified"}}',
  schema = '{"event":"checkout","properties":{"order_id":"A-1","coupon":"X","$taxonomy_violation":"schema"}}',
  autocapture = '{"event":"$autocapture","properties":{"$event_type":"click","$taxonomy_violation":"unknown"}}',
}

local function array(list, sep) return "[" .. table.concat(list, sep or ",\n  ") .. "]" end
local function batch(list) return '{"api_key":"phc_test","batch":' .. array(list) .. ',"sent_at":"2026-01-01"}' end

describe("edge enforcement: examples/nginx/edge.conf in real nginx", function()
  local fake, app

  -- What the capture upstream received since the last clear.
  local function captured()
    local out = {}
    for _, r in ipairs(helpers.control("GET", "captured").captured) do
      r.body = mime.unb64(r.body_b64) or ""
      out[#out + 1] = r
    end
    return out
  end
  local function clear() helpers.control("DELETE", "captured") end

  -- Sends `body` to `path` of the proxy; returns the upstream's record (or nil when nothing was
  -- forwarded), the proxy's answer and status.
  local function send(path, body, headers)
    clear()
    local answer, status = request("POST", app.url .. path, body,
      headers or { ["content-type"] = "application/json" })
    local got = captured()
    assert(#got <= 1, "more than one request forwarded")
    return got[1], answer, status
  end

  local function metrics()
    local text, status = request("GET", app.url .. "/metrics")
    assert.equal(200, status)
    return text
  end
  -- The value of one metrics line (0 when absent).
  local function metric(text, line)
    for l in text:gmatch("[^\n]+") do
      local name, value = l:match("^(.-) (%S+)$")
      if name == line then return tonumber(value) end
    end
    return 0
  end

  local function start(extra)
    local env = "FAKE_POSTHOG_URL=" .. fake .. " POSTHOG_HOST=" .. fake .. " POSTHOG_PERSONAL_API_KEY="
      .. helpers.KEY .. " POSTHOG_PROJECT_ID=1"
    return nginx.start("--edge --workers 2 " .. (extra or ""), env)
  end
  local stop, log_text = nginx.stop, nginx.log

  lazy_setup(function()
    fake = helpers.fake_url()
    helpers.reset(TAXONOMY)
    app = start()
    eventually("the first index", function()
      return metric(metrics(), "posthog_edge_index_definitions") > 0 or nil
    end)
  end)
  lazy_teardown(function() stop(app) end)

  describe("the example's policy (unknown and hidden dropped, schema tagged, unverified passes)", function()
    it("forwards a body whose events all pass exactly as sent, Content-Length included", function()
      local body = array({ E.good, E.good2, E.unverified, E.schema_ok, E.pageview }, " ,\n\t")
      local got, answer, status = send("/e/", body)
      assert.equal(200, status)
      assert.equal('{"status":1}', answer)
      assert.equal(body, got.body)
      assert.equal(tostring(#body), got.content_length)
    end)

    it("drops and tags by byte ranges; every other byte stays as the sender wrote it", function()
      local body = array { E.unknown, E.good, E.hidden, E.schema, E.good2, E.unverified }
      local got = send("/batch/", batch { E.unknown, E.good, E.hidden, E.schema, E.good2, E.unverified })
      assert.equal(batch { E.good, TAGGED.schema, E.good2, E.unverified }, got.body)
      assert.equal(tostring(#got.body), got.content_length)
      got = send("/e/", body)
      assert.equal(array { E.good, TAGGED.schema, E.good2, E.unverified }, got.body)
    end)

    it("a single event object: tagged in place, or dropped and answered by the proxy", function()
      local got = send("/capture/", "  " .. E.schema .. "\n")
      assert.equal("  " .. TAGGED.schema .. "\n", got.body)
      local answer, status
      got, answer, status = send("/i/v0/e/", E.unknown)
      assert.is_nil(got)
      assert.equal(200, status)
      assert.equal('{"status":1}', answer)
    end)

    it("a body whose every event is dropped is answered 200 and not forwarded", function()
      local got, _, status = send("/track/", array { E.unknown, E.hidden })
      assert.is_nil(got)
      assert.equal(200, status)
    end)

    it("`$` events pass whatever their class unless the policy names them", function()
      local body = array { E.autocapture, E.pageview, E.identify }
      local got = send("/e/", body)
      assert.equal(body, got.body)
      got = send("/v/named/e/", array { E.pageview, E.autocapture, E.identify, E.unknown })
      assert.equal(array { TAGGED.autocapture, E.identify }, got.body)
    end)
  end)

  describe("each class under each action", function()
    local ALL = { "unknown", "hidden", "unverified", "schema" }

    it("pass: forwarded untouched", function()
      local body = array { E.unknown, E.hidden, E.unverified, E.schema, E.good }
      local got = send("/v/pass/e/", body)
      assert.equal(body, got.body)
    end)

    it("tag: the property $taxonomy_violation naming the class, nothing else changed", function()
      local got = send("/v/tag/batch/", batch { E.unknown, E.hidden, E.good, E.unverified, E.schema })
      assert.equal(batch { TAGGED.unknown, TAGGED.hidden, E.good, TAGGED.unverified, TAGGED.schema }, got.body)
    end)

    it("drop: removed, the rest forwarded", function()
      local got = send("/v/drop/e/", array { E.unknown, E.good, E.hidden, E.unverified, E.schema, E.schema_ok })
      assert.equal(array { E.good, E.schema_ok }, got.body)
    end)

    it("reject: 400 naming the first offending event, nothing forwarded", function()
      for _, class in ipairs(ALL) do
        local got, answer, status = send("/v/reject/e/", array { E.good, E[class], E.unknown })
        assert.is_nil(got, class)
        assert.equal(400, status, class)
        local err = assert(cjson.decode(answer))
        assert.same({ "validation_error", "taxonomy_violation" }, { err.type, err.code })
        assert.equal(assert(cjson.decode(E[class])).event, err.attr)
        assert.truthy(err.detail:find(class, 1, true), err.detail)
      end
    end)
  end)

  describe("body forms and compression", function()
    local body = array { E.good, E.unknown, E.schema }
    local expected = array { E.good, TAGGED.schema }

    it("gzip by Content-Encoding: re-compressed as gzip, headers kept, Content-Length adjusted", function()
      local got = send("/batch/", gzip(body), { ["content-encoding"] = "gzip", ["content-type"] = "text/plain" })
      assert.equal("gzip", got.content_encoding)
      assert.equal(tostring(#got.body), got.content_length)
      assert.equal(expected, gunzip(got.body))
    end)

    it("posthog-js gzip (?compression=gzip-js, no Content-Encoding): re-compressed, query kept", function()
      local got = send("/e/?compression=gzip-js&ver=1.200.0", gzip(body), { ["content-type"] = "text/plain" })
      assert.equal("compression=gzip-js&ver=1.200.0", got.args)
      assert.equal(expected, gunzip(got.body))
    end)

    it("a gzip body whose events all pass is forwarded as the same compressed bytes", function()
      local data = gzip(array { E.good, E.good2 })
      local got = send("/e/?compression=gzip-js", data, { ["content-type"] = "text/plain" })
      assert.equal(data, got.body)
    end)

    it("deflate (zlib wrapping): re-compressed as deflate", function()
      local got = send("/e/", zlib_deflate(body), { ["content-encoding"] = "deflate" })
      assert.equal("deflate", got.content_encoding)
      assert.equal(expected, zlib_inflate(got.body))
    end)

    it("raw deflate (no zlib header): re-compressed raw", function()
      local raw = zlib_deflate(body):sub(3, -5) -- the zlib stream less its 2-byte header and Adler-32
      local got = send("/e/", raw, { ["content-encoding"] = "deflate" })
      local inflated = filter("python3 -c 'import sys,zlib; sys.stdout.buffer.write("
        .. "zlib.decompress(sys.stdin.buffer.read(), -15))'", got.body)
      assert.equal(expected, inflated)
    end)

    it("a body larger than client_body_buffer_size (read back from nginx's temporary file)", function()
      local events = {}
      for i = 1, 8000 do events[i] = E.good end
      events[2000] = E.unknown
      local big = array(events)
      assert.is_true(#big > 1024 * 1024)
      local got = send("/e/", big)
      table.remove(events, 2000)
      assert.equal(array(events), got.body)
    end)

    it("posthog-js's base64 form (data=…): the data field re-encoded, the other fields kept", function()
      local form = "data=" .. url_escape(mime.b64(body)) .. "&ver=1.200.0"
      local got = send("/e/?compression=base64", form, { ["content-type"] = "application/x-www-form-urlencoded" })
      local data, rest = got.body:match("^data=([^&]*)(&.*)$")
      assert.equal("&ver=1.200.0", rest)
      assert.equal(expected, mime.unb64(url_unescape(data)))
    end)

    it("bodies it cannot read pass untouched and are counted as uninspected", function()
      local before = metrics()
      local cases = {
        { "lz64", "/e/?compression=lz64", "N4IgLgpg", { ["content-type"] = "application/x-www-form-urlencoded" } },
        { "zstd", "/e/", "\40\181\47\253junk", { ["content-encoding"] = "zstd" } },
        { "malformed", "/e/", '[{"event":"mystery_event",', nil },
        { "not events", "/e/", '{"hello":"world"}', nil },
        { "truncated gzip", "/e/?compression=gzip-js", gzip(body):sub(1, 20), nil },
        { "garbage gzip", "/e/", "\31\139\8\0garbage", { ["content-encoding"] = "gzip" } },
      }
      for _, c in ipairs(cases) do
        local got, _, status = send(c[2], c[3], c[4])
        assert.equal(200, status, c[1])
        assert.equal(c[3], got.body, c[1])
      end
      local after = metrics()
      assert.equal(#cases, metric(after, 'posthog_edge_requests_total{outcome="uninspected"}')
        - metric(before, 'posthog_edge_requests_total{outcome="uninspected"}'))
      assert.equal(2, metric(after, 'posthog_edge_uninspected_total{reason="gzip"}')
        - metric(before, 'posthog_edge_uninspected_total{reason="gzip"}'))
      assert.equal(2, metric(after, 'posthog_edge_uninspected_total{reason="json"}')
        - metric(before, 'posthog_edge_uninspected_total{reason="json"}'))
      assert.equal(2, metric(after, 'posthog_edge_uninspected_total{reason="encoding"}')
        - metric(before, 'posthog_edge_uninspected_total{reason="encoding"}'))
    end)

    it("a body that inflates past max_body (20 MB) passes untouched, counted as too large", function()
      local before = metrics()
      local big = gzip("[" .. (" "):rep(21 * 1024 * 1024) .. '{"event":"mystery_event"}]')
      local got, _, status = send("/e/?compression=gzip-js", big)
      assert.equal(200, status)
      assert.equal(big, got.body)
      local after = metrics()
      assert.equal(1, metric(after, 'posthog_edge_uninspected_total{reason="too_large"}')
        - metric(before, 'posthog_edge_uninspected_total{reason="too_large"}'))
      local strict = send("/v/strict_unread/e/?compression=gzip-js", big)
      assert.is_nil(strict, "an unchecked body forwarded although uninspected is reject")
    end)

    it("with uninspected = \"reject\" an unreadable body is answered 400 and not forwarded", function()
      local got, answer, status = send("/v/strict_unread/e/", "\31\139\8\0garbage",
        { ["content-encoding"] = "gzip" })
      assert.is_nil(got)
      assert.equal(400, status)
      assert.equal("taxonomy_uninspected", assert(cjson.decode(answer)).code)
    end)

    it("other locations and methods are not touched", function()
      clear()
      local _, status = request("GET", app.url .. "/e/?data=x")
      assert.equal(200, status)
      assert.equal("", captured()[1].body)
    end)
  end)

  describe("edge.init", function()
    it("raises a clear message for each bad option, and the edge set up before goes on", function()
      local text, status = request("GET", app.url .. "/init_errors")
      assert.equal(200, status)
      local lines = {}
      for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
      assert.same({
        "edge.init: options must be a table",
        "edge.init: unknown option refreshh",
        "edge.init: refresh must be a number",
        "edge.init: client is required",
        "edge.init: dict is required",
        "edge.init: no lua_shared_dict no_such_dict",
        "edge.init: refresh must be positive",
        "edge.init: max_body must be positive",
        "edge.init: uninspected must be pass or reject",
        "edge: policy.unknown must be pass, tag, drop or reject, not explode",
        'edge: policy keys are unknown, hidden, unverified, schema or "$event" names, not sometimes',
        "edge.init: redis must start with redis://",
        "edge.init: unknown redis key 'hots'",
      }, lines)
      local got = send("/e/", array { E.unknown, E.good })
      assert.equal(array { E.good }, got.body)
    end)
  end)

  describe("metrics and the log", function()
    it("counts per class and action and per offending event name, as Prometheus text", function()
      local before = metrics()
      send("/e/", array { E.unknown, E.unknown, E.hidden, E.schema, E.good })
      local after = metrics()
      local function delta(line) return metric(after, line) - metric(before, line) end
      assert.equal(5, delta("posthog_edge_events_total"))
      assert.equal(2, delta('posthog_edge_violations_total{class="unknown",action="drop"}'))
      assert.equal(1, delta('posthog_edge_violations_total{class="hidden",action="drop"}'))
      assert.equal(1, delta('posthog_edge_violations_total{class="schema",action="tag"}'))
      assert.equal(2, delta('posthog_edge_offender_total{class="unknown",event="mystery_event"}'))
      assert.equal(1, delta('posthog_edge_requests_total{outcome="rewritten"}'))
      assert.truthy(after:find("# TYPE posthog_edge_violations_total counter\n", 1, true))
      assert.equal(206, metric(after, "posthog_edge_index_definitions"))
    end)

    it("writes a summary to the error log (every second here, a minute by default), never the key", function()
      send("/e/", array { E.unknown })
      eventually("a summary with the violation", function()
        return log_text(app):find('posthog edge: [^\n]*violations{unknown,drop} %+1') or nil
      end)
      assert.falsy(log_text(app):find(helpers.KEY, 1, true))
    end)
  end)

  describe("the taxonomy cache", function()
    -- The event-definition list requests the fake saw: full pages (no limit=1) and probes.
    local function list_requests()
      local full, probes = 0, 0
      for _, r in ipairs(helpers.requests()) do
        if r.path:find("/event_definitions/?$") then
          if (r.args or ""):find("limit=1$") or (r.args or ""):find("limit=1&") then probes = probes + 1
          else full = full + 1 end
        end
      end
      return full, probes
    end

    it("does not download an unchanged taxonomy again (the count and the groups are compared)", function()
      helpers.control("DELETE", "requests")
      socket.sleep(2.5)
      local full, probes = list_requests()
      assert.is_true(probes >= 2, "probes: " .. probes)
      assert.equal(0, full)
    end)

    it("picks up a change at the next refresh", function()
      local body = array { '{"event":"brand_new_event","properties":{}}' }
      assert.is_nil(send("/e/", body)) -- unknown: dropped
      local created = helpers.client():create { name = "brand_new_event" }
      assert.truthy(created)
      eventually("the new definition in the index", function()
        return metric(metrics(), "posthog_edge_index_definitions") == 207 or nil
      end)
      local got = send("/e/", body)
      assert.equal(body, got.body)
    end)

    it("a failing refresh keeps the last index and is logged", function()
      local before = metrics()
      helpers.faults { { match = { path = "^/api/" }, times = 0, status = 500 } }
      finally(function() helpers.control("DELETE", "faults") end)
      eventually("a failed refresh", function()
        return metric(metrics(), 'posthog_edge_refresh_total{result="failed"}')
          > metric(before, 'posthog_edge_refresh_total{result="failed"}') or nil
      end)
      assert.is_nil(send("/e/", array { E.unknown }))
      local got = send("/e/", array { E.unknown, E.good })
      assert.equal(array { E.good }, got.body)
      assert.truthy(log_text(app):find("taxonomy refresh failed, keeping the index of", 1, true))
      assert.falsy(log_text(app):find(helpers.KEY, 1, true))
    end)

    it("passes everything before the first refresh succeeds, then enforces", function()
      helpers.faults { { match = { path = "^/api/" }, times = 0, status = 500 } }
      local second = start()
      finally(function()
        helpers.control("DELETE", "faults")
        stop(second)
      end)
      clear()
      local body = array { E.unknown }
      local _, status = request("POST", second.url .. "/e/", body, { ["content-type"] = "application/json" })
      assert.equal(200, status)
      assert.equal(body, captured()[1].body)
      local text = request("GET", second.url .. "/metrics")
      assert.equal(1, metric(text, 'posthog_edge_requests_total{outcome="not_ready"}'))
      assert.equal(-1, metric(text, "posthog_edge_index_age_seconds"))
      helpers.control("DELETE", "faults")
      eventually("the first index of the second proxy", function()
        local t = request("GET", second.url .. "/metrics")
        return metric(t, "posthog_edge_index_definitions") > 0 or nil
      end)
      clear()
      request("POST", second.url .. "/e/", body, { ["content-type"] = "application/json" })
      assert.same({}, captured())
    end)

    it("with before_first_refresh = \"reject\", answers 503 until the first index is loaded", function()
      helpers.faults { { match = { path = "^/api/" }, times = 0, status = 500 } }
      local third = start("--reject-before-refresh")
      finally(function()
        helpers.control("DELETE", "faults")
        stop(third)
      end)
      clear()
      local body = array { E.good }
      local answer, status = request("POST", third.url .. "/e/", body, { ["content-type"] = "application/json" })
      assert.equal(503, status)
      assert.equal("taxonomy_unavailable", assert(cjson.decode(answer)).code)
      assert.same({}, captured())
      helpers.control("DELETE", "faults")
      eventually("the first index of the third proxy", function()
        local _, s = request("POST", third.url .. "/e/", body, { ["content-type"] = "application/json" })
        return s == 200 or nil
      end)
      assert.equal(body, captured()[#captured()].body)
    end)
  end)
end)
