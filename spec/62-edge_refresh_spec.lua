-- The edge's indexes in real nginx (examples/nginx/edge.conf, refresh = 1 s here): every field the
-- policy reads reflects PostHog within one refresh (hidden, verified, enforcement_mode, schemas,
-- a delete and a create); edge.refresh() forces one; a far smaller download (empty, or under
-- half) replaces the index only when the next refresh confirms it; a failed refresh keeps the
-- last index; before the first refresh events pass (or 503); events are judged by the project
-- their token names. LuaJIT only, like spec/62-edge_spec.lua.
if not rawget(_G, "jit") then return end

local cjson = require "cjson.safe"
local helpers = require "spec.helpers"
local nginx = require "support.nginx"
local support = require "support.edge"

local request, eventually = nginx.request, nginx.eventually
local metric = support.metric

local TAXONOMY = {
  seed = 40,
  definitions = {
    { name = "signup", verified = true },
    { name = "page_viewed" },
    { name = "junk_event", hidden = true, verified = true },
    { name = "checkout", verified = true, enforcement_mode = "reject" },
    { name = "mystery_in_two", project_id = 2, verified = true },
  },
  property_groups = { { name = "checkout", events = { "checkout" }, properties = {
    { name = "order_id", property_type = "Numeric", is_required = true },
  } } },
}

-- Whether the proxy `app` forwards the event `text` through the location `path` (every class
-- dropped there); `headers` optional.
local function forwards(app, path, text)
  support.clear()
  local _, status = request("POST", app.url .. path, "[" .. text .. "]", { ["content-type"] = "application/json" })
  assert.equal(200, status)
  return #support.received() == 1
end

describe("the edge's indexes", function()
  local app, client

  lazy_setup(function()
    helpers.reset(TAXONOMY)
    helpers.config { schema_enforcement_reject = true }
    client = helpers.client()
    app = support.start()
    support.ready(app, "default", 44)
  end)
  lazy_teardown(function() nginx.stop(app) end)

  local function id_of(name) return assert(client:by_name(name)).id end
  local function eventually_forwards(what, text, want)
    eventually(what, function()
      if forwards(app, "/v/drop/e/", text) == want then return true end
    end)
  end

  describe("reflect every field the policy reads within one refresh", function()
    it("hidden: an event un-hidden passes", function()
      local text = '{"event":"junk_event"}'
      assert.is_false(forwards(app, "/v/drop/e/", text))
      assert(client:update(id_of("junk_event"), { hidden = false }))
      eventually_forwards("junk_event un-hidden", text, true)
    end)

    it("verified: an event verified passes, unverified again is taken out", function()
      local text = '{"event":"page_viewed"}'
      assert.is_false(forwards(app, "/v/drop/e/", text))
      assert(client:update(id_of("page_viewed"), { verified = true }))
      eventually_forwards("page_viewed verified", text, true)
      assert(client:update(id_of("page_viewed"), { verified = false }))
      eventually_forwards("page_viewed unverified", text, false)
    end)

    it("enforcement_mode: a schema is judged only while the event is in reject mode", function()
      local text = '{"event":"checkout","properties":{"order_id":"A-1"}}'
      assert.is_false(forwards(app, "/v/drop/e/", text))
      assert(client:update(id_of("checkout"), { enforcement_mode = "allow" }))
      eventually_forwards("checkout in allow mode", text, true)
      assert(client:update(id_of("checkout"), { enforcement_mode = "reject" }))
      eventually_forwards("checkout in reject mode", text, false)
    end)

    it("schemas: a property no longer required passes, required again is judged", function()
      local text = '{"event":"checkout","properties":{}}'
      assert.is_false(forwards(app, "/v/drop/e/", text))
      local relaxed = { seed = TAXONOMY.seed, definitions = TAXONOMY.definitions, property_groups = { {
        name = "checkout", events = { "checkout" }, properties = { { name = "order_id", property_type = "Numeric" } },
      } } }
      helpers.reset(relaxed)
      eventually_forwards("checkout without a required order_id", text, true)
      helpers.reset(TAXONOMY)
      helpers.config { schema_enforcement_reject = true }
      eventually_forwards("checkout requiring order_id again", text, false)
    end)

    it("a delete and a create of the same name (the count unchanged): the new definition counts", function()
      local text = '{"event":"signup"}'
      assert.is_true(forwards(app, "/v/drop/e/", text))
      assert(client:delete(id_of("signup")))
      assert(client:create { name = "signup" }) -- created unverified
      eventually_forwards("the new, unverified signup", text, false)
    end)

    it("edge.refresh() refreshes now, from an admin location", function()
      local text, status = request("GET", app.url .. "/edge/refresh")
      assert.same({ 200, "refreshed\n" }, { status, text })
    end)
  end)

  describe("a far smaller download", function()
    local EMPTY = '{"count":0,"next":null,"previous":null,"results":[]}'
    local function empty_lists(times)
      helpers.faults { { match = { path = "/event_definitions/$" }, times = times, status = 200, body = EMPTY,
        headers = { ["content-type"] = "application/json" } } }
    end

    it("once: held back, said in the log and the metrics; the index stays", function()
      local before = support.metrics(app)
      empty_lists(1)
      eventually("the held-back download", function()
        local m = support.metrics(app)
        return metric(m, 'posthog_edge_refresh_total{project="default",result="suspect"}')
          > metric(before, 'posthog_edge_refresh_total{project="default",result="suspect"}') or nil
      end)
      assert.truthy(nginx.log(app):find("PostHog listed 0 definitions where the index has 4%d; keeping the index"))
      eventually("the next refresh", function()
        return metric(support.metrics(app), 'posthog_edge_index_held_back{project="default"}') == 0 or nil
      end)
      assert.is_true(metric(support.metrics(app), 'posthog_edge_index_definitions{project="default"}') > 40)
      assert.is_true(forwards(app, "/v/pass/e/", '{"event":"junk_event"}'))
    end)

    it("twice in a row: confirmed, it replaces the index", function()
      empty_lists(2)
      eventually("the empty index confirmed", function()
        return metric(support.metrics(app), 'posthog_edge_index_definitions{project="default"}') == 0 or nil
      end)
      helpers.control("DELETE", "faults")
      support.ready(app)
    end)
  end)

  it("a failing refresh keeps the last index and is logged, never the key", function()
    local before = support.metrics(app)
    helpers.faults { { match = { path = "^/api/" }, times = 0, status = 500 } }
    finally(function() helpers.control("DELETE", "faults") end)
    eventually("a failed refresh", function()
      return metric(support.metrics(app), 'posthog_edge_refresh_total{project="default",result="failed"}')
        > metric(before, 'posthog_edge_refresh_total{project="default",result="failed"}') or nil
    end)
    assert.is_false(forwards(app, "/e/", '{"event":"mystery_event"}'))
    assert.truthy(nginx.log(app):find("taxonomy refresh failed, keeping the index of", 1, true))
    assert.falsy(nginx.log(app):find(helpers.KEY, 1, true))
  end)
end)

describe("the edge before its first refresh", function()
  before_each(function() helpers.reset(TAXONOMY) end)

  it("passes events (counted not_ready), then enforces", function()
    helpers.faults { { match = { path = "^/api/" }, times = 0, status = 500 } }
    local app = support.start()
    finally(function()
      helpers.control("DELETE", "faults")
      nginx.stop(app)
    end)
    assert.is_true(forwards(app, "/e/", '{"event":"mystery_event"}'))
    local m = support.metrics(app)
    assert.equal(1, metric(m, 'posthog_edge_requests_total{project="default",outcome="not_ready"}'))
    assert.equal(-1, metric(m, 'posthog_edge_index_age_seconds{project="default"}'))
    helpers.control("DELETE", "faults")
    support.ready(app)
    assert.is_false(forwards(app, "/e/", '{"event":"mystery_event"}'))
  end)

  it("with before_first_refresh = \"reject\", answers 503 until the first index is loaded", function()
    helpers.faults { { match = { path = "^/api/" }, times = 0, status = 500 } }
    local app = support.start("--reject-before-refresh")
    finally(function()
      helpers.control("DELETE", "faults")
      nginx.stop(app)
    end)
    support.clear()
    local answer, status = request("POST", app.url .. "/e/", '[{"event":"signup"}]',
      { ["content-type"] = "application/json" })
    assert.equal(503, status)
    assert.equal("taxonomy_unavailable", cjson.decode(answer).code)
    helpers.control("DELETE", "faults")
    eventually("the first index", function()
      local _, s = request("POST", app.url .. "/e/", '[{"event":"signup"}]', { ["content-type"] = "application/json" })
      return s == 200 or nil
    end)
  end)
end)

describe("the edge with two projects, by token", function()
  local app
  lazy_setup(function()
    helpers.reset(TAXONOMY)
    app = support.start("--edge-projects")
    support.ready(app, "phc_one")
    support.ready(app, "phc_two")
  end)
  lazy_teardown(function() nginx.stop(app) end)

  it("judges each event by the taxonomy of the project its token names", function()
    local one = '{"event":"mystery_in_two","properties":{"token":"phc_one"}}'
    local two = '{"event":"mystery_in_two","properties":{"token":"phc_two"}}'
    assert.is_false(forwards(app, "/e/", one))
    assert.is_true(forwards(app, "/e/", two))
    support.clear()
    request("POST", app.url .. "/batch/", '{"api_key":"phc_two","batch":[{"event":"signup"}]}',
      { ["content-type"] = "application/json" })
    assert.equal(0, #support.received()) -- signup is unknown in project 2
  end)

  it("passes events whose token no project has (unknown_token), counted", function()
    assert.is_true(forwards(app, "/e/", '{"event":"mystery_event","properties":{"token":"phc_other"}}'))
    local m = support.metrics(app)
    assert.is_true(metric(m, 'posthog_edge_violations_total{project="",class="unknown_token",action="pass"}') >= 1)
    assert.is_true(metric(m, 'posthog_edge_events_total{project="phc_two"}') >= 1)
  end)
end)
