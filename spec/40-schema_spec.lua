-- Schema export, import and plan: posthog.event_definitions.schema, pure Lua over the C codec.
-- Every format is read back (CSV by an RFC 4180 parser, JSON by core.decode) and compared.
local schema = require "posthog.event_definitions.schema"
local helpers = require "spec.helpers"
local core = require "posthog.event_definitions.core"

local null = core.null

-- Names that break naive writers: separators, quotes, line breaks, non-ASCII, pipes, backticks.
local TRICKY = {
  'file, "downloaded"',
  "line\r\nbreak\nand\rcr",
  "naïve café ✓ 日本",
  "pipe | and `tick` ~/slash",
}

local function def_of(name, id, extra)
  local d = { id = id, name = name, description = "", tags = {}, verified = false, hidden = false,
    enforcement_mode = "allow", default_columns = {}, media_preview_urls = {}, is_action = false,
    updated_at = "2024-07-11T10:00:00Z" }
  for k, v in pairs(extra or {}) do d[k] = v end
  return d
end

local function uuid(n)
  return string.format("0190c6a2-8f4e-0000-9c1d-%012d", n)
end

-- A project as the API returns it (owner as a UserBasic object, read-only fields present).
local function seeded()
  return {
    def_of("signed_up", uuid(1), { description = "User signed up", tags = { "growth", "core" }, verified = true,
      owner = { id = 1, email = "ann@example.com", first_name = "Ann", last_name = "", distinct_id = "d1" },
      last_seen_at = "2024-07-11T09:59:58.500000Z", created_at = "2024-07-10T09:15:02.123456Z",
      verified_at = "2024-07-10T10:00:00Z", verified_by = { id = 1, email = "ann@example.com" } }),
    def_of(TRICKY[1], uuid(2), { primary_property = "file_name", default_columns = { "event", "person" } }),
    def_of("$pageview", uuid(3), { description = "Page", tags = { "web" }, verified = true, hidden = false }),
    def_of("legacy_event", uuid(4), { tags = { "old" }, owner = { id = 2, email = "" } }),
    def_of("untouched", uuid(5), { description = "same" }),
    def_of(TRICKY[2], uuid(6), { description = "multi\nline", tags = { "a,b", 'q"uote' } }),
    def_of(TRICKY[3], uuid(7), { description = "unicode ✓" }),
    def_of(TRICKY[4], uuid(8), { description = "a | b" }),
  }
end

local function copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return setmetatable(c, getmetatable(v))
end

local function decode(text)
  return assert(core.decode(text))
end

-- A tiny PostHog: applies batch ops to a copy of `current` as the server would.
local function apply(current, ops)
  local state, created = copy(current), 0
  local function find(id)
    for i, d in ipairs(state) do
      if d.id == id then return i, d end
    end
    error("no definition with id " .. tostring(id))
  end
  local function set(def, fields)
    for k, v in pairs(fields) do
      assert(k ~= "id" and k ~= "last_seen_at" and k ~= "created_at", "read-only field sent: " .. k)
      if v == null then
        def[k] = nil
      elseif k == "tags" then
        local seen, tags = {}, {}
        for _, t in ipairs(v) do
          t = t:match("^%s*(.-)%s*$"):lower()
          if not seen[t] then seen[t], tags[#tags + 1] = true, t end
        end
        def.tags = tags
      elseif k == "owner" then
        def.owner = { id = v, email = "user" .. v .. "@example.com" }
      else
        def[k] = copy(v)
      end
    end
  end
  for _, op in ipairs(ops) do
    if op.op == "create" then
      created = created + 1
      local def = def_of(op.fields.name, uuid(1000 + created))
      set(def, op.fields)
      state[#state + 1] = def
    elseif op.op == "update" then
      assert.is_nil(op.fields.name, "an update sends no name")
      set(select(2, find(op.id)), op.fields)
    else
      assert.equal("delete", op.op)
      table.remove(state, (find(op.id)))
    end
  end
  return state
end

-- A snapshot of defs without ids (created definitions get ids of their own).
local function snapshot_without_ids(defs)
  local list = copy(defs)
  for _, d in ipairs(list) do d.id = nil end
  return schema.snapshot(list)
end

-- The value a JSON Pointer fragment ("#/a/b") designates in doc.
local function resolve(doc, ref)
  local pointer = ref:match("^#(.*)$"):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  local node = doc
  for token in pointer:gmatch("/([^/]*)") do
    node = node[(token:gsub("~1", "/"):gsub("~0", "~"))]
  end
  return node
end

describe("schema.csv", function()
  it("writes RFC 4180 text that parses back to the same cells, rows in input order", function()
    local defs = seeded()
    local text = schema.csv(defs)
    local header = "id,name,description,tags,verified,hidden,owner,last_seen_at,created_at,updated_at\r\n"
    assert.equal(header, text:sub(1, #header))
    local rows = helpers.parse_csv(text)
    assert.equal(#defs + 1, #rows)
    assert.same({ "id", "name", "description", "tags", "verified", "hidden", "owner", "last_seen_at",
      "created_at", "updated_at" }, rows[1])
    for i, d in ipairs(defs) do
      local row = rows[i + 1]
      assert.equal(10, #row)
      assert.equal(d.id, row[1])
      assert.equal(d.name, row[2])
      assert.equal(d.description, row[3])
      local tags = decode(row[4])
      table.sort(d.tags)
      assert.same(d.tags, tags)
      assert.equal(tostring(d.verified), row[5])
      assert.equal(tostring(d.hidden), row[6])
      assert.equal(d.last_seen_at or "", row[8])
      assert.equal(d.created_at or "", row[9])
      assert.equal(d.updated_at, row[10])
    end
    assert.equal('["core","growth"]', rows[2][4])
    assert.equal("ann@example.com", rows[2][7]) -- owner: the email
    assert.equal("2", rows[5][7])               -- the id when the email is empty
    assert.equal("", rows[3][7])                -- no owner
    assert.equal("[]", rows[3][4])
  end)

  it("writes tags as a JSON array, quoting the cell when needed (the one CSV format)", function()
    local rows = helpers.parse_csv(schema.csv(seeded()))
    assert.equal('["a,b","q\\"uote"]', rows[7][4])
    assert.truthy(schema.csv(seeded()):find('"[""a,b"",""q\\""uote""]"', 1, true))
  end)

  it("writes nil as an empty cell, booleans as true/false and numbers without a fraction", function()
    local text = schema.csv({ { name = "x", owner = 7, verified = true, hidden = null } })
    assert.equal("id,name,description,tags,verified,hidden,owner,last_seen_at,created_at,updated_at\r\n"
      .. ",x,,,true,,7,,,\r\n", text)
    assert.equal("id,name,description,tags,verified,hidden,owner,last_seen_at,created_at,updated_at\r\n",
      schema.csv({}))
  end)

  it("raises on arguments of the wrong type", function()
    assert.has_error(function() schema.csv("defs") end)
    assert.has_error(function() schema.csv({ { id = "x" } }) end)
    assert.has_error(function() schema.csv({}, "opts") end)
  end)
end)

describe("schema.snapshot", function()
  it("writes sorted, pretty JSON with id, name and the writable fields only", function()
    local defs = { def_of("b_event", uuid(2), { tags = { "z", "a" }, owner = { id = 42, email = "x@y" },
      last_seen_at = "2024-01-01T00:00:00Z", primary_property = "p" }) }
    assert.equal(table.concat({
      "{",
      '  "definitions": [',
      "    {",
      '      "default_columns": [],',
      '      "description": "",',
      '      "enforcement_mode": "allow",',
      '      "hidden": false,',
      '      "id": "' .. uuid(2) .. '",',
      '      "name": "b_event",',
      '      "owner": 42,',
      '      "primary_property": "p",',
      '      "tags": [',
      '        "a",',
      '        "z"',
      "      ],",
      '      "verified": false',
      "    }",
      "  ],",
      '  "version": 1',
      "}",
      "" }, "\n"), schema.snapshot(defs))
    assert.equal('{\n  "definitions": [],\n  "version": 1\n}\n', schema.snapshot({}))
  end)

  it("sorts definitions by name bytewise", function()
    local names = { "b", "é", "B", "a", "$x", "A_", "a b" }
    local defs = {}
    for i, n in ipairs(names) do defs[i] = { name = n } end
    local got = {}
    for i, d in ipairs(decode(schema.snapshot(defs)).definitions) do got[i] = d.name end
    assert.same({ "$x", "A_", "B", "a", "a b", "b", "é" }, got)
  end)

  it("keeps every field with opts.full, nested objects included", function()
    local doc = decode(schema.snapshot(seeded(), { full = true }))
    local first = doc.definitions[1]
    assert.equal("$pageview", first.name)
    assert.equal(false, first.is_action)
    local signed = doc.definitions[#doc.definitions - 1]
    assert.equal("signed_up", signed.name)
    assert.same({ id = 1, email = "ann@example.com", first_name = "Ann", last_name = "", distinct_id = "d1" },
      signed.owner)
    assert.same({ "core", "growth" }, signed.tags)
    assert.equal("2024-07-10T10:00:00Z", signed.verified_at)
    assert.is_truthy(schema.snapshot(seeded(), { full = true }):find('"media_preview_urls": []', 1, true))
  end)

  it("round-trips byte-identically: export, load, export", function()
    for _, full in ipairs { false, true } do
      local text = schema.snapshot(seeded(), { full = full })
      local defs = assert(schema.load(text))
      assert.equal(text, schema.snapshot(defs, { full = full }))
      assert.equal(text, schema.snapshot(assert(schema.load(schema.snapshot(defs, { full = full }))),
        { full = full }))
    end
  end)

  it("keeps integers integers", function()
    local text = schema.snapshot({ { name = "e", owner = { id = 42 } } })
    assert.is_truthy(text:find('"owner": 42\n', 1, true))
    local defs = assert(schema.load(text))
    assert.equal(42, defs[1].owner)
    if math.type then
      assert.equal("integer", math.type(defs[1].owner))
      local big = { { name = "e", action_id = 9007199254740993 } }
      local full = schema.snapshot(big, { full = true })
      assert.is_truthy(full:find('"action_id": 9007199254740993,', 1, true))
      assert.equal(full, schema.snapshot(assert(schema.load(full)), { full = true }))
    end
  end)

  it("raises on arguments of the wrong type and on values JSON cannot hold", function()
    assert.has_error(function() schema.snapshot(nil) end)
    assert.has_error(function() schema.snapshot({}, "full") end)
    assert.has_error(function() schema.snapshot({ { name = "x", description = 0 / 0 } }) end)
  end)
end)

describe("schema.load", function()
  it("keeps explicit nulls as core.null", function()
    local defs = assert(schema.load('{"version": 1, "definitions": [{"name": "a", "description": null, '
      .. '"owner": null, "tags": ["x"]}]}'))
    assert.equal(null, defs[1].description)
    assert.equal(null, defs[1].owner)
    assert.same({ "x" }, defs[1].tags)
    -- and a desired-state file with nulls survives export, load, export
    local text = schema.snapshot(defs)
    assert.is_truthy(text:find('"description": null,', 1, true))
    assert.equal(text, schema.snapshot(assert(schema.load(text))))
  end)

  it("reads a JSON Schema export back", function()
    local defs = seeded()
    local text = schema.json_schema(defs)
    local back = assert(schema.load(text))
    assert.equal(#defs, #back)
    local by = {}
    for _, d in ipairs(back) do by[d.name] = d end
    assert.equal(uuid(1), by.signed_up.id)
    assert.equal("User signed up", by.signed_up.description)
    assert.same({ "core", "growth" }, by.signed_up.tags)
    assert.equal(true, by.signed_up.verified)
    assert.equal(1, by.signed_up.owner.id)
    assert.equal("2024-07-11T09:59:58.500000Z", by.signed_up.last_seen_at)
    assert.same({ "event", "person" }, by[TRICKY[1]].default_columns)
    assert.equal("file_name", by[TRICKY[1]].primary_property)
    assert.equal("multi\nline", by[TRICKY[2]].description)
    assert.equal(text, schema.json_schema(back))
    -- the export describes the same desired state as the definitions it came from
    assert.same({}, schema.plan(defs, back).ops)
  end)

  it("loads an empty snapshot", function()
    assert.same({}, assert(schema.load('{"version":1,"definitions":[]}')))
  end)

  it("returns nil and the library's error table for bad input, never raising", function()
    -- kind "decode": text that is not a snapshot or a JSON Schema export; "validation": a bad value
    local cases = {
      { "", "decode", "not valid JSON" },
      { "{", "decode", "not valid JSON" },
      { "[1, 2]", "decode", "expected a JSON object" },
      { "{}", "decode", "neither a snapshot" },
      { '{"definitions": []}', "decode", "unsupported snapshot version (none)" },
      { '{"version": 2, "definitions": []}', "decode", "unsupported snapshot version 2" },
      { '{"version": "1", "definitions": []}', "decode", 'unsupported snapshot version "1"' },
      -- beyond a double: refused by the decoder, or read as inf and refused as a version
      { '{"version": 1e400, "definitions": []}', "decode", "schema.load: " },
      { '{"version": [1], "definitions": []}', "decode", "unsupported snapshot version (table)" },
      { '{"version": 1, "definitions": {}}', "decode", "definitions must be an array" },
      { '{"version": 1, "definitions": [1]}', "decode", "definitions[1] is not an object" },
      { '{"version": 1, "definitions": [{"description": "x"}]}', "validation", "definitions[1] has no name" },
      { '{"version": 1, "definitions": [{"name": ""}]}', "validation", "definitions[1] has no name" },
      { '{"version": 1, "definitions": [{"name": "a"}, {"name": "a"}]}', "validation",
        'definitions[2]: duplicate name "a"' },
      { '{"version": 1, "definitions": [{"name": "a", "tags": "x"}]}', "validation",
        "tags must be an array of strings" },
      { '{"version": 1, "definitions": [{"name": "a", "tags": [1]}]}', "validation",
        "tags must be an array of strings" },
      { '{"version": 1, "definitions": [{"name": "a", "tags": {}}]}', "validation",
        "tags must be an array of strings" },
      { '{"version": 1, "definitions": [{"name": "a", "owner": "ann"}]}', "validation",
        "owner must be an integer user id" },
      { '{"version": 1, "definitions": [{"name": "a", "owner": 1.5}]}', "validation",
        "owner must be an integer user id" },
      { '{"version": 1, "definitions": [{"name": "a", "verified": "yes"}]}', "validation",
        "verified must be a boolean" },
      { '{"version": 1, "definitions": [{"name": "a", "description": 3}]}', "validation",
        "description must be a string" },
      { '{"$schema": "http://json-schema.org/draft-07/schema#"}', "decode", 'needs a "definitions" object' },
      { '{"$schema": "x", "definitions": {"a": 1}}', "decode", 'definitions["a"] is not an object' },
      { '{"$schema": "x", "definitions": {"a": {"x-posthog-hidden": 1}}}', "validation",
        "hidden must be a boolean" },
      -- a misspelt or unknown field is refused, never ignored (issue 19: plan said "no changes")
      { '{"version": 1, "definitions": [{"name": "a", "desciption": "x"}]}', "decode",
        'definitions[1] ("a"): unknown field "desciption" (did you mean "description"?)' },
      { '{"version": 1, "definitions": [{"name": "a", "Tags": ["x"], "colour": "red"}]}', "decode",
        'definitions[1] ("a"): unknown field "Tags" (did you mean "tags"?)' },
      { '{"version": 1, "definitions": [{"name": "a", "colour": "red"}]}', "decode",
        'definitions[1] ("a"): unknown field "colour"' },
      { '{"version": 1, "definitons": [], "definitions": []}', "decode",
        'unknown key "definitons" (did you mean "definitions"?) in the snapshot' },
      { '{"$schema": "x", "definitions": {"a": {"x-posthog-verfied": true}}}', "decode",
        'definitions["a"]: unknown keyword "x-posthog-verfied" (did you mean "x-posthog-verified"?)' },
    }
    for _, case in ipairs(cases) do
      local defs, err = schema.load(case[1])
      assert.is_nil(defs, case[1])
      assert.is_table(err, case[1])
      assert.equal(case[2], err.kind, case[1])
      assert.equal("string", type(err.detail))
      assert.is_truthy(err.detail:find("schema.load: ", 1, true), err.detail)
      assert.is_truthy(err.detail:find(case[3], 1, true), case[1] .. " -> " .. err.detail)
      assert.is_false(err.retryable)
      assert.equal(0, err.attempts)
      local line = tostring(err)
      assert.equal("posthog.event_definitions: " .. case[2] .. ": " .. err.detail, line)
      assert.is_nil(line:find("\n", 1, true), line)
    end
  end)

  it("raises only when text is not a string", function()
    assert.has_error(function() schema.load(nil) end)
    assert.has_error(function() schema.load({}) end)
  end)
end)

describe("schema.load of a CSV export", function()
  local HEADER = "id,name,description,tags,verified,hidden,owner,last_seen_at,created_at,updated_at\r\n"

  it("reads schema.csv back: the writable columns, read-only ones skipped, empty cells left out", function()
    local defs = assert(schema.load(schema.csv(seeded())))
    assert.equal(#seeded(), #defs)
    local by_name = {}
    for _, d in ipairs(defs) do by_name[d.name] = d end
    assert.same({ name = "signed_up", description = "User signed up", tags = { "core", "growth" },
      verified = true, hidden = false }, by_name.signed_up) -- the owner's email is not sent: left out
    assert.same({ name = "legacy_event", tags = { "old" }, verified = false, hidden = false, owner = 2 },
      by_name.legacy_event) -- an owner id is; the empty description is left out
    assert.same({ "a,b", 'q"uote' }, by_name[TRICKY[2]].tags)
    assert.equal("multi\nline", by_name[TRICKY[2]].description)
    assert.equal("unicode ✓", by_name[TRICKY[3]].description)
    assert.is_nil(by_name.signed_up.id)
    assert.is_nil(by_name.signed_up.last_seen_at)
  end)

  it("plans nothing between a state and its CSV export, and plans an edited cell", function()
    local current = seeded()
    assert.same({}, assert(schema.plan(current, assert(schema.load(schema.csv(current))))).ops)
    local edited = schema.csv(current):gsub("User signed up", "Sign-up finished", 1)
    local ops = assert(schema.plan(current, assert(schema.load(edited)))).ops
    assert.same({ { op = "update", name = "signed_up", id = uuid(1), fields = { description = "Sign-up finished" } } },
      ops)
  end)

  it("reads what spreadsheets write: LF line ends, a byte order mark, TRUE/FALSE, any column order, "
    .. "a subset of columns, no final line end, blank lines", function()
    local text = "\239\187\191name,verified,tags\nsigned_up,TRUE,\"[\"\"core\"\"]\"\n\nbought,False,[]"
    assert.same({ { name = "signed_up", verified = true, tags = { "core" } },
      { name = "bought", verified = false, tags = {} } }, assert(schema.load(text)))
    assert.same({ { name = "only" } }, assert(schema.load("name\r\nonly\r\n")))
    assert.same({}, assert(schema.load("name,description\r\n,\r\n"))) -- a row of empty cells
  end)

  it("refuses what it cannot read, naming the row or column (decode or validation)", function()
    local cases = {
      { "name,descripton\r\na,b\r\n", "decode", 'unknown column "descripton" (did you mean "description"?)' },
      { "name,colour\r\na,b\r\n", "decode", 'unknown column "colour" (the columns are fields' },
      { "description\r\nx\r\n", "decode", "no name column" },
      { "name,name\r\na,b\r\n", "decode", 'column "name" appears twice' },
      { "name,description\r\na\r\n", "decode", "row 2 has 1 fields, the header 2" },
      { 'name\r\n"open\r\n', "decode", "a quoted field is not closed" },
      { 'name\r\nun"quoted\r\n', "decode", "a quote in an unquoted field" },
      { 'name\r\n"a"b\r\n', "decode", "text after a closing quote" },
      { HEADER .. ",a,,,yes,,,,,\r\n", "validation", 'row 2: verified must be true or false, got "yes"' },
      { HEADER .. ",a,,core,,,,,,\r\n", "validation", "row 2: tags must be JSON" },
      { HEADER .. ',a,,"{""x"":1}",,,,,,\r\n', "validation", "CSV row 2: tags must be an array of strings" },
      { HEADER .. ",a,,,,,ann,,,\r\n", "validation", 'row 2: owner must be an integer user id, got "ann"' },
      { HEADER .. ",,d,,,,,,,\r\n", "validation", "CSV row 2 has no name" },
      { "name\r\na\r\na\r\n", "validation", 'CSV row 3: duplicate name "a"' },
    }
    for _, case in ipairs(cases) do
      local defs, err = schema.load(case[1])
      assert.is_nil(defs, case[1])
      assert.equal(case[2], err.kind, case[1])
      assert.is_truthy(err.detail:find("schema.load: ", 1, true), err.detail)
      assert.is_truthy(err.detail:find(case[3], 1, true), case[1] .. " -> " .. err.detail)
    end
  end)
end)

describe("schema.json_schema", function()
  local props = {
    signed_up = {
      { name = "plan", type = "String", required = true, description = "Plan chosen" },
      { name = "seats", type = "Numeric", required = false },
      { name = "trial", type = "Boolean" },
      { name = "at", type = "DateTime", required = true },
      { name = "items", type = "Array" },
      { name = "meta", type = "Object" },
      { name = "took", type = "Duration" },
      { name = "plan", type = "String", required = false }, -- listed again by a second property group
    },
  }

  it("describes each event under definitions, with x-posthog metadata, and refers to all in oneOf", function()
    local defs = seeded()
    local doc = decode(schema.json_schema(defs))
    assert.equal("http://json-schema.org/draft-07/schema#", doc["$schema"])
    assert.equal("string", type(doc.title))
    local names, count = {}, 0
    for _ in pairs(doc.definitions) do count = count + 1 end
    assert.equal(#defs, count)
    assert.equal(#defs, #doc.oneOf)
    for i, d in ipairs(defs) do
      local sub = doc.definitions[d.name]
      assert.is_table(sub, d.name)
      assert.equal("object", sub.type)
      assert.equal(d.name, sub.title)
      assert.same({ const = d.name }, sub.properties.event)
      assert.same({ "event" }, sub.required)
      assert.equal("object", sub.properties.properties.type)
      assert.equal(d.id, sub["x-posthog-id"])
      assert.equal(d.description, sub.description)
      assert.equal(d.verified, sub["x-posthog-verified"])
      assert.equal(d.hidden, sub["x-posthog-hidden"])
      assert.equal(d.enforcement_mode, sub["x-posthog-enforcement-mode"])
      assert.equal(d.last_seen_at, sub["x-posthog-last-seen-at"])
      local tags = copy(d.tags)
      table.sort(tags)
      assert.same(tags, sub["x-posthog-tags"])
      names[i] = d.name
    end
    table.sort(names)
    for i, entry in ipairs(doc.oneOf) do
      assert.equal(doc.definitions[names[i]], resolve(doc, entry["$ref"]))
    end
    assert.same({ id = 1, email = "ann@example.com" }, doc.definitions.signed_up["x-posthog-owner"])
    assert.same({ "event", "person" }, doc.definitions[TRICKY[1]]["x-posthog-default-columns"])
    assert.equal("file_name", doc.definitions[TRICKY[1]]["x-posthog-primary-property"])
    assert.is_nil(doc.definitions["$pageview"]["x-posthog-owner"])
    assert.is_nil(doc.definitions.signed_up["x-posthog-verified-at"])
  end)

  it("maps PostHog property types to JSON types and lists required properties", function()
    local doc = decode(schema.json_schema(seeded(), { properties = props }))
    local p = doc.definitions.signed_up.properties.properties
    assert.same({ type = "string", description = "Plan chosen", ["x-posthog-type"] = "String" }, p.properties.plan)
    assert.same({ type = "number", ["x-posthog-type"] = "Numeric" }, p.properties.seats)
    assert.same({ type = "boolean", ["x-posthog-type"] = "Boolean" }, p.properties.trial)
    assert.same({ type = "string", format = "date-time", ["x-posthog-type"] = "DateTime" }, p.properties.at)
    assert.same({ type = "array", ["x-posthog-type"] = "Array" }, p.properties.items)
    assert.same({ type = "object", ["x-posthog-type"] = "Object" }, p.properties.meta)
    assert.same({ ["x-posthog-type"] = "Duration" }, p.properties.took)
    assert.same({ "at", "plan" }, p.required)
    -- an event without known properties lists none; without opts.properties nothing is listed
    assert.same({ type = "object", properties = {} }, doc.definitions["$pageview"].properties.properties)
    local bare = decode(schema.json_schema(seeded()))
    assert.same({ type = "object" }, bare.definitions.signed_up.properties.properties)
  end)

  it("is stable: the same text whatever the input order", function()
    local defs = seeded()
    local text = schema.json_schema(defs, { properties = props })
    local reversed = {}
    for i = #defs, 1, -1 do reversed[#reversed + 1] = defs[i] end
    assert.equal(text, schema.json_schema(reversed, { properties = props }))
    assert.equal("\n", text:sub(-1))
    assert.is_truthy(text:find('\n  "definitions": {\n', 1, true))
  end)

  it("escapes names in $ref as JSON Pointer tokens, percent-encoded", function()
    local doc = decode(schema.json_schema({ { name = "a/b~c d" }, { name = "$é" } }))
    assert.equal("#/definitions/%24%C3%A9", doc.oneOf[1]["$ref"])
    assert.equal("#/definitions/a~1b~0c%20d", doc.oneOf[2]["$ref"])
    assert.equal("a/b~c d", resolve(doc, doc.oneOf[2]["$ref"]).title)
  end)

  it("admits no event for an empty taxonomy", function()
    local doc = decode(schema.json_schema({}))
    assert.is_nil(doc.oneOf)
    assert.same({}, doc["not"])
    assert.same({}, doc.definitions)
    assert.equal("0 event definitions.", doc.description)
    assert.equal("1 event definition.", decode(schema.json_schema({ { name = "a" } })).description)
  end)

  it("raises on arguments of the wrong type", function()
    assert.has_error(function() schema.json_schema(seeded(), { properties = "x" }) end)
    local unnamed = { signed_up = { { type = "String" } } }
    assert.has_error(function() schema.json_schema(seeded(), { properties = unnamed }) end)
  end)
end)

describe("schema.markdown", function()
  local props = { signed_up = { { name = "plan", type = "String", required = true, description = "a|b\nc" } } }

  it("writes a tracking plan: title, counts, an index and one section per event", function()
    local defs = seeded()
    local text = schema.markdown(defs, { properties = props })
    assert.equal("# Tracking plan\n", text:sub(1, 16))
    assert.is_truthy(text:find("8 events: 2 verified, 0 hidden, 6 with a description, 7 never seen.", 1, true))
    local sections = 0
    for _ in text:gmatch("\n## ") do sections = sections + 1 end
    assert.equal(#defs, sections)
    -- each index link points to an anchor that exists, once
    for anchor in text:gmatch("%]%(#([^)]+)%)") do
      local _, n = text:gsub('<a id="' .. anchor:gsub("%-", "%%-") .. '"></a>', "")
      assert.equal(1, n, anchor)
    end
    assert.is_truthy(text:find("## `signed_up`\n\nUser signed up\n\n- **Status:** verified\n- **Tags:** `core`, "
      .. "`growth`\n- **Owner:** ann@example.com\n- **Last seen:** 2024-07-11T09:59:58.500000Z\n", 1, true))
    assert.is_truthy(text:find("| `plan` | String | yes | a\\|b<br>c |", 1, true))
    assert.is_truthy(text:find("*No properties known.*", 1, true))
    assert.is_truthy(text:find("- **Last seen:** never", 1, true))
    assert.equal("\n", text:sub(-1))
  end)

  it("keeps table rows intact: pipes escaped, line breaks as <br>", function()
    local text = schema.markdown(seeded())
    for line in text:gmatch("[^\n]+") do
      if line:sub(1, 2) == "| " then
        local cells = select(2, line:gsub("\\|", ""):gsub("|", ""))
        assert.equal(5, cells, line)
      end
    end
    assert.is_truthy(text:find("[`line break and cr`]", 1, true))
    assert.is_truthy(text:find("| multi<br>line |", 1, true))
    assert.is_truthy(text:find("[`` pipe \\| and `tick` ~/slash ``]", 1, true))
    assert.is_truthy(text:find("| a \\| b |", 1, true))
  end)

  it("orders sections by name", function()
    local text = schema.markdown({ { name = "b" }, { name = "a" }, { name = "$c" } })
    assert.is_truthy(text:find("\n3 events: 0 verified", 1, true))
    assert.is_truthy(schema.markdown({ { name = "a" } }):find("\n1 event: 0 verified", 1, true))
    local order = {}
    for name in text:gmatch("\n## `([^`]+)`") do order[#order + 1] = name end
    assert.same({ "$c", "a", "b" }, order)
  end)
end)

describe("schema.plan", function()
  it("plans nothing between a state and itself, or a snapshot of it", function()
    local current = seeded()
    assert.same({ ops = {}, skipped = {} }, schema.plan(current, current))
    assert.same({}, schema.plan(current, copy(current), { delete_missing = true }).ops)
    assert.same({}, schema.plan(current, assert(schema.load(schema.snapshot(current)))).ops)
    assert.same({}, schema.plan(current, assert(schema.load(schema.snapshot(current, { full = true })))).ops)
    assert.same({}, schema.plan({}, {}).ops)
  end)

  it("turns a seeded state into the desired one exactly", function()
    local current = seeded()
    local desired = assert(schema.load([[{"version": 1, "definitions": [
      {"name": "signed_up", "description": "User signed up", "tags": ["Growth", " core "], "owner": 2,
       "id": "ignored", "last_seen_at": "2030-01-01T00:00:00Z", "is_action": true},
      {"name": "file, \"downloaded\"", "description": "A file was downloaded", "primary_property": null,
       "tags": ["files"], "default_columns": ["event"]},
      {"name": "$pageview", "description": null, "verified": false, "hidden": true},
      {"name": "untouched"},
      {"name": "naïve café ✓ 日本", "tags": ["Intl"], "enforcement_mode": "reject"},
      {"name": "new_event", "description": "Brand new", "tags": ["New", "new"], "verified": true, "hidden": null}
    ]}]]))
    local plan = schema.plan(current, desired, { delete_missing = true })
    assert.same({
      { op = "create", name = "new_event",
        fields = { name = "new_event", description = "Brand new", tags = { "new" }, verified = true } },
      { op = "update", name = "$pageview", id = uuid(3),
        fields = { description = null, verified = false, hidden = true } },
      { op = "update", name = TRICKY[1], id = uuid(2),
        fields = { description = "A file was downloaded", primary_property = null, tags = { "files" },
          default_columns = { "event" } } },
      { op = "update", name = TRICKY[3], id = uuid(7), fields = { tags = { "intl" }, enforcement_mode = "reject" } },
      { op = "update", name = "signed_up", id = uuid(1), fields = { owner = 2 } },
      { op = "delete", name = "legacy_event", id = uuid(4) },
      { op = "delete", name = TRICKY[2], id = uuid(6) },
      { op = "delete", name = TRICKY[4], id = uuid(8) },
    }, plan.ops)
    -- every op is what the client can send
    for _, op in ipairs(plan.ops) do
      if op.fields then assert.is_string(core.encode(op.fields, "definition")) end
    end
    local result = apply(current, plan.ops)

    -- the state reached: what the desired file says, everything else as it was
    local expected = {
      def_of("signed_up", nil, { description = "User signed up", tags = { "growth", "core" }, verified = true,
        owner = 2 }),
      def_of(TRICKY[1], nil, { description = "A file was downloaded", tags = { "files" },
        default_columns = { "event" } }),
      def_of("$pageview", nil, { tags = { "web" }, verified = false, hidden = true }),
      def_of("untouched", nil, { description = "same" }),
      def_of(TRICKY[3], nil, { description = "unicode ✓", tags = { "intl" }, enforcement_mode = "reject" }),
      def_of("new_event", nil, { description = "Brand new", tags = { "new" }, verified = true }),
    }
    expected[3].description = nil -- cleared
    assert.equal(snapshot_without_ids(expected), snapshot_without_ids(result))
    assert.same({}, schema.plan(result, desired, { delete_missing = true }).ops)
  end)

  it("deletes only when asked", function()
    local current = seeded()
    local desired = { { name = "signed_up" } }
    assert.same({}, schema.plan(current, desired).ops)
    assert.same({}, schema.plan(current, desired, { delete_missing = false }).ops)
    local ops = schema.plan(current, desired, { delete_missing = true }).ops
    assert.equal(#current - 1, #ops)
    for _, op in ipairs(ops) do
      assert.equal("delete", op.op)
      assert.is_nil(op.fields)
    end
    assert.same({}, apply(current, schema.plan(current, {}, { delete_missing = true }).ops))
  end)

  it("compares tags as normalised sets", function()
    local current = { def_of("e", uuid(1), { tags = { "core", "b" } }) }
    assert.same({}, schema.plan(current, { { name = "e", tags = { " Core ", "B", "core", "b\t" } } }).ops)
    assert.same({ { op = "update", name = "e", id = uuid(1), fields = { tags = { "a", "b", "core" } } } },
      schema.plan(current, { { name = "e", tags = { "CORE", "a", "b" } } }).ops)
    assert.same({ { op = "update", name = "e", id = uuid(1), fields = { tags = { "b" } } } },
      schema.plan(current, { { name = "e", tags = { "B" } } }).ops)
  end)

  it("clears fields set to null, and only when they are not already empty", function()
    local full = { def_of("e", uuid(1), { description = "d", tags = { "t" }, verified = true, hidden = true,
      owner = { id = 3 }, primary_property = "p", default_columns = { "c" }, enforcement_mode = "reject" }) }
    local clear = { name = "e", description = null, tags = null, verified = null, hidden = null, owner = null,
      primary_property = null, default_columns = null, enforcement_mode = null }
    local ops = schema.plan(full, { clear }).ops
    assert.same({ { op = "update", name = "e", id = uuid(1), fields = { description = null, tags = {},
      verified = false, hidden = null, owner = null, primary_property = null, default_columns = {},
      enforcement_mode = "allow" } } }, ops)
    local body = assert(core.encode(ops[1].fields, "definition"))
    for _, part in ipairs { '"tags":[]', '"default_columns":[]', '"description":null', '"owner":null',
      '"verified":false', '"enforcement_mode":"allow"' } do
      assert.is_truthy(body:find(part, 1, true), part)
    end
    local cleared = apply(full, ops)
    assert.same({}, schema.plan(cleared, { clear }).ops)
    local empty = { { id = uuid(2), name = "e", description = "", tags = {}, verified = false, hidden = false,
      default_columns = {}, enforcement_mode = "allow" } }
    assert.same({}, schema.plan(empty, { clear }).ops)
    assert.same({}, schema.plan({ { id = uuid(2), name = "e" } }, { clear }).ops)
    -- a null in a new definition has nothing to clear
    assert.same({ { op = "create", name = "e", fields = { name = "e" } } }, schema.plan({}, { clear }).ops)
  end)

  it("ignores read-only and unknown fields, and compares the owner by id", function()
    local current = seeded()
    local desired = {}
    for i, d in ipairs(current) do
      desired[i] = { name = d.name, id = uuid(99), created_at = "2000-01-01T00:00:00Z", updated_at = "x",
        updated_by = { id = 9 }, last_seen_at = "y", verified_at = "z", verified_by = { id = 9 }, is_action = true,
        media_preview_urls = { "u" }, future_field = 1, owner = d.owner and d.owner.id }
    end
    assert.same({}, schema.plan(current, desired).ops)
    desired[1].owner = { id = 1, email = "other@example.com" }
    assert.same({}, schema.plan(current, desired).ops)
    desired[1].owner = 5
    assert.same({ { op = "update", name = "signed_up", id = uuid(1), fields = { owner = 5 } } },
      schema.plan(current, desired).ops)
  end)

  it("treats absent booleans and strings as their defaults", function()
    local current = { { id = uuid(1), name = "e" } }
    assert.same({}, schema.plan(current, { { name = "e", verified = false, hidden = false, description = "",
      tags = {}, default_columns = {}, enforcement_mode = "allow" } }).ops)
    assert.same({ { op = "update", name = "e", id = uuid(1), fields = { default_columns = { "b", "a" } } } },
      schema.plan({ { id = uuid(1), name = "e", default_columns = { "a", "b" } } },
        { { name = "e", default_columns = { "b", "a" } } }).ops)
  end)

  it("orders ops: creates, then updates, then deletes, each by name bytewise", function()
    local current = { { id = uuid(1), name = "zu" }, { id = uuid(2), name = "Au" }, { id = uuid(3), name = "zd" },
      { id = uuid(4), name = "Ad" } }
    local desired = { { name = "zu", description = "x" }, { name = "zc" }, { name = "Au", description = "x" },
      { name = "Ac" }, { name = "éc" } }
    local got = {}
    for i, op in ipairs(schema.plan(current, desired, { delete_missing = true }).ops) do
      got[i] = op.op .. " " .. op.name
    end
    assert.same({ "create Ac", "create zc", "create éc", "update Au", "update zu", "delete Ad", "delete zd" }, got)
  end)

  it("returns nil and a validation error for unnamed or repeated definitions, and raises on wrong types", function()
    local ops, err = schema.plan({}, { { name = "a" }, { name = "a" } })
    assert.is_nil(ops)
    assert.equal("validation", err.kind)
    assert.equal('schema.plan: desired[2]: duplicate name "a"', err.detail)
    assert.equal('posthog.event_definitions: validation: schema.plan: desired[2]: duplicate name "a"', tostring(err))
    assert.is_false(err.retryable)
    assert.equal(0, err.attempts)
    ops, err = schema.plan({ { id = uuid(1) } }, {})
    assert.is_nil(ops)
    assert.equal("validation", err.kind)
    assert.equal("schema.plan: current[1] has no name", err.detail)
    assert.has_error(function() schema.plan(nil, {}) end)
    assert.has_error(function() schema.plan({}, "x") end)
    assert.has_error(function() schema.plan({}, {}, true) end)
  end)
end)

describe("schema.load of a snapshot an editor annotated", function()
  it("reads a snapshot that carries a $schema key", function()
    local defs = assert(schema.load('{"$schema":"./snapshot.schema.json","version":1,'
      .. '"definitions":[{"name":"e","description":"d"}]}'))
    assert.equal(1, #defs)
    assert.equal("d", defs[1].description)
  end)
end)

describe("schema.plan for a deployment without the Enterprise package", function()
  it("leaves out the fields such a deployment refuses or ignores, and lists them", function()
    local current = {
      { id = uuid(1), name = "signed_up", tags = { "growth" }, enforcement_mode = "allow" },
    }
    local desired = assert(schema.load([[{"version": 1, "definitions": [
      {"name": "signed_up", "description": "User signed up", "tags": ["growth", "core"], "verified": true,
       "hidden": true, "owner": 2, "default_columns": ["event"]},
      {"name": "new_event", "description": "Brand new", "primary_property": "plan", "verified": false}
    ]}]]))
    local plan = schema.plan(current, desired, { enterprise = false })
    assert.same({
      { op = "create", name = "new_event", fields = { name = "new_event", primary_property = "plan" } },
      { op = "update", name = "signed_up", id = uuid(1), fields = { tags = { "core", "growth" } } },
    }, plan.ops)
    assert.same({
      { name = "new_event", field = "description", reason = "refused" },
      { name = "new_event", field = "verified", reason = "refused" },
      { name = "signed_up", field = "default_columns", reason = "ignored" },
      { name = "signed_up", field = "description", reason = "refused" },
      { name = "signed_up", field = "hidden", reason = "refused" },
      { name = "signed_up", field = "owner", reason = "ignored" },
      { name = "signed_up", field = "verified", reason = "refused" },
    }, plan.skipped)
    -- with the package (the default) every field is planned and nothing is skipped
    local full = schema.plan(current, desired)
    assert.same({}, full.skipped)
    assert.equal("Brand new", full.ops[1].fields.description)
    assert.equal(2, full.ops[2].fields.owner)
    assert.has_error(function() schema.plan(current, desired, { enterprise = "no" }) end,
      "posthog.event_definitions.schema: plan: opts.enterprise must be a boolean, got string")
  end)

  it("takes which fields those are from the C shape (core.fields)", function()
    local marked = {}
    for _, f in ipairs(core.fields) do
      if f.without_enterprise then marked[f.name] = f.without_enterprise end
      if f.without_enterprise then assert.is_true(f.writable) end
    end
    assert.same({ description = "refused", verified = "refused", hidden = "refused", owner = "ignored",
      default_columns = "ignored" }, marked)
  end)
end)

describe("schema.plan and Unicode tags", function()
  it("compares tags as PostHog stores them, so a plan converges for non-ASCII tags", function()
    local current = { { id = "0190c6a2-8f4e-0000-9c1d-3f5b2a7e9d11", name = "e", tags = { "ärger", "nbsp" } } }
    local desired = { { name = "e", tags = { "Ärger", "\194\160NBSP" } } }
    assert.same({}, assert(schema.plan(current, desired)).ops)
    desired[1].tags = { "Ärger", "neu" }
    local ops = assert(schema.plan(current, desired)).ops
    assert.equal(1, #ops)
    assert.same({ "neu", "ärger" }, ops[1].fields.tags)
  end)
end)

describe("schema and the C shape (core.fields)", function()
  -- The writable fields a desired state sets: every writable field of the C shape but the name.
  local function writable()
    local list = {}
    for _, f in ipairs(core.fields) do
      if f.writable and f.name ~= "name" then list[#list + 1] = f end
    end
    return list
  end

  -- Two different values field f may be set to: `a` as the API returns it (a user as an object),
  -- never the value PostHog stores when the field is absent, `b` as a desired state gives it, and
  -- `sent`, b as plan sends it.
  local function values(f)
    if f.choices then
      local a, b
      for _, choice in ipairs(f.choices) do
        if a == nil and choice ~= f.default then a = choice elseif b == nil then b = choice end
      end
      return a, b, b
    elseif f.array then
      return { "alpha" }, setmetatable({ "beta", "gamma" }, core.array_mt), { "beta", "gamma" }
    elseif f.type == "boolean" then
      return not f.default, f.default == true, f.default == true
    elseif f.type == "user" then
      return { id = 1, email = "ann@example.com" }, 2, 2
    elseif f.type == "integer" then
      return 1, 2, 2
    end
    assert.equal("string", f.type, f.name)
    return "one", "two", "two"
  end

  -- A value of the wrong type for f.
  local function wrong(f)
    if f.choices then return "no such choice" end
    if f.array then return "alpha" end
    if f.type == "string" then return 12 end
    return "yes"
  end

  it("includes post_to_slack among the writable fields, as the client sends it", function()
    local names = {}
    for _, f in ipairs(writable()) do names[f.name] = true end
    assert.is_true(names.post_to_slack)
    local text = schema.snapshot({ { name = "e", post_to_slack = true, is_action = true } })
    assert.is_truthy(text:find('"post_to_slack": true', 1, true), text)
    assert.is_nil(text:find("is_action", 1, true), text)
    assert.same({ { op = "update", name = "e", id = uuid(1), fields = { post_to_slack = true } } },
      assert(schema.plan({ { id = uuid(1), name = "e", post_to_slack = false } }, assert(schema.load(text)))).ops)
  end)

  it("carries every writable field through snapshot, load and plan", function()
    local fields = writable()
    assert.is_true(#fields >= 9)
    local base = { id = uuid(1), name = "e" }
    for _, f in ipairs(fields) do base[f.name] = (values(f)) end
    -- a state and its own snapshot: nothing to do
    local current = { base }
    assert.same({}, assert(schema.plan(current, assert(schema.load(schema.snapshot(current))))).ops)
    assert.same({}, assert(schema.plan(current, assert(schema.load(schema.json_schema(current))))).ops)
    for _, f in ipairs(fields) do
      local _, b, sent = values(f)
      -- a desired state differing in f alone plans exactly that change
      local changed = copy(base)
      changed[f.name] = b
      local desired = assert(schema.load(schema.snapshot({ changed })))
      local ops = assert(schema.plan(current, desired)).ops
      assert.same({ { op = "update", name = "e", id = uuid(1), fields = { [f.name] = sent } } }, ops, f.name)
      assert.is_string(core.encode(ops[1].fields, "definition"), f.name)
      -- and so does one that clears it: null where PostHog takes null, else what it stores when absent
      changed[f.name] = null
      ops = assert(schema.plan(current, assert(schema.load(schema.snapshot({ changed }))))).ops
      local cleared = null
      if not f.nullable and f.default ~= nil then cleared = f.default end
      assert.same({ { op = "update", name = "e", id = uuid(1), fields = { [f.name] = cleared } } }, ops, f.name)
      assert.is_string(core.encode(ops[1].fields, "definition"), f.name)
      -- a value of the wrong type is a validation error naming the field
      changed[f.name] = wrong(f)
      local defs, err = schema.load(schema.snapshot({ changed }))
      assert.is_nil(defs, f.name)
      assert.equal("validation", err.kind, f.name)
      assert.is_truthy(err.detail:find("definitions[1]: " .. f.name .. " must be ", 1, true), err.detail)
    end
  end)
end)
