-- The C core's JSON codec: core.encode, core.decode and core.decode_response.
local core = require "posthog.event_definitions.core"

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

  it("refuses NaN and infinity", function()
    local s, err = core.encode(0 / 0)
    assert.is_nil(s)
    assert.equal("cannot encode NaN or infinity", err)
    assert.same({ nil, "cannot encode NaN or infinity" }, { core.encode({ x = math.huge }) })
    assert.same({ nil, "cannot encode NaN or infinity" }, { core.encode({ -math.huge }) })
  end)

  it("escapes strings and passes UTF-8 through", function()
    assert.equal([["a\"b\\c\nd\re\tf\bg\fh"]], core.encode('a"b\\c\nd\re\tf\bg\fh'))
    assert.equal([["\u0000\u0001\u001f"]], core.encode("\0\1\31"))
    assert.equal('"héllo ✓ 😀/"', core.encode("héllo ✓ 😀/"))
    local s = "quote \" newline \n ctrl \2 é"
    assert.equal(s, core.decode(core.encode(s)))
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
    assert.matches("keys", err)
    assert.is_nil((core.encode({ [1] = 1, [3] = 3 })))
    assert.is_nil((core.encode({ [true] = 1 })))
  end)

  it("encodes the known array fields as arrays when empty, in any table", function()
    assert.equal('{"default_columns":[],"excluded_properties":[],"ids":[],"names":[],"other":{},"tags":[]}',
      core.encode({ tags = {}, default_columns = {}, ids = {}, names = {}, excluded_properties = {}, other = {} }))
    assert.equal('{"x":{"ids":[]}}', core.encode({ x = { ids = {} } }))
  end)

  it("refuses values JSON cannot hold", function()
    assert.matches("cannot encode a function", select(2, core.encode({ f = print })))
    assert.matches("cannot encode", select(2, core.encode(io.stdout)))
  end)

  it("stops at 100 levels of nesting, and on cycles", function()
    local deep = {}
    local t = deep
    for _ = 1, 99 do t[1] = {}; t = t[1] end
    assert.is_string(core.encode(deep)) -- 100 levels
    t[1] = {}
    local s, err = core.encode(deep)
    assert.is_nil(s)
    assert.matches("nested deeper than 100", err)
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
      assert.equal(case[2], err)
    end
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

  it("returns nil and a short message for bad input, never raising", function()
    local cases = {
      { "", "empty input" },
      { "  \n\t ", "empty input" },
      { "[1,2", "premature EOF" },
      { '{"a":1', "premature EOF" },
      { '{"a":"b', "premature EOF" },
      { "[1,2] x", "trailing garbage" },
      { "[1,2][3]", "trailing garbage" },
      { "{'a':1}", "at byte" },
      { "[1,]", "at byte" },
      { '"\255\254"', "UTF8" },
      { '"\195"', "UTF8" },
      { "nul", "at byte" },
      { "01", "at byte" },
      { '{"a":1,}', "at byte" },
    }
    for _, case in ipairs(cases) do
      local ok, v, err = pcall(core.decode, case[1])
      assert.is_true(ok)
      assert.is_nil(v)
      assert.is_string(err)
      assert.matches("^decode: ", err)
      assert.truthy(err:find(case[2], 1, true), err)
      assert.is_true(#err <= 120, err)
    end
  end)

  it("reports the byte offset without echoing the body", function()
    local body = '{"secret_value":"' .. string.rep("s", 500) .. '", oops}'
    local _, err = core.decode(body)
    assert.matches("at byte %d+", err)
    assert.falsy(err:find("sss", 1, true))
    assert.is_true(#err <= 120)
  end)

  it("stops at 100 levels of nesting", function()
    assert.is_table(core.decode(string.rep("[", 100) .. string.rep("]", 100)))
    local v, err = core.decode(string.rep("[", 101) .. string.rep("]", 101))
    assert.is_nil(v)
    assert.equal("decode: nested deeper than 100 levels", err)
    assert.is_nil((core.decode(string.rep('{"a":', 200) .. "1" .. string.rep("}", 200))))
  end)

  it("decodes strings with escapes, controls and non-ASCII", function()
    assert.equal('a"b\\c/d\n\t\1é😀', core.decode('"a\\"b\\\\c\\/d\\n\\t\\u0001\\u00e9\\ud83d\\ude00"'))
    assert.equal("a\0b", core.decode('"a\\u0000b"'))
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
      { '[]', "decode: expected an object (shape 'definition')" },
      { '"x"', "decode: expected an object (shape 'definition')" },
      { 'null', "decode: expected an object (shape 'definition')" },
    }
    for _, case in ipairs(cases) do
      local v, err = core.decode(case[1], "definition")
      assert.is_nil(v)
      assert.equal(case[2], err)
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
    assert.equal("decode: field 'verified' expected boolean", err)
    assert.equal("decode: field 'results' expected array of objects",
      select(2, core.decode('{"results":[null]}', "page")))
    assert.equal("decode: field 'results' expected array of objects",
      select(2, core.decode('{"results":{}}', "page")))
    assert.equal("decode: field 'count' expected integer", select(2, core.decode('{"count":"2"}', "page")))
    assert.equal("decode: field 'next' expected string", select(2, core.decode('{"next":1}', "page")))
    assert.equal("decode: expected an object (shape 'page')", select(2, core.decode("[]", "page")))
  end)

  it("does not check fields outside the shape's records", function()
    assert.is_table(core.decode('{"results":[{"owner":{"id":"not checked","tags":5}}],"tags":5}', "page"))
  end)

  it("raises on an unknown shape", function()
    assert.has_error(function() core.decode("{}", "nope") end)
  end)
end)

describe("core.decode_response", function()
  local function res(status, body, headers) return { status = status, body = body, headers = headers or {} } end

  it("decodes a 2xx body with the shape", function()
    local d = assert(core.decode_response(res(200, DEFINITION), "definition"))
    assert.equal("downloaded_file", d.name)
    assert.equal(2, assert(core.decode_response(res(201, page({ DEFINITION, DEFINITION })), "page")).count)
  end)

  it("returns true for 204 and for the shape 'none'", function()
    assert.is_true(core.decode_response(res(204, ""), "definition"))
    assert.is_true(core.decode_response(res(204, nil), nil))
    assert.is_true(core.decode_response(res(200, "whatever"), "none"))
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

  it("exports parse_retry_after", function()
    local now = 1445412470
    assert.equal(0, core.parse_retry_after("0"))
    assert.equal(120, core.parse_retry_after(" 120 "))
    assert.equal(10, core.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now))
    assert.equal(10, core.parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now))
    assert.equal(10, core.parse_retry_after("Wed Oct 21 07:28:00 2015", now))
    for _, bad in ipairs({ "", "-1", "1.5", "5s", "soon", "Wed", "Wed, 99 Foo 2015 07:28:00 GMT" }) do
      assert.is_nil(core.parse_retry_after(bad, now), bad)
    end
    assert.is_nil(core.parse_retry_after(nil))
  end)

  it("raises on a malformed res (a programmer error)", function()
    assert.has_error(function() core.decode_response({ body = "" }) end)
    assert.has_error(function() core.decode_response({ status = 200, body = {} }) end)
    assert.has_error(function() core.decode_response(res(200, "{}"), "nope") end)
  end)
end)
