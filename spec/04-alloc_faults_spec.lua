-- Allocation-failure fault injection over the C core: every operation runs with its 1st, 2nd,
-- 3rd, ... allocation failing (and every later one, as an allocator out of memory would),
-- until it runs through without meeting the failure. Each failed run must raise a clean
-- "not enough memory" error, leak nothing (make valgrind) and leave the state usable. The
-- core takes all its memory (buffers, yajl) from the Lua state's allocator, which
-- spec/support/alloc_faults.c wraps. Every decoding operation runs twice: with the simdjson
-- parser registered (this file registers it, whatever ran before), where the raise comes
-- while simdjson's document is handed out, and with yajl alone.
local core = require "posthog.event_definitions.core"
local faults = require "alloc_faults"
require "posthog.event_definitions.simdjson"

local PARSER_KEY = "posthog.event_definitions.parser.2" -- the registry field of the parser

local MAX_RUNS = 400 -- per operation: every allocation up to here, then a sample of the rest

local DEFINITION = '{"id":"0190c6a2-8f4e-0000-9c1d-3f5b2a7e9d11","name":"downloaded_file",' ..
  '"owner":{"id":7,"email":"ada@example.com","hedgehog_config":null},"description":"d\\u00e9",' ..
  '"created_at":"2024-07-10T09:15:02Z","verified":false,"hidden":null,"enforcement_mode":"allow",' ..
  '"tags":["a","b"],"default_columns":[],"action_id":3,' ..
  '"ratio":0.123456789012345678901234567890123456789012345678901234567890123456789,' ..
  '"future_field":{"x":[1,null,"y",{"z":[]}]}}'

local function page(n)
  local items = {}
  for i = 1, n do items[i] = DEFINITION end
  return '{"count":' .. n .. ',"next":null,"previous":null,"results":[' .. table.concat(items, ",") .. ']}'
end

-- Ids for the id set: UUIDs (packed) and other strings (copied), made once, outside the runs.
local IDS = {}
for i = 1, 40 do
  IDS[#IDS + 1] = ("0190c6a2-8f4e-0000-9c1d-%012x"):format(i)
  IDS[#IDS + 1] = "event-" .. i
end

local function nested(depth)
  return string.rep('{"a":[', depth) .. '"x"' .. string.rep("]}", depth)
end

local function wide(n)
  local t = {}
  for i = 1, n do t["key" .. i] = { i, "v" .. i, i % 2 == 0 } end
  return t
end

-- Runs op with each allocation failing in turn (every one up to MAX_RUNS of them, a sample
-- beyond), until a run meets no failure; returns how many runs raised.
local function exercise(op)
  local ok, expected = pcall(op)
  assert(ok, expected)
  local _, _, _, count = faults.run(0, op) -- about how many allocations it makes
  local step = count <= MAX_RUNS and 1 or math.ceil(count / MAX_RUNS)
  local raised, n = 0, 1
  while true do
    local done, value, hit = faults.run(n, op)
    if not hit then
      assert.is_true(done, value)
      assert.same(expected, value)
      break
    end
    if done then
      assert.same(expected, value) -- the failure was absorbed (Lua retries some allocations)
    else
      assert.matches("not enough memory", tostring(value))
      raised = raised + 1
    end
    n = n + step
    assert.is_true(n <= 2 * count + 100, "no run without a failure")
  end
  collectgarbage() -- the guards of the failed runs free what they held
  assert.same(expected, op()) -- the state is still usable
  return raised
end

describe("allocation failures in the core", function()
  local jit = rawget(_G, "jit")
  setup(function() if jit then jit.off() end end) -- no trace compiler allocating on the side
  teardown(function() if jit then jit.on() end end)

  local operations = {
    ["encode a definition with its shape"] = function()
      return core.encode(core.decode(DEFINITION, "definition"), "definition")
    end,
    ["encode a wide table, sorting its keys"] = function() return core.encode(wide(60)) end,
    ["encode a deep value"] = function() return core.encode(core.decode(nested(45))) end,
    ["encode a refused value"] = function() return { core.encode({ tags = { 1 } }, "definition") } end,
    ["decode a definition"] = function() return core.decode(DEFINITION, "definition") end,
    ["decode a page"] = function() return core.decode(page(4), "page") end,
    ["decode a deep value"] = function() return core.decode(nested(49)) end,
    ["decode with nulls kept"] = function() return core.decode('{"a":null,"b":[null]}', nil, true) end,
    ["decode escapes, a key twice and a refused surrogate"] = function()
      return { core.decode('{"a":"\\ud83d\\ude00","a":["x",{"b":null}],"c":1}'), core.decode('["\\ud800"]') }
    end,
    ["decode invalid JSON"] = function() return { core.decode('{"a":[1,2,}') } end,
    ["decode a bulk answer"] = function()
      return { core.decode('{"updated":[{"id":"a","tags":["x"]}],"skipped":[{"id":5}]}', "bulk") }
    end,
    ["build a request"] = function()
      return core.build_request({
        method = "POST", base = "https://us.posthog.com", path = "/api/projects/1/event_definitions/",
        key = "phx_key", user_agent = "spec", timeout = 30, headers = { ["X-Trace"] = "1" },
        query = { names = { "a b", "c" }, tags = { "x", "y" }, limit = 100, search = "é", ordering = { "name", "-x" } },
        query_shape = "list",
        body = { name = "e", tags = { "a" }, verified = true, owner = 7, extra = { ids = {} } },
        body_shape = "definition",
      })
    end,
    ["refuse a request"] = function()
      return { core.build_request({ method = "GET", base = "http://x", path = "/", key = "k",
        query = { names = { "a,b" } }, query_shape = "list" }) }
    end,
    ["decode an error answer"] = function()
      return { core.decode_response({ status = 429,
        headers = { ["retry-after"] = "Wed, 21 Oct 2015 07:28:00 GMT" },
        body = '{"type":"throttled_error","code":"throttled","detail":"Slow down.","attr":null}' }, nil, 1445412470) }
    end,
    ["decode a gateway page"] = function()
      return { core.decode_response({ status = 502, body = "<html><title>502 Bad Gateway</title></html>" }) }
    end,
    ["decode a page answer"] = function()
      return core.decode_response({ status = 200, headers = {}, body = page(2) }, "page")
    end,
    ["decode a codegen answer"] = function()
      return core.decode_response({ status = 200, headers = { ["content-type"] = "text/plain" }, body = "x" },
        "codegen")
    end,
    ["parse a response head"] = function()
      return { core.parse_head("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Dup: a\r\n" ..
        "x-dup: b\r\nX-Folded: one\r\n  two\r\n\r\n") }
    end,
    ["refuse a malformed head"] = function() return { core.parse_head("HTTP/1.1 200 OK\r\nno colon\r\n") } end,
    ["normalize headers"] = function()
      return core.normalize_headers({ ["Content-Type"] = "a", ["content-type"] = "b", ["Set-Cookie"] = { "x", "y" },
        ["X-N"] = 5 })
    end,
    ["normalize a tag"] = function() return core.normalize_tag("  \194\160Ärger École  ") end,
    ["add ids to a set, growing it; a failed add leaves it as it was"] = function()
      local set, added = core.id_set(), 0
      local ok, err = pcall(function()
        for _, id in ipairs(IDS) do
          if set:add(id) then added = added + 1 end
        end
      end)
      -- the ids added before a failure are all there (finding one allocates nothing), no other
      for i = 1, added do
        if set:add(IDS[i]) then error("the id set lost an id") end
      end
      if #set ~= added then error("the id set counts an id it does not hold") end
      if not ok then error(err, 0) end
      return { added, #set }
    end,
    ["load the module"] = function()
      local loaded = package.loaded["posthog.event_definitions.core"]
      package.loaded["posthog.event_definitions.core"] = nil
      local ok, m = pcall(require, "posthog.event_definitions.core")
      package.loaded["posthog.event_definitions.core"] = loaded
      if not ok then error(m, 0) end
      return { #m.fields, m.fields[5].name, m.fields[5].default }
    end,
  }

  -- op run with no parser registered (yajl alone), the registered one put back after
  local function yajl_alone(op)
    return function()
      local registry = debug.getregistry()
      local parser = registry[PARSER_KEY]
      registry[PARSER_KEY] = nil
      local ok, value = pcall(op)
      registry[PARSER_KEY] = parser
      if not ok then error(value, 0) end
      return value
    end
  end
  local alone = {}
  for name, op in pairs(operations) do
    if name:find("decode") then alone[name .. " (yajl alone)"] = yajl_alone(op) end
  end
  for name, op in pairs(alone) do operations[name] = op end

  it("runs with simdjson registered", function()
    assert.equal("simdjson", core.json_parser())
  end)

  local names = {}
  for name in pairs(operations) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    it(name .. ": every failure raises cleanly and the state stays usable", function()
      assert.is_true(exercise(operations[name]) > 0)
    end)
  end
end)
