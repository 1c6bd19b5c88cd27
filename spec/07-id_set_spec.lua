-- core.id_set (src/mem/id_set.c), on every interpreter: a set of id strings that is exact (two
-- different strings are never the same id, whatever their case, length or bytes), grows without
-- losing or inventing an id, costs far less memory than a Lua table of the same ids, and refuses
-- what is not a string; and the pager's walks that use it (each skips an id met before, all
-- fails on one).
local core = require "posthog.event_definitions.core"
local evdefs = require "posthog.event_definitions"
local helpers = require "spec.helpers"

local UUID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

-- A deterministic canonical (lowercase) UUID for number n.
local function uuid(n)
  return string.format("0190c6a2-%04x-7000-9c1d-%012x", n % 65536, n * 7919)
end

-- The memory (KB, as collectgarbage("count") sees it once all garbage is gone) that fill() adds.
local function kilobytes(fill)
  collectgarbage()
  collectgarbage()
  local before = collectgarbage("count")
  local kept = fill()
  collectgarbage()
  collectgarbage()
  local after = collectgarbage("count")
  assert(kept)
  return after - before
end

describe("core.id_set", function()
  it("adds an id once: true the first time, false after, and counts its ids", function()
    local set = core.id_set()
    assert.equal(0, #set)
    assert.is_true(set:add(UUID))
    assert.is_false(set:add(UUID))
    assert.is_true(set:add("name-1"))
    assert.is_false(set:add("name-1"))
    assert.equal(2, #set)
    assert.equal(2, set:count())
    assert.is_true(core.id_set():add(UUID), "each set is its own")
  end)

  it("never takes two different strings for one id: case, form and bytes all count", function()
    local ids = {
      UUID,
      UUID:upper(),                                   -- the same UUID in uppercase: another string
      UUID:sub(1, -2) .. "B",                         -- mixed case
      "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g",         -- 36 characters, not hex
      "0190a1b2c3d47e5f8a9b0c1d2e3f4a5b",             -- the same hex digits without hyphens
      "0190a1b2c-3d4-7e5f-8a9b-0c1d2e3f4a5b",         -- hyphens elsewhere
      "0190a1b2_c3d4_7e5f_8a9b_0c1d2e3f4a5b",         -- other separators
      "{" .. UUID .. "}",
      " " .. UUID,
      UUID .. "\0",
      "0190a1b2\0c3d4-7e5f-8a9b-0c1d2e3f4a5b",        -- 36 bytes with a NUL where a hyphen goes
      "00000000-0000-0000-0000-000000000000",         -- the nil UUID packs to 16 zero bytes
      "00000000-0000-0000-0000-000000000001",
      "ffffffff-ffff-ffff-ffff-ffffffffffff",
      "", "\0", "\0\0", "a", "a\0", "a\0b", "a\0c", "A", "1", "01", "1.0",
      string.rep("x", 1000), string.rep("x", 999) .. "y",
    }
    local set = core.id_set()
    for _, id in ipairs(ids) do assert.is_true(set:add(id), ("%q"):format(id)) end
    for _, id in ipairs(ids) do assert.is_false(set:add(id), ("%q"):format(id)) end
    assert.equal(#ids, #set)
  end)

  it("grows to 200,000 ids, finding every one again and none it was not given", function()
    local set = core.id_set()
    local n = 200000
    for i = 1, n do
      local id = i % 10 == 0 and ("event-" .. i) or uuid(i) -- both parts grow
      if not set:add(id) then error("a new id was found before it was added: " .. id) end
    end
    assert.equal(n, #set)
    for i = 1, n do
      local id = i % 10 == 0 and ("event-" .. i) or uuid(i)
      if set:add(id) then error("an id was lost: " .. id) end
    end
    for i = 1, n, 7 do -- near misses: one more, uppercase, another part
      local near = { uuid(i + n), uuid(i):upper(), "event-" .. (i + n), i % 10 == 0 and uuid(i) or ("event-" .. i) }
      for _, id in ipairs(near) do
        if not set:add(id) then error("an id was found that was never added: " .. id) end
      end
    end
    assert.equal(n + 4 * math.ceil(n / 7), set:count())
  end)

  it("holds 100,000 UUIDs in under a third of the memory of a Lua table of them", function()
    local n = 100000
    local set = core.id_set()
    for i = 1, n do set:add(uuid(i)) end
    local set_kb = set:bytes() / 1024
    local table_kb = kilobytes(function()
      local t = {}
      for i = 1, n do t[uuid(i)] = true end
      return t
    end)
    assert.is_true(set_kb * 3 < table_kb, ("set %.0f KB, table %.0f KB"):format(set_kb, table_kb))
    assert.is_true(set:bytes() / n < 32, ("%.1f bytes an id"):format(set:bytes() / n))
  end)

  -- A walk's ids live as long as the walk: counted, they would let the heap grow further
  -- between collections (2.2 MB of ids let it grow 4 MB more).
  it("takes its memory from the Lua state's allocator, outside the collector's count", function()
    local ids = {} -- made beforehand, so that Lua's string table keeps one size throughout
    for i = 1, 50000 do ids[2 * i - 1], ids[2 * i] = uuid(i), "event-" .. i end
    local set = core.id_set()
    local counted = kilobytes(function()
      for _, id in ipairs(ids) do set:add(id) end
      return true
    end)
    assert.equal(100000, #set)
    assert.is_true(set:bytes() > 2 * 1024 * 1024, ("%d bytes held"):format(set:bytes()))
    assert.is_true(counted < 16, ("%.0f KB counted"):format(counted))
    -- the state's allocator: one that refuses makes the add fail, and the set is as it was
    local faults = require "alloc_faults"
    local grown = core.id_set()
    local ok, err = faults.run(1, function() return grown:add(UUID) end)
    assert.is_false(ok)
    assert.matches("not enough memory", err, 1, true) -- the message too may find no memory
    assert.equal(0, #grown)
    assert.is_true(grown:add(UUID))
  end)

  it("refuses anything but a string id, numbers included", function()
    local set = core.id_set()
    for _, bad in ipairs { 5, 1.5, true, {}, core.null, print } do
      assert.has_error(function() set:add(bad) end)
      local ok, err = pcall(set.add, set, bad)
      assert.is_false(ok)
      assert.matches("string expected, got " .. type(bad), err, 1, true)
    end
    assert.matches("string expected, got no value", select(2, pcall(set.add, set)), 1, true)
    assert.matches("string expected, got nil", select(2, pcall(set.add, set, nil)), 1, true)
    assert.matches("id_set expected", select(2, pcall(set.add, {}, UUID)), 1, true)
    assert.matches("id_set expected", select(2, pcall(set.count, "x")), 1, true)
    assert.equal(0, #set)
  end)
end)

describe("walks that never yield an id twice", function()
  local BASE = "https://posthog.example.com/api/projects/7/event_definitions/"

  -- A client whose transport answers with the given page bodies in turn.
  local function client(bodies)
    local responses = {}
    for i, body in ipairs(bodies) do responses[i] = { body = body } end
    local transport = helpers.scripted(responses)
    return assert(evdefs.new { host = "https://posthog.example.com", personal_api_key = "phx_spec",
      project_id = 7, transport = transport, rate_limit = false })
  end

  -- A page body of definitions {id, name} (id false: none), with a next link at `offset` and a count.
  local function page(defs, offset, count)
    local items = {}
    for i, d in ipairs(defs) do
      items[i] = d[1] and ('{"id":"%s","name":"%s"}'):format(d[1], d[2]) or ('{"name":"%s"}'):format(d[2])
    end
    local nxt = offset and ('"%s?limit=3&offset=%d"'):format(BASE, offset) or "null"
    return ('{"count":%s,"next":%s,"previous":null,"results":[%s]}'):format(count or "null", nxt,
      table.concat(items, ","))
  end

  local function names(client_, params)
    local out = {}
    for def, err in client_:each(params) do
      assert(def, err)
      out[#out + 1] = def.name
    end
    return table.concat(out, " ")
  end

  it("each skips an id met on an earlier page, and yields every definition without an id", function()
    local bodies = {
      page({ { UUID, "a" }, { "name-id", "b" }, { false, "c" } }, 3),
      page({ { UUID, "a again" }, { UUID:upper(), "A" }, { false, "d" } }, 6),
      page({ { "name-id", "b again" }, { false, "e" } }),
    }
    assert.equal("a b c A d e", names(client(bodies), { limit = 3 }))
  end)

  it("all fails when an id comes twice, and keeps ids that differ only in case", function()
    local first = page({ { uuid(1), "a" }, { uuid(2), "b" }, { uuid(3), "c" } }, 3)
    local defs, err = client({ first, page({ { uuid(4), "d" }, { uuid(2), "b" } }) }):all { limit = 3 }
    assert.is_nil(defs)
    assert.equal("decode", err.kind)
    assert.matches("changed while paging", err.detail)
    defs = assert(client({ first, page({ { uuid(1):upper(), "A" } }) }):all { limit = 3 })
    assert.equal(4, #defs)
    -- a full first page with an exact count: the other pages are fetched by offset
    local counted = page({ { uuid(1), "a" }, { uuid(2), "b" }, { uuid(3), "c" } }, 3, 6)
    defs, err = client({ counted, page({ { uuid(4), "d" }, { uuid(3), "c" }, { uuid(5), "e" } }) }):all { limit = 3 }
    assert.is_nil(defs)
    assert.matches("changed while paging", err.detail)
    defs = assert(client({ counted, page({ { uuid(4), "d" }, { uuid(3):upper(), "C" }, { uuid(5), "e" } }) })
      :all { limit = 3 })
    assert.equal(6, #defs)
  end)
end)
