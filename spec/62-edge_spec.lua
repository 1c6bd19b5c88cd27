-- The edge in real nginx: the capture proxy of examples/nginx/edge.conf as written (spec/nginx/start
-- --edge), the fake PostHog being the API, the capture upstream and the quarantine project. Every
-- SDK's traffic built byte for byte (spec/support/sdk_bodies.lua) is judged and forwarded with
-- its passing events untouched, while what is taken out reaches the quarantine exactly; each
-- class under each action; the bypasses of issue 18 closed; SDK names; PostHog's schema
-- semantics; metrics and the log.
--
-- nginx runs LuaJIT; this file only drives it over HTTP, so it runs once, under LuaJIT.
if not rawget(_G, "jit") then return end

local cjson = require "cjson.safe"
local helpers = require "spec.helpers"
local nginx = require "support.nginx"
local sdk = require "support.sdk_bodies"
local support = require "support.edge"

local request, eventually = nginx.request, nginx.eventually
local metric = support.metric

-- The taxonomy of project 1: one definition per class, a schema (enforcement "reject" for
-- checkout, "allow" for order), SDK-named and $ events, and 200 seeded definitions around them.
local TAXONOMY = {
  seed = 200,
  definitions = {
    { name = "signup", verified = true },
    { name = "page_viewed" },
    { name = "junk_event", hidden = true, verified = true },
    { name = "checkout", verified = true, enforcement_mode = "reject" },
    { name = "order", verified = true },
    { name = "$pageview", verified = true },
  },
  property_groups = { { name = "checkout", events = { "checkout", "order" }, properties = {
    { name = "order_id", property_type = "Numeric", is_required = true },
    { name = "paid", property_type = "Boolean", is_required = true },
    { name = "currency", property_type = "String", is_required = true, validation_rules = { enum = { "usd", "eur" } } },
    { name = "coupon", property_type = "String" },
  } } },
}

-- Events as senders write them.
local E = {
  good = '{ "event" : "signup", "properties": {"n": 1.50, "s": "caf\\u00e9 \\"q\\"", "nested": {"b": [1, {}]}}}',
  unknown = '{"event":"mystery_event","properties":{"a":1}}',
  hidden = '{"event":"junk_event","properties":{}}',
  unverified = '{"event":"page_viewed"}',
  schema = '{"event":"checkout","properties":{"order_id":"A-1","paid":true,"currency":"usd"}}',
  schema_ok = '{"event":"checkout","properties":{"order_id":"17","paid":"true","currency":"eur","coupon":5}}',
  pageview = '{"event":"$pageview","properties":{"$current_url":"/"}}',
}
local function array(list) return "[" .. table.concat(list, ",\n  ") .. "]" end

describe("the edge in real nginx", function()
  local app

  -- Sends `body` to `path`; returns the one forwarded record (nil when nothing was forwarded),
  -- the proxy's answer and status.
  local function send(path, body, headers, method)
    support.clear()
    local answer, status = request(method or "POST", app.url .. path, body,
      headers or { ["content-type"] = "application/json" })
    local forwarded = support.received()
    assert(#forwarded <= 1, "more than one request forwarded")
    return forwarded[1], answer, status
  end

  -- Sends an SDK request (sdk_bodies) to the proxy; returns the forwarded record, answer, status.
  local function send_sdk(req, prefix)
    local url = (prefix or "") .. req.path .. (req.query and "?" .. req.query or "")
    return send(url, req.method == "GET" and nil or req.body, req.headers, req.method)
  end

  lazy_setup(function()
    helpers.reset(TAXONOMY)
    app = support.start()
    support.ready(app, "default", 206)
  end)
  lazy_teardown(function() nginx.stop(app) end)

  describe("every SDK's traffic, as it is sent", function()
    local EVENTS = {
      { event = "signup", properties = { plan = "pro", note = "café & <b> 'x'=y a/b 😀", n = 1.5 } },
      { event = "mystery_event", properties = { a = 1 } },
      { event = "Application Opened", properties = { from_background = false } },
      { event = "junk_event" },
      { event = "$pageview", properties = { ["$current_url"] = "https://example.com/?a=1&b=2" } },
    }

    for _, name in ipairs(sdk.SDKS) do
      if name ~= "posthog_js_lz64" and name ~= "posthog_js_engage" then
        it(name .. ": unknown and hidden events quarantined, the rest forwarded byte for byte", function()
          local req = sdk.build(name, EVENTS)
          local texts, head, tail = support.event_texts(req.text)
          local got = send_sdk(req, name == "posthog_js" and "/ph" or nil)
          assert.truthy(got, "nothing forwarded")
          assert.equal(req.method, got.method)
          assert.equal(req.headers["content-type"], got.content_type)
          assert.equal(req.headers["content-encoding"], got.content_encoding)
          local text
          if req.method == "GET" then
            text = sdk.unframe(req, got.args)
          else
            assert.equal(req.query, got.args)
            text = sdk.unframe(req, got.body)
          end
          local kept, got_head, got_tail = support.event_texts(text)
          assert.same({ texts[1], texts[3], texts[5] }, kept)
          assert.same({ head, tail }, { got_head, got_tail })
          local q = support.quarantined(2)
          assert.equal(2, #q)
          local names = {}
          for i, t in ipairs(q) do
            local e = cjson.decode(t)
            names[i] = e.event .. "/" .. e.properties["$taxonomy_violation"]
            assert.truthy(e.properties["$taxonomy_violation_detail"])
          end
          table.sort(names)
          assert.same({ "junk_event/hidden", "mystery_event/unknown" }, names)
        end)
      end
    end

    it("posthog_js_engage: a nameless /engage/ object is $identify and passes", function()
      local req = sdk.build("posthog_js_engage", { { properties = { plan = "pro" } } })
      local got = send_sdk(req)
      assert.equal(req.body, got.body)
    end)

    it("a request whose every event is taken out is answered by the proxy and not forwarded", function()
      local req = sdk.build("posthog_node", { { event = "mystery_event" }, { event = "junk_event" } })
      local got, answer, status = send_sdk(req)
      assert.is_nil(got)
      assert.same({ 200, '{"status":1}' }, { status, answer })
      assert.equal(2, #support.quarantined(2))
    end)
  end)

  describe("each class under each action", function()
    it("pass: forwarded untouched", function()
      local body = array { E.unknown, E.hidden, E.unverified, E.schema, E.good }
      assert.equal(body, send("/v/pass/e/", body).body)
    end)

    it("tag: the property $taxonomy_violation naming the class, nothing else changed", function()
      local got = send("/v/tag/e/", array { E.unknown, E.hidden, E.good, E.unverified, E.schema })
      assert.equal(array {
        '{"event":"mystery_event","properties":{"a":1,"$taxonomy_violation":"unknown"}}',
        '{"event":"junk_event","properties":{"$taxonomy_violation":"hidden"}}', E.good,
        '{"event":"page_viewed","properties":{"$taxonomy_violation":"unverified"}}',
        '{"event":"checkout","properties":{"order_id":"A-1","paid":true,"currency":"usd",'
          .. '"$taxonomy_violation":"schema"}}',
      }, got.body)
    end)

    it("drop: removed and quarantined with class and PostHog-style detail, the rest forwarded", function()
      local got = send("/v/drop/e/", array { E.unknown, E.good, E.hidden, E.unverified, E.schema, E.schema_ok })
      assert.equal(array { E.good, E.schema_ok }, got.body)
      local by_class = {}
      for _, t in ipairs(support.quarantined(4)) do
        local p = cjson.decode(t).properties
        by_class[p["$taxonomy_violation"]] = p["$taxonomy_violation_detail"]
      end
      assert.same({ property = "order_id", reason = "type_mismatch", expectedTypes = { "Numeric" },
        actualValue = "A-1" }, by_class.schema[1])
      assert.truthy(by_class.unknown:find("mystery_event", 1, true))
      assert.truthy(by_class.hidden and by_class.unverified)
    end)

    it("reject: 400 naming the offender; every event of the request quarantined, nothing forwarded", function()
      local got, answer, status = send("/v/reject/e/", array { E.good, E.unknown, E.pageview })
      assert.is_nil(got)
      assert.equal(400, status)
      local err = assert(cjson.decode(answer))
      assert.same({ "validation_error", "taxonomy_violation", "mystery_event" }, { err.type, err.code, err.attr })
      local classes = {}
      for _, t in ipairs(support.quarantined(3)) do
        classes[#classes + 1] = cjson.decode(t).properties["$taxonomy_violation"]
      end
      table.sort(classes)
      assert.same({ "rejected_request", "rejected_request", "unknown" }, classes)
    end)
  end)

  describe("PostHog's semantics", function()
    it("schemas as PostHog's ingestion judges them: required only, by coercion, enum; reject mode only", function()
      local cases = {
        { '{"event":"checkout","properties":{"order_id":"17","paid":"false","currency":"usd"}}', true },
        { '{"event":"checkout","properties":{"order_id":" 1e3 ","paid":true,"currency":"eur","coupon":[1]}}', true },
        { '{"event":"checkout","properties":{"order_id":17,"paid":"TRUE","currency":"usd"}}', false },
        { '{"event":"checkout","properties":{"order_id":17,"paid":true,"currency":"gbp"}}', false },
        { '{"event":"checkout","properties":{"order_id":null,"paid":true,"currency":"usd"}}', false },
        { '{"event":"checkout","properties":{"paid":true,"currency":"usd"}}', false },
        { '{"event":"order","properties":{}}', true }, -- enforcement_mode "allow": not judged
      }
      for _, c in ipairs(cases) do
        local got = send("/v/drop/e/", array { c[1] })
        if c[2] then
          assert.equal(array { c[1] }, got and got.body, c[1])
        else
          assert.is_nil(got, c[1])
        end
      end
    end)

    it("SDK events without a $ pass unless the policy names them", function()
      local body = array {
        '{"event":"survey shown","properties":{"$survey_id":"s"}}', '{"event":"survey sent"}',
        '{"event":"survey dismissed"}', '{"event":"product tour shown"}', '{"event":"Application Installed"}',
        '{"event":"Application Opened"}', '{"event":"Application Backgrounded"}', '{"event":"Deep Link Opened"}',
      }
      assert.equal(body, send("/v/drop/e/", body).body)
      local got = send("/v/named/e/", array { E.pageview, '{"event":"survey shown"}', E.good })
      assert.equal(array { E.good }, got.body)
    end)
  end)

  describe("what PostHog reads, the edge reads", function()
    local UNKNOWN = { event = "mystery_event" }

    it("query data= on a GET: judged, and the query rewritten", function()
      local req = sdk.build("posthog_js_get", { { event = "signup" }, UNKNOWN })
      local got = send_sdk(req)
      local kept = support.event_texts(sdk.unframe(req, got.args))
      assert.equal(1, #kept)
      assert.equal("signup", cjson.decode(kept[1]).event)
    end)

    it("query data= on a POST with an empty body", function()
      local text = array { E.unknown }
      local got, _, status = send("/e/?data=" .. sdk.uri_component(sdk.base64(text)), "")
      assert.equal(200, status)
      assert.is_nil(got)
    end)

    it("percent-encoded form keys (d%61ta=)", function()
      local form = "_=1772368496789&d%61ta=" .. sdk.uri_component(sdk.base64(array { E.unknown, E.good })) .. "&ver=1"
      local got = send("/e/", form, { ["content-type"] = "application/x-www-form-urlencoded" })
      local data = got.body:match("^_=1772368496789&d%%61ta=([^&]*)&ver=1$")
      assert.equal(array { E.good }, (require("mime").unb64(data:gsub("%%(%x%x)", function(h)
        return string.char(tonumber(h, 16)) end))))
    end)

    it("gzip without any hint, on every capture path, under a prefix", function()
      for _, path in ipairs { "/batch/", "/i/v0/e/", "/track", "/ph/capture/", "/a/b/batch" } do
        local got = send(path, sdk.compress("gzip", array { E.unknown, E.good }), {})
        assert.equal(array { E.good }, sdk.decompress("gzip", got.body), path)
      end
    end)

    it("/s/ recordings above 20 MB are taken (PostHog's proxy docs ask for more)", function()
      local big = '[{"event":"$snapshot","properties":{"d":"' .. ("x"):rep(21 * 1024 * 1024) .. '"}}]'
      local got, _, status = send("/s/", big)
      assert.equal(200, status)
      assert.equal(#big, got.body_length)
    end)

    it("uninspected = reject holds for GET too", function()
      local _, answer, status = send("/v/strict_unread/e/?data=%25%25%25not-base64&compression=lz64", nil, {}, "GET")
      assert.equal(400, status)
      assert.equal("taxonomy_uninspected", cjson.decode(answer).code)
    end)

    it("a 20 KB gzip bomb is not inflated past the ratio: passed untouched, counted too_large", function()
      local bomb = sdk.compress("gzip", "[" .. ("{},"):rep(7 * 1024 * 1024) .. "{}]")
      assert.is_true(#bomb < 40 * 1024)
      local before = support.metrics(app)
      local got, _, status = send("/batch/", bomb, {})
      assert.equal(200, status)
      assert.equal(bomb, got.body)
      local after = support.metrics(app)
      assert.equal(1, metric(after, 'posthog_edge_uninspected_total{reason="too_large"}')
        - metric(before, 'posthog_edge_uninspected_total{reason="too_large"}'))
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
        "edge.init: give client or projects (one of them)",
        "edge.init: dict is required",
        "edge.init: no lua_shared_dict no_such_dict",
        "edge.init: refresh must be positive",
        "edge.init: max_body must be positive",
        "edge.init: uninspected must be pass or reject",
        "edge: policy.unknown must be pass, tag, drop or reject, not explode",
        'edge: policy keys are unknown, hidden, unverified, schema, "$event" or SDK event names, not sometimes',
        "edge.init: redis must start with redis://",
        "edge.init: unknown_token must be pass, tag, drop or reject",
        "edge.init: quarantine.host must be an http(s) URL",
        "edge.init: give client or projects (one of them)",
      }, lines)
      assert.equal(array { E.good }, send("/e/", array { E.unknown, E.good }).body)
    end)
  end)

  describe("metrics and the log", function()
    it("counts per project, class and action, and per offending event name, as Prometheus text", function()
      local before = support.metrics(app)
      send("/e/", array { E.unknown, E.unknown, E.hidden, E.schema, E.good })
      support.quarantined(4)
      local after = support.metrics(app)
      local function delta(line) return metric(after, line) - metric(before, line) end
      assert.equal(5, delta('posthog_edge_events_total{project="default"}'))
      assert.equal(2, delta('posthog_edge_violations_total{project="default",class="unknown",action="drop"}'))
      assert.equal(1, delta('posthog_edge_violations_total{project="default",class="schema",action="drop"}'))
      assert.equal(2, delta('posthog_edge_offender_total{project="default",class="unknown",event="mystery_event"}'))
      assert.equal(4, delta('posthog_edge_removed_total{project="default",destination="quarantine"}'))
      assert.equal(1, delta('posthog_edge_requests_total{project="default",outcome="rewritten"}'))
      assert.truthy(after:find("# TYPE posthog_edge_violations_total counter\n", 1, true))
      -- the worker scans with simdjson (its module is built here) and inflates with libdeflate
      assert.equal(1, metric(after, 'posthog_edge_worker_libraries{scanner="simdjson",deflate="libdeflate"}'))
    end)

    it("writes a summary to the error log (every second here, a minute by default), never the key", function()
      local before = #nginx.log(app)
      send("/e/", array { E.unknown })
      -- the first summary written after the send counts it (with whatever else moved since the
      -- last one: on a busy machine a summary may come late and sum several sends)
      eventually("a summary with the violation", function()
        return nginx.log(app):sub(before + 1):find('posthog edge: [^\n]*violations{default,unknown,drop} %+%d+')
          or nil
      end)
      assert.falsy(nginx.log(app):find(helpers.KEY, 1, true))
    end)
  end)
end)

describe("the edge without a quarantine", function()
  it("counts and logs by name what it takes out, never the properties", function()
    helpers.reset(TAXONOMY)
    local app = support.start(nil, true)
    finally(function() nginx.stop(app) end)
    support.ready(app)
    support.clear()
    request("POST", app.url .. "/e/", '[{"event":"mystery_event","properties":{"secret":"s3cr3t"}},' .. E.good .. "]",
      { ["content-type"] = "application/json" })
    eventually("the log line", function()
      return nginx.log(app):find("1 event%(s%) taken out and not kept %(no quarantine%): mystery_event") or nil
    end)
    assert.falsy(nginx.log(app):find("s3cr3t", 1, true))
    local m = support.metrics(app)
    assert.equal(1, metric(m, 'posthog_edge_removed_total{project="default",destination="log"}'))
  end)
end)
