-- edge/schema.lua, edge/datetime.lua and edge/js.lua on every interpreter: PostHog's schema
-- enforcement of one event as its ingestion judges it, on the edge's representation of the
-- properties (core.props: kinds, values, numbers as JSON text), never stricter than PostHog.
--
-- The verdicts below are PostHog's own. Sources (PostHog/posthog, read through the search index):
-- * nodejs/src/ingestion/event-preprocessing/validate-event-schema.test.ts as of PR #49168
--   ("schema value validation"; stored version id 53984770436, its commit not shown by the index);
--   its type-coercion cases are the same in upstream 21883ea0ead2d05b4a7b1d301e971c90cb789a6b.
-- * nodejs/src/ingestion/event-preprocessing/clickhouse-datetime-parser.test.ts @ 5a75b3c00be5.
-- * Facts marked "Node" were printed by Node 20 (String(), Number(), JSON) and by PostHog's
--   isValidClickHouseDateTime (clickhouse-datetime-parser.ts @ f273f02d6fea) run under Node.
local schema = require "posthog.event_definitions.edge.schema"
local datetime = require "posthog.event_definitions.edge.datetime"
local js = require "posthog.event_definitions.edge.js"
local core = require "posthog.event_definitions.edge.core"
local evdefs = require "posthog.event_definitions"
local cases = require "support.edge_schema_cases"
local model = require "support.edge_schema_model"

-- The errors the edge gives for properties JSON text (nil: no properties object) against groups,
-- through every step it takes: compile, JSON in the shared dict, decode, core.props, check.
local function judge(groups, props)
  local compiled = schema.compile(groups)
  if not compiled then return nil end
  compiled = assert(evdefs.decode(assert(evdefs.encode(compiled))))
  local kinds, values = {}, {}
  if props then kinds, values = assert(core.props(props, 1, #props)) end
  return schema.check(compiled, kinds, values)
end

-- PostHog's test helper schema(event, [[name, types]], [[name, ruleSets]]) as property groups:
-- one group per type and one per rule set, each requiring the property.
local function groups_of(types_by_name, rules_by_name)
  local groups = {}
  for name, types in pairs(types_by_name) do
    for _, t in ipairs(types) do
      groups[#groups + 1] = { properties = { { name = name, property_type = t, is_required = true } } }
    end
  end
  for name, sets in pairs(rules_by_name or {}) do
    for _, rules in ipairs(sets) do
      groups[#groups + 1] = { properties = { { name = name, property_type = types_by_name[name][1],
        is_required = true, validation_rules = rules } } }
    end
  end
  return groups
end

local function reasons(errors)
  local out = {}
  for _, e in ipairs(errors or {}) do out[#out + 1] = e.property .. ":" .. e.reason end
  return table.concat(out, " ")
end

describe("edge schema: PostHog's validate-event-schema cases", function()
  it("gives PostHog's verdict for each case of its test file", function()
    for _, c in ipairs(cases.posthog) do
      local got = reasons(judge(groups_of(c.schema, c.rules), c.props))
      assert(got == c.expect, ("%s: PostHog %q, edge %q"):format(tostring(c.props), c.expect, got))
    end
  end)

  it("reports errors as PostHog's warning lists them", function()
    local function detail(groups, props) return schema.detail(assert(judge(groups, props))) end
    assert.equal('[{"property":"required_prop","reason":"missing_required"}]',
      detail(groups_of { required_prop = { "String" } }, "{}"))
    assert.equal('[{"property":"numeric_prop","reason":"type_mismatch","expectedTypes":["Numeric"],'
      .. '"actualValue":"not-a-number"}]',
      detail(groups_of { numeric_prop = { "Numeric" } }, '{"numeric_prop":"not-a-number"}'))
    assert.equal("field1:missing_required field2:type_mismatch",
      reasons(judge(groups_of { field1 = { "String" }, field2 = { "Numeric" } }, '{"field2":"not-numeric"}')))
    assert.equal('{"nested":"object"}',
      judge(groups_of { prop = { "Boolean" } }, '{"prop":{"nested":"object"}}')[1].actualValue)
    local err = judge(groups_of({ status = { "String" } }, { status = { { enum = { "active", "pending" } } } }),
      '{"status":"invalid"}')[1]
    assert.same({ property = "status", reason = "value_validation_failed", actualValue = "invalid",
      validationDetail = "value must be one of: active, pending" }, err)
    assert.equal('[{"property":"a\\"\\\\\\n\\u0001","reason":"value_validation_failed",'
      .. '"actualValue":"\226\128\168x\\"",'
      .. '"validationDetail":"value must be >= 1 and < 2"}]',
      schema.detail { { property = 'a"\\\n\1', reason = "value_validation_failed", actualValue = "\226\128\168x\"",
        validationDetail = "value must be >= 1 and < 2" } })
    -- types sorted and deduplicated, errors in the order of the property names
    local errors = judge(groups_of { b = { "Numeric", "Boolean", "Numeric" }, a = { "Object" } }, '{"a":1,"b":"x"}')
    assert.equal("a:type_mismatch b:type_mismatch", reasons(errors))
    assert.same({ "Boolean", "Numeric" }, errors[2].expectedTypes)
  end)
end)

describe("edge schema: PostHog's ClickHouse DateTime cases", function()
  it("takes what isValidClickHouseDateTime takes and refuses what it refuses", function()
    for _, s in ipairs(cases.datetime_valid) do assert(datetime.valid(s), s) end
    for _, s in ipairs(cases.datetime_invalid) do assert(not datetime.valid(s), s) end
  end)

  it("takes any number and refuses other kinds for a DateTime property", function()
    local g = groups_of { d = { "DateTime" } }
    for _, v in ipairs { "1609459200", "0", "-1000", "1.5", "1e400" } do
      assert.is_nil(judge(g, '{"d":' .. v .. "}"), v)
    end
    for _, v in ipairs { "{}", "[]", "true", "false" } do
      assert.equal("d:type_mismatch", reasons(judge(g, '{"d":' .. v .. "}")), v)
    end
    assert.equal("d:missing_required", reasons(judge(g, '{"d":null}')))
  end)

  it("reads the string after JavaScript's trim, and characters as UTF-16 units", function()
    assert.is_true(datetime.valid("\226\128\168\t2021-01-01\227\128\128\239\187\191"))
    assert.is_true(datetime.valid("2017\195\16901\195\16902")) -- any one-unit delimiter after the year (Node)
    assert.is_false(datetime.valid("2017\240\159\152\12801\240\159\152\12802")) -- two units (Node)
    assert.is_false(datetime.valid("2021-01-01\194\173")) -- U+00AD is not white space
    -- more of the parser's paths (Node)
    for s, valid in pairs { ["10:00 24-Dec,2017"] = false, ["10:00 24-Dec 2017"] = true, ["2017 123456"] = true,
      ["24-Dec"] = true, ["2017 24"] = false, ["1744042005."] = true, ["1640649600123.5"] = false } do
      assert(datetime.valid(s) == valid, s)
    end
  end)

  it("takes 29 February without a year, whose answer depends on the day PostHog runs", function()
    assert.is_true(datetime.valid("29 Feb"))
    assert.is_true(datetime.valid("0000-02-29"))
    assert.is_false(datetime.valid("2019-02-29"))
    assert.is_true(datetime.valid("2024-02-29"))
    assert.is_false(datetime.valid("30 Feb"))
  end)

  it("takes every date written in a layout ClickHouse reads (generated)", function()
    math.randomseed(64)
    for _ = 1, 3000 do
      local s = model.generated_date(math.random)
      assert(datetime.valid(s), js.quote(s))
    end
  end)
end)

describe("edge schema: the edge's representation of values", function()
  local enum = function(list) return groups_of({ p = { "String" } }, { p = { { enum = list } } }) end
  local not_enum = function(list) return groups_of({ p = { "String" } }, { p = { { ["not"] = { enum = list } } } }) end

  it("compares a number's JSON text as String(JSON.parse(text))", function()
    for text, js_string in pairs { ["17.0"] = "17", ["1E2"] = "100", ["-0"] = "0", ["2.50e1"] = "25",
      ["1e21"] = "1e+21",
      ["0.000001"] = "0.000001", ["1e-7"] = "1e-7", ["12345678901234567890"] = "12345678901234567000" } do
      assert.is_nil(judge(enum { js_string }, '{"p":' .. text .. "}"), text)
      assert.equal("p:value_validation_failed", reasons(judge(not_enum { js_string }, '{"p":' .. text .. "}")), text)
      assert.equal("p:value_validation_failed", reasons(judge(enum { text .. "x" }, '{"p":' .. text .. "}")), text)
    end
    assert.equal("p:type_mismatch", reasons(judge(groups_of { p = { "Numeric" } }, '{"p":1e400}')))
    assert.equal("p:type_mismatch", reasons(judge(groups_of { p = { "Numeric" } }, '{"p":-1e400}')))
    assert.is_nil(judge(groups_of({ p = { "Numeric" } }, { p = { { maximum = 100 } } }), '{"p":1E2}'))
    assert.equal("p:value_validation_failed",
      reasons(judge(groups_of({ p = { "Numeric" } }, { p = { { maximum = 100 } } }), '{"p":100.5}')))
  end)

  it("compares other values as String(value): booleans, objects, arrays (Node)", function()
    assert.is_nil(judge(enum { "true" }, '{"p":true}'))
    assert.is_nil(judge(enum { "[object Object]" }, '{"p":{"a":1}}'))
    assert.is_nil(judge(enum { "1e+21,x,,2,3" }, '{"p":[1e21,"x",null,[2,3]]}'))
    assert.equal("p:value_validation_failed", reasons(judge(enum { "[1,2]" }, '{"p":[1,2]}')))
    local bounded = groups_of({ p = { "String" } }, { p = { { minimum = 0 } } })
    assert.equal("p:value_validation_failed", reasons(judge(bounded, '{"p":true}')))
  end)

  it("reads strings unescaped, trims as JavaScript does, and takes the last of repeated keys", function()
    assert.is_nil(judge(enum { "active" }, '{"p":"\\u0061ctive"}'))
    assert.is_nil(judge(groups_of { p = { "Numeric" } }, '{"p":"\\u00a0 42\\u3000\\ufeff"}'))
    assert.equal("p:type_mismatch", reasons(judge(groups_of { p = { "Numeric" } }, '{"p":"\\u00ad42"}')))
    assert.is_nil(judge(groups_of { p = { "Numeric" } }, '{"p":"x","p":7}'))
    assert.equal("p:missing_required", reasons(judge(groups_of { p = { "Numeric" } }, '{"p":7,"p":null}')))
    assert.equal('{"1":[1,null,"\195\169"],"b":2,"a":{}}',
      judge(groups_of { p = { "Numeric" } },
        '{"p": {"b" : 1.0, "1": [1.00, null, "\\u00e9"], "a": {}, "b": 2}}')[1].actualValue)
  end)

  it("passes where capture may move a number by a few ulps before PostHog compares it", function()
    -- capture re-serializes events; serde_json's default float parse is exact only for small cases
    local near = '{"p":0.30000000000000004}'
    assert.is_nil(judge(groups_of({ p = { "Numeric" } }, { p = { { maximum = 0.3 } } }), near))
    assert.is_nil(judge(not_enum { "0.30000000000000004" }, near))
    assert.equal("p:value_validation_failed",
      reasons(judge(groups_of({ p = { "Numeric" } }, { p = { { maximum = 0.2 } } }), near)))
    assert.equal("p:value_validation_failed", reasons(judge(not_enum { "0.5" }, '{"p":0.5}')))
    -- integers that fit 64 bits stay exact (Node: String(18446744073709551615) is "18446744073709552000")
    assert.equal("p:value_validation_failed",
      reasons(judge(not_enum { "18446744073709552000" }, '{"p":18446744073709551615}')))
    assert.is_nil(judge(not_enum { "-9223372036854776000" }, '{"p":-9223372036854775809}'))
  end)

  it("sees what a JavaScript object inherits: an absent `constructor` is a function, not missing", function()
    assert.is_nil(judge(groups_of { constructor = { "String" } }, "{}"))
    local err = judge(groups_of { constructor = { "Numeric" } }, "{}")[1]
    assert.same({ "type_mismatch", "function Object() { [native code] }" }, { err.reason, err.actualValue })
    assert.is_nil(judge(groups_of { __proto__ = { "Object" } }, "{}"))
    assert.equal("toString:missing_required",
      reasons(judge(groups_of { toString = { "String" } }, '{"toString":null}')))
    assert.equal("prop:missing_required", reasons(judge(groups_of { prop = { "String" } }, nil)))
  end)
end)

describe("edge schema: compile", function()
  local function walk_plain(v, path)
    assert(type(v) ~= "function" and type(v) ~= "userdata", path)
    if type(v) == "table" then
      assert.is_nil(getmetatable(v), path)
      for k, x in pairs(v) do walk_plain(x, path .. "." .. tostring(k)) end
    end
  end

  it("gives plain data, or nil when no group requires a property", function()
    assert.is_nil(schema.compile {})
    assert.is_nil(schema.compile { { properties = { { name = "a", property_type = "String", is_required = false } } } })
    local compiled = schema.compile(groups_of({ a = { "Numeric", "String" } },
      { a = { { enum = { "x" } }, { minimum = 1 } } }))
    walk_plain(compiled, "compiled")
    assert.same({ props = { { name = "a", types = { "Numeric", "String" }, any = true,
      detail = "value must be one of: x",
      rules = { { enum = { x = true } }, { range = true, min = 1 } } } } }, compiled)
  end)

  it("keeps rule sets of different groups apart: a value passes when one set takes it", function()
    local g = groups_of({ s = { "String" } },
      { s = { { enum = { "active", "pending" } }, { enum = { "cancelled" } } } })
    assert.is_nil(judge(g, '{"s":"active"}'))
    assert.is_nil(judge(g, '{"s":"cancelled"}'))
    assert.equal("s:value_validation_failed", reasons(judge(g, '{"s":"unknown"}')))
  end)

  it("counts rules of required rows; a group with empty rules takes every value; null rules add none", function()
    local function g(...) return { properties = { ... } } end
    local strict = { name = "n", property_type = "Numeric", is_required = true, validation_rules = { maximum = 10 } }
    assert.equal("n:value_validation_failed", reasons(judge({ g(strict),
      g { name = "n", property_type = "Numeric", is_required = true } }, '{"n":11}')))
    assert.is_nil(judge({ g(strict), g { name = "n", property_type = "Numeric", is_required = true,
      validation_rules = {} } }, '{"n":11}'))
    -- an optional row's rules join as an alternative (a later state of PostHog's change counts them)
    assert.is_nil(judge({ g(strict), g { name = "n", property_type = "Numeric", is_required = false,
      validation_rules = { minimum = 11 } } }, '{"n":11}'))
    assert.is_nil(judge({ g { name = "n", property_type = "Numeric", is_required = false,
      validation_rules = { maximum = 10 } } }, '{"n":11}'))
    -- only required rows give types
    assert.equal("n:type_mismatch",
      reasons(judge({ g(strict), g { name = "n", property_type = "String" } }, '{"n":"x"}')))
  end)

  it("follows JavaScript where rules are odd, and passes where PostHog would throw", function()
    local function one(rules, props) return judge(groups_of({ p = { "String" } }, { p = { rules } }), props) end
    assert.equal("p:value_validation_failed", reasons(one({ enum = { 42 } }, '{"p":42}'))) -- includes() is strict
    assert.is_nil(one({ minimum = "5" }, '{"p":"6"}')) -- "5" compares as 5
    assert.equal("p:value_validation_failed", reasons(one({ minimum = "5" }, '{"p":"4"}')))
    assert.is_nil(one({ minimum = "abc" }, '{"p":"4"}')) -- NaN bound: no limit, but a number is needed
    assert.equal("p:value_validation_failed", reasons(one({ minimum = "abc" }, '{"p":"x"}')))
    assert.is_nil(one({ minimum = 0 }, '{"p":""}')) -- Number("") is 0
    assert.is_nil(one({ enum = "abcdef" }, '{"p":"zz"}')) -- PostHog would match substrings
    assert.is_nil(one({ enum = { a = 1 } }, '{"p":"zz"}')) -- PostHog would throw
    assert.is_nil(one({ enum = {} }, '{"p":"zz"}')) -- [] or {}: not told apart
    assert.is_nil(one({ other = 1 }, '{"p":"zz"}'))
    assert.equal("p:value_validation_failed", reasons(one({ minimum = 1e308 * 10 }, '{"p":"5"}')))
  end)
end)

describe("edge schema: JavaScript semantics (Node)", function()
  it("writes numbers as Number::toString does", function()
    for x, s in pairs(model.number_strings) do assert.equal(s, js.number_to_string(x)) end
    assert.equal("0", js.number_to_string(-0.0))
  end)

  it("reads strings as Number() does", function()
    for s, x in pairs(model.string_numbers) do
      local got = js.to_number(s)
      assert(got == x or (x ~= x and got ~= got), js.quote(s) .. " -> " .. tostring(got))
    end
  end)
end)

describe("edge schema: never stricter than PostHog (generated)", function()
  it("flags a property only when a model of PostHog's code on Node's facts flags it", function()
    math.randomseed(6464)
    for n = 1, 1500 do
      local groups, props, exact, values = model.random_event(math.random)
      local mine, posthog = reasons(judge(groups, props)), model.verdict(groups, values)
      local why = ("#%d %s %s: edge %q, PostHog %q"):format(n, evdefs.encode(groups), props, mine, posthog)
      if exact then
        assert(mine == posthog, why)
      else
        for flagged in mine:gmatch("(%S+):") do assert(posthog:find(flagged .. ":", 1, true), why) end
      end
    end
  end)
end)
