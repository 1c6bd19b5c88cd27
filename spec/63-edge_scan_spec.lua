-- The edge's scanner (posthog.event_definitions.edge.core: edge/src/scan.c and props.c), on every
-- interpreter: the byte ranges the edge rewrites by, names and tokens as PostHog's capture reads
-- them, the properties value of every kind, the event cap, and every way a body is refused (so
-- that a body the edge cannot read is never rewritten). The scan's cases run twice: with yajl
-- (edge_core.scan_yajl) and with simdjson's scanner registered (edge/src/simdjson), which must
-- answer the same; the simdjson scanner reads the SDKs' bodies itself.
local edge_core = require "posthog.event_definitions.edge.core"
local sdk = require "support.sdk_bodies"
local run_child = require "spec.support.child"

local F = edge_core.FIELDS
local simdjson_built = pcall(require, "posthog.event_definitions.edge.simdjson")
local scanners = { { "yajl", edge_core.scan_yajl } }
if simdjson_built then scanners[2] = { "simdjson", edge_core.scan } end

for _, scanner in ipairs(scanners) do
local scan_with = scanner[2]

-- The events of a scan as tables.
local function scan(body, max)
  local form, ev, n, api_key, token = scan_with(body, max)
  if not form then return nil, ev, n end
  local out = {}
  for i = 0, n - 1 do
    local b = i * F
    local vf, vl = ev[b + 4], ev[b + 5]
    out[#out + 1] = { text = body:sub(ev[b + 1], ev[b + 2]), name = ev[b + 3],
      props = vl > 0 and body:sub(vf, vl) or false,
      pkind = ev[b + 6], pkeys = ev[b + 7], ekeys = ev[b + 8], token = ev[b + 9], dtoken = ev[b + 10],
      api_key = ev[b + 11], ptoken = ev[b + 12] }
  end
  return form, out, api_key, token
end

-- Why a body is refused (nil when it is read).
local function refusal(body, max)
  local form, reason = scan_with(body, max)
  if form then return nil end
  return reason
end

describe("edge core.scan (" .. scanner[1] .. ")", function()
  it("finds a single event object, with its properties range and key counts", function()
    local body = '  {"event":"a", "properties": {"x": 1, "y": {"z": [2]}}, "timestamp": 5}\n'
    local form, ev = scan(body)
    assert.equal("single", form)
    assert.same({ { text = body:sub(3, -2), name = "a", props = '{"x": 1, "y": {"z": [2]}}', pkind = 1, pkeys = 2,
      ekeys = 3, token = false, dtoken = false, api_key = false, ptoken = false } }, ev)
  end)

  it("gives the properties value of every kind: object, null, absent, string, number, array", function()
    local form, ev = scan('[ {"properties":{},"event":"b"} ,\n\t{"event":"c"},{"event":5,"properties":null},'
      .. '{"event":"d","properties":"s\\"}"},{"event":"e","properties": -1.5e3 },{"event":"f","properties":[1,{}]}]')
    assert.equal("array", form)
    local got = {}
    for i, e in ipairs(ev) do got[i] = { e.name, e.props, e.pkind, e.pkeys } end
    assert.same({ { "b", "{}", 1, 0 }, { "c", false, 0, 0 }, { false, "null", 2, 0 }, { "d", '"s\\"}"', 3, 0 },
      { "e", "-1.5e3", 3, 0 }, { "f", "[1,{}]", 3, 0 } }, got)
  end)

  it("finds the events of {\"batch\": [...]} among other keys; nested objects named event are ignored", function()
    local body = '{"api_key":"k","batch":[{"event":"a","properties":{"event":"not me","q":[{"event":"x"}]}},'
      .. '{"event":"b"}],"sent_at":"t"}'
    local form, ev, api_key, token = scan(body)
    assert.equal("batch", form)
    assert.same({ "k", false }, { api_key, token })
    assert.same({ "a", "b" }, { ev[1].name, ev[2].name })
    assert.equal('{"event":"not me","q":[{"event":"x"}]}', ev[1].props)
    assert.equal(2, ev[1].pkeys)
  end)

  it("reads tokens where PostHog's capture reads them: the batch's, the event's, properties.token", function()
    local _, ev, api_key, token = scan('{"token":"T","batch":[{"event":"a","token":"t1","properties":{"token":"p1"}},'
      .. '{"event":"b","$token":"t2","properties":{"x":{"token":"nested"}}},{"event":"c","api_key":"t3"}]}')
    assert.same({ false, "T" }, { api_key, token })
    assert.same({ "t1", false, false, "p1" }, { ev[1].token, ev[1].dtoken, ev[1].api_key, ev[1].ptoken })
    assert.same({ false, "t2", false, false }, { ev[2].token, ev[2].dtoken, ev[2].api_key, ev[2].ptoken })
    assert.same({ false, false, "t3", false }, { ev[3].token, ev[3].dtoken, ev[3].api_key, ev[3].ptoken })
    local form, single, ak = scan('{"event":"s","api_key":"a","properties":{"token":5,"t":"x"}}')
    assert.equal("single", form)
    assert.equal("a", ak)
    assert.same({ "a", false }, { single[1].api_key, single[1].ptoken })
  end)

  it("reads a nameless object as one event (PostHog's engage), not an empty one", function()
    local form, ev = scan('{"$set":{"a":1},"$token":"x","$distinct_id":"d"}')
    assert.equal("single", form)
    assert.same({ false, "x", 3 }, { ev[1].name, ev[1].dtoken, ev[1].ekeys })
    assert.equal("json", refusal("{}"))
  end)

  it("reads names as PostHog does: escapes decoded, the last of repeated keys", function()
    local _, ev = scan('[{"event":"sign\\u0075p"},{"event":"first","event":"second"},{"ev\\u0065nt":"esc"}]')
    assert.same({ "signup", "second", "esc" }, { ev[1].name, ev[2].name, ev[3].name })
  end)

  it("the last properties key counts, whatever the kinds", function()
    local _, ev = scan('[{"event":"a","properties":{"x":1},"properties":null},{"event":"b","properties":5,'
      .. '"properties":{"y":2,"z":3}}]')
    assert.same({ "null", 2 }, { ev[1].props, ev[1].pkind })
    assert.same({ '{"y":2,"z":3}', 1, 2 }, { ev[2].props, ev[2].pkind, ev[2].pkeys })
  end)

  it("takes escaped surrogate pairs (as Python's json.dumps writes emoji) and escaped backslashes", function()
    local _, ev = scan('[{"event":"smile \\ud83d\\ude00","properties":{"p":"\\\\ud800","q":"\\\\\\u00e9"}}]')
    assert.equal("smile \240\159\152\128", ev[1].name)
  end)

  it("keeps numbers of any size out of its way and counts an empty array", function()
    local _, ev = scan('[{"event":"n","properties":{"a":123456789012345678901234567890,"b":-1.5e-300}}]')
    assert.equal(2, ev[1].pkeys)
    local form, none = scan("[]")
    assert.equal("array", form)
    assert.same({}, none)
  end)

  it("stops at max_events: more events are too many, not read to the end", function()
    assert.equal("too_many_events", refusal("[{},{},{}]", 2))
    local form, ev = scan("[{},{},{}]", 3)
    assert.equal("array", form)
    assert.equal(3, #ev)
    local bomb = "[" .. ("{},"):rep(100000) .. "{}]"
    assert.equal("too_many_events", refusal(bomb, 1000))
  end)

  it("refuses what it cannot read, as json", function()
    for _, body in ipairs {
      "", "   ", "null", '"text"', "5", '{"event":"a"', '[{"event":"a"},]', '[{"event":"a"}] x',
      '{"batch":5}', '{"batch":[1]}', '[1]', '[[{"event":"a"}]]', "{}",
      '{"batch":[],"batch":[]}', '[{"event":"\255"}]', "{'event':'a'}", '[{"event":"\\udc00"}]',
      '{"batch":[{"event":"a","token":"\\ud800"}]}', '[{"event":"a","properties":{"x":"\\ud800\\u0041"}}]',
      '[{"event":"a","properties":{"x":"\\udc00\\ud800"}}]', '[{"event":"a\\ud83d"}]',
    } do
      local form, reason = scan_with(body)
      assert.is_nil(form, body)
      assert.equal("json", reason, body)
    end
  end)

  it("gives byte ranges that rebuild the body exactly (generated bodies)", function()
    math.randomseed(12)
    local pieces = { '"s"', "1", "-2.50", "true", "null", '{"k":[1,{"n":"v"}]}', "[]", '"\\"q\\" \\u00e9"' }
    for _ = 1, 200 do
      local events, texts, props = {}, {}, {}
      for i = 1, math.random(1, 8) do
        local p = {}
        for j = 1, math.random(0, 4) do p[j] = '"p' .. j .. '" : ' .. pieces[math.random(#pieces)] end
        props[i] = "{" .. table.concat(p, ",") .. "}"
        local text = '{ "event" : "e' .. i .. '", "properties":' .. props[i] .. ' }'
        events[i], texts[i] = text, text
      end
      local body = "[" .. table.concat(events, " ,\n ") .. "]"
      local form, ev = scan(body)
      assert.equal("array", form)
      assert.equal(#texts, #ev)
      for i, e in ipairs(ev) do
        assert.equal(texts[i], e.text)
        assert.equal("e" .. i, e.name)
        assert.equal(props[i], e.props)
      end
    end
  end)
end)

end

describe("edge core.scan's scanners", function()
  it("simdjson's reads every SDK's body itself, with yajl's results, and refuses what yajl refuses", function()
    if not simdjson_built then return pending("the simdjson scanner is not built") end
    local events = { { event = "signup", properties = { plan = "pro", seats = 3, ok = true, tags = { "a" } } },
      { event = "caf\195\169 \240\159\152\128", properties = sdk.object { { "token", "phc_x" }, { "n", sdk.null } } } }
    for _, name in ipairs(sdk.SDKS) do
      local text = sdk.build(name, events).text
      if not text:find("^N4Ig") then -- lz64 is not JSON
        local fast, slow = { edge_core.scan_registered(text, 100) }, { edge_core.scan_yajl(text, 100) }
        assert.is_string(fast[1], name)
        assert.same(slow, fast, name)
      end
    end
    for _, body in ipairs { '[{"event":"a"},]', '{"batch":5}', "{}", '[{"a":01}]', '[{"a":"\\x"}]', "[{},{},{}]" } do
      assert.is_nil(edge_core.scan_registered(body, 2), body)
      assert.is_nil(edge_core.scan(body, 2), body)
    end
  end)

  it("scanner() says which runs: yajl, then simdjson once its module is required", function()
    if not simdjson_built then return pending("the simdjson scanner is not built") end
    assert.equal("simdjson", edge_core.scanner())
    assert.equal(0, run_child([[
      local core = require "posthog.event_definitions.edge.core"
      assert(core.scanner() == "yajl" and core.scan_registered("[]") == nil)
      assert(require("posthog.event_definitions.edge.simdjson").scanner == "simdjson")
      assert(core.scanner() == "simdjson" and core.scan_registered("[]") == "array")
      os.exit(0)]]))
  end)
end)

describe("edge core.scan's table, join and same", function()
  it("fills the table it is given: this body's events first, the rest of the table left as it was", function()
    local into = {}
    local form, ev, n = edge_core.scan('[{"event":"a"},{"event":"b"},{"event":"c"}]', nil, into)
    assert.equal("array", form)
    assert.equal(into, ev)
    assert.equal(3, n)
    for _, scan_with in ipairs { edge_core.scan, edge_core.scan_yajl } do
      local _, again, m = scan_with('{"event":"z","properties":{}}', 10, into)
      assert.equal(into, again)
      assert.same({ 1, "z", "b" }, { m, again[3], again[F + 3] })
    end
  end)

  it("join gathers strings and byte ranges of the text in order; empty ranges add nothing", function()
    local text = "0123456789"
    assert.equal("012-56789", edge_core.join(text, { 1, 3, "-", 6, 10, 5, 4 }, 7))
    assert.equal("", edge_core.join(text, { 3, 2 }, 2))
    assert.equal("ab", edge_core.join(text, { "a", "b", "c" }, 2))
    local big = string.rep("x", 3 * 1024 * 1024) -- past the buffer the state keeps
    assert.equal(#big + 1, #edge_core.join(big, { 1, #big, "y" }, 3))
    assert.equal("12", edge_core.join(text, { 2, 3 }, 2))
    assert.is_false(pcall(edge_core.join, text, { 0, 3 }, 2))
    assert.is_false(pcall(edge_core.join, text, { 5, 11 }, 2))
    assert.is_false(pcall(edge_core.join, text, { true }, 1))
  end)

  it("same compares a byte range with another string's bytes, in place", function()
    assert.is_true(edge_core.same("xxabcxx", 3, 5, "abc", 1))
    assert.is_true(edge_core.same("abc", 1, 3, "zzabc", 3))
    assert.is_false(edge_core.same("xxabcxx", 3, 5, "abd", 1))
    assert.is_false(edge_core.same("xxabcxx", 3, 5, "ab", 1)) -- past the end of b
    assert.is_false(edge_core.same("abc", 2, 4, "bc", 1)) -- past the end of a
    assert.is_false(edge_core.same("abc", 0, 1, "ab", 1))
    assert.is_false(edge_core.same("abc", 1, 1, "ab", 0))
  end)
end)

describe("edge core.props", function()
  it("gives the JSON kind and the value of each key of one object, the last of repeated keys", function()
    local body = 'xx{"a":1,"b":"s\\u00e9","c":null,"d":[1,{"x":"y"}],"e":{"f":1},"g":true,"a2":2.50e3,"h":5,"h":null}yy'
    local kinds, values = edge_core.props(body, 3, #body - 2)
    assert.same({ a = "number", b = "string", c = "null", d = "array", e = "object", g = "boolean", a2 = "number",
      h = "null" }, kinds)
    assert.same({ a = "1", b = "s\195\169", d = '[1,{"x":"y"}]', e = '{"f":1}', g = true, a2 = "2.50e3" }, values)
  end)

  it("refuses a range that is not one JSON object", function()
    assert.is_nil(edge_core.props('{"a":1', 1, 6))
    assert.is_nil(edge_core.props("[1]", 1, 3))
    assert.is_nil(edge_core.props("{}", 0, 2))
    assert.is_nil(edge_core.props("{}", 1, 3))
    assert.is_nil(edge_core.props('{"a":"\\udc00"}', 1, 14))
  end)
end)
