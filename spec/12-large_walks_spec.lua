-- Walks over large projects, where PostHog caps `count` (reference §7.5: more than 50,000
-- definitions, no sparse filter: count stops at 10,000 and count_is_capped is true, a lower
-- bound), and over pagers that go round or never end.
local evdefs = require "posthog.event_definitions"
local options = require "posthog.event_definitions.options"
local helpers = require "spec.helpers"
local T = require "spec.support.cli"

local KEY = "phx_secret_for_walk_specs"
local BASE = "https://posthog.example.com/api/projects/7/event_definitions/"
local JSON = { ["content-type"] = "application/json" }

-- A client of a scripted transport (helpers.scripted) with an instant clock.
local function scripted_client(responses)
  local transport, seen = helpers.scripted(responses)
  return assert(evdefs.new { host = "https://posthog.example.com", personal_api_key = KEY, project_id = 7,
    transport = transport, rate_limit = false, sleep = function() end }), seen
end

-- A capped page body of the definitions numbered first..last, with `next`.
local function capped_page(first, last, next_link)
  local items = {}
  for i = first, last do
    items[#items + 1] = string.format('{"id":"0190c6a2-8f4e-7000-9c1d-%012d","name":"d_%06d"}', i, i)
  end
  return string.format('{"count":4,"next":%s,"previous":null,"results":[%s],"count_is_capped":true}',
    next_link and ('"' .. next_link .. '"') or "null", table.concat(items, ","))
end

-- Every definition `each` yields, and the error it ends with.
local function drain(client, params)
  local defs, failure = {}, nil
  for def, err in client:each(params) do
    if def == false then failure = err else defs[#defs + 1] = def end
  end
  return defs, failure
end

-- Raises unless `defs` holds each of the fake's definitions once.
local function assert_whole(defs, n)
  local ids = {}
  for _, d in ipairs(defs) do
    assert.is_nil(ids[d.id], "repeated " .. tostring(d.name))
    ids[d.id] = true
  end
  assert.equal(n, #defs)
end

describe("a project whose count PostHog caps", function()
  it("each and all walk 25,000 definitions past the cap of 10,000 at pages of 1,000", function()
    helpers.reset { seed = 25000, config = { large_project = true } }
    local client = helpers.client()
    local first = assert(client:list { limit = 1000 })
    assert.equal(10000, first.count)
    assert.is_true(first.count_is_capped)
    assert_whole(assert(client:all { limit = 1000 }), 25000)
    local defs, failure = drain(client, { limit = 1000 })
    assert.is_nil(failure, tostring(failure))
    assert_whole(defs, 25000)
  end)

  describe("with the cap scaled down (250 definitions, cap 100)", function()
    before_each(function() helpers.reset { seed = 250, config = { large_project = true, count_cap = 100 } } end)

    it("each and all take every definition, at any page size", function()
      local client = helpers.client()
      for _, limit in ipairs { 1, 7, 10 } do
        assert_whole(assert(client:all { limit = limit }), 250)
        local defs, failure = drain(client, { limit = limit })
        assert.is_nil(failure, tostring(failure))
        assert_whole(defs, 250)
      end
    end)

    it("list --all of posthog-evdefs takes every definition", function()
      local status, out, err = T.run { "list", "--all", "--limit", "10", "--format", "json" }
      assert.equal(0, status, err)
      assert.equal(250, #T.json(out))
    end)

    it("all fails rather than repeat or drop one when a definition comes or goes ahead of the walk", function()
      local client = helpers.client()
      helpers.control("POST", "ingest", { after = 2, project_id = 1, insert = { { name = "!first" } } })
      local defs, err = client:all { limit = 10 }
      assert.is_nil(defs)
      assert.equal("decode", err.kind)
      assert.matches("changed while paging", err.detail)
      helpers.reset { seed = 250, config = { large_project = true, count_cap = 100 } }
      helpers.control("POST", "ingest", { after = 2, project_id = 1, delete = { "event_0001" } })
      defs, err = client:all { limit = 10 }
      assert.is_nil(defs)
      assert.matches("changed while paging", err.detail)
    end)

    it("all takes a definition that comes behind the walk's position", function()
      helpers.control("POST", "ingest", { after = 2, project_id = 1, insert = { { name = "zzz_last" } } })
      local defs = assert(helpers.client():all { limit = 10 })
      assert_whole(defs, 251)
      assert.equal("zzz_last", defs[251].name)
    end)
  end)
end)

describe("pagers that never end", function()
  local saved = options.TUNING.max_walk_pages
  before_each(function() options.TUNING.max_walk_pages = 30 end)
  after_each(function() options.TUNING.max_walk_pages = saved end)

  it("a capped count bounds nothing: new definitions on every page go on to the most a walk takes", function()
    local function endless(req)
      local offset = tonumber(req.url:match("offset=(%d+)") or "0")
      return { status = 200, headers = JSON,
        body = capped_page(offset + 1, offset + 2, BASE .. "?limit=2&offset=" .. (offset + 2)) }
    end
    local client, seen = scripted_client({ endless })
    local defs, failure = drain(client, { limit = 2 })
    assert.equal(60, #defs)
    assert.equal("decode", failure.kind)
    assert.equal("more than 30 pages, the most a walk takes", failure.detail)
    assert.equal(30, #seen)
    local all, err = client:all { limit = 2 }
    assert.is_nil(all)
    assert.equal("more than 30 pages, the most a walk takes", err.detail)
  end)

  it("a page that brings no new definition ends each, and all, with a decode error", function()
    local function round(req)
      local offset = tonumber(req.url:match("offset=(%d+)") or "0")
      return { status = 200, headers = JSON, body = capped_page(1, 2, BASE .. "?limit=2&offset=" .. (offset + 2)) }
    end
    local client, seen = scripted_client({ round })
    local defs, failure = drain(client, { limit = 2 })
    assert.equal(2, #defs)
    assert.equal("decode", failure.kind)
    assert.equal("a page brought no definition that earlier pages had not", failure.detail)
    assert.equal(2, #seen)
    local all, err = client:all { limit = 2 }
    assert.is_nil(all)
    assert.equal("decode", err.kind)
  end)

  it("a next link holding CR or LF is the server's fault: a decode error, nothing sent", function()
    local client, seen = scripted_client({ { status = 200, headers = JSON,
      body = capped_page(1, 2, BASE .. "?limit=2&offset=2\\r\\nX-Injected: 1") } })
    local _, failure = drain(client, { limit = 2 })
    assert.equal("decode", failure.kind)
    assert.equal("next link holds a space or a control character", failure.detail)
    assert.equal(1, #seen)
  end)
end)

describe("the project-level lists behind event_properties", function()
  local DEF = '{"id":"0190c6a2-8f4e-7000-9c1d-000000000001","name":"downloaded_file"}'
  local LIST = '{"count":1,"next":null,"previous":null,"results":[' .. DEF .. ']}'

  -- A client whose event_schemas/ pages come from schemas(offset, n) (n: how many were asked for
  -- so far), the definition list answering one definition; after 50 schema pages, a last one.
  local function schema_client(schemas)
    local asked = 0
    return scripted_client({ function(req)
      if not req.url:find("/event_schemas/", 1, true) then return { status = 200, headers = JSON, body = LIST } end
      asked = asked + 1
      local offset = tonumber(req.url:match("offset=(%d+)"))
      if asked > 50 then return { status = 200, headers = JSON, body = '{"count":0,"next":null,"results":[]}' } end
      return { status = 200, headers = JSON, body = schemas(offset, asked) }
    end })
  end

  -- A page of event schemas numbered first..last with `count` and a next link.
  local function schemas_page(first, last, count)
    local items = {}
    for i = first, last do
      items[#items + 1] = string.format('{"id":"s%d","property_group":{"properties":[{"name":"p%d"}]}}', i, i)
    end
    return string.format('{"count":%d,"next":"%sevent_schemas/?offset=%d","results":[%s]}', count,
      BASE:gsub("event_definitions/$", ""), last, table.concat(items, ","))
  end

  local function schemas_asked(seen)
    local n = 0
    for _, req in ipairs(seen) do if req.url:find("/event_schemas/", 1, true) then n = n + 1 end end
    return n
  end

  it("an item that comes twice (a server that ignores offset) is a decode error", function()
    local client, seen = schema_client(function() return schemas_page(1, 2, 100) end)
    local props, err = client:event_properties { "downloaded_file" }
    assert.is_nil(props)
    assert.equal("decode", err.kind)
    assert.matches("an item came twice", err.detail)
    assert.equal(2, schemas_asked(seen))
  end)

  it("an empty page that still has a next link is a decode error", function()
    local client = schema_client(function(offset)
      if offset == 0 then return schemas_page(1, 2, 4) end
      return '{"count":4,"next":"' .. BASE .. '?offset=9","results":[]}'
    end)
    local props, err = client:event_properties { "downloaded_file" }
    assert.is_nil(props)
    assert.equal("an empty page has a next link", err.detail)
  end)

  it("pages past what the count allows are a decode error", function()
    local client, seen = schema_client(function(offset) return schemas_page(offset + 1, offset + 2, 4) end)
    local props, err = client:event_properties { "downloaded_file" }
    assert.is_nil(props)
    assert.equal("more pages than the count allows (4)", err.detail)
    assert.equal(4, schemas_asked(seen))
  end)
end)
