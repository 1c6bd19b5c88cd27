-- Batches and the bulk helpers against the fake server: every input reported once in order,
-- failures at exactly their positions, the concurrency bound, dry runs, chunking.
local helpers = require "spec.helpers"

-- A well-formed UUID the fake does not know, distinct per n.
local function missing_id(n)
  return string.format("01900000-0000-7000-8000-%012d", n)
end

local function state_by_name()
  local out = {}
  for _, d in ipairs(helpers.state()) do out[d.name] = d end
  return out
end

local client
before_each(function()
  helpers.reset { seed = 0 }
  client = helpers.client()
end)
after_each(function() client:close() end)

describe("client:batch", function()
  it("runs 1,000 mixed operations and reports failures at exactly their positions", function()
    helpers.reset { seed = 600 }
    local defs = assert(client:all { limit = 1000, ordering = "name" })
    assert.equal(600, #defs)
    local ops, failing = {}, {}
    for i = 1, 1000 do
      local kind = i % 4
      if i % 97 == 0 then
        ops[i] = { op = (i % 2 == 0) and "update" or "delete", id = missing_id(i), fields = { description = "x" } }
        failing[i] = true
      elseif kind == 0 then
        ops[i] = { op = "create", fields = { name = ("batch_new_%04d"):format(i), tags = { "batch" } } }
      elseif kind == 1 or kind == 2 then
        ops[i] = { op = "update", id = defs[(i % 600) + 1].id, fields = { description = "batch " .. i } }
      else
        ops[i] = { op = "delete", id = defs[(i % 600) + 1].id }
      end
    end
    -- A delete whose definition another op updates may legitimately lose the race; keep each
    -- definition touched by one op only.
    local touched = {}
    for i, op in ipairs(ops) do
      if op.id and not failing[i] then
        if touched[op.id] then ops[i] = { op = "create", fields = { name = ("batch_dup_%04d"):format(i) } } end
        touched[op.id] = true
      end
    end
    local progress = {}
    local report = assert(client:batch(ops, { concurrency = 8, on_progress = function(done, total)
      progress[#progress + 1] = done
      assert.equal(1000, total)
    end }))
    assert.equal(1000, #report.results)
    assert.equal(1000, #progress)
    assert.equal(1000, progress[#progress])
    local nfail = 0
    for i, r in ipairs(report.results) do
      if failing[i] then
        nfail = nfail + 1
        assert.is_false(r.ok, "op " .. i .. " should fail")
        assert.equal(404, r.err.status)
      else
        assert.is_true(r.ok, "op " .. i .. ": " .. tostring(r.err))
        if ops[i].op == "delete" then assert.is_true(r.value) else assert.is_string(r.value.id) end
      end
    end
    assert.equal(nfail, report.failed)
    assert.equal(1000 - nfail, report.ok)
    local state, by_id = state_by_name(), {}
    for _, d in pairs(state) do by_id[d.id] = d end
    for i, op in ipairs(ops) do
      if op.op == "create" then assert.is_table(state[op.fields.name], "created " .. i) end
      if op.op == "delete" and not failing[i] then assert.is_nil(by_id[op.id], "deleted " .. i) end
      if op.op == "update" and not failing[i] then
        assert.equal(op.fields.description, by_id[op.id].description, "updated " .. i)
      end
    end
  end)

  it("never runs more than `concurrency` requests at once", function()
    helpers.config { latency = 0.05 }
    local ops = {}
    for i = 1, 24 do ops[i] = { op = "create", fields = { name = ("conc_%02d"):format(i) } } end
    local report = assert(client:batch(ops, { concurrency = 4 }))
    assert.equal(24, report.ok)
    local stats = helpers.stats()
    assert.is_true(stats.inflight_high >= 2, "no overlap seen: " .. stats.inflight_high)
    assert.is_true(stats.inflight_high <= 4, "too many at once: " .. stats.inflight_high)
  end)

  it("dry_run validates and reports each request, sending nothing", function()
    helpers.control("DELETE", "requests")
    local report = assert(client:batch({
      { op = "create", fields = { name = "dry", tags = {} } },
      { op = "update", id = missing_id(1), fields = { verified = true } },
      { op = "update", id = "nope", fields = {} },
      { op = "update", id = missing_id(2), fields = { verified = "yes" } },
      { op = "explode" },
    }, { dry_run = true }))
    assert.equal(2, report.ok)
    assert.equal(3, report.failed)
    local r1 = report.results[1]
    assert.is_true(r1.dry_run)
    assert.same({ method = "POST", path = "/api/projects/1/event_definitions/",
      body = '{"name":"dry","tags":[]}' }, r1.request)
    assert.equal("PATCH", report.results[2].request.method)
    for i = 3, 5 do assert.equal("validation", report.results[i].err.kind) end
    assert.equal(0, #helpers.api_requests())
  end)

  it("lets on_progress call the client while the batch runs", function()
    for i = 1, 5 do assert(client:create { name = ("stable_%d"):format(i) }) end
    local ops = {}
    for i = 1, 6 do ops[i] = { op = "create", fields = { name = ("nested_%d"):format(i) } } end
    local counts = {}
    local report = assert(client:batch(ops, { concurrency = 3, on_progress = function(done)
      counts[done] = #assert(client:all { search = "stable", limit = 2 })
    end }))
    assert.equal(6, report.ok)
    assert.same({ 5, 5, 5, 5, 5, 5 }, counts)
  end)

  it("when on_progress raises, starts nothing new, finishes what is in flight, then raises", function()
    helpers.config { latency = 0.1 }
    local ops = {}
    for i = 1, 16 do ops[i] = { op = "create", fields = { name = ("raising_%02d"):format(i) } } end
    local ok, err = pcall(client.batch, client, ops, { concurrency = 8, on_progress = function()
      error("progress bar broke", 0)
    end })
    assert.is_false(ok)
    assert.equal("progress bar broke", err)
    assert.equal(0, helpers.stats().inflight, "the error came back with requests still in flight")
    local posts = 0
    for _, r in ipairs(helpers.api_requests()) do
      if r.method == "POST" then posts = posts + 1 end
    end
    assert.equal(8, posts)
    assert.equal(8, #helpers.state())
    helpers.config { latency = 0 }
    local page = assert(client:list { limit = 100 })
    assert.equal(8, page.count)
  end)

  it("refuses an empty batch", function()
    local report, err = client:batch({})
    assert.is_nil(report)
    assert.equal("validation", err.kind)
    assert.has_error(function() client:batch("x") end)
    assert.has_error(function() client:batch({}, { concurrency = 0 }) end)
  end)
end)

describe("bulk helpers", function()
  local function create_many(n, prefix)
    local ops = {}
    for i = 1, n do ops[i] = { op = "create", fields = { name = ("%s_%04d"):format(prefix, i) } } end
    local report = assert(client:batch(ops))
    assert.equal(n, report.ok)
    local ids = {}
    for i, r in ipairs(report.results) do ids[i] = r.value.id end
    return ids
  end

  it("refuse an empty selection, never meaning everything", function()
    for _, call in ipairs {
      function() return client:bulk_delete({}) end,
      function() return client:bulk_hide({}) end,
      function() return client:bulk_verify({}) end,
      function() return client:bulk_tag({}, "add", { "x" }) end,
      function() return client:bulk_delete({ search = "  " }) end,
      function() return client:bulk_delete({ limit = 5, ordering = "name" }) end,
      function() return client:bulk_hide({ exclude_hidden = false, excluded_properties = { "x" } }) end,
      function() return client:bulk_verify({ event_type = "event" }) end,
    } do
      local report, err = call()
      assert.is_nil(report)
      assert.equal("validation", err.kind)
    end
  end)

  it("bulk_delete by filter deletes exactly the matching definitions", function()
    create_many(5, "junk")
    create_many(3, "keep")
    local report = assert(client:bulk_delete { search = "junk" })
    assert.equal(5, report.ok)
    local state = state_by_name()
    for i = 1, 5 do assert.is_nil(state[("junk_%04d"):format(i)]) end
    for i = 1, 3 do assert.is_table(state[("keep_%04d"):format(i)]) end
    local none = assert(client:bulk_delete { search = "junk" })
    assert.equal(0, none.ok + none.failed)
  end)

  it("names the definition of each result of a bulk helper: its id, and its name when a filter selected it", function()
    create_many(3, "named")
    create_many(1, "other")
    local state = state_by_name()
    for _, run in ipairs { -- delete last
      function(opts) return client:bulk_verify({ search = "named" }, opts) end,
      function(opts) return client:bulk_tag({ search = "named" }, "add", { "x" }, opts) end,
      function(opts) return client:bulk_delete({ search = "named" }, opts) end,
    } do
      for _, opts in ipairs { { dry_run = true }, {} } do
        local report = assert(run(opts))
        for i, r in ipairs(report.results) do
          local name = ("named_%04d"):format(i)
          assert.same({ name, state[name].id }, { r.name, r.id })
        end
      end
    end
    local report = assert(client:bulk_hide({ state.other_0001.id, missing_id(3) }))
    assert.same({ state.other_0001.id, missing_id(3) }, { report.results[1].id, report.results[2].id })
    assert.is_nil(report.results[1].name)
  end)

  it("bulk_hide hides each id and reports unknown ones at their positions", function()
    local ids = create_many(3, "hide")
    table.insert(ids, 2, missing_id(7))
    local report = assert(client:bulk_hide(ids))
    assert.equal(3, report.ok)
    assert.is_false(report.results[2].ok)
    assert.equal(404, report.results[2].err.status)
    assert.is_true(report.results[1].value.hidden)
  end)

  it("bulk_verify chunks 1,200 ids into requests of at most 500", function()
    local ids = create_many(1100, "verify")
    for i = 1, 100 do ids[#ids + 1] = missing_id(i) end
    helpers.control("DELETE", "requests")
    local report = assert(client:bulk_verify(ids))
    local posts = helpers.api_requests()
    assert.equal(3, #posts)
    for _, p in ipairs(posts) do assert.equal("/api/projects/1/event_definitions/bulk_update_verified/", p.path) end
    assert.equal(1100, report.ok)
    assert.equal(100, report.failed)
    assert.equal("skipped", report.results[1101].err.code)
    assert.is_true(state_by_name().verify_0001.verified)
    local upper = assert(client:bulk_verify({ ids[1]:upper(), missing_id(1):upper() }, { verified = false }))
    assert.is_true(upper.results[1].ok, tostring(upper.results[1].err))
    assert.is_false(upper.results[2].ok)
    assert.equal(1, upper.failed)
    assert.is_false(state_by_name().verify_0001.verified)
  end)

  it("bulk_tag keeps ids x tags within 10,000 and merges the answers", function()
    local ids = create_many(700, "tag")
    local tags = {}
    for i = 1, 30 do tags[i] = "t" .. i end
    helpers.control("DELETE", "requests")
    local report = assert(client:bulk_tag(ids, "add", tags))
    assert.equal(700, report.ok)
    local posts = helpers.api_requests()
    assert.equal(3, #posts) -- floor(10000 / 30) = 333 ids a request
    assert.equal(30, #state_by_name().tag_0700.tags)
    local too_many = {}
    for i = 1, 101 do too_many[i] = "s" .. i end
    local _, err = client:bulk_tag(ids, "set", too_many)
    assert.equal("validation", err.kind)
    local seen = {}
    local split = assert(client:bulk_tag({ ids[1], ids[2] }, "add", too_many, { on_progress = function(done, total)
      seen[#seen + 1] = done .. "/" .. total
    end }))
    assert.equal(2, split.ok)
    assert.same({ "2/4", "4/4" }, seen) -- two groups of tags (100 + 1), one count over both
    assert.equal(131, #state_by_name().tag_0001.tags)
  end)

  it("stale returns definitions not seen for `days`, never-seen ones only when asked", function()
    local now = os.time()
    local function iso(days_ago) return os.date("!%Y-%m-%dT%H:%M:%SZ", now - days_ago * 86400) end
    helpers.reset { definitions = {
      { name = "fresh", last_seen_at = iso(1) },
      { name = "old", last_seen_at = iso(45) },
      { name = "ancient", last_seen_at = iso(400) },
      { name = "never" },
    } }
    local function names(list)
      local out = {}
      for _, d in ipairs(list) do out[#out + 1] = d.name end
      table.sort(out)
      return out
    end
    assert.same({ "ancient", "old" }, names(assert(client:stale { now = now })))
    assert.same({ "ancient" }, names(assert(client:stale { days = 90, now = now })))
    assert.same({ "ancient", "never", "old" }, names(assert(client:stale { include_never_seen = true, now = now })))
  end)
end)

describe("taxonomy helpers", function()
  it("event_properties reads the property groups attached to each event, with required", function()
    helpers.reset { property_groups = {
      { name = "file", events = { "downloaded_file" }, properties = {
        { name = "file_name", property_type = "String", is_required = true, description = "Name" },
        { name = "file_size", property_type = "Numeric" },
      } },
      { name = "page", events = { "viewed_page" }, properties = { { name = "url", property_type = "String" } } },
    } }
    local props, source = assert(client:event_properties { "downloaded_file", "viewed_page" })
    assert.equal("schema", source)
    table.sort(props.downloaded_file, function(a, b) return a.name < b.name end)
    assert.same({
      { name = "file_name", type = "String", required = true, description = "Name" },
      { name = "file_size", type = "Numeric", required = false, description = "" },
    }, props.downloaded_file)
    assert.same({ { name = "url", type = "String", required = false, description = "" } }, props.viewed_page)
  end)

  it("event_properties falls back to property definitions (types only) when schemas are refused", function()
    helpers.reset { property_groups = { { name = "file", events = { "downloaded_file" }, properties = {
      { name = "file_name", property_type = "String", is_required = true } } } } }
    helpers.faults { { match = { path = "event_schemas" }, times = 0, status = 403 } }
    local props, source = assert(client:event_properties { "downloaded_file" })
    assert.equal("property_definitions", source)
    assert.same({ { name = "file_name", type = "String", required = false, description = "" } },
      props.downloaded_file)
  end)

  it("a plan applied as a batch turns the seeded state into the desired one exactly", function()
    local schema = require "posthog.event_definitions.schema"
    local evdefs = require "posthog.event_definitions"
    helpers.reset { seed = 12 }
    local current = assert(client:all())
    local desired = assert(schema.load(schema.snapshot(current)))
    local by_name = {}
    for _, d in ipairs(desired) do by_name[d.name] = d end
    by_name.event_0001.description = "Changed by the plan"
    by_name.event_0002.tags = { "Fresh", "core " }
    by_name.event_0003.description = evdefs.null
    by_name.event_0004 = nil
    desired[#desired + 1] = { name = "brand_new", description = "Created by the plan", tags = { "new" } }
    local kept = {}
    for _, d in ipairs(desired) do if by_name[d.name] ~= nil or d.name == "brand_new" then kept[#kept + 1] = d end end
    local plan = assert(schema.plan(current, kept, { delete_missing = true }))
    assert.equal(5, #plan.ops)
    local report = assert(client:batch(plan.ops))
    assert.equal(5, report.ok)
    local after = assert(client:all())
    assert.same({}, assert(schema.plan(after, kept, { delete_missing = true })).ops)
    local state = {}
    for _, d in ipairs(after) do state[d.name] = d end
    assert.equal("Changed by the plan", state.event_0001.description)
    table.sort(state.event_0002.tags)
    assert.same({ "core", "fresh" }, state.event_0002.tags)
    assert.is_nil(state.event_0003.description)
    assert.is_nil(state.event_0004)
    assert.same({ "new" }, state.brand_new.tags)
    assert.equal(12, #after)
  end)
end)
