-- Every endpoint of the contract against the fake PostHog server, over real HTTP with libcurl:
-- success paths, error paths, the wire format of list parameters and pagination.
local evdefs = require "posthog.event_definitions"
local curl = require "posthog.event_definitions.transport.curl"
local cjson = require "cjson.safe"
local helpers = require "spec.helpers"

local UUID = "^%x+%-%x+%-%x+%-%x+%-%x+$"
local MISSING = "01900000-0000-7000-8000-000000000000"

describe("endpoints against the fake server", function()
  local client

  before_each(function()
    helpers.reset { seed = 20 }
    client = helpers.client()
  end)

  after_each(function() client:close() end)

  describe("create, get, update, replace, delete", function()
    it("run the life cycle of one definition", function()
      local def, err = client:create { name = "signed_up", description = "Sign-up done",
        tags = { " Core ", "core", "Growth" }, owner = 1 }
      assert.is_nil(err)
      assert.matches(UUID, def.id)
      assert.equal("signed_up", def.name)
      assert.same({ "core", "growth" }, def.tags)
      assert.equal(1, def.owner.id)
      assert.is_nil(def.created_at)
      if math.type then assert.equal("integer", math.type(def.owner.id)) end

      local got = assert(client:get(def.id))
      assert.equal(def.id, got.id)

      local upd = assert(client:update(def.id, { verified = true, name = "renamed", description = evdefs.null }))
      assert.is_true(upd.verified)
      assert.equal("signed_up", upd.name)
      assert.is_nil(upd.description)
      assert.is_string(upd.verified_at)

      local rep = assert(client:replace(def.id, { description = "replaced", tags = {}, hidden = true }))
      assert.equal("replaced", rep.description)
      assert.same({}, rep.tags)
      assert.is_true(rep.hidden)
      assert.is_false(rep.verified)

      assert.is_true(client:delete(def.id))
      local gone, gerr = client:get(def.id)
      assert.is_nil(gone)
      assert.equal(404, gerr.status)
      assert.equal("not_found", gerr.code)
    end)

    it("sends empty arrays as arrays and integers without a fraction", function()
      local def = assert(client:create { name = "arrays", tags = {}, default_columns = {}, owner = 2.0 })
      local log = helpers.api_requests()
      local body = log[#log].body
      assert.matches('"tags":%[%]', body)
      assert.matches('"default_columns":%[%]', body)
      assert.matches('"owner":2[,}]', body)
      assert.equal(2, def.owner.id)
    end)

    it("maps create errors: duplicate name, hidden and verified, missing name", function()
      assert(client:create { name = "dup" })
      local _, err = client:create { name = "dup" }
      assert.equal(400, err.status)
      assert.equal("validation_error", err.type)
      assert.equal("name", err.attr)
      _, err = client:create { name = "both", hidden = true, verified = true }
      assert.equal(400, err.status)
      assert.matches("both hidden and verified", err.detail)
      _, err = client:create { description = "no name" }
      assert.equal("required", err.code)
      assert.equal("name", err.attr)
    end)

    it("refuses a non-UUID id without sending anything", function()
      helpers.control("DELETE", "requests")
      local _, err = client:get("../../secrets")
      assert.equal("validation", err.kind)
      _, err = client:delete("12")
      assert.equal("validation", err.kind)
      assert.equal(0, #helpers.api_requests())
    end)
  end)

  describe("list", function()
    it("puts every list parameter on the wire the way PostHog reads it", function()
      helpers.control("DELETE", "requests")
      assert(client:list {
        search = "app install", event_type = "event_custom", ordering = { "-last_seen_at", "name" },
        names = { "a b", "c" }, tags = { "x", "y" }, excluded_properties = { "p" },
        exclude_stale = true, exclude_hidden = false, verified = true, limit = 5, offset = 10,
      })
      local log = helpers.api_requests()
      assert.equal(1, #log)
      assert.equal("GET", log[1].method)
      assert.equal("/api/projects/1/event_definitions/", log[1].path)
      assert.equal("event_type=event_custom&exclude_hidden=false&exclude_stale=true"
        .. "&excluded_properties=%5B%22p%22%5D&limit=5&names=a%20b&names=c&offset=10"
        .. "&ordering=-last_seen_at&ordering=name&search=app%20install"
        .. "&tags=%5B%22x%22%2C%22y%22%5D&verified=true", log[1].args)
    end)

    it("answers PostHog's worked fixture in PostHog's order", function()
      helpers.reset { fixture = "worked" }
      local function names(params)
        local out = {}
        for _, d in ipairs(assert(client:list(params)).results) do out[#out + 1] = d.name end
        return out
      end
      assert.same({ "installed_app", "entered_free_trial", "$pageview", "purchase", "rated_app", "watched_movie" },
        names { ordering = { "-last_seen_at::date", "-name" } })
      assert.same({ "rated_app", "installed_app", "watched_movie", "entered_free_trial" }, names { search = "ed" })
      assert.same({ "$pageview" }, names { event_type = "event_posthog" })
      assert.same({ "installed_app", "purchase" }, names { names = { "installed_app", "purchase", "missing_event" },
        ordering = "name" })
    end)

    it("pages 306 definitions with limit 100 as 100, 100, 100, 6", function()
      helpers.reset { seed = 306 }
      local plain = curl.new { max_response_bytes = 1e8 }
      local sizes = {}
      local c = helpers.client { transport = function(req)
        local res, err = plain:request(req)
        if res and res.status == 200 then sizes[#sizes + 1] = #cjson.decode(res.body).results end
        return res, err
      end }
      local all = assert(c:all { limit = 100 })
      assert.same({ 100, 100, 100, 6 }, sizes)
      assert.equal(306, #all)
      local ids = {}
      for _, d in ipairs(all) do ids[d.id] = true end
      local unique = 0
      for _ in pairs(ids) do unique = unique + 1 end
      assert.equal(306, unique)
      local page = assert(client:list { limit = 100, offset = 300 })
      assert.equal(6, #page.results)
      assert.equal(306, page.count)
      assert.is_false(page.count_is_capped)
      assert.is_nil(page.next)
      plain:close()
    end)

    it("each is lazy: breaking early sends no further request", function()
      helpers.reset { seed = 50 }
      helpers.control("DELETE", "requests")
      local n = 0
      for def in client:each { limit = 10 } do
        assert.is_string(def.name)
        n = n + 1
        if n == 15 then break end
      end
      assert.equal(2, #helpers.api_requests())
    end)

    it("follows next on the configured host only, never on a foreign origin", function()
      helpers.reset { seed = 250 }
      local foreign_url, foreign_dir = helpers.start_fake()
      helpers.config { public_base = foreign_url }
      local first = assert(client:list { limit = 100 })
      assert.equal(foreign_url, first.next:match("^(https?://[^/]+)"))
      local n = 0
      for def, err in client:each { limit = 100 } do
        assert.is_truthy(def, tostring(err))
        n = n + 1
      end
      assert.equal(250, n)
      helpers.config { large_project = true, count_cap = 100 }
      local capped = assert(client:all { limit = 100 })
      assert.equal(250, #capped)
      assert.equal(0, #helpers.api_requests(foreign_url))
      helpers.stop_fake(foreign_dir)
    end)

    it("all fetches the pages after the first by offset, in order, once the count is known", function()
      helpers.reset { seed = 306 }
      helpers.control("DELETE", "requests")
      local all = assert(client:all { limit = 100, ordering = "-name" })
      local log = helpers.api_requests()
      local offsets = {}
      for _, r in ipairs(log) do offsets[#offsets + 1] = r.args:match("offset=(%d+)") or "0" end
      table.sort(offsets, function(a, b) return tonumber(a) < tonumber(b) end)
      assert.same({ "0", "100", "200", "300" }, offsets)
      assert.equal(306, #all)
      for i = 1, 306 do assert.equal(("event_%04d"):format(307 - i), all[i].name) end
    end)

    it("all returns an error, never a partial array, when a later page fails", function()
      helpers.reset { seed = 306 }
      helpers.faults { { match = { method = "GET", query = "offset=200" }, status = 400 } }
      local all, err = client:all { limit = 100 }
      assert.is_nil(all)
      assert.equal(400, err.status)
    end)

    it("exposes count_is_capped on large projects", function()
      helpers.config { large_project = true, count_cap = 10 }
      local page = assert(client:list { limit = 5 })
      assert.is_true(page.count_is_capped)
    end)

    it("maps list validation errors", function()
      local _, err = client:request("GET", "", { query = { limit = "abc" } })
      assert.equal(400, err.status)
      assert.equal("limit", err.attr)
      _, err = client:list { event_type = "foo" }
      assert.equal(400, err.status)
      assert.equal("event_type", err.attr)
    end)
  end)

  describe("by_name, primary_properties, metrics, codegen, bulk", function()
    it("by_name finds a name, and maps PostHog's plain 404 body", function()
      local def = assert(client:create { name = "by name, with \"quotes\" & ünïcode" })
      local found = assert(client:by_name("by name, with \"quotes\" & ünïcode"))
      assert.equal(def.id, found.id)
      local _, err = client:by_name("nope")
      assert.equal(404, err.status)
      assert.equal("Event definition with name 'nope' not found", err.detail)
      assert.is_nil(err.code)
    end)

    it("primary_properties returns the map", function()
      local a = assert(client:create { name = "order_placed", primary_property = "order_id" })
      assert(client:create { name = "no_primary" })
      local map = assert(client:primary_properties { "order_placed", "no_primary" })
      assert.same({ order_placed = "order_id" }, map)
      assert(client:update(a.id, { primary_property = evdefs.null }))
      assert.same({}, assert(client:primary_properties { "order_placed" }))
    end)

    it("metrics: 403 for a scoped key as PostHog answers, the numbers behind the switch", function()
      local def = assert(client:create { name = "measured" })
      local _, err = client:metrics(def.id)
      assert.equal(403, err.status)
      assert.equal("permission_denied", err.code)
      assert.matches("does not support personal API key access", err.detail)
      helpers.config { metrics_for_keys = true }
      local m = assert(client:metrics(def.id))
      assert.is_number(m.query_usage_30_day)
      if math.type then assert.equal("integer", math.type(m.query_usage_30_day)) end
    end)

    it("codegen returns the wrapper with PostHog's schema_hash", function()
      helpers.reset { definitions = { { name = "downloaded_file", verified = true } },
        property_groups = { { name = "file", events = { "downloaded_file" }, properties = {
          { name = "file_name", property_type = "String", is_required = true },
          { name = "file_size", property_type = "Numeric", is_required = false },
        } } } }
      local ts = assert(client:typescript())
      assert.equal("b57072ac6dafe5da1a94a431dbdff823", ts.schema_hash)
      assert.equal("1.1.0", ts.generator_version)
      assert.equal(1, ts.event_count)
      assert.matches("downloaded_file", ts.content)
      local go = assert(client:golang())
      assert.equal("e202a453bb6a3f04cdf3b804af6372f9", go.schema_hash)
      local py = assert(client:python())
      assert.equal("e202a453bb6a3f04cdf3b804af6372f9", py.schema_hash)
      helpers.config { codegen_plain_text = true }
      local plain = assert(client:typescript())
      assert.matches("downloaded_file", plain.content)
      assert.is_nil(plain.schema_hash)
    end)

    it("bulk_update_tags and bulk_update_verified report updated and skipped", function()
      local a = assert(client:create { name = "bulk_a", tags = { "old" } })
      local b = assert(client:create { name = "bulk_b" })
      local r = assert(client:bulk_update_tags({ a.id, b.id, MISSING }, "add", { "pii", "billing" }))
      assert.equal(2, #r.updated)
      assert.same({ "billing", "old", "pii" }, r.updated[1].tags)
      assert.equal(MISSING, r.skipped[1].id)
      r = assert(client:bulk_update_tags({ a.id }, "set", {}))
      assert.same({}, r.updated[1].tags)
      local v = assert(client:bulk_update_verified({ a.id, b.id }, true))
      assert.equal(2, #v.updated)
      assert.is_true(assert(client:get(b.id)).verified)
      local _, err = client:bulk_update_tags({ a.id }, "add", {})
      assert.equal(400, err.status)
    end)
  end)

  describe("request", function()
    it("reaches any path with the same auth and errors", function()
      local res = assert(client:request("GET", "/api/projects/1/event_definitions/", { query = { limit = 2 } }))
      assert.equal(200, res.status)
      assert.equal(2, #res.json.results)
      assert.matches("json", res.headers["content-type"])
      local rel = assert(client:request("GET", "by_name/", { query = { name = "event_0001" } }))
      assert.equal("event_0001", rel.json.name)
      local _, err = client:request("GET", "/api/projects/1/no_such_thing/")
      assert.equal(404, err.status)
      assert.equal("Endpoint not found.", err.detail)
      local _, perr = client:request("POST", "", { body = "{not json",
        headers = { ["Content-Type"] = "application/json" } })
      assert.equal(400, perr.status)
      assert.equal("parse_error", perr.code)
    end)
  end)

  describe("every method's error path", function()
    it("maps a refused key into err, with the key nowhere, for each endpoint", function()
      local id = assert(client:create { name = "target" }).id
      local bad = helpers.client { personal_api_key = "phx_revoked_key" }
      local calls = {
        list = function() return bad:list() end,
        all = function() return bad:all() end,
        each = function() local _, err = bad:each()(); return nil, err end,
        get = function() return bad:get(id) end,
        by_name = function() return bad:by_name("target") end,
        create = function() return bad:create { name = "x" } end,
        update = function() return bad:update(id, { description = "x" }) end,
        replace = function() return bad:replace(id, { description = "x" }) end,
        delete = function() return bad:delete(id) end,
        metrics = function() return bad:metrics(id) end,
        primary_properties = function() return bad:primary_properties { "target" } end,
        typescript = function() return bad:typescript() end,
        golang = function() return bad:golang() end,
        python = function() return bad:python() end,
        bulk_update_tags = function() return bad:bulk_update_tags({ id }, "add", { "x" }) end,
        bulk_update_verified = function() return bad:bulk_update_verified({ id }, true) end,
        request = function() return bad:request("GET", "") end,
      }
      for name, call in pairs(calls) do
        local value, err = call()
        assert.is_falsy(value, name)
        assert.equal("http", err.kind, name)
        assert.equal(401, err.status, name)
        assert.equal("authentication_failed", err.code, name)
        assert.equal(1, err.attempts, name)
        helpers.assert_no_key(err, "phx_revoked_key")
      end
      assert.is_table(assert(client:get(id)))
    end)
  end)

  describe("auth and scopes", function()
    it("maps 401 for an unknown key, 403 for a missing scope, 404 for a foreign project", function()
      local bad = helpers.client { personal_api_key = "phx_not_a_real_key" }
      local _, err = bad:list()
      assert.equal(401, err.status)
      assert.equal("authentication_failed", err.code)
      helpers.assert_no_key(err, "phx_not_a_real_key")
      local reader = helpers.client { personal_api_key = helpers.READ_KEY }
      assert(reader:list())
      _, err = reader:create { name = "nope" }
      assert.equal(403, err.status)
      assert.equal("API key missing required scope 'event_definition:write'", err.detail)
      local other = helpers.client { project_id = 999 }
      _, err = other:list()
      assert.equal(404, err.status)
      assert.equal("Project not found.", err.detail)
      local current = helpers.client { project_id = "@current" }
      assert(current:list())
    end)
  end)

  describe("failures on the wire", function()
    it("retries a 429 with Retry-After and honours the wait", function()
      helpers.faults { { match = { method = "GET" }, status = 429, headers = { ["Retry-After"] = "3" },
        body = { type = "throttled_error", code = "throttled",
          detail = "Request was throttled. Expected available in 3 seconds.", attr = cjson.null } } }
      local page = assert(client:list())
      assert.equal(20, page.count)
      assert.same({ 3 }, client.slept)
    end)

    it("maps the fake's own throttling into a 429 error", function()
      helpers.config { throttle = { per_minute = 2 } }
      local c = helpers.client { max_retries = 0 }
      assert(c:list()); assert(c:list())
      local _, err = c:list()
      assert.equal(429, err.status)
      assert.equal("throttled", err.code)
      assert.is_number(err.retry_after)
      assert.matches("^Request was throttled%. Expected available in %d+ seconds?%.$", err.detail)
    end)

    it("retries 503 event_definitions_timeout for GET", function()
      helpers.faults { { match = { method = "GET" }, status = 503, body = { type = "server_error",
        code = "event_definitions_timeout", detail = "Loading events took too long.", attr = cjson.null } } }
      assert(client:list())
      assert.equal(1, #client.slept)
    end)

    it("does not replay a POST after a 502", function()
      helpers.control("DELETE", "requests")
      helpers.faults { { match = { method = "POST" }, action = "html" } }
      local _, err = client:create { name = "once" }
      assert.equal(502, err.status)
      assert.equal(1, err.attempts)
      assert.is_string(err.detail)
      assert.is_true(err.ambiguous) -- a gateway's 502: looked up with by_name, not sent again
      local methods = {}
      for _, r in ipairs(helpers.api_requests()) do methods[#methods + 1] = r.method end
      assert.same({ "POST", "GET" }, methods)
    end)

    it("retries a connection cut mid-body for GET, and reports it as transport when out of attempts", function()
      helpers.faults { { match = { method = "GET" }, action = "cut" } }
      assert(client:list())
      helpers.faults { { match = { method = "GET" }, action = "cut", times = 10 } }
      local c = helpers.client { max_retries = 1 }
      local _, err = c:list()
      assert.equal("transport", err.kind)
      assert.equal(2, err.attempts)
    end)

    it("turns malformed and truncated JSON into decode errors", function()
      helpers.faults { { match = { method = "GET" }, action = "malformed" } }
      local _, err = client:list()
      assert.equal("decode", err.kind)
      assert.equal(200, err.status)
      helpers.faults { { match = { method = "GET" }, action = "truncate" } }
      _, err = client:list()
      assert.equal("decode", err.kind)
    end)

    it("refuses a body over max_response_bytes", function()
      helpers.reset { seed = 200 }
      local c = helpers.client { max_response_bytes = 4096 }
      local _, err = c:list { limit = 200 }
      assert.equal("transport", err.kind)
      assert.matches("max_response_bytes", err.detail)
      assert.equal(1, err.attempts) -- as large again on a retry
      assert.is_false(err.retryable)
    end)

    it("reports a refused connection as transport after retrying", function()
      local c = helpers.client { host = "http://127.0.0.1:9", max_retries = 2 }
      local _, err = c:list()
      assert.equal("transport", err.kind)
      assert.equal(3, err.attempts)
      assert.is_true(err.retryable)
      helpers.assert_no_key(err, helpers.KEY)
    end)

    it("keeps one connection alive across calls", function()
      helpers.control("DELETE", "requests")
      for _ = 1, 5 do assert(client:list { limit = 1 }) end
      local log = helpers.api_requests()
      assert.equal(5, #log)
      for i = 2, 5 do assert.equal(log[1].connection, log[i].connection) end
    end)

    it("ends an attempt at its deadline as kind timeout #timing", function()
      helpers.faults { { match = { method = "GET" }, action = "delay", seconds = 2 } }
      local c = helpers.client { timeout = 0.3, max_retries = 0 }
      local _, err = c:list()
      assert.equal("timeout", err.kind)
      assert.equal(1, err.attempts)
    end)
  end)
end)
