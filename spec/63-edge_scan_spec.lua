-- core.scan_events and core.scan_props (src/codec/scan.c), on every interpreter: the byte ranges
-- the edge enforcement rewrites by, the names as PostHog reads them, and every way a body is
-- refused (so that a body the edge cannot read is never rewritten).
local core = require "posthog.event_definitions.core"

-- The events of a scan as tables {text, name, props, pkeys}.
local function scan(body)
  local form, ev, n = core.scan_events(body)
  if not form then return nil, ev end
  local out = {}
  for i = 0, n - 1 do
    local first, last, name, pf, pl, pk = ev[6 * i + 1], ev[6 * i + 2], ev[6 * i + 3], ev[6 * i + 4],
      ev[6 * i + 5], ev[6 * i + 6]
    out[#out + 1] = { text = body:sub(first, last), name = name, props = pf > 0 and body:sub(pf, pl) or false,
      pkeys = pk }
  end
  return form, out
end

describe("core.scan_events", function()
  it("finds a single event object, with its properties range and key count", function()
    local body = '  {"event":"a", "properties": {"x": 1, "y": {"z": [2]}}, "timestamp": 5}\n'
    local form, ev = scan(body)
    assert.equal("single", form)
    assert.same({ { text = body:sub(3, -2), name = "a", props = '{"x": 1, "y": {"z": [2]}}', pkeys = 2 } }, ev)
  end)

  it("finds each event of an array, in order, whatever the key order and white space", function()
    local form, ev = scan('[ {"properties":{},"event":"b"} ,\n\t{"event":"c"},{"event":5,"properties":null} ]')
    assert.equal("array", form)
    assert.same({
      { text = '{"properties":{},"event":"b"}', name = "b", props = "{}", pkeys = 0 },
      { text = '{"event":"c"}', name = "c", props = false, pkeys = 0 },
      { text = '{"event":5,"properties":null}', name = false, props = false, pkeys = 0 },
    }, ev)
  end)

  it("finds the events of {\"batch\": [...]} among other keys; nested objects named event are ignored", function()
    local body = '{"api_key":"k","batch":[{"event":"a","properties":{"event":"not me","q":[{"event":"x"}]}},'
      .. '{"event":"b"}],"sent_at":"t"}'
    local form, ev = scan(body)
    assert.equal("batch", form)
    assert.same({ "a", "b" }, { ev[1].name, ev[2].name })
    assert.equal('{"event":"not me","q":[{"event":"x"}]}', ev[1].props)
    assert.equal(2, ev[1].pkeys)
  end)

  it("reads names as PostHog does: escapes decoded, the last of repeated keys", function()
    local _, ev = scan('[{"event":"sign\\u0075p"},{"event":"first","event":"second"},{"ev\\u0065nt":"esc"}]')
    assert.same({ "signup", "second", "esc" }, { ev[1].name, ev[2].name, ev[3].name })
  end)

  it("keeps numbers of any size out of its way and counts an empty array", function()
    local _, ev = scan('[{"event":"n","properties":{"a":123456789012345678901234567890,"b":-1.5e-300}}]')
    assert.equal(2, ev[1].pkeys)
    local form, none = scan("[]")
    assert.equal("array", form)
    assert.same({}, none)
  end)

  it("refuses what it cannot read", function()
    for _, body in ipairs {
      "", "   ", "null", '"text"', "5", '{"event":"a"', '[{"event":"a"},]', '[{"event":"a"}] x',
      '{"batch":5}', '{"batch":[1]}', '[1]', '[[{"event":"a"}]]', '{"hello":"world"}',
      '{"batch":[],"batch":[]}', '[{"event":"\255"}]', "{'event':'a'}", '[{"event":"\\udc00"}]',
    } do
      local form, err = core.scan_events(body)
      assert.is_nil(form, body)
      assert.equal("decode", err.kind, body)
    end
  end)

  it("gives byte ranges that rebuild the body exactly (generated bodies)", function()
    math.randomseed(12)
    local pieces = { '"s"', "1", "-2.50", "true", "null", '{"k":[1,{"n":"v"}]}', "[]", '"\\"q\\" \\u00e9"' }
    for _ = 1, 200 do
      local events, texts = {}, {}
      for i = 1, math.random(1, 8) do
        local props = {}
        for j = 1, math.random(0, 4) do props[j] = '"p' .. j .. '" : ' .. pieces[math.random(#pieces)] end
        local text = '{ "event" : "e' .. i .. '", "properties":{' .. table.concat(props, ",") .. '} }'
        events[i], texts[i] = text, text
      end
      local body = "[" .. table.concat(events, " ,\n ") .. "]"
      local form, ev = scan(body)
      assert.equal("array", form)
      assert.equal(#texts, #ev)
      for i, e in ipairs(ev) do
        assert.equal(texts[i], e.text)
        assert.equal("e" .. i, e.name)
      end
    end
  end)
end)

describe("core.scan_props", function()
  it("gives the JSON kind of each value of one object", function()
    local body = 'xx{"a":1,"b":"s","c":null,"d":[1],"e":{"f":1},"g":true,"a2":1.5}yy'
    assert.same({ a = "number", b = "string", c = "null", d = "array", e = "object", g = "boolean", a2 = "number" },
      core.scan_props(body, 3, #body - 2))
  end)

  it("refuses a range that is not one JSON object", function()
    assert.is_nil(core.scan_props('{"a":1', 1, 6))
    assert.is_nil(core.scan_props("[1]", 1, 3))
    assert.is_nil(core.scan_props("{}", 0, 2))
    assert.is_nil(core.scan_props("{}", 1, 3))
  end)
end)
