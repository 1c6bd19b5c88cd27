-- What the edge does with one capture payload (posthog.event_definitions.edge.decide), on every
-- interpreter: the project found by the token where PostHog's capture reads it, each class under
-- each action, tags however the properties are written, rejection and what it takes out, the
-- forwarded body checked by a second scan; and a property: for random bodies and random
-- policies, the forwarded body plus the events taken out hold every input event exactly once
-- (passing events byte for byte), and every forwarded body and taken-out event is valid JSON.
local evdefs = require "posthog.event_definitions"
local decide = require "posthog.event_definitions.edge.decide"
local index = require "posthog.event_definitions.edge.index"
local settings = require "posthog.event_definitions.edge.settings"
local edge_core = require "posthog.event_definitions.edge.core"

-- A project's index from definitions {name, verified, hidden, enforcement_mode} and groups.
local function index_of(defs, groups)
  for i, d in ipairs(defs) do d.id = d.id or ("id-" .. i) end
  return evdefs.decode(evdefs.encode(index.build(defs, groups or {}))) -- as workers read it
end

local DEFS = {
  { name = "signup", verified = true },
  { name = "page_viewed" },
  { name = "junk_event", hidden = true, verified = true },
  { name = "checkout", verified = true, enforcement_mode = "reject" },
  { name = "order", verified = true }, -- a schema, but enforcement "allow"
}
local GROUPS = {
  { name = "checkout", events = { { id = "id-4", name = "checkout" }, { id = "id-5", name = "order" } },
    properties = { { name = "order_id", property_type = "Numeric", is_required = true } } },
}
local IDX = index_of(DEFS, GROUPS)

-- The judge's settings: a policy over the defaults.
local function settings_of(policy, extra)
  local names = {}
  for _, n in ipairs(settings.SDK_EVENTS) do names[n] = true end
  local s = { policy = settings.policy(policy or {}, names, 1), sdk_events = names, schema_scope = "reject",
    max_events = 10000, unknown_token = "pass" }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

-- A context with one project (every token) or several {token = index}.
local function context(s, projects, extra)
  local c = { settings = s }
  if projects then
    c.project = function(token)
      local idx = token and projects[token]
      if idx == nil then return nil end
      return { key = token, index = idx ~= false and idx or nil }
    end
  else
    c.project = function() return { key = "default", index = IDX } end
  end
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

local function run(body, policy, projects, extra, sextra)
  return assert(decide.run(body, context(settings_of(policy, sextra), projects, extra)))
end

-- The decoded properties of a JSON event text.
local function props_of(text)
  local e = assert(evdefs.decode(text), text)
  return e.properties
end

describe("edge decide.run", function()
  it("passes a body whose events all pass: no rewrite, nothing taken out", function()
    local body = '[{"event":"signup"},{"event":"page_viewed"},{"event":"$pageview"},{"event":"survey shown"}]'
    local r = run(body, { unknown = "drop", hidden = "drop" })
    assert.same({ 4, 4, nil, 0 }, { r.events, r.kept, r.body, #r.removed })
  end)

  it("drops by byte ranges and hands out the dropped events tagged with class and detail", function()
    local body = '[ {"event":"mystery","properties":{"a":1}} ,\n {"event":"signup"}, {"event":"junk_event"} ]'
    local r = run(body, { unknown = "drop", hidden = "drop" })
    assert.equal('[ {"event":"signup"} ]', r.body)
    assert.equal(1, r.kept)
    assert.equal(2, #r.removed)
    assert.same({ "mystery", "unknown" }, { r.removed[1].name, r.removed[1].class })
    local p = props_of(r.removed[1].text)
    assert.same({ 1, "unknown" }, { p.a, p["$taxonomy_violation"] })
    assert.truthy(p["$taxonomy_violation_detail"]:find("mystery", 1, true))
    assert.equal("hidden", props_of(r.removed[2].text)["$taxonomy_violation"])
    assert.same({ ["unknown/drop"] = 1, ["hidden/drop"] = 1 }, r.counts)
  end)

  it("tags whatever the properties: an object, an empty one, none, null; leaves a non-object alone", function()
    local cases = {
      { '{"event":"mystery","properties":{"a":1}}',
        '{"event":"mystery","properties":{"a":1,"$taxonomy_violation":"unknown"}}' },
      { '{"event":"mystery","properties":{}}', '{"event":"mystery","properties":{"$taxonomy_violation":"unknown"}}' },
      { '{"event":"mystery"}', '{"event":"mystery","properties":{"$taxonomy_violation":"unknown"}}' },
      { '{"event":"mystery","properties":null}', '{"event":"mystery","properties":{"$taxonomy_violation":"unknown"}}' },
      { '{"event":"mystery","properties":"x"}', '{"event":"mystery","properties":"x"}' },
      { '{"properties" : null , "event":"mystery"}',
        '{"properties" : {"$taxonomy_violation":"unknown"} , "event":"mystery"}' },
    }
    for _, c in ipairs(cases) do
      local r = run("[" .. c[1] .. "]", { unknown = "tag" })
      assert.equal("[" .. c[2] .. "]", r.body or ("[" .. c[1] .. "]"), c[1])
      assert.is_nil(r.rewrite_failed)
    end
  end)

  it("keeps properties that are not an object in the quarantined event, under a properties object", function()
    local r = run('[{"event":"mystery","properties":[1,"x"]},{"event":"signup"}]', { unknown = "drop" })
    assert.equal('[{"event":"signup"}]', r.body)
    local p = props_of(r.removed[1].text)
    assert.same({ "unknown", { 1, "x" } }, { p["$taxonomy_violation"], p["$taxonomy_original_properties"] })
  end)

  it("drops a single event's body whole, and answers for it (kept 0, no body)", function()
    local r = run('{"event":"mystery"}', { unknown = "drop" })
    assert.same({ 0, nil, 1 }, { r.kept, r.body, #r.removed })
  end)

  it("rejects: every event taken out, the offenders with their class, the others rejected_request", function()
    local r = run('{"api_key":"k","batch":[{"event":"signup"},{"event":"mystery"},{"event":"junk_event"}]}',
      { unknown = "reject", hidden = "drop" })
    assert.same({ "mystery", "unknown" }, r.rejected)
    assert.same({ 0, 3 }, { r.kept, #r.removed })
    assert.same({ "rejected_request", "unknown", "hidden" },
      { r.removed[1].class, r.removed[2].class, r.removed[3].class })
  end)

  it("passes `$` and SDK events unless the policy names them", function()
    local body = '[{"event":"$autocapture"},{"event":"Application Opened"},{"event":"survey sent"}]'
    assert.is_nil(run(body, { unknown = "drop" }).body)
    local r = run(body, { unknown = "drop", ["$autocapture"] = "drop", ["Application Opened"] = "tag" })
    assert.equal('[{"event":"Application Opened","properties":{"$taxonomy_violation":"unknown"}},'
      .. '{"event":"survey sent"}]', r.body)
    assert.has_error(function() settings_of({ ["custom_event"] = "drop" }) end)
  end)

  it("reads a nameless event on /engage as $identify", function()
    local r = run('{"$set":{"a":1},"$token":"t","$distinct_id":"d"}', { unknown = "drop" }, nil, { engage = true })
    assert.equal(1, r.kept) -- $identify passes
    r = run('{"$set":{"a":1},"$token":"t"}', { unknown = "drop" })
    assert.equal(0, r.kept) -- elsewhere a nameless event is unknown
  end)

  it("judges schemas only for events in enforcement_mode reject, unless schema_scope is all", function()
    local body = '[{"event":"checkout","properties":{"order_id":"A-1"}},{"event":"order","properties":{}},'
      .. '{"event":"checkout","properties":{"order_id":"17"}}]'
    local r = run(body, { schema = "drop" })
    assert.same({ 2, 1 }, { r.kept, #r.removed })
    local p = props_of(r.removed[1].text)
    assert.equal("schema", p["$taxonomy_violation"])
    assert.equal("order_id", p["$taxonomy_violation_detail"][1].property)
    r = run(body, { schema = "drop" }, nil, nil, { schema_scope = "all" })
    assert.same({ 1, 2 }, { r.kept, #r.removed })
  end)

  describe("the project, by the token where PostHog reads it", function()
    local other = index_of({ { name = "mystery", verified = true } })
    local projects = { phc_a = IDX, phc_b = other }
    local policy = { unknown = "drop" }

    it("a batch's api_key or token", function()
      local r = run('{"api_key":"phc_b","batch":[{"event":"mystery","token":"phc_a"}]}', policy, projects)
      assert.same({ "phc_b", 1 }, { r.project, r.kept })
      r = run('{"token":" phc_a ","batch":[{"event":"mystery"}]}', policy, projects)
      assert.same({ "phc_a", 0 }, { r.project, r.kept })
    end)

    it("else the one token of the events: token, $token, api_key, then properties.token", function()
      for _, body in ipairs {
        '[{"event":"mystery","token":"phc_b"}]', '[{"event":"mystery","$token":"phc_b"}]',
        '[{"event":"mystery","api_key":"phc_b"}]', '[{"event":"mystery","properties":{"token":"phc_b"}}]',
        '[{"event":"mystery","properties":{"token":"phc_b"}},{"event":"mystery"}]',
      } do
        assert.equal("phc_b", run(body, policy, projects).project, body)
      end
    end)

    it("the bearer token of capture v1", function()
      assert.equal("phc_b", run('{"batch":[{"event":"mystery"}]}', policy, projects, { bearer = "phc_b" }).project)
    end)

    it("trims tokens as PostHog compares them, in linear time whatever white space they hold", function()
      assert.equal("phc_b", run('{"batch":[{"event":"mystery"}]}', policy, projects, { bearer = " \tphc_b  " }).project)
      assert.is_nil(run('{"batch":[{"event":"mystery"}]}', policy, projects, { bearer = " \t " }).project)
      -- a megabyte of white space inside a token (a trim by "^%s*(.-)%s*$" would take minutes)
      local inner = "phc_a" .. (" "):rep(2 ^ 20) .. "x"
      local r = run('[{"event":"mystery","token":"  ' .. inner .. ' "}]', policy, projects)
      assert.same({ nil, { ["unknown_token/pass"] = 1 } }, { r.project, r.counts })
      projects[inner] = other
      r = run('[{"event":"mystery","token":"  ' .. inner .. ' "}]', policy, projects)
      projects[inner] = nil
      assert.equal(inner, r.project)
    end)

    it("no token, several tokens or a token this edge does not serve: unknown_token", function()
      for _, body in ipairs {
        '[{"event":"mystery"}]', '[{"event":"mystery","token":"phc_a"},{"event":"x","token":"phc_b"}]',
        '[{"event":"mystery","token":"phc_zzz"}]',
      } do
        local n = select(2, body:gsub('"event"', ""))
        local r = run(body, policy, projects)
        assert.same({ nil, n, { ["unknown_token/pass"] = n } }, { r.project, r.kept, r.counts }, body)
        r = run(body, policy, projects, nil, { unknown_token = "drop" })
        assert.same({ 0, "unknown_token", n }, { r.kept, r.removed[1].class, #r.removed })
      end
    end)

    it("a project not loaded yet: not ready, nothing judged", function()
      local r = run('[{"event":"mystery","token":"phc_c"}]', policy, { phc_c = false })
      assert.same({ true, 1 }, { r.not_ready, r.kept })
    end)
  end)

  it("forwards the original untouched when a rewritten body does not scan back to the expected events", function()
    local rewrite = require "posthog.event_definitions.edge.rewrite"
    local build = rewrite.build
    rewrite.build = function(...)
      local body, kept = build(...)
      return body and body:gsub('"signup"', '"signup","extra":1'), kept -- a rewrite gone wrong
    end
    finally(function() rewrite.build = build end)
    local body = '[{"event":"mystery"},{"event":"signup"}]'
    local r = run(body, { unknown = "drop" })
    assert.same({ true, nil, 2, 0 }, { r.rewrite_failed, r.body, r.kept, #r.removed })
  end)

  it("refuses what it cannot read, with the reason, and caps the events", function()
    local c = context(settings_of({}, { max_events = 2 }))
    local none, reason = decide.run('[{"event":"a"},', c)
    assert.same({ nil, "json" }, { none, reason })
    none, reason = decide.run("[{},{},{}]", c)
    assert.is_nil(none)
    assert.equal("too_many_events", reason)
  end)
end)

describe("edge decide.run, property: every event forwarded or taken out exactly once", function()
  local NAMES = { "signup", "page_viewed", "junk_event", "checkout", "order", "mystery", "other_unknown",
    "$pageview", "$autocapture", "survey shown", "Application Opened", false }
  local PROPS = { nil, "null", "{}", '{"order_id":17}', '{"order_id":"x","b":[1,{"c":null}]}', '"text"', "5",
    '[1,2]', '{"s":"caf\\u00e9 \\"q\\"","n":-0.0e+0,"token":"phc_a"}' }
  local ACTIONS = { "pass", "tag", "drop", "reject" }
  local SPACES = { "", " ", "\n\t", "  " }

  local function pick(list) return list[math.random(#list)] end

  -- A random event text.
  local function event()
    local fields = {}
    local name = pick(NAMES)
    if name then fields[#fields + 1] = '"event":' .. (name == "signup" and '"sign\\u0075p"' or ('"' .. name .. '"')) end
    local p = PROPS[math.random(#PROPS + 1)]
    if p then fields[#fields + 1] = '"properties":' .. p end
    if math.random(4) == 1 then fields[#fields + 1] = '"timestamp":"2026-01-01T00:00:00Z"' end
    if #fields == 0 then fields[1] = '"distinct_id":"d"' end
    for i = #fields, 2, -1 do -- shuffled keys
      local j = math.random(i)
      fields[i], fields[j] = fields[j], fields[i]
    end
    local sep = pick(SPACES)
    return "{" .. sep .. table.concat(fields, "," .. sep) .. sep .. "}"
  end

  -- A random body of `n` events in a random form; returns it and the event texts.
  local function body_of(n)
    local events = {}
    for i = 1, n do events[i] = event() end
    local sep = "," .. pick(SPACES)
    local form = n == 1 and pick { "single", "array", "batch" } or pick { "array", "batch" }
    if form == "single" then return pick(SPACES) .. events[1] .. pick(SPACES), events end
    local array = "[" .. pick(SPACES) .. table.concat(events, sep) .. pick(SPACES) .. "]"
    if form == "array" then return array, events end
    return '{"api_key":"phc_x", "batch":' .. array .. ',"sent_at":"t"}', events
  end

  local function random_policy()
    local policy = {}
    for _, class in ipairs { "unknown", "hidden", "unverified", "schema" } do
      if math.random(5) > 1 then policy[class] = pick(ACTIONS) end
    end
    if math.random(3) == 1 then policy["$pageview"] = pick(ACTIONS) end
    if math.random(3) == 1 then policy["survey shown"] = pick(ACTIONS) end
    return policy
  end

  -- The decoded event with the edge's tags removed (and properties kept aside put back).
  local function untagged(text)
    local e = assert(evdefs.decode(text), text)
    if type(e.properties) == "table" and e.properties["$taxonomy_original_properties"] ~= nil then
      e.properties = e.properties["$taxonomy_original_properties"]
    elseif type(e.properties) == "table" then
      e.properties["$taxonomy_violation"], e.properties["$taxonomy_violation_detail"] = nil, nil
      if next(e.properties) == nil then e.properties = nil end
    end
    return e
  end

  local function same_event(a_text, b_text)
    assert.same(untagged(a_text), untagged(b_text))
  end

  -- The event texts of a forwarded body, byte for byte.
  local function texts_of(body)
    local form, ev, n = edge_core.scan(body)
    assert(form, "the forwarded body does not scan: " .. body)
    local out = {}
    for i = 0, n - 1 do out[#out + 1] = body:sub(ev[i * edge_core.FIELDS + 1], ev[i * edge_core.FIELDS + 2]) end
    return out
  end

  it("holds for 1,500 random bodies and policies", function()
    math.randomseed(2026)
    for round = 1, 1500 do
      local body, events = body_of(math.random(1, 7))
      local s = settings_of(random_policy(), { schema_scope = pick { "reject", "all" } })
      local r, why = decide.run(body, context(s))
      assert(r, why)
      local where = "round " .. round .. ": " .. body
      assert.is_nil(r.rewrite_failed, where)
      local forwarded = events -- untouched
      if r.rejected or r.kept == 0 then
        forwarded = {}
      elseif r.body then
        assert(evdefs.decode(r.body) ~= nil, "invalid JSON forwarded: " .. r.body)
        forwarded = texts_of(r.body)
      end
      assert.equal(r.kept, #forwarded, where)
      local f, q = 1, 1
      for i, text in ipairs(events) do
        local fwd, out = forwarded[f], r.removed[q]
        if fwd == text then
          f = f + 1 -- passed, byte for byte
        elseif fwd and fwd:find('"$taxonomy_violation":', 1, true) and pcall(same_event, fwd, text) then
          f = f + 1 -- tagged: the tag is the only change
        else
          assert(out, where .. ": event " .. i .. " neither forwarded nor taken out")
          assert(evdefs.decode(out.text) ~= nil, "invalid JSON taken out: " .. out.text)
          same_event(out.text, text)
          q = q + 1
        end
      end
      assert.equal(#forwarded + 1, f, where .. ": more forwarded than came in")
      assert.equal(#r.removed + 1, q, where .. ": more taken out than came in")
    end
  end)
end)
