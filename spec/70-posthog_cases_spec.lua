-- The fake PostHog server against PostHog's own expectations (issue 8, reference §20): the
-- selection rules of §20.1, tag validation (§20.2), ingestion between page requests (§20.3),
-- deployments without the ee package (§20.4), 429 without Retry-After (§16.2, §20.5) and the 18
-- cases of PostHog's tests (§20.6), in both modes where they apply. Plain HTTP through LuaSocket
-- and the fake's control API; the client library is not used.

-- spec/helpers.lua loads the client library, which this file never calls: keep these specs
-- runnable while the library is being rewritten (busted insulates the stub to this file).
if not pcall(require, "posthog.event_definitions") then
  package.loaded["posthog.event_definitions"] = {}
end
local helpers = require "spec.helpers"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson.safe"

local null = cjson.null
local E = "/api/projects/1/event_definitions"
local WORKED_DEFAULT = { "$pageview", "entered_free_trial", "installed_app", "purchase", "rated_app",
  "watched_movie" }
local BLANK_BODY = '{"type":"validation_error","code":"blank","detail":"This field may not be blank.",'
  .. '"attr":"tags__%d"}'
local SERVER_ERROR = '{"type":"server_error","code":"error","detail":"A server error occurred.","attr":null}'
local UNSUPPORTED = '{"type":"validation_error","code":"invalid_input","detail":"This field is not supported by this '
  .. 'deployment.","attr":"%s"}'
local NO_LICENSE = '{"type":"validation_error","code":"invalid_input","detail":"Verifying event definitions requires '
  .. 'an enterprise license.","attr":null}'
local MODES = { { label = "with the ee package", enterprise = true },
  { label = "without the ee package", enterprise = false } }

-- enc(s) -> s percent-encoded for a query string (unreserved characters kept).
local function enc(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- call(method, path[, body[, key]]) -> {status, body, json, headers}. path: absolute (starting
-- with "/") or relative to E; an absolute URL (a `next` link) is used as is. body: a table (sent
-- as JSON) or a string (sent as is, as application/json).
local function call(method, path, body, key)
  local url = path:find("^https?://") and path
    or helpers.fake_url() .. (path:sub(1, 1) == "/" and path or E .. "/" .. path)
  local payload = type(body) == "table" and cjson.encode(body) or body
  local headers = { authorization = "Bearer " .. (key or helpers.KEY) }
  if payload then
    headers["content-type"] = "application/json"
    headers["content-length"] = tostring(#payload)
  end
  local chunks = {}
  local _, status, resp_headers = http.request {
    url = url, method = method, headers = headers, sink = ltn12.sink.table(chunks),
    source = payload and ltn12.source.string(payload) or nil,
  }
  local text = table.concat(chunks)
  return { status = status, body = text, json = cjson.decode(text), headers = resp_headers or {} }
end

local function get(path) return call("GET", path) end

-- ok(res[, status]) -> res.json, asserting the status (default 200).
local function ok(res, status)
  assert.equal(status or 200, res.status, res.body)
  return res.json
end

-- names(res) -> the names of a list answer's results, in order.
local function names(res)
  local out = {}
  for i, d in ipairs(ok(res).results) do out[i] = d.name end
  return out
end

-- set(list) -> {item = true}.
local function set(list)
  local out = {}
  for _, v in ipairs(list) do out[v] = true end
  return out
end

-- stored() -> the fake's definitions by name (EE form, all projects).
local function stored()
  local out = {}
  for _, d in ipairs(helpers.state()) do out[d.name] = d end
  return out
end

-- id(name) -> the stored id of a definition.
local function id(name) return assert(stored()[name], name).id end

-- control(method, route, body) -> the raw answer of a control call (for its errors).
local function control(method, route, body)
  return call(method, "/__fake/" .. route, body)
end

-- mode_config(enterprise[, switches]) -> config switches for a mode (`enterprise` only set when
-- false, so the ee mode also runs against fakes without the switch).
local function mode_config(enterprise, switches)
  local out = {}
  for k, v in pairs(switches or {}) do out[k] = v end
  if not enterprise then out.enterprise = false end
  return out
end

-- worked(enterprise[, extra]) -> resets to the worked fixture (clock 2020-01-02) with more
-- definitions given by `extra`.
local function worked(enterprise, extra)
  helpers.reset { fixture = "worked", config = mode_config(enterprise), definitions = extra }
end

-- z_events(n) -> definitions z_event_1 … z_event_n, never seen.
local function z_events(n)
  local out = {}
  for i = 1, n do out[i] = { name = "z_event_" .. i } end
  return out
end

-- walk(path) -> every page of a list walk following `next`: array of pages (the decoded answers).
local function walk(path)
  local pages, url = {}, path
  while url and url ~= null do
    local page = ok(get(url))
    pages[#pages + 1] = page
    url = page.next
  end
  return pages
end

-- bulk_tags(body) -> the answer of bulk_update_tags.
local function bulk_tags(body) return call("POST", "bulk_update_tags/", body) end

-- keys(t) -> sorted key names of a table.
local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

describe("the fake selects as PostHog does (§20.1)", function()
  before_each(function() worked(true) end)

  it("treats event_type=all and event_type=action_event as no event_type", function()
    for _, q in ipairs({ "", "?event_type=event", "?event_type=all", "?event_type=action_event" }) do
      local res = get(q)
      assert.equal(6, res.json.count, q)
      assert.same(WORKED_DEFAULT, names(res), q)
    end
  end)

  it("narrows only with event_custom and event_posthog; an empty or unknown event_type is 400", function()
    local custom = names(get("?event_type=event_custom"))
    assert.equal(5, #custom)
    assert.is_nil(set(custom)["$pageview"])
    assert.same({ "$pageview" }, names(get("?event_type=event_posthog")))
    for _, v in ipairs({ "", "foo", "EVENT" }) do
      local res = get("?event_type=" .. v)
      assert.equal(400, res.status, v)
      assert.same({ type = "validation_error", code = "invalid_input",
        detail = "Not a valid event type. Use one of: event, event_custom, event_posthog.", attr = "event_type" },
        res.json)
    end
  end)

  it("drops empty names pieces: names= and names=, select everything", function()
    assert.equal(6, get("?names=").json.count)
    assert.equal(6, get("?names=,").json.count)
    assert.equal(6, get("?names=,,&names=").json.count)
    assert.same({ "purchase" }, names(get("?names=,,purchase,&names=")))
  end)

  it("ignores a tags filter that is not a JSON array or holds no string", function()
    for _, v in ipairs({ "", "true", "5", '{"a":1}', '"billing"', "[]", "[5,null,true]", "[billing]", "null" }) do
      local res = get("?tags=" .. enc(v))
      assert.equal(6, ok(res).count, v)
    end
  end)

  it("matches tags exactly against the stored, lower-cased tags", function()
    ok(bulk_tags { ids = { id("installed_app") }, action = "add", tags = { "Billing" } })
    assert.same({ "billing" }, stored().installed_app.tags)
    assert.same({}, names(get("?tags=" .. enc('["Billing"]'))))
    assert.same({}, names(get("?tags=" .. enc('["bill"]'))))
    assert.same({}, names(get("?tags=" .. enc('[""]'))))
    assert.same({ "installed_app" }, names(get("?tags=" .. enc('["billing"]'))))
    assert.same({ "installed_app" }, names(get("?tags=" .. enc('[5,"billing"]'))))
  end)

  it("excludes the names of an excluded_properties array, string (by character) or object (by key)", function()
    worked(true, { { name = "a" }, { name = "b" } })
    local function without(v) return set(names(get("?excluded_properties=" .. enc(v)))) end
    local all = without("")
    assert.equal(8, #keys(all))
    local s = without('["installed_app","purchase"]')
    assert.is_nil(s.installed_app)
    assert.is_nil(s.purchase)
    assert.equal(6, #keys(s))
    s = without('"ab"')
    assert.is_nil(s.a)
    assert.is_nil(s.b)
    assert.equal(6, #keys(s))
    s = without('{"a":1}')
    assert.is_nil(s.a)
    assert.equal(7, #keys(s))
    assert.equal(8, #keys(without("[]")))
    assert.equal(8, #keys(without('""')))
  end)

  it("selects nothing when excluded_properties holds a null (SQL NULL in NOT name = ANY, inferred)", function()
    local res = get("?excluded_properties=" .. enc('[null,"purchase"]'))
    assert.equal(0, ok(res).count)
  end)

  it("answers 500 for an excluded_properties PostHog cannot iterate or bind", function()
    for _, v in ipairs({ "5", "true", "null", "[1]", '[["a"]]', '[{"a":1}]', "[installed_app]", '["a",false]' }) do
      local res = get("?excluded_properties=" .. enc(v))
      assert.equal(500, res.status, v)
      assert.equal(SERVER_ERROR, res.body)
    end
  end)

  it("takes exclude_stale and exclude_hidden as true in any case, and nothing else", function()
    worked(true, { { name = "old_event", last_seen_at = "2019-11-01T00:00:00Z" },
      { name = "hidden_event", hidden = true } })
    for _, v in ipairs({ "true", "TRUE", "True" }) do
      assert.is_nil(set(names(get("?exclude_stale=" .. v))).old_event, v)
      assert.is_nil(set(names(get("?exclude_hidden=" .. v))).hidden_event, v)
    end
    for _, v in ipairs({ "1", "yes", "", "false", "on" }) do
      assert.equal(8, get("?exclude_stale=" .. v).json.count, v)
      assert.equal(8, get("?exclude_hidden=" .. v).json.count, v)
    end
  end)

  it("takes verified=true (any case) as verified plus core events and any other value as the rest", function()
    worked(true, { { name = "ver_event", verified = true } })
    assert.same({ "$pageview", "ver_event" }, names(get("?verified=TRUE&ordering=name")))
    for _, v in ipairs({ "false", "", "1", "yes" }) do
      local got = set(names(get("?verified=" .. v)))
      assert.is_nil(got["$pageview"], v)
      assert.is_nil(got.ver_event, v)
      assert.equal(5, #keys(got), v)
    end
  end)

  it("reads ordering pieces as PostHog does: comma-joined, repeated, every '-' stripped, unknown dropped", function()
    local reversed = { "watched_movie", "rated_app", "purchase", "installed_app", "entered_free_trial", "$pageview" }
    assert.same(reversed, names(get("?ordering=-name")))
    assert.same(reversed, names(get("?ordering=--name")))
    assert.same(reversed, names(get("?ordering=na-me")))
    assert.same(WORKED_DEFAULT, names(get("?ordering=bogus")))
    assert.same(reversed, names(get("?ordering=,-name,")))
    assert.same({ "installed_app", "entered_free_trial", "$pageview", "purchase", "rated_app", "watched_movie" },
      names(get("?ordering=bogus,-last_seen_at::date&ordering=-name")))
  end)

  it("treats a white-space-only search as no search", function()
    for _, v in ipairs({ "%20%20", "%09", "+" }) do
      assert.same(WORKED_DEFAULT, names(get("?search=" .. v)), v)
    end
  end)
end)

describe("the fake checks tags as PostHog does (§20.2)", function()
  before_each(function() worked(true) end)

  it("answers bulk_update_tags with a blank or white-space-only tag 400 blank on tags__N, changing nothing", function()
    local ids = { id("installed_app"), id("purchase") }
    for _, case in ipairs({
      { { "ok", "  " }, 1 }, { { "", "x" }, 0 }, { { "ok", "fine", "\194\160" }, 2 }, { { "\t\n" }, 0 },
      { { "a", "\227\128\128", "" }, 1 },
    }) do
      for _, action in ipairs({ "add", "remove", "set" }) do
        local res = bulk_tags { ids = ids, action = action, tags = case[1] }
        assert.equal(400, res.status)
        assert.equal(BLANK_BODY:format(case[2]), res.body)
      end
    end
    for _, d in pairs(stored()) do assert.same({}, d.tags) end
  end)

  it("requires tags in bulk_update_tags for every action, set included", function()
    local ids = { id("installed_app") }
    for _, action in ipairs({ "set", "add", "remove" }) do
      local res = bulk_tags { ids = ids, action = action }
      assert.equal(400, res.status)
      assert.same({ type = "validation_error", code = "required", detail = "This field is required.", attr = "tags" },
        res.json)
    end
    local res = bulk_tags { ids = ids, action = "set", tags = null }
    assert.equal("null", res.json.code)
    ok(bulk_tags { ids = ids, action = "add", tags = { "x" } })
    ok(call("POST", "bulk_update_tags/", '{"ids":["' .. ids[1] .. '"],"action":"set","tags":[]}'))
    assert.same({}, stored().installed_app.tags)
  end)

  it("refuses bulk tags longer than 255 characters on tags__N", function()
    local ids = { id("installed_app") }
    local res = bulk_tags { ids = ids, action = "add", tags = { "ok", ("a"):rep(256) } }
    assert.equal(400, res.status)
    assert.same({ type = "validation_error", code = "max_length",
      detail = "Ensure this field has no more than 255 characters.", attr = "tags__1" }, res.json)
    assert.equal(400, bulk_tags({ ids = ids, action = "add", tags = { ("\195\169"):rep(256) } }).status)
    local long = ("b"):rep(255)
    local accented = ("\195\169"):rep(255)
    ok(bulk_tags { ids = ids, action = "add", tags = { "  " .. long .. " ", accented } })
    assert.same(set({ long, accented }), set(stored().installed_app.tags))
  end)

  it("checks bulk tag items as DRF CharFields and counts at most 100", function()
    local ids = { id("installed_app") }
    local res = bulk_tags { ids = ids, action = "add", tags = { "a", null } }
    assert.same({ type = "validation_error", code = "null", detail = "This field may not be null.", attr = "tags__1" },
      res.json)
    res = bulk_tags { ids = ids, action = "add", tags = { true } }
    assert.same({ type = "validation_error", code = "invalid_input", detail = "Not a valid string.",
      attr = "tags__0" }, res.json)
    local many = {}
    for i = 1, 101 do many[i] = "t" .. i end
    res = bulk_tags { ids = ids, action = "add", tags = many }
    assert.same({ type = "validation_error", code = "max_length",
      detail = "Ensure this field has no more than 100 elements.", attr = "tags" }, res.json)
    ok(bulk_tags { ids = ids, action = "add", tags = { 5 } })
    assert.same({ "5" }, stored().installed_app.tags)
  end)

  for _, mode in ipairs(MODES) do
    it("refuses a blank tag on create, update and replace with the bulk body, storing nothing ("
        .. mode.label .. ")", function()
      worked(mode.enterprise)
      local res = call("POST", "", { name = "tagged", tags = { "a", " " } })
      assert.equal(400, res.status)
      assert.equal(BLANK_BODY:format(1), res.body)
      assert.is_nil(stored().tagged)
      local target = id("installed_app")
      ok(call("PATCH", target, { tags = { "kept" } }))
      res = call("PATCH", target, { tags = { "", "x" } })
      assert.equal(BLANK_BODY:format(0), res.body)
      res = call("PUT", target, { name = "installed_app", tags = { "x", "y", "\194\160\t" } })
      assert.equal(BLANK_BODY:format(2), res.body)
      assert.same({ "kept" }, stored().installed_app.tags)
    end)

    it("answers 500 for a create or update tag PostHog cannot save, storing nothing (" .. mode.label .. ")",
      function()
        worked(mode.enterprise)
        for _, tags in ipairs({ { 5 }, { "ok", ("a"):rep(256) }, { { "nested" } }, { null } }) do
          local res = call("POST", "", { name = "tagged", tags = tags })
          assert.equal(500, res.status)
          assert.equal(SERVER_ERROR, res.body)
          res = call("PATCH", id("purchase"), { tags = tags })
          assert.equal(500, res.status)
        end
        assert.is_nil(stored().tagged)
        assert.same({}, stored().purchase.tags)
        local res = call("POST", "", { name = "tagged", tags = { 5 }, enforcement_mode = "bogus" })
        assert.equal(400, res.status, "field errors come first")
      end)
  end

  it("never stores an empty tag, not even through reset", function()
    local res = control("POST", "reset", { definitions = { { name = "x", tags = { "ok", "  " } } } })
    assert.equal(400, res.status)
    assert.matches("blank", res.json.error)
  end)
end)

describe("ingestion between page requests (§20.3)", function()
  local p1_names

  before_each(function()
    worked(true, z_events(300))
    p1_names = nil
  end)

  -- first_page() -> the names of the default list's first page (100).
  local function first_page()
    local page = ok(get("?limit=100"))
    p1_names = {}
    for i, d in ipairs(page.results) do p1_names[i] = d.name end
    return page
  end

  it("moves definitions between pages of the default order: an insert repeats one", function()
    assert.same({ queued = 1, applied = 0 },
      helpers.control("POST", "ingest", { after = 1, insert = { { name = "a_new" } } }))
    local page1 = first_page()
    assert.equal(306, page1.count)
    assert.is_nil(set(p1_names).a_new)
    local page2 = ok(get(page1.next))
    assert.equal(307, page2.count)
    assert.equal(p1_names[100], page2.results[1].name)
    local new = stored().a_new
    assert.equal("2020-01-02T00:00:00Z", new.created_at)
    assert.equal("2020-01-02T00:00:00Z", new.last_seen_at)
    assert.same({ "a_new", "$pageview" }, names(get("?limit=2")))
  end)

  it("lets an event seen on a new day repeat one definition and skip another while count stays the same", function()
    helpers.control("POST", "ingest", { after = 1, seen = { "z_event_94" } })
    local pages = walk(E .. "/?limit=100")
    assert.equal(4, #pages)
    local seen, repeats = {}, 0
    for _, page in ipairs(pages) do
      assert.equal(306, page.count)
      for _, d in ipairs(page.results) do
        if seen[d.id] then repeats = repeats + 1 end
        seen[d.id] = d.name
      end
    end
    assert.equal(1, repeats)
    assert.equal(305, #keys(seen))
    for _, name in pairs(seen) do assert.not_equal("z_event_94", name) end
    assert.equal("2020-01-02T00:00:00Z", stored().z_event_94.last_seen_at)
  end)

  it("skips a definition after a deletion before the walk's position", function()
    helpers.control("POST", "ingest", { after = 1, delete = { "$pageview" } })
    local pages = walk(E .. "/?limit=100")
    local got = {}
    for _, page in ipairs(pages) do
      for _, d in ipairs(page.results) do got[d.name] = true end
    end
    assert.equal(305, pages[2].count)
    assert.is_true(got["$pageview"])
    assert.is_nil(got.z_event_184)
    assert.is_table(stored().z_event_184)
  end)

  it("keeps ordering=name stable: only changes before the walk's position shift it, detectably", function()
    local before = walk(E .. "/?ordering=name&limit=100")
    helpers.control("POST", "ingest", { after = 1, insert = { { name = "zzzz_last" } } })
    local page1 = ok(get("?ordering=name&limit=100"))
    local page2 = ok(get(page1.next))
    assert.equal(before[2].results[1].id, page2.results[1].id)
    helpers.control("POST", "ingest", { after = 1, insert = { { name = "!first" } } })
    page1 = ok(get("?ordering=name&limit=100"))
    page2 = ok(get(page1.next))
    assert.equal(page1.results[100].id, page2.results[1].id)
    assert.equal(page1.count + 1, page2.count)
  end)

  it("counts only list requests answered with a page", function()
    helpers.control("POST", "ingest", { after = 2, delete = { "purchase" } })
    helpers.faults { { match = { method = "GET", path = "event_definitions/?$" }, status = 503 } }
    assert.equal(503, get("").status)
    ok(get("by_name/?name=purchase"))
    ok(get("?limit=1"))
    assert.equal(1, helpers.control("GET", "ingest").ingest[1].after)
    assert.is_table(stored().purchase)
    ok(get("?limit=1"))
    assert.is_nil(stored().purchase)
    assert.same({}, helpers.control("GET", "ingest").ingest)
  end)

  it("applies entries without after at once, several entries independently, and refuses bad ones", function()
    assert.same({ queued = 0, applied = 1 },
      helpers.control("POST", "ingest",
        { insert = { { name = "now_event" }, { name = "never", last_seen_at = null } } }))
    assert.equal("2020-01-02T00:00:00Z", stored().now_event.last_seen_at)
    assert.equal(null, stored().never.last_seen_at)
    assert.same({ queued = 2, applied = 0 }, helpers.control("POST", "ingest", { entries = {
      { after = 1, seen = { "never" } }, { after = 2, delete = { "now_event", "missing_name" } } } }))
    ok(get("?limit=1"))
    assert.equal("2020-01-02T00:00:00Z", stored().never.last_seen_at)
    assert.is_table(stored().now_event)
    ok(get("?limit=1"))
    assert.is_nil(stored().now_event)
    for _, bad in ipairs({ { after = -1, delete = { "a" } }, {}, { insert = "x" }, { bogus = 1, delete = { "a" } },
      { insert = { { tags = {} } } }, { project_id = 3, delete = { "a" } }, { seen = { 5 } } }) do
      assert.equal(400, control("POST", "ingest", bad).status)
    end
    helpers.control("POST", "ingest", { after = 5, delete = { "purchase" } })
    assert.equal(1, #helpers.control("GET", "ingest").ingest)
    helpers.control("DELETE", "ingest")
    assert.same({}, helpers.control("GET", "ingest").ingest)
    helpers.control("POST", "ingest", { after = 5, delete = { "purchase" } })
    helpers.reset {}
    assert.same({}, helpers.control("GET", "ingest").ingest)
  end)
end)

describe("429 without Retry-After (§16.2, §20.5)", function()
  it("lets the throttle answer 429 without Retry-After when retry_after_header is false", function()
    helpers.reset { config = { throttle = { per_minute = 1 }, retry_after_header = false } }
    ok(get(""))
    local res = get("")
    assert.equal(429, res.status)
    assert.is_nil(res.headers["retry-after"])
    assert.equal("throttled", res.json.code)
    assert.matches("^Request was throttled%. Expected available in %d+ seconds?%.$", res.json.detail)
  end)

  it("sends Retry-After with the throttle's wait by default", function()
    helpers.reset { config = { throttle = { per_minute = 1 } } }
    ok(get(""))
    local res = get("")
    assert.equal(429, res.status)
    assert.equal(res.json.detail:match("in (%d+) second"), res.headers["retry-after"])
  end)

  it("leaves Retry-After off injected 429s with the switch, unless the fault gives one", function()
    helpers.reset { config = { retry_after_header = false } }
    helpers.faults { { status = 429 }, { status = 429, headers = { ["Retry-After"] = "7" } } }
    local res = get("")
    assert.equal(429, res.status)
    assert.is_nil(res.headers["retry-after"])
    assert.equal("Request was throttled. Expected available in 1 second.", res.json.detail)
    res = get("")
    assert.equal("7", res.headers["retry-after"])
    helpers.reset {}
    helpers.faults { { status = 429, headers = { ["Retry-After"] = null } }, { status = 429 } }
    assert.is_nil(get("").headers["retry-after"])
    assert.equal("1", get("").headers["retry-after"])
  end)
end)

describe("a deployment without the ee package (§20.4)", function()
  local OSS_KEYS = { "created_at", "enforcement_mode", "id", "is_action", "last_seen_at", "name", "post_to_slack",
    "primary_property", "tags" }

  before_each(function() worked(false) end)

  it("answers with the open-source serializer's keys only", function()
    assert.same(OSS_KEYS, keys(ok(get("?limit=1")).results[1]))
    assert.same(OSS_KEYS, keys(ok(get(id("purchase")))))
    assert.same(OSS_KEYS, keys(ok(get("by_name/?name=purchase"))))
    assert.same(OSS_KEYS, keys(ok(call("POST", "", { name = "new_event" }), 201)))
    assert.same(OSS_KEYS, keys(ok(call("PATCH", id("purchase"), { primary_property = "sku" }))))
    assert.equal(false, get(id("purchase")).json.post_to_slack)
  end)

  it("refuses description, verified and hidden in a create, naming the first in PostHog's order", function()
    for _, case in ipairs({
      { { name = "x", description = "d" }, "description" },
      { { name = "x", hidden = false, verified = true }, "verified" },
      { { name = "x", hidden = null }, "hidden" },
      { { name = "x", hidden = true, verified = true, description = "d" }, "description" },
    }) do
      local res = call("POST", "", case[1])
      assert.equal(400, res.status)
      assert.equal(UNSUPPORTED:format(case[2]), res.body)
    end
    assert.is_nil(stored().x)
  end)

  it("reports field errors before the refusal", function()
    local res = call("POST", "", { description = "d" })
    assert.same({ type = "validation_error", code = "required", detail = "This field is required.", attr = "name" },
      res.json)
    res = call("POST", "", { name = "x", tags = "nope", description = "d" })
    assert.equal("not_a_list", res.json.code)
    res = call("POST", "", { name = "purchase", description = "d" })
    assert.same({ type = "validation_error", code = "invalid_input",
      detail = "Event definition with name 'purchase' already exists", attr = "name" }, res.json)
  end)

  it("refuses them on PATCH and PUT too, writing nothing", function()
    local target = id("purchase")
    local res = call("PATCH", target, { primary_property = "sku", description = "d" })
    assert.equal(UNSUPPORTED:format("description"), res.body)
    res = call("PUT", target, { name = "purchase", verified = false })
    assert.equal(UNSUPPORTED:format("verified"), res.body)
    assert.equal(null, stored().purchase.primary_property)
  end)

  it("makes name writable: PATCH renames, PUT requires it, a taken name fails the unique index", function()
    local target = id("purchase")
    assert.equal("purchase_v2", ok(call("PATCH", target, { name = "purchase_v2" })).name)
    assert.equal(target, ok(get("by_name/?name=purchase_v2")).id)
    assert.equal(404, get("by_name/?name=purchase").status)
    local res = call("PUT", target, { primary_property = "sku" })
    assert.same({ type = "validation_error", code = "required", detail = "This field is required.", attr = "name" },
      res.json)
    assert.equal("purchase_v3", ok(call("PUT", target, { name = " purchase_v3 " })).name)
    res = call("PATCH", target, { name = "installed_app" })
    assert.equal(500, res.status)
    assert.equal(SERVER_ERROR, res.body)
    assert.is_table(stored().purchase_v3)
    assert.equal(400, call("PATCH", target, { name = "" }).status)
  end)

  it("makes created_at and last_seen_at writable on update and ignores them on create", function()
    local target = id("purchase")
    local d = ok(call("PATCH", target, { last_seen_at = "2019-01-01T10:30:00Z", created_at = null }))
    assert.equal("2019-01-01T10:30:00Z", d.last_seen_at)
    assert.equal(null, d.created_at)
    d = ok(call("PATCH", target, { last_seen_at = "2019-02-03T04:05+01:00" }))
    assert.equal("2019-02-03T03:05:00Z", d.last_seen_at)
    local res = call("PATCH", target, { last_seen_at = "yesterday" })
    assert.same({ type = "validation_error", code = "invalid_input", attr = "last_seen_at",
      detail = "Datetime has wrong format. Use one of these formats instead: "
        .. "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]." }, res.json)
    assert.equal("2019-01-01T00:00:00Z", ok(call("PATCH", target, { created_at = "2019-01-01" })).created_at)
    d = ok(call("POST", "", { name = "fresh", created_at = "2019-01-01T00:00:00Z",
      last_seen_at = "2019-01-01T00:00:00Z" }), 201)
    assert.equal(null, d.created_at)
    assert.equal(null, d.last_seen_at)
  end)

  it("ignores owner and default_columns", function()
    ok(call("POST", "", { name = "owned", owner = 1, default_columns = { "a" } }), 201)
    local d = stored().owned
    assert.equal(null, d.owner)
    assert.same({}, d.default_columns)
  end)

  it("refuses bulk_update_verified before reading the body", function()
    for _, body in ipairs({ { ids = { id("purchase") }, verified = true }, "not json", { ids = {} } }) do
      local res = call("POST", "bulk_update_verified/", body)
      assert.equal(400, res.status)
      assert.equal(NO_LICENSE, res.body)
    end
    assert.is_false(stored().purchase.verified)
  end)

  it("ignores the verified and exclude_hidden list filters", function()
    worked(false, { { name = "ver_event", verified = true }, { name = "hidden_event", hidden = true } })
    assert.equal(8, get("?verified=true").json.count)
    assert.equal(8, get("?verified=false").json.count)
    assert.equal(8, get("?exclude_hidden=true").json.count)
  end)

  it("keeps name read-only on update with the ee package", function()
    worked(true)
    local target = id("purchase")
    assert.equal("purchase", ok(call("PATCH", target, { name = "other" })).name)
    assert.equal("purchase", ok(call("PUT", target, { description = "d" })).name)
    assert.equal("d", stored().purchase.description)
  end)
end)

for _, mode in ipairs(MODES) do
  describe("PostHog's test cases (§20.6) " .. mode.label, function()
    local ee = mode.enterprise

    before_each(function() worked(ee) end)

    it("case 1: excluded_properties drops the listed names", function()
      local res = get("?excluded_properties=" .. enc('["installed_app", "purchase"]'))
      assert.equal(4, ok(res).count)
      local got = set(names(res))
      assert.is_nil(got.installed_app)
      assert.is_nil(got.purchase)
    end)

    it("case 2: a tags filter that is not a list is ignored", function()
      for _, v in ipairs({ "true", "5", '{"a": 1}' }) do
        assert.equal(6, ok(get("?tags=" .. enc(v))).count, v)
      end
    end)

    it("case 3: the tags filter keeps any of the tags, once per definition, paged", function()
      local both = { id("installed_app"), id("purchase") }
      ok(bulk_tags { ids = both, action = "add", tags = { "billing" } })
      ok(bulk_tags { ids = { both[1] }, action = "add", tags = { "revenue" } })
      local res = get("?tags=" .. enc('["billing", "revenue"]') .. "&limit=1")
      assert.equal(2, ok(res).count)
      assert.same({ "installed_app" }, names(res))
    end)

    it("case 4: limit and offset beyond 2^63-1 are clamped", function()
      local res = get("?limit=9223372036854775808")
      assert.equal(6, ok(res).count)
      assert.equal(6, #res.json.results)
      res = get("?offset=9223372036854775808")
      assert.equal(6, ok(res).count)
      assert.same({}, res.json.results)
    end)

    it("case 5: names repeated or comma-joined select exact names", function()
      for _, q in ipairs({ "names=installed_app&names=purchase&names=missing_event",
          "names=installed_app,purchase,missing_event" }) do
        assert.same(set({ "installed_app", "purchase" }), set(names(get("?" .. q))), q)
      end
    end)

    it("case 6: ordering by name, and by date then name descending, with timestamps as PostHog writes them",
      function()
        local function pairs_of(res)
          local out = {}
          for i, d in ipairs(ok(res).results) do out[i] = { d.name, d.last_seen_at } end
          return out
        end
        local by_name = {
          { "$pageview", "2020-01-01T22:56:00Z" }, { "entered_free_trial", "2020-01-01T23:00:00Z" },
          { "installed_app", "2020-01-01T00:00:00Z" }, { "purchase", "2019-12-30T00:00:00Z" },
          { "rated_app", "2019-12-21T00:00:00Z" }, { "watched_movie", null },
        }
        assert.same(by_name, pairs_of(get("?ordering=name")))
        assert.same(by_name, pairs_of(get("?ordering=-last_seen_at::date&ordering=name")))
        assert.same(by_name, pairs_of(get("?ordering=-last_seen_at::date")))
        assert.same({
          { "installed_app", "2020-01-01T00:00:00Z" }, { "entered_free_trial", "2020-01-01T23:00:00Z" },
          { "$pageview", "2020-01-01T22:56:00Z" }, { "purchase", "2019-12-30T00:00:00Z" },
          { "rated_app", "2019-12-21T00:00:00Z" }, { "watched_movie", null },
        }, pairs_of(get("?ordering=-last_seen_at::date&ordering=-name")))
        assert.same({ "watched_movie", "rated_app", "purchase", "installed_app", "entered_free_trial", "$pageview" },
          names(get("?ordering=-name")))
      end)

    it("case 7: 306 definitions page as 100, 100, 100, 6 in byte order", function()
      worked(ee, z_events(300))
      local pages = walk(E .. "/")
      assert.equal(4, #pages)
      assert.equal("$pageview", pages[1].results[1].name)
      assert.equal("entered_free_trial", pages[1].results[2].name)
      local sizes, firsts = {}, {}
      for i, page in ipairs(pages) do
        assert.equal(306, page.count)
        sizes[i], firsts[i] = #page.results, page.results[1].name
      end
      assert.same({ 100, 100, 100, 6 }, sizes)
      assert.same({ "$pageview", "z_event_184", "z_event_274", "z_event_94" }, firsts)
    end)

    it("case 8: a search pages in SQL with explicit ordering", function()
      worked(ee, z_events(300))
      local sorted = {}
      for i = 1, 300 do sorted[i] = "z_event_" .. i end
      table.sort(sorted)
      for _, offset in ipairs({ 0, 11, 300, 301 }) do
        local res = get("?search=z_event&ordering=-last_seen_at&limit=10&offset=" .. offset)
        assert.equal(300, ok(res).count)
        local want = {}
        for i = offset + 1, math.min(offset + 10, 300) do want[#want + 1] = sorted[i] end
        assert.same(want, names(res))
      end
      local res = get("?search=missing_event&limit=10")
      assert.equal(0, ok(res).count)
      assert.same({}, res.json.results)
    end)

    it("case 9: search terms, case, spaces and length-first order", function()
      for _, q in ipairs({ "app", "App", "APP", "%20app%20" }) do
        assert.same({ "rated_app", "installed_app" }, names(get("?search=" .. q)), q)
      end
      assert.same({ "rated_app", "installed_app", "watched_movie", "entered_free_trial" }, names(get("?search=ed")))
      assert.same({ "installed_app", "rated_app" }, names(get("?search=app&ordering=name")))
      assert.same(names(get("")), names(get("?search=%20%20")))
      assert.same({ "entered_free_trial" }, names(get("?search=free%20tri")))
      assert.same({ "entered_free_trial" }, names(get("?search=free%20tri%20")))
      assert.same({ "watched_movie" }, names(get("?search=ed%20mov")))
    end)

    it("case 10: event_custom and event_posthog", function()
      assert.equal(5, ok(get("?event_type=event_custom")).count)
      assert.same({ "$pageview" }, names(get("?event_type=event_posthog")))
    end)

    it("case 11: create answers 201 with null timestamps; a duplicate or a missing name is 400", function()
      local d = ok(call("POST", "", { name = "my_custom_event" }), 201)
      assert.equal("my_custom_event", d.name)
      assert.equal(null, d.created_at)
      assert.equal(null, d.last_seen_at)
      assert.equal(400, call("POST", "", { name = "my_custom_event" }).status)
      local res = call("POST", "", "{}")
      assert.same({ type = "validation_error", code = "required", detail = "This field is required.", attr = "name" },
        res.json)
      ok(call("POST", "", { name = "tagged_event", tags = { "important", "production" } }), 201)
    end)

    it("case 12: description, verified and hidden on create " .. (ee and "are stored" or "are refused"), function()
      local res = call("POST", "", { name = "event_with_unsupported_metadata",
        description = "This cannot be stored without EE.", verified = true, hidden = false })
      if ee then
        local d = ok(res, 201)
        assert.equal("This cannot be stored without EE.", d.description)
        assert.is_true(d.verified)
      else
        assert.equal(400, res.status)
        assert.equal(UNSUPPORTED:format("description"), res.body)
        assert.is_nil(stored().event_with_unsupported_metadata)
      end
    end)

    it("case 13: by_name finds, misses and needs a name; a non-UUID id is 404", function()
      assert.equal("installed_app", ok(get("by_name/?name=installed_app")).name)
      local res = get("by_name/?name=nonexistent")
      assert.equal(404, res.status)
      assert.same({ detail = "Event definition with name 'nonexistent' not found" }, res.json)
      res = get("by_name/")
      assert.equal(400, res.status)
      assert.same({ detail = "Query parameter 'name' is required" }, res.json)
      assert.equal(404, get("undefined").status)
    end)

    it("case 14: primary_properties keeps configured, non-empty entries of this project only", function()
      worked(ee, {
        { name = "order_placed", primary_property = "order_id" }, { name = "event_without_primary" },
        { name = "evt_blank", primary_property = "" }, { name = "evt_real", primary_property = "real_prop" },
        { name = "other_team_event", primary_property = "leak", project_id = 2 },
      })
      local res = get("primary_properties/?names=order_placed&names=event_without_primary&names=missing_event")
      assert.equal('{"primary_properties":{"order_placed":"order_id"}}', res.body)
      assert.same({ primary_properties = { order_placed = "order_id", evt_real = "real_prop" } },
        ok(get("primary_properties/")))
      assert.equal('{"primary_properties":{}}', get("primary_properties/?names=other_team_event").body)
      assert.equal('{"primary_properties":{}}', get("primary_properties/?names=order_placed,evt_real").body)
    end)

    it("case 15: PATCH sets and clears primary_property", function()
      local target = id("purchase")
      assert.equal("checkout_id", ok(call("PATCH", target, { primary_property = "checkout_id" })).primary_property)
      assert.equal("checkout_id", stored().purchase.primary_property)
      assert.equal(null, ok(call("PATCH", target, { primary_property = null })).primary_property)
      assert.equal(null, stored().purchase.primary_property)
    end)

    it("case 16: bulk_update_tags adds sorted tags and skips other projects' ids", function()
      worked(ee, { { name = "bulk_a" }, { name = "bulk_b" }, { name = "foreign_event", project_id = 2 } })
      local a, b = id("bulk_a"), id("bulk_b")
      local data = ok(bulk_tags { ids = { a, b }, action = "add", tags = { "pii", "billing" } })
      assert.same({}, data.skipped)
      local by_id = {}
      for _, row in ipairs(data.updated) do by_id[row.id] = row.tags end
      assert.same({ [a] = { "billing", "pii" }, [b] = { "billing", "pii" } }, by_id)
      local foreign = id("foreign_event")
      data = ok(bulk_tags { ids = { foreign }, action = "add", tags = { "pii" } })
      assert.same({}, data.updated)
      assert.same({ { id = foreign, reason = "Not found" } }, data.skipped)
      assert.same({}, stored().foreign_event.tags)
    end)

    it("case 17: a list timeout is 503 event_definitions_timeout; exclude_stale keeps recent and never-seen",
      function()
        helpers.faults { { match = { method = "GET", path = "event_definitions/?$" }, status = 503 } }
        local res = get("")
        assert.equal(503, res.status)
        assert.equal("event_definitions_timeout", res.json.code)
        assert.is_nil(res.headers["retry-after"])
        helpers.reset { config = mode_config(ee, { now = "2020-01-02T00:00:00Z" }), definitions = {
          { name = "fresh_event", last_seen_at = "2020-01-01T00:00:00Z" },
          { name = "stale_event", last_seen_at = "2019-11-18T00:00:00Z" },
          { name = "ancient_event", last_seen_at = "2019-01-02T00:00:00Z" },
          { name = "never_seen_event" },
        } }
        local all = set({ "fresh_event", "stale_event", "ancient_event", "never_seen_event" })
        assert.same(all, set(names(get(""))))
        assert.same(all, set(names(get("?exclude_stale=false"))))
        assert.same(set({ "fresh_event", "never_seen_event" }), set(names(get("?exclude_stale=true"))))
      end)

    it("case 18: verification " .. (ee and "stamps once, ignores stamps in bodies, de-duplicates tags"
        or "is refused, tags still de-duplicated"), function()
      helpers.reset { config = mode_config(ee, { now = "2020-01-02T00:00:00Z" }),
        definitions = { { name = "enterprise event", owner = 1 }, { name = "other event" } } }
      local target, other = id("enterprise event"), id("other event")
      if not ee then
        assert.equal(UNSUPPORTED:format("verified"), call("PATCH", target, { verified = true }).body)
        local res = call("POST", "", { name = "verified_event", verified = true })
        assert.equal(UNSUPPORTED:format("verified"), res.body)
        assert.is_false(stored()["enterprise event"].verified)
        assert.same({ "a", "b" }, ok(call("PATCH", other, { tags = { "a", "b", "a" } })).tags)
        return
      end
      ok(call("PATCH", target, { verified = true }))
      local d = ok(get(target))
      assert.is_true(d.verified)
      assert.equal(1, d.verified_by.id)
      assert.equal("2020-01-02T00:00:00Z", d.verified_at)
      assert.equal("2020-01-02T00:00:00Z", d.updated_at)
      helpers.config { now = "2020-01-02T00:01:00Z" }
      ok(call("PATCH", target, { verified = true }))
      d = ok(get(target))
      assert.equal("2020-01-02T00:00:00Z", d.verified_at)
      assert.equal("2020-01-02T00:01:00Z", d.updated_at)
      d = ok(call("PATCH", other, { verified_by = 1, verified_at = "2020-01-02T00:01:00Z" }))
      assert.is_false(d.verified)
      assert.equal(null, d.verified_by)
      assert.equal(null, d.verified_at)
      d = ok(call("POST", "", { name = "verified_event", description = "This event is verified", verified = true }),
        201)
      assert.equal(1, d.verified_by.id)
      assert.is_string(d.verified_at)
      assert.is_false(d.hidden)
      local res = call("POST", "", { name = "conflicted_event", verified = true, hidden = true })
      assert.equal(400, res.status)
      assert.equal("An event cannot be both hidden and verified", res.json.detail)
      assert.same({ "a", "b" }, ok(call("PATCH", other, { tags = { "a", "b", "a" } })).tags)
    end)
  end)
end
