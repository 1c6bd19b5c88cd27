-- The C core's JSON codec: core.encode, core.decode, core.decode_response and core.fields.
local core = require "posthog.event_definitions.core"
local run_child = require "support.child"
local decode_cases = require "support.decode_cases"

local has_integers = math.type ~= nil

-- A realistic EE definition (reference §6.4) with UserBasic objects.
local DEFINITION = [[{"id":"0190c6a2-8f4e-0000-9c1d-3f5b2a7e9d11","name":"downloaded_file",
"owner":{"id":7,"uuid":"0190c6a2-0000-0000-0000-000000000007","distinct_id":"d7","first_name":"Ada",
"last_name":"L","email":"ada@example.com","is_email_verified":true,"hedgehog_config":null,
"role_at_organization":"engineering"},"description":"","created_at":"2024-07-10T09:15:02.123456Z",
"updated_at":"2024-07-11T10:00:00Z","updated_by":null,"last_seen_at":"2024-07-11T09:59:58.500000Z",
"verified":false,"verified_at":null,"verified_by":null,"hidden":false,"enforcement_mode":"allow",
"primary_property":null,"is_action":false,"post_to_slack":false,"default_columns":[],
"media_preview_urls":[],"tags":["a","b"],"future_field":{"x":[1,null,"y"]}}]]

local function page(results)
  return '{"count":2,"next":"https://us.posthog.com/api/projects/1/event_definitions/?limit=1&offset=1",' ..
    '"previous":null,"results":[' .. table.concat(results, ",") .. '],"count_is_capped":false,"extra":1}'
end

describe("core.encode", function()
  it("encodes scalars", function()
    assert.equal("null", core.encode(nil))
    assert.equal("null", core.encode(core.null))
    assert.equal("true", core.encode(true))
    assert.equal("false", core.encode(false))
    assert.equal('"x"', core.encode("x"))
    assert.equal("42", core.encode(42))
    assert.equal("-7", core.encode(-7))
  end)

  it("writes integral floats without a fraction, on every Lua", function()
    assert.equal("1", core.encode(1.0))
    assert.equal("9007199254740992", core.encode(2 ^ 53))
    assert.equal("-9223372036854775808", core.encode(-2 ^ 63))
    assert.equal("1e+300", core.encode(1e300))
    assert.equal("[1,2,3]", core.encode({ 1.0, 2.0, 3.0 }))
  end)

  it("writes other floats so that they read back exactly", function()
    assert.equal("1.5", core.encode(1.5))
    assert.equal("0.1", core.encode(0.1))
    assert.equal(1 / 3, core.decode(core.encode(1 / 3)))
    assert.equal(2 ^ 63, core.decode(core.encode(2 ^ 63)))
  end)

  it("refuses NaN and infinity with a validation error", function()
    local s, err = core.encode(0 / 0)
    assert.is_nil(s)
    assert.same({ kind = "validation", detail = "cannot encode NaN or infinity" }, err)
    local refused = { nil, { kind = "validation", detail = "cannot encode NaN or infinity" } }
    assert.same(refused, { core.encode({ x = math.huge }) })
    assert.same(refused, { core.encode({ -math.huge }) })
  end)

  it("escapes strings and passes UTF-8 through", function()
    assert.equal([["a\"b\\c\nd\re\tf\bg\fh"]], core.encode('a"b\\c\nd\re\tf\bg\fh'))
    assert.equal([["\u0000\u0001\u001f"]], core.encode("\0\1\31"))
    assert.equal('"héllo ✓ 😀/"', core.encode("héllo ✓ 😀/"))
    local s = "quote \" newline \n ctrl \2 é"
    assert.equal(s, core.decode(core.encode(s)))
  end)

  -- issue 8: our own decoder would refuse the same bytes, and so would PostHog
  it("refuses strings and keys that are not valid UTF-8, anywhere", function()
    local string_error = { nil, { kind = "validation", detail = "cannot encode a string that is not valid UTF-8" } }
    local key_error = { nil, { kind = "validation", detail = "cannot encode a key that is not valid UTF-8" } }
    for _, bad in ipairs({ "\255", "a\195", "\195(", "\192\128", "\224\128\128", "\237\160\128",
      "\244\144\128\128", "\248\136\128\128\128", "ok\128" }) do
      assert.same(string_error, { core.encode(bad) })
      assert.same(string_error, { core.encode({ a = { b = { 1, bad } } }) })
      assert.same(key_error, { core.encode({ x = { [bad] = 1 } }) })
      assert.same(key_error, { core.encode({ [bad] = 1 }, "definition") })
      assert.same({ nil, { kind = "validation", detail = "description: not valid UTF-8" } },
        { core.encode({ description = bad }, "definition") })
      assert.same({ nil, { kind = "validation", detail = "default_columns[2] is not valid UTF-8" } },
        { core.encode({ default_columns = { "a", bad } }, "definition") })
      assert.same(string_error, { core.encode({ future = { bad } }, "definition") })
    end
    for _, good in ipairs({ "", "\0", "\127", "\194\128", "\223\191", "\224\160\128", "\237\159\191",
      "\238\128\128", "\239\191\191", "\240\144\128\128", "\244\143\191\191", "héllo ✓ 😀" }) do
      assert.is_string(core.encode({ [good] = good }), good)
    end
  end)

  it("sorts object keys bytewise", function()
    assert.equal('{"A":1,"B":2,"a":3,"b":{"x":1,"y":2}}', core.encode({ b = { y = 2, x = 1 }, a = 3, B = 2, A = 1 }))
  end)

  it("tells arrays from objects", function()
    assert.equal("[1,2,3]", core.encode({ 1, 2, 3 }))
    assert.equal("{}", core.encode({}))
    assert.equal("[]", core.encode(setmetatable({}, core.array_mt)))
    assert.equal('[null,"x"]', core.encode({ core.null, "x" }))
    local s, err = core.encode({ 1, 2, x = 3 })
    assert.is_nil(s)
    assert.equal("validation", err.kind)
    assert.equal("cannot encode a table whose keys are neither all strings nor exactly 1..n", err.detail)
    assert.is_nil((core.encode({ [1] = 1, [3] = 3 })))
    assert.is_nil((core.encode({ [true] = 1 })))
  end)

  it("encodes the known array fields as arrays when empty, in any table", function()
    assert.equal('{"default_columns":[],"excluded_properties":[],"ids":[],"names":[],"other":{},"tags":[]}',
      core.encode({ tags = {}, default_columns = {}, ids = {}, names = {}, excluded_properties = {}, other = {} }))
    assert.equal('{"x":{"ids":[]}}', core.encode({ x = { ids = {} } }))
  end)

  it("refuses values JSON cannot hold", function()
    assert.equal("cannot encode a function", select(2, core.encode({ f = print })).detail)
    assert.equal("cannot encode a userdata", select(2, core.encode(io.stdout)).detail)
  end)

  it("stops at 100 levels of nesting, and on cycles", function()
    local deep = {}
    local t = deep
    for _ = 1, 99 do t[1] = {}; t = t[1] end
    assert.is_string(core.encode(deep)) -- 100 levels
    t[1] = {}
    local s, err = core.encode(deep)
    assert.is_nil(s)
    assert.equal("cannot encode: nested deeper than 100 levels (or a cycle)", err.detail)
    local cycle = {}
    cycle.self = cycle
    assert.is_nil((core.encode(cycle)))
  end)

  it("raises on an unknown shape (a programmer error)", function()
    assert.has_error(function() core.encode({}, "nope") end)
    assert.has_error(function() core.encode() end)
  end)
end)

describe("core.encode with the definition shape", function()
  local function enc(t) return core.encode(t, "definition") end

  it("writes the writable fields, sorted, and skips read-only ones", function()
    local fetched = assert(core.decode(DEFINITION, "definition"))
    assert.equal('{"default_columns":[],"description":"","enforcement_mode":"allow",' ..
      '"future_field":{"x":[1,null,"y"]},"hidden":false,"name":"downloaded_file","owner":7,' ..
      '"post_to_slack":false,"tags":["a","b"],"verified":false}', enc(fetched))
  end)

  it("sends an owner table's id, and integral owner numbers without fraction", function()
    assert.equal('{"owner":7}', enc({ owner = { id = 7, email = "x@example.com" } }))
    assert.equal('{"owner":7}', enc({ owner = 7.0 }))
    assert.equal('{"owner":null}', enc({ owner = core.null }))
  end)

  it("accepts null where the field is nullable", function()
    assert.equal('{"description":null,"hidden":null,"primary_property":null}',
      enc({ description = core.null, hidden = core.null, primary_property = core.null }))
  end)

  it("names the field in validation errors", function()
    local cases = {
      { { tags = "a" }, "tags: expected an array of strings" },
      { { tags = { "a", 1 } }, "tags: expected an array of strings" },
      { { tags = { x = "a" } }, "tags: expected an array of strings" },
      { { tags = core.null }, "tags: expected an array of strings" },
      { { verified = "yes" }, "verified: expected a boolean" },
      { { verified = core.null }, "verified: expected a boolean" },
      { { hidden = 1 }, "hidden: expected a boolean or null" },
      { { owner = 1.5 }, "owner: expected an integer user id or null" },
      { { owner = "7" }, "owner: expected an integer user id or null" },
      { { owner = { email = "x" } }, "owner: expected an integer user id or null" },
      { { enforcement_mode = "enforce" }, 'enforcement_mode: expected "allow" or "reject"' },
      { { name = 1 }, "name: expected a string" },
      { { default_columns = { {} } }, "default_columns: expected an array of strings" },
      { { post_to_slack = "no" }, "post_to_slack: expected a boolean" },
      { "x", "definition: expected a table" },
      { { "a" }, "definition: field names must be strings" },
    }
    for _, case in ipairs(cases) do
      local s, err = enc(case[1])
      assert.is_nil(s)
      assert.same({ kind = "validation", detail = case[2] }, err)
    end
  end)

  -- issue 8: PostHog answers 400 blank on tags__N, and max_length over 255 characters
  it("refuses a blank, white-space-only or over-long tag, naming its index", function()
    local function refused(tags) return select(2, core.encode({ name = "x", tags = tags }, "definition")) end
    for _, case in ipairs({
      { { "" }, "tags[1] is blank" },
      { { "ok", "  " }, "tags[2] is blank" },
      { { "a", "b", "\t\n\r\v\f" }, "tags[3] is blank" },
      { { "\194\160" }, "tags[1] is blank" },                 -- NBSP
      { { "\227\128\128\226\128\131" }, "tags[1] is blank" }, -- ideographic and em spaces
      { { "\28\29\30\31\194\133" }, "tags[1] is blank" },   -- what str.isspace() also counts
      { { ("a"):rep(256) }, "tags[1] is longer than 255 characters" },
      { { "x", ("\195\169"):rep(256) }, "tags[2] is longer than 255 characters" },
      { { "ok\255" }, "tags[1] is not valid UTF-8" },
    }) do
      assert.same({ kind = "validation", detail = case[2] }, refused(case[1]))
    end
    -- length is counted once trimmed, in code points; zero-width space is no white space
    assert.is_string(core.encode({ tags = { "  " .. ("b"):rep(255) .. " ", ("\195\169"):rep(255), "\226\128\139" } },
      "definition"))
    assert.is_string(core.encode({ tags = {} }, "definition"))
    -- without the definition shape, core.encode writes any tags (it also serves output)
    assert.equal('{"tags":[""]}', core.encode({ tags = { "" } }))
  end)

  it("always writes tags and default_columns as arrays", function()
    assert.equal('{"default_columns":[],"tags":[]}', enc({ tags = {}, default_columns = {} }))
    assert.equal('{"tags":["x"]}', enc({ tags = { "x" } }))
  end)

  it("encodes unknown fields generically", function()
    assert.equal('{"name":"e","zzz":{"a":[1,2]}}', enc({ name = "e", zzz = { a = { 1, 2 } } }))
    assert.equal("{}", enc({}))
  end)
end)

describe("core.normalize_tag", function()
  it("trims and lower-cases tags as PostHog stores them, Unicode included", function()
    assert.equal("core", core.normalize_tag("  Core \t"))
    assert.equal("ärger", core.normalize_tag("\194\160Ärger\227\128\128")) -- NBSP and ideographic space
    assert.equal("école", core.normalize_tag("ÉCOLE"))
    assert.equal("", core.normalize_tag("   "))
    assert.equal("a\255b", core.normalize_tag("A\255B")) -- bytes that are not UTF-8 stay
  end)
end)

describe("core.decode", function()
  it("decodes any JSON value without a shape", function()
    assert.same({ a = { 1, 2, { b = "c" } }, d = true, e = false },
      core.decode('{"a":[1,2,{"b":"c"}],"d":true,"e":false}'))
    assert.equal("x", core.decode('"x"'))
    assert.equal(1.5, core.decode("1.5"))
    assert.equal(1500, core.decode("1.5e3"))
    assert.equal(core.null, core.decode("null"))
  end)

  it("keeps integers integers", function()
    local v = core.decode('{"count":306,"big":9007199254740993,"neg":-9223372036854775808,"f":2.0}')
    assert.equal(306, v.count)
    if has_integers then
      assert.equal("integer", math.type(v.count))
      assert.equal(9007199254740993, v.big)
      assert.equal("integer", math.type(v.neg))
      assert.equal(-9223372036854775807 - 1, v.neg)
      assert.equal("float", math.type(v.f))
      assert.equal("float", math.type(core.decode("9223372036854775808")))
    end
    assert.equal("306", core.encode(v.count))
  end)

  it("turns an object's null into an absent key, and keeps nulls inside arrays", function()
    local v = core.decode('{"a":null,"b":[1,null,3],"c":1}')
    assert.is_nil(v.a)
    local keys = {}
    for key in pairs(v) do keys[#keys + 1] = key end
    table.sort(keys)
    assert.same({ "b", "c" }, keys)
    assert.equal(3, #v.b)
    assert.equal(core.null, v.b[2])
    assert.equal('[1,null,3]', core.encode(v.b))
  end)

  it("gives empty arrays the array metatable so they round-trip as []", function()
    local v = core.decode('{"a":[],"b":{},"c":[1]}')
    assert.equal(core.array_mt, getmetatable(v.a))
    assert.is_nil(getmetatable(v.b))
    assert.is_nil(getmetatable(v.c))
    assert.equal('{"a":[],"b":{},"c":[1]}', core.encode(v))
  end)

  it("round-trips documents", function()
    local texts = {
      '{"a":[[],{},[[]]],"b":"x\\ny","c":-0.5,"d":[true,false,null],"e":{"f":{"g":1}}}',
      '["\\u00e9\\ud83d\\ude00",12345678901234,"\\"quoted\\""]',
    }
    for _, text in ipairs(texts) do
      local once = core.encode(core.decode(text))
      assert.equal(once, core.encode(core.decode(once)))
    end
    assert.equal('["é😀",12345678901234,"\\"quoted\\""]', core.encode(core.decode(texts[2])))
  end)

  it("returns nil and a decode error with a short detail for bad input, never raising", function()
    local cases = {
      { "", "empty input" },
      { "  \n\t ", "empty input" },
      { "[1,2", "premature EOF" },
      { '{"a":1', "premature EOF" },
      { '{"a":"b', "premature EOF" },
      { "[1,2] x", "trailing garbage" },
      { "[1,2][3]", "trailing garbage" },
      { "{'a':1}", "at line 1, column " },
      { "[1,]", "at line 1, column " },
      { '"\255\254"', "UTF8" },
      { '"\195"', "UTF8" },
      { "nul", "at line 1, column " },
      { "01", "at line 1, column " },
      { '{"a":1,}', "at line 1, column " },
    }
    for _, case in ipairs(cases) do
      local ok, v, err = pcall(core.decode, case[1])
      assert.is_true(ok)
      assert.is_nil(v)
      assert.equal("decode", err.kind)
      assert.is_string(err.detail)
      assert.matches("^decode: ", err.detail)
      assert.truthy(err.detail:find(case[2], 1, true), err.detail)
      assert.is_true(#err.detail <= 120, err.detail)
    end
  end)

  it("reports the line and column without echoing the body", function()
    local body = '{"secret_value":"' .. string.rep("s", 500) .. '", oops}'
    local err = select(2, core.decode(body)).detail
    assert.matches("at line 1, column 521$", err)
    assert.falsy(err:find("sss", 1, true))
    assert.is_true(#err <= 120)
  end)

  it("stops at 100 levels of nesting", function()
    assert.is_table(core.decode(string.rep("[", 100) .. string.rep("]", 100)))
    local v, err = core.decode(string.rep("[", 101) .. string.rep("]", 101))
    assert.is_nil(v)
    assert.same({ kind = "decode", detail = "decode: nested deeper than 100 levels" }, err)
    assert.is_nil((core.decode(string.rep('{"a":', 200) .. "1" .. string.rep("}", 200))))
  end)

  -- what yajl lets through must not be taken: the encoder would refuse to send it back
  it("refuses strings and keys that are not valid UTF-8, escapes included", function()
    for _, text in ipairs({ '"\192\128"', '"\224\128\128"', '"\237\160\128"', '"\244\144\128\128"',
      '{"\237\160\128":1}', '{"name":"\192\175"}' }) do
      local v, err = core.decode(text)
      assert.is_nil(v, text)
      assert.matches("^decode: a %a+ that is not valid UTF%-8 at line 1, column %d$", err.detail)
    end
  end)

  -- PostHog's Python writes a character beyond U+FFFF as a pair of \u escapes when it escapes
  -- (json.dumps' default) and reads a lone or unpaired one as a lone surrogate, which UTF-8
  -- cannot hold: a pair is its character, anything else refused where it is, never altered
  -- (yajl made "?" of a lone high one and U+10041 of "\ud800\u0041").
  it("decodes a surrogate pair to its character and refuses an unpaired surrogate escape", function()
    assert.equal("\240\159\152\128", core.decode('"\\ud83d\\ude00"'))
    assert.equal("?\\ud800", core.decode('"?\\\\ud800"')) -- an escaped backslash, then text
    for text, escape in pairs {
      ['"\\ud800\\u0041"'] = "\\ud800", ['"\\ud800"'] = "\\ud800", ['"x\\udc00"'] = "\\udc00",
      ['"\\ud800\\ud800"'] = "\\ud800", ['"\\ude00\\ud83d"'] = "\\ude00", ['{"\\ud800":1}'] = "\\ud800",
    } do
      local v, err = core.decode(text)
      assert.is_nil(v, text)
      assert.equal("decode", err.kind)
      assert.truthy(err.detail:find("unpaired surrogate escape (" .. escape .. ") at line 1, column ", 1, true),
        err.detail)
    end
  end)

  it("keeps the last value of a key that comes twice, as PostHog's Python reads it", function()
    assert.is_nil(core.decode('{"a":1,"a":null}').a)
    assert.equal(2, core.decode('{"a":1,"a":2}').a)
    assert.equal(core.null, core.decode('{"a":1,"a":null}', nil, true).a)
    local def = core.decode('{"id":"x","name":"a","description":"old","description":null}', "definition")
    assert.is_nil(def.description)
  end)

  it("finds a bad byte at any offset of a long ASCII string, and passes good sequences there", function()
    local ascii = ("abcdefgh"):rep(3)
    for at = 0, #ascii do
      local head, tail = ascii:sub(1, at), ascii:sub(at + 1)
      for _, bad in ipairs { "\255", "\192\128", "\237\160\128", "\226\130" } do
        local v, err = core.decode('"' .. head .. bad .. tail .. '"')
        assert.is_nil(v, at)
        assert.matches("UTF%-?8", err.detail)
        assert.is_nil(core.encode(head .. bad .. tail))
      end
      assert.equal(head .. "\226\130\172" .. tail, core.decode('"' .. head .. "\226\130\172" .. tail .. '"'))
    end
  end)

  -- issue 9: 1e400 is no double; an integer field past 64 bits is no integer
  it("refuses numbers beyond the range of a double", function()
    for _, text in ipairs({ "1e400", "-1e400", "[1,2e308]", '{"x":' .. ("9"):rep(400) .. "}",
      '{"x":' .. ("9"):rep(400) .. ".5}" }) do
      local v, err = core.decode(text)
      assert.is_nil(v, text)
      assert.same({ kind = "decode", detail = "decode: a number beyond the range of a double" }, err)
    end
    assert.equal(0, core.decode("1e-400"))
    assert.equal(1.7976931348623157e308, core.decode("1.7976931348623157e308"))
    local v, err = core.decode('{"name":"x","count":1e400}', "definition")
    assert.is_nil(v)
    assert.equal("decode", err.kind)
  end)

  it("decodes strings with escapes, controls and non-ASCII", function()
    assert.equal('a"b\\c/d\n\t\1é😀', core.decode('"a\\"b\\\\c\\/d\\n\\t\\u0001\\u00e9\\ud83d\\ude00"'))
    assert.equal("a\0b", core.decode('"a\\u0000b"'))
  end)

  -- With the simdjson module loaded (the facade loads it outside nginx) simdjson parses first and
  -- yajl takes what it refuses; fuzz/decode.lua compares the two on every input. The answer must
  -- not depend on which of them read the text: the same cases pass with simdjson registered
  -- here and, in a child process, with the core alone.
  it("answers the same with or without simdjson: numbers past uint64, \\f as space, bad text", function()
    require "posthog.event_definitions.simdjson"
    assert.is_not_nil(debug.getregistry()["posthog.event_definitions.parser.2"])
    assert.is_true(decode_cases.check(core))
    assert.equal(0, run_child('local cases = require "support.decode_cases" ' ..
      'assert(debug.getregistry()["posthog.event_definitions.parser.2"] == nil, "simdjson registered") ' ..
      'os.exit(cases.check(require "posthog.event_definitions.core") and 0 or 1)'))
  end)

  it("decodes a page of 1,000 definitions whole, every field in place", function()
    local items = {}
    for i = 1, 1000 do
      items[i] = DEFINITION:gsub('"downloaded_file"', '"event_' .. i .. '"'):gsub('"tags":%["a","b"%]',
        '"tags":["t' .. i .. '"]')
    end
    local p = assert(core.decode(page(items), "page"))
    assert.equal(1000, #p.results)
    for i = 1, 1000, 111 do
      local d = p.results[i]
      assert.equal("event_" .. i, d.name)
      assert.same({ "t" .. i }, d.tags)
      assert.equal(7, d.owner.id)
      assert.equal("y", d.future_field.x[3])
      assert.is_nil(d.updated_by)
      assert.equal(getmetatable(p.results[1].default_columns), getmetatable(d.media_preview_urls))
    end
  end)
end)

describe("core.decode with shapes", function()
  it("checks and keeps a definition", function()
    local d = assert(core.decode(DEFINITION, "definition"))
    assert.equal("downloaded_file", d.name)
    assert.equal("ada@example.com", d.owner.email)
    assert.same({ "a", "b" }, d.tags)
    assert.is_false(d.verified)
    assert.is_nil(d.updated_by)
    assert.is_nil(d.primary_property)
    assert.equal(core.null, d.future_field.x[2])
    if has_integers then assert.equal("integer", math.type(d.owner.id)) end
  end)

  it("accepts null for every field and an owner given as an id", function()
    local d = assert(core.decode('{"name":null,"tags":null,"verified":null,"owner":5,"id":null}', "definition"))
    assert.equal(5, d.owner)
    assert.is_nil(d.tags)
  end)

  it("reports a field of the wrong type", function()
    local cases = {
      { '{"verified":"yes"}', "decode: field 'verified' expected boolean" },
      { '{"tags":"a"}', "decode: field 'tags' expected array of strings" },
      { '{"tags":["a",1]}', "decode: field 'tags' expected array of strings" },
      { '{"tags":["a",null]}', "decode: field 'tags' expected array of strings" },
      { '{"tags":[["a"]]}', "decode: field 'tags' expected array of strings" },
      { '{"name":1}', "decode: field 'name' expected string" },
      { '{"id":{}}', "decode: field 'id' expected string" },
      { '{"owner":"x"}', "decode: field 'owner' expected user object or id" },
      { '{"action_id":1.5}', "decode: field 'action_id' expected integer" },
      { '{"action_id":18446744073709551616}', "decode: field 'action_id' expected integer" },
      { '{"owner":{"id":18446744073709551616}}', "decode: a user's id is not an integer" },
      { '{"owner":{"id":1e400}}', "decode: a user's id is not an integer" },
      { '{"verified_by":{"id":1.5,"email":"x"}}', "decode: a user's id is not an integer" },
      { '{"owner":18446744073709551616}', "decode: field 'owner' expected user object or id" },
      { '[]', "decode: expected a JSON object, got array" },
      { '"x"', "decode: expected a JSON object, got string" },
      { 'null', "decode: expected a JSON object, got null" },
      { '1.5', "decode: expected a JSON object, got number" },
    }
    for _, case in ipairs(cases) do
      local v, err = core.decode(case[1], "definition")
      assert.is_nil(v)
      assert.same({ kind = "decode", detail = case[2] }, err)
    end
  end)

  it("checks a page and every definition in it", function()
    local p = assert(core.decode(page({ DEFINITION, '{"id":"x","name":"y","tags":[]}' }), "page"))
    assert.equal(2, p.count)
    if has_integers then assert.equal("integer", math.type(p.count)) end
    assert.is_nil(p.previous)
    assert.matches("offset=1", p.next)
    assert.is_false(p.count_is_capped)
    assert.equal(1, p.extra)
    assert.equal(2, #p.results)
    assert.equal("y", p.results[2].name)
    assert.equal(core.array_mt, getmetatable(p.results[2].tags))

    local v, err = core.decode(page({ DEFINITION, '{"verified":1}' }), "page")
    assert.is_nil(v)
    assert.same({ kind = "decode", detail = "decode: field 'verified' expected boolean" }, err)
    local function detail(text, shape) return select(2, core.decode(text, shape)).detail end
    assert.equal("decode: field 'results' expected array of objects", detail('{"results":[null]}', "page"))
    assert.equal("decode: field 'results' expected array of objects", detail('{"results":{}}', "page"))
    assert.equal("decode: field 'count' expected integer", detail('{"count":"2","results":[]}', "page"))
    assert.equal("decode: field 'next' expected string", detail('{"next":1,"results":[]}', "page"))
    assert.equal("decode: expected a JSON object, got array", detail("[]", "page"))
  end)

  it("requires a page's results", function()
    local function detail(text) return select(2, core.decode(text, "page")).detail end
    assert.equal("decode: expected a page with results", detail("{}"))
    assert.equal("decode: expected a page with results", detail('{"count":1}'))
    assert.equal("decode: expected a page with results", detail('{"count":1,"results":null}'))
    assert.same({}, core.decode('{"results":[]}', "page").results)
  end)

  it("checks the bulk answers: updated and skipped are arrays of objects with string ids", function()
    local v = assert(core.decode('{"updated":[{"id":"a","tags":["x"]}],"skipped":[{"id":"b","reason":"Not found"}]}',
      "bulk"))
    assert.equal("a", v.updated[1].id)
    assert.same({ "x" }, v.updated[1].tags)
    assert.equal("Not found", v.skipped[1].reason)
    assert.is_table(core.decode("{}", "bulk"))
    for _, case in ipairs({
      { '{"updated":5}', "decode: updated is not an array" },
      { '{"skipped":{}}', "decode: skipped is not an array" },
      { '{"updated":[{"verified":true}]}', "decode: an item of updated has no id" },
      { '{"updated":[{"id":5}]}', "decode: an item of updated has no id" },
      { '{"updated":[{"id":null}]}', "decode: an item of updated has no id" },
      { '{"updated":[null]}', "decode: an item of updated has no id" },
      { '{"skipped":["x"]}', "decode: an item of skipped has no id" },
      { "[]", "decode: expected a JSON object, got array" },
    }) do
      local value, err = core.decode(case[1], "bulk")
      assert.is_nil(value, case[1])
      assert.same({ kind = "decode", detail = case[2] }, err)
    end
  end)

  it("checks the primary_properties answer: event names to property names", function()
    local v = assert(core.decode('{"primary_properties":{"order_placed":"order_id","x":null}}', "primary_properties"))
    assert.same({ order_placed = "order_id" }, v.primary_properties)
    assert.same({}, core.decode("{}", "primary_properties"))
    for _, case in ipairs({
      { '{"primary_properties":[1]}', "decode: primary_properties is not an object" },
      { '{"primary_properties":"x"}', "decode: primary_properties is not an object" },
      { '{"primary_properties":{"a":1}}', "decode: primary_properties must map event names to property names" },
      { '{"primary_properties":{"a":{}}}', "decode: primary_properties must map event names to property names" },
      { "5", "decode: expected a JSON object, got number" },
    }) do
      assert.equal(case[2], select(2, core.decode(case[1], "primary_properties")).detail)
    end
  end)

  it("takes any JSON object with the shape 'object'", function()
    assert.same({ query_usage_30_day = 3 }, core.decode('{"query_usage_30_day":3}', "object"))
    assert.equal("decode: expected a JSON object, got array", select(2, core.decode("[1]", "object")).detail)
    assert.equal("decode: expected a JSON object, got string", select(2, core.decode('"x"', "object")).detail)
  end)

  it("does not check fields outside the shape's records", function()
    assert.is_table(core.decode('{"results":[{"owner":{"uuid":5,"email":[],"tags":5}}],"tags":5}', "page"))
  end)

  it("raises on an unknown shape, and on shapes that only answers have", function()
    assert.has_error(function() core.decode("{}", "nope") end)
    assert.has_error(function() core.decode("{}", "none") end)
    assert.has_error(function() core.decode("{}", "codegen") end)
  end)
end)

describe("core.decode_response", function()
  local function res(status, body, headers) return { status = status, body = body, headers = headers or {} } end

  it("decodes a 2xx body with the shape", function()
    local d = assert(core.decode_response(res(200, DEFINITION), "definition"))
    assert.equal("downloaded_file", d.name)
    assert.equal(2, assert(core.decode_response(res(201, page({ DEFINITION, DEFINITION })), "page")).count)
  end)

  it("returns true for the shape 'none', and for 204 without a shape", function()
    assert.is_true(core.decode_response(res(204, ""), "none"))
    assert.is_true(core.decode_response(res(204, nil), nil))
    assert.is_true(core.decode_response(res(204, nil), "none"))
  end)

  -- issue 9, defect 6: a DELETE reported done on a 200 with garbage was never applied
  it("takes for the shape 'none' a 2xx other than 204 only with an empty or JSON object body", function()
    for _, case in ipairs({ { 200, "" }, { 200, nil }, { 202, " \r\n" }, { 200, "{}" },
      { 200, '{"deleted":true}' }, { 201, ' {"a":[1]} ' } }) do
      assert.is_true(core.decode_response(res(case[1], case[2]), "none"), tostring(case[2]))
    end
    for _, case in ipairs({ { 200, "whatever", nil },
      { 200, "[]", "decode: expected a JSON object, got array" },
      { 200, "true", "decode: expected a JSON object, got boolean" },
      { 200, "null", "decode: expected a JSON object, got null" },
      { 202, '{"a":1', "decode: parse error: premature EOF at line 1, column 7" },
      { 200, "<html><title>OK</title></html>", nil }, { 200, '{"a":1} x', nil } }) do
      local v, err = core.decode_response(res(case[1], case[2]), "none")
      assert.is_nil(v, case[2])
      assert.equal("decode", err.kind)
      assert.equal(case[1], err.status)
      if case[3] then assert.equal(case[3], err.detail) else assert.matches("^decode: ", err.detail) end
    end
  end)

  it("turns a 204 into a decode error where the shape wants an object", function()
    for _, shape in ipairs({ "definition", "page", "bulk", "primary_properties", "object", "codegen" }) do
      local v, err = core.decode_response(res(204, ""), shape)
      assert.is_nil(v)
      assert.same({ kind = "decode", status = 204,
        detail = "decode: expected a JSON object, got no content (204)" }, err)
    end
  end)

  it("checks 2xx answers with the shapes of core.decode", function()
    local function detail(body, shape) return select(2, core.decode_response(res(200, body), shape)).detail end
    assert.equal("decode: expected a page with results", detail('{"count":1}', "page"))
    assert.equal("decode: an item of updated has no id", detail('{"updated":[{"verified":true}]}', "bulk"))
    assert.equal("decode: primary_properties is not an object", detail('{"primary_properties":[1]}',
      "primary_properties"))
    assert.equal("decode: expected a JSON object, got number", detail("5", "object"))
    assert.equal("decode: expected a JSON object, got array", detail("[]", "definition"))
    assert.same({ updated = {} }, core.decode_response(res(200, '{"updated":[]}'), "bulk"))
  end)

  it("turns a bad 2xx body into a decode error", function()
    local v, err = core.decode_response(res(200, "<html>"), "definition")
    local _
    assert.is_nil(v)
    assert.equal("decode", err.kind)
    assert.equal(200, err.status)
    assert.matches("^decode: ", err.detail)
    _, err = core.decode_response(res(200, '{"verified":"x"}'), "definition")
    assert.equal("decode: field 'verified' expected boolean", err.detail)
    _, err = core.decode_response(res(200, ""), nil)
    assert.equal("decode: empty input", err.detail)
  end)

  it("handles codegen bodies", function()
    assert.same({ content = "export type X = 1\n" },
      core.decode_response(res(200, "export type X = 1\n",
        { ["content-type"] = "text/plain; charset=utf-8" }), "codegen"))
    assert.same({ content = "x" }, core.decode_response(res(200, "x"), "codegen"))
    local v = core.decode_response(res(200, '{"content":"c","event_count":3,"schema_hash":"h"}',
      { ["content-type"] = "application/json" }), "codegen")
    assert.equal(3, v.event_count)
    local _, err = core.decode_response(res(200, "[1]", { ["content-type"] = "application/json" }), "codegen")
    assert.equal("decode", err.kind)
  end)

  it("reads PostHog's four-key error bodies", function()
    local v, err = core.decode_response(res(400,
      '{"type":"validation_error","code":"required","detail":"This field is required.","attr":"name"}'), "definition")
    assert.is_nil(v)
    assert.same({ kind = "http", status = 400, type = "validation_error", code = "required",
      detail = "This field is required.", attr = "name" }, err)
    local _, e404 = core.decode_response(res(404,
      '{"type":"invalid_request","code":"not_found","detail":"Not found.","attr":null}'))
    assert.is_nil(e404.attr)
    assert.equal("not_found", e404.code)
  end)

  -- found by make fuzz: an error with an empty detail said nothing
  it("takes an empty field of an error body as absent", function()
    local _, err = core.decode_response(res(400, '{"type":"","code":"","detail":"","attr":""}'))
    assert.same({ kind = "http", status = 400, detail = '{"type":"","code":"","detail":"","attr":""}' }, err)
    _, err = core.decode_response(res(503, '{"detail":""}'))
    assert.equal('{"detail":""}', err.detail)
  end)

  it("reads by_name's plain detail bodies", function()
    local _, err = core.decode_response(res(404, '{"detail":"Event definition with name \'x\' not found"}'))
    assert.same({ kind = "http", status = 404, detail = "Event definition with name 'x' not found" }, err)
  end)

  it("samples non-JSON bodies", function()
    local _, err = core.decode_response(res(502,
      "<html>\r\n<head><title>502 Bad\n   Gateway</title></head><body><center>nginx</center></body></html>"))
    assert.equal("502 Bad Gateway", err.detail)
    _, err = core.decode_response(res(503, "<HTML><TITLE>Down</TITLE></HTML>"))
    assert.equal("Down", err.detail)
    _, err = core.decode_response(res(500, "Internal\tServer\r\n\r\nError\1\2 here"))
    assert.equal("Internal Server Error here", err.detail)
    _, err = core.decode_response(res(500, string.rep("a", 500)))
    assert.equal(string.rep("a", 100), err.detail)
    _, err = core.decode_response(res(500, "x" .. string.rep("é", 100)))
    assert.is_true(#err.detail <= 100)
    assert.equal(1, select(2, err.detail:gsub("x", "")))
    assert.truthy(err.detail:match("^x[\195\169]+$")) -- never cut inside a character
    _, err = core.decode_response(res(502, ""))
    assert.equal("HTTP 502", err.detail)
    _, err = core.decode_response(res(504, nil))
    assert.equal("HTTP 504", err.detail)
    _, err = core.decode_response(res(500, '{"name":["bad"]}'))
    assert.equal('{"name":["bad"]}', err.detail)
  end)

  it("makes a sample valid UTF-8 on one line, whatever the body's bytes", function()
    local _, err = core.decode_response(res(500, "bad \255\254 bytes \192\128 and\194\133NEL\226\128\168LS\194\155x"))
    assert.equal("bad ?? bytes ?? and NEL LS x", err.detail)
    _, err = core.decode_response(res(500, ("é"):rep(49) .. "\255" .. "é"))
    assert.equal(("é"):rep(49) .. "?", err.detail) -- 99 bytes: the next é does not fit
  end)

  it("reads Retry-After as seconds or an HTTP-date, relative to now", function()
    local now = 1445412470 -- 10 s before Wed, 21 Oct 2015 07:28:00 GMT
    local body = '{"type":"throttled_error","code":"throttled","detail":"Request was throttled.","attr":null}'
    local _, err = core.decode_response(res(429, body, { ["retry-after"] = "62" }), nil, now)
    assert.equal(62, err.retry_after)
    assert.equal("throttled", err.code)
    if has_integers then assert.equal("integer", math.type(err.retry_after)) end
    _, err = core.decode_response(res(503, body, { ["retry-after"] = "Wed, 21 Oct 2015 07:28:00 GMT" }), nil, now)
    assert.equal(10, err.retry_after)
    _, err = core.decode_response(res(503, body, { ["retry-after"] = "Wed, 21 Oct 2015 07:28:00 GMT" }), nil, now + 60)
    assert.equal(0, err.retry_after)
    _, err = core.decode_response(res(503, body, { ["retry-after"] = "soon" }), nil, now)
    assert.is_nil(err.retry_after)
    _, err = core.decode_response(res(503, body), nil, now)
    assert.is_nil(err.retry_after)
  end)

  -- issue 8: PostHog may throttle without Retry-After; its shortest window is a minute
  it("gives a 429 without a readable Retry-After retry_after = 60, and no other status", function()
    local function retry_after(status, value)
      local _, err = core.decode_response(res(status, "", value and { ["retry-after"] = value }))
      return err.retry_after
    end
    for _, value in ipairs({ false, "", "soon", "-5", "-1", "1.5", "Wed, 99 Foo 2015 07:28:00 GMT", "  " }) do
      assert.equal(60, retry_after(429, value or nil), tostring(value))
      assert.is_nil(retry_after(503, value or nil), tostring(value))
    end
    local _, err = core.decode_response({ status = 429, body = "" })
    assert.equal(60, err.retry_after)
    if has_integers then assert.equal("integer", math.type(err.retry_after)) end
    assert.equal(0, retry_after(429, "0"))
    assert.equal(5, retry_after(429, " 5 "))
    assert.equal(3600, retry_after(429, "3600"))
  end)

  it("reads Retry-After in every form of HTTP-date with its own parser", function()
    local now = 1445412470 -- 10 s before Wed, 21 Oct 2015 07:28:00 GMT
    local function retry_after(value, at)
      local _, err = core.decode_response(res(503, "", { ["retry-after"] = value }), nil, at or now)
      return err.retry_after
    end
    assert.equal(0, retry_after("0"))
    assert.equal(120, retry_after(" 120 "))
    assert.equal(10, retry_after("Wed, 21 Oct 2015 07:28:00 GMT"))
    assert.equal(10, retry_after("wed, 21 oct 2015 07:28:00 gmt")) -- names in any case
    assert.equal(10, retry_after("Wednesday, 21-Oct-15 07:28:00 GMT"))
    assert.equal(10, retry_after("Wed Oct 21 07:28:00 2015"))
    assert.equal(86400 * 10 + 10, retry_after("Sat Oct 31 07:28:00 2015"))
    assert.equal(86400 * 4 + 10, retry_after("Sun Oct 25 07:28:00 2015"))
    assert.equal(0, retry_after("Sun, 06 Nov 1994 08:49:37 GMT"))
    -- RFC 850's two-digit years: more than 50 years ahead means the century before
    assert.equal(0, retry_after("Sunday, 06-Nov-94 08:49:37 GMT"))
    local in_2060 = retry_after("Friday, 01-Jan-60 00:00:00 GMT")
    assert.equal(2840140800 - now, in_2060)
    for _, bad in ipairs({ "", "-1", "1.5", "5s", "soon", "Wed", "Wed, 99 Foo 2015 07:28:00 GMT",
      "Wed, 31 Feb 2015 07:28:00 GMT", "Wed, 21 Oct 2015 24:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 CET",
      "Wed, 21 Oct 2015 07:28:00 GMT x", "Wed, 21 Oct 15 07:28:00 GMT", "Wed Oct 21 07:28:00 15",
      "Wednesday, 21-Oct-2015 07:28:00 GMT", "Wed,21 Oct 2015 07:28:00 GMT", "Foo, 21 Oct 2015 07:28:00 GMT" }) do
      assert.is_nil(retry_after(bad), bad)
    end
  end)

  it("no longer exports parse_retry_after (dead code: Retry-After is read by decode_response)", function()
    assert.is_nil(core.parse_retry_after)
  end)

  it("raises on a malformed res (a programmer error)", function()
    assert.has_error(function() core.decode_response({ body = "" }) end)
    assert.has_error(function() core.decode_response({ status = 200, body = {} }) end)
    assert.has_error(function() core.decode_response(res(200, "{}"), "nope") end)
  end)
end)

describe("core.fields", function()
  local by_name, defaults = {}, {}
  for _, f in ipairs(core.fields) do by_name[f.name], defaults[f.name] = f, f.default end

  it("describes the definition's fields in declaration order", function()
    local names = {}
    for i, f in ipairs(core.fields) do names[i] = f.name end
    assert.same({ "id", "name", "owner", "description", "tags", "created_at", "updated_at", "updated_by",
      "last_seen_at", "verified", "verified_at", "verified_by", "hidden", "enforcement_mode", "primary_property",
      "is_action", "post_to_slack", "default_columns", "media_preview_urls", "last_updated_at", "action_id",
      "is_calculating", "last_calculated_at", "created_by" }, names)
    for _, f in ipairs(core.fields) do
      assert.equal(not f.writable, f.read_only, f.name)
      assert.is_boolean(f.array)
      assert.is_boolean(f.nullable)
    end
  end)

  it("says which fields are writable, arrays and nullable, with their types and choices", function()
    local writable = {}
    for _, f in ipairs(core.fields) do if f.writable then writable[#writable + 1] = f.name end end
    assert.same({ "name", "owner", "description", "tags", "verified", "hidden", "enforcement_mode",
      "primary_property", "post_to_slack", "default_columns" }, writable)
    assert.same({ name = "tags", type = "string", writable = true, read_only = false, array = true,
      nullable = false, default = {} }, by_name.tags)
    assert.same({ "allow", "reject" }, by_name.enforcement_mode.choices)
    assert.equal("user", by_name.owner.type)
    assert.is_true(by_name.owner.nullable)
    assert.equal("integer", by_name.action_id.type)
    assert.equal("boolean", by_name.post_to_slack.type)
    assert.is_true(by_name.media_preview_urls.array)
    assert.is_true(by_name.media_preview_urls.read_only)
  end)

  it("gives the value PostHog stores for each writable field left out", function()
    assert.same({ description = "", tags = {}, verified = false, hidden = false, enforcement_mode = "allow",
      default_columns = {}, post_to_slack = false }, defaults)
    assert.equal(core.array_mt, getmetatable(defaults.tags))
    assert.equal(core.array_mt, getmetatable(defaults.default_columns))
    assert.is_nil(by_name.owner.default)
    assert.is_nil(by_name.primary_property.default)
  end)

  it("agrees with the encoder: exactly the writable fields are sent", function()
    local all = {}
    for _, f in ipairs(core.fields) do all[f.name] = defaults[f.name] == nil and core.null or defaults[f.name] end
    all.name, all.id, all.updated_at, all.tags = "e", "x", "t", { "a" }
    all.verified, all.is_action, all.action_id, all.media_preview_urls = true, false, 1, {}
    local sent = core.decode(assert(core.encode(all, "definition")), nil, true)
    for _, f in ipairs(core.fields) do
      if f.writable then assert.is_not_nil(sent[f.name], f.name) else assert.is_nil(sent[f.name], f.name) end
    end
  end)
end)

describe("the core module's links", function()
  -- the core's file, found along package.cpath (Lua 5.1 has no package.searchpath)
  local path
  for template in package.cpath:gmatch("[^;]+") do
    local candidate = template:gsub("%?", "posthog/event_definitions/core")
    local f = io.open(candidate)
    if f then
      f:close()
      path = path or candidate
    end
  end

  it("links no libcurl (nginx workers load the core)", function()
    local pipe = assert(io.popen("ldd " .. path))
    local out = pipe:read("*a")
    pipe:close()
    assert.truthy(out:find("libyajl", 1, true), out)
    assert.falsy(out:find("libcurl", 1, true), out)
  end)

  it("loads into a process that never maps libcurl", function()
    assert.equal(0, run_child('require "posthog.event_definitions.core" ' ..
      'for l in io.lines("/proc/self/maps") do if l:find("libcurl") then os.exit(3) end end os.exit(0)'))
  end)
end)
