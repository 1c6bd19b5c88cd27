-- examples/: each script run as a user runs it (a process, with the interpreter running busted,
-- or sh) against the fake PostHog server, with POSTHOG_HOST, POSTHOG_PERSONAL_API_KEY and
-- POSTHOG_PROJECT_ID pointing at it. The nginx configurations of examples/nginx are started as
-- written by spec/60 (posthog-admin.conf, spec/nginx/start --docs) and spec/62 (edge.conf,
-- spec/nginx/start --edge).
local helpers = require "helpers"
local schema = require "posthog.event_definitions.schema"
local T = require "support.cli"

local quote, slurp, state, writes = T.quote, T.slurp, T.state, T.writes

-- Runs `program` (a shell word list, quoted) with the fake's environment; returns status, stdout, stderr.
local function example(words, vars)
  local env = { "env -u POSTHOG_HOST -u POSTHOG_PROJECT_ID -u POSTHOG_PERSONAL_API_KEY" }
  for k, v in pairs(T.environment(vars)) do env[#env + 1] = k .. "=" .. quote(v) end
  return T.sh(table.concat(env, " ") .. " " .. words)
end

-- A Lua example run with this interpreter.
local function lua_example(name, ...)
  local words = { quote(T.LUA), "examples/" .. name }
  for _, a in ipairs { ... } do words[#words + 1] = quote(a) end
  return example(table.concat(words, " "))
end

describe("examples/", function()
  before_each(function()
    helpers.reset { seed = 12 }
  end)

  it("demo.lua tours the client", function()
    local status, out, err = lua_example("demo.lua")
    assert.are.equal(0, status, err)
    assert.matches("delete: demo_signed_up removed", out)
  end)

  it("export-csv.lua writes the CSV export, which plans back to no changes", function()
    local dir = T.tmpdir()
    local status, out = lua_example("export-csv.lua", dir .. "/all.csv")
    assert.are.equal(0, status)
    assert.are.equal("export-csv: 12 definitions written to " .. dir .. "/all.csv\n", out)
    assert.are.equal(schema.csv((state())), slurp(dir .. "/all.csv"))
    local plan = T.run { "plan", dir .. "/all.csv", "--exit-code" }
    assert.are.equal(0, plan)
    status, out = lua_example("export-csv.lua", dir .. "/some.csv", "event_000")
    assert.are.equal(0, status)
    assert.matches("^export%-csv: 9 definitions", out)
    assert.are.equal(2, (lua_example("export-csv.lua")))
  end)

  it("retag.lua renames a tag by filter: a dry run first, then --apply", function()
    T.clear_log()
    local status, out = lua_example("retag.lua", "Billing", "finance")
    assert.are.equal(0, status)
    assert.are.equal('retag: 3 definitions tagged "billing" would be tagged "finance" instead '
      .. "(run again with --apply)\n", out)
    assert.are.same({}, writes())
    status, out = lua_example("retag.lua", "billing", "finance", "--apply")
    assert.are.equal(0, status)
    assert.are.equal('retag: 3 definitions tagged "finance" instead of "billing" (0 failed)\n', out)
    local _, by_name = state()
    for _, name in ipairs { "event_0004", "event_0008", "event_0012" } do
      local tags = by_name[name].tags
      table.sort(tags)
      assert.is_truthy(table.concat(tags, ","):find("finance", 1, true), name)
      assert.is_falsy(table.concat(tags, ","):find("billing", 1, true), name)
    end
    status, out = lua_example("retag.lua", "billing", "finance", "--apply")
    assert.are.equal(0, status)
    assert.are.equal('retag: no definition is tagged "billing"\n', out)
  end)

  it("cleanup-stale.lua lists the stale definitions, and hides them with --apply", function()
    local client = helpers.client()
    local stale = assert(client:stale { days = 30 })
    client:close()
    assert.is_true(#stale > 0)
    T.clear_log()
    local status, out = lua_example("cleanup-stale.lua", "30")
    assert.are.equal(0, status)
    for _, def in ipairs(stale) do
      if not def.hidden then assert.truthy(out:find(def.name, 1, true), def.name) end
    end
    assert.are.same({}, writes())
    status, out = lua_example("cleanup-stale.lua", "30", "--apply")
    assert.are.equal(0, status)
    assert.matches("cleanup%-stale: %d+ hidden, 0 failed\n$", out)
    local _, by_name = state()
    for _, def in ipairs(stale) do assert.is_true(by_name[def.name].hidden, def.name) end
    assert.matches("cleanup%-stale: 0 definitions not seen for 30 days\n$", select(2, lua_example("cleanup-stale.lua",
      "30")))
  end)

  it("ci-drift-gate.sh passes on no drift and fails on drift, in the taxonomy and in generated types", function()
    local dir = T.tmpdir()
    local evdefs = "POSTHOG_EVDEFS=" .. quote(T.LUA .. " bin/posthog-evdefs") -- split into words by sh
    assert.are.equal(0, (T.run { "export", "snapshot", "--out", dir .. "/taxonomy.json" }))
    assert.are.equal(0, (T.run { "codegen", "--lang", "typescript", "--out", dir .. "/events.ts" }))
    local gate = evdefs .. " examples/ci-drift-gate.sh " .. dir .. "/taxonomy.json " .. dir .. "/events.ts"
    local status, out, err = example(gate)
    assert.are.equal(0, status, err)
    assert.matches("Plan: 0 to create, 0 to update, 0 to delete%.\nci%-drift%-gate: the project matches ", out)
    assert.matches("events%.ts is up to date", out)

    local client = helpers.client()
    assert(client:update(select(2, state()).event_0007.id, { description = "Changed in PostHog" }))
    status, out, err = example(gate)
    assert.are.equal(1, status)
    assert.matches('description: "Changed in PostHog" → "Seeded event 7"', out)
    assert.matches("ci%-drift%-gate: the project differs from ", err)

    assert(client:update(select(2, state()).event_0001.id, { verified = true })) -- into the generated types
    client:close()
    assert.are.equal(0, (T.run { "export", "snapshot", "--out", dir .. "/taxonomy.json" })) -- the taxonomy matches
    status, out, err = example(gate)
    assert.are.equal(1, status)
    assert.matches("drift: [^\n]*events%.ts is out of date", err)
    assert.matches("the project matches", out)
    assert.are.equal(2, (example(evdefs .. " examples/ci-drift-gate.sh /nonexistent.json")))
  end)

  -- make edge-demo starts its own fake PostHog and nginx: once, not on every interpreter
  if rawget(_G, "jit") then
    it("run-edge-demo (make edge-demo) shows the edge of examples/nginx/edge.conf at work", function()
      local status, out, err = T.sh("examples/run-edge-demo")
      assert.are.equal(0, status, err)
      assert.matches("%-> PostHog:     signup\n", out)
      assert.matches("%-> quarantine:  mystery_event  %(%$taxonomy_violation = unknown", out)
      assert.matches('%-> quarantine:  checkout  %(%$taxonomy_violation = schema, detail %[{[^\n]*"order_id"', out)
      assert.matches('posthog_edge_removed_total{project="default",destination="quarantine"} 3', out, 1, true)
    end)
  end
end)
