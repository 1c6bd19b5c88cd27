-- The command-line program posthog-evdefs: bin/posthog-evdefs run as a real process (with the
-- interpreter running this spec) against the fake PostHog server, and cli.main in-process for
-- what a pipe cannot show (terminals, progress bars).
local helpers = require "helpers"
local core = require "posthog.event_definitions.core"
local schema = require "posthog.event_definitions.schema"

local T = require "support.cli"

local run, main, json, state, tmpdir = T.run, T.main, T.json, T.state, T.tmpdir
local clear_log, logged, writes = T.clear_log, T.logged, T.writes
local slurp, spit, quote = T.slurp, T.spit, T.quote
local UNKNOWN = T.UNKNOWN

describe("posthog-evdefs", function()
  before_each(function()
    helpers.reset { seed = 12 }
  end)

  describe("exit status and messages", function()
    it("exits 2 on an unknown flag, subcommand or a missing argument, with the usage on stderr", function()
      for _, argv in ipairs { { "list", "--bogus" }, { "frobnicate" }, { "get" }, {}, { "bulk" },
        { "--format", "yaml", "list" }, { "codegen", "--out", "x.ts" }, { "list", "--limit", "zero" },
        { "bulk", "tag", "add", "core" }, { "update", UNKNOWN } } do
        local status, out, err = run(argv)
        assert.are.equal(2, status, table.concat(argv, " "))
        assert.are.equal("", out)
        assert.matches("^posthog%-evdefs: [^\n]+\nUsage: posthog%-evdefs", err)
      end
      local _, _, err = run { "list", "--bogus" }
      assert.matches("unknown option '%-%-bogus'", err)
    end)

    it("prints --help for the program and every subcommand and exits 0", function()
      local status, out = run { "--help" }
      assert.are.equal(0, status)
      assert.matches("POSTHOG_PERSONAL_API_KEY", out)
      for _, argv in ipairs { { "list" }, { "get" }, { "metrics" }, { "stale" }, { "create" }, { "update" },
        { "delete" }, { "export" }, { "plan" }, { "apply" }, { "bulk" }, { "bulk", "delete" }, { "bulk", "hide" },
        { "bulk", "verify" }, { "bulk", "tag" }, { "codegen" } } do
        local words = table.concat(argv, " ")
        argv[#argv + 1] = "--help"
        local s, o = main(argv)
        assert.are.equal(0, s, words)
        assert.matches("^Usage: posthog%-evdefs " .. words:gsub("%p", "%%%0"), o)
      end
    end)

    it("exits 1 without POSTHOG_PERSONAL_API_KEY and sends nothing", function()
      clear_log()
      local status, out, err = run({ "list" }, { POSTHOG_PERSONAL_API_KEY = false })
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.matches("^posthog%-evdefs: POSTHOG_PERSONAL_API_KEY is not set", err)
      assert.are.same({}, logged())
    end)

    it("exits 1 on a name that no definition has, naming it, after one lookup", function()
      clear_log()
      local status, out, err = run { "get", "no_such_event" }
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.are.equal('posthog-evdefs: no definition named "no_such_event" in project 1\n', err)
      assert.are.same({ "GET /api/projects/1/event_definitions/by_name/" }, logged())
    end)

    it("exits 1 with one line on an API error and never prints the key", function()
      local status, out, err = run { "get", UNKNOWN }
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.matches("^posthog%-evdefs: [^\n]*404[^\n]*\n$", err)
      assert.is_nil(err:find("posthog.event_definitions: ", 1, true), err) -- one prefix, not two
      assert.is_nil(err:find(helpers.KEY, 1, true))
      status, out, err = run({ "list" }, { POSTHOG_PERSONAL_API_KEY = "phx_not_a_real_key" })
      assert.are.equal("", out)
      assert.are.equal(1, status)
      assert.matches("401", err)
      assert.is_nil(err:find("phx_not_a_real_key", 1, true))
    end)

    it("refuses to delete several definitions without --yes, changing nothing", function()
      local before = state()
      clear_log()
      local status, out, err = run { "delete", before[1].id, before[2].id }
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.matches("^posthog%-evdefs: refusing to delete 2 definitions without %-%-yes", err)
      for _, argv in ipairs { { "bulk", "delete", before[1].id }, { "bulk", "hide", "--search", "event" } } do
        status, _, err = run(argv)
        assert.are.equal(1, status)
        assert.matches("without %-%-yes", err)
      end
      assert.are.same({}, logged())
      assert.are.same(before, (state()))
    end)

    it("refuses to delete or hide without an explicit project (flag or environment), changing nothing", function()
      local before = state()
      clear_log()
      for _, argv in ipairs { { "delete", before[1].id }, { "--project-id", "@current", "delete", before[1].id },
        { "bulk", "delete", "--yes", before[1].id }, { "bulk", "hide", "--yes", "--search", "event_000" },
        { "apply", "--delete-missing", "/nonexistent" } } do
        local status, _, err = run(argv, { POSTHOG_PROJECT_ID = false })
        assert.are.equal(1, status, table.concat(argv, " "))
        assert.matches("name the project with %-%-project%-id or POSTHOG_PROJECT_ID", err)
      end
      assert.are.same({}, logged())
      assert.are.same(before, (state()))
      local status = run({ "--project-id", "1", "delete", before[1].id, "--yes" }, { POSTHOG_PROJECT_ID = false })
      assert.are.equal(0, status)
      assert.are.equal(#before - 1, #state())
    end)

    it("refuses --format csv where the output is not definitions", function()
      local status, _, err = run { "--format", "csv", "metrics", UNKNOWN }
      assert.are.equal(2, status)
      assert.matches("%-%-format csv is for definitions", err)
    end)
  end)

  describe("list", function()
    it("prints JSON when stdout is not a terminal, one page of --limit", function()
      local status, out = run { "list", "--limit", "5" }
      assert.are.equal(0, status)
      local defs = json(out)
      assert.are.equal(5, #defs)
      local page = assert(helpers.client():list { limit = 5 })
      for i, d in ipairs(defs) do assert.are.same(page.results[i], d) end
    end)

    it("prints an aligned table when stdout is a terminal (test -t, through a pseudo-terminal)", function()
      local out = os.tmpname()
      local words = {}
      for k, v in pairs(T.environment()) do words[#words + 1] = k .. "=" .. quote(v) end
      os.execute("script -qec " .. quote(table.concat(words, " ") .. " " .. quote(T.LUA)
        .. " bin/posthog-evdefs list --limit 3") .. " /dev/null >" .. out .. " 2>&1")
      local text = T.plain(slurp(out):gsub("\r", ""))
      os.remove(out)
      assert.matches("^NAME +ID +VERIFIED +HIDDEN +TAGS +LAST SEEN +DESCRIPTION\n", text)
      assert.matches("\nevent_%d+ +%x+%-", text)
    end)

    it("follows every page with --all, --limit being the page size", function()
      clear_log()
      local status, out = run { "list", "--all", "--limit", "5" }
      assert.are.equal(0, status)
      local defs = json(out)
      assert.are.equal(12, #defs)
      local names = {}
      for _, d in ipairs(defs) do names[d.name] = true end
      for i = 1, 12 do assert.is_true(names[string.format("event_%04d", i)]) end
      local pages = helpers.requests()
      assert.are.equal(3, #pages)
      for _, r in ipairs(pages) do assert.matches("limit=5", r.args) end
    end)

    it("prints an empty array as []", function()
      local status, out = run { "list", "--search", "no such event" }
      assert.are.equal(0, status)
      assert.are.equal("[]\n", out)
    end)

    it("prints RFC 4180 CSV (schema.csv's: tags as a JSON array) with awkward names and reads it back", function()
      local client = helpers.client()
      local awkward = { "comma, separated", 'say "hi"', "two\nlines", "crlf\r\nname", "ünïcødé 事件 ✓",
        '"quoted", and\nmore' }
      for i, name in ipairs(awkward) do
        assert(client:create { name = name, description = "d, \"" .. i .. "\"\n", tags = { "t" .. i, "x" } })
      end
      local status, out = run { "--format", "csv", "list", "--all", "--limit", "4" }
      assert.are.equal(0, status)
      local rows = helpers.parse_csv(out)
      assert.are.same({ "id", "name", "description", "tags", "verified", "hidden", "owner", "last_seen_at",
        "created_at", "updated_at" }, rows[1])
      local all = assert(client:all { limit = 4 })
      assert.are.equal(#all + 1, #rows)
      for i, d in ipairs(all) do
        local row = rows[i + 1]
        local tags = {}
        for j, t in ipairs(d.tags) do tags[j] = t end
        table.sort(tags)
        assert.are.same({ d.id, d.name, d.description or "", core.encode(setmetatable(tags, core.array_mt)),
          tostring(d.verified),
          tostring(d.hidden == true), d.owner and (d.owner.email or tostring(d.owner.id)) or "",
          d.last_seen_at or "", d.created_at or "", d.updated_at or "" }, row)
      end
      local found = {}
      for i = 2, #rows do found[rows[i][2]] = true end
      for _, name in ipairs(awkward) do assert.is_true(found[name], name) end
      client:close()
    end)
  end)

  describe("get, metrics, stale", function()
    it("prints one definition and its metrics as JSON objects", function()
      local defs = state()
      local status, out = run { "get", defs[1].id }
      assert.are.equal(0, status)
      assert.are.same(defs[1], json(out))
      helpers.config { metrics_for_keys = true }
      local by_name = select(2, state())
      status, out = run { "metrics", by_name.event_0007.id }
      assert.are.equal(0, status)
      assert.are.same({ query_usage_30_day = 7 }, json(out))
    end)

    it("lists what client:stale lists", function()
      local client = helpers.client()
      for _, argv in ipairs { { "stale" }, { "stale", "--days", "10", "--include-never-seen" } } do
        local status, out = run(argv)
        assert.are.equal(0, status)
        local expected = assert(client:stale { days = argv[3] and tonumber(argv[3]) or 30,
          include_never_seen = argv[4] ~= nil })
        assert.is_true(#expected > 0)
        assert.are.same(expected, json(out))
      end
      client:close()
    end)
  end)

  describe("writes", function()
    it("sends nothing with --dry-run and prints the requests that would be sent", function()
      local defs = state()
      clear_log()
      local status, out = run { "create", "new_event", "--description", "New", "--tag", "a", "--dry-run" }
      assert.are.equal(0, status)
      local sent = json(out)
      assert.are.equal(1, #sent)
      assert.are.equal("POST", sent[1].method)
      assert.are.equal("/api/projects/1/event_definitions/", sent[1].path)
      assert.are.same({ name = "new_event", description = "New", tags = { "a" } }, sent[1].body)

      status, out = run { "update", defs[1].id, "--no-verified", "--hidden", "--tag", "x", "--tag", "y",
        "--dry-run" }
      assert.are.equal(0, status)
      sent = json(out)
      assert.are.equal("PATCH", sent[1].method)
      assert.are.equal("/api/projects/1/event_definitions/" .. defs[1].id .. "/", sent[1].path)
      assert.are.same({ verified = false, hidden = true, tags = { "x", "y" } }, sent[1].body)

      status, out = run { "delete", defs[1].id, defs[2].id, "--dry-run" }
      assert.are.equal(0, status)
      sent = json(out)
      assert.are.equal(2, #sent)
      assert.are.equal("DELETE", sent[2].method)
      assert.are.equal("/api/projects/1/event_definitions/" .. defs[2].id .. "/", sent[2].path)

      status = run { "delete", "not-a-uuid", "--dry-run" }
      assert.are.equal(1, status)
      assert.are.same({}, writes())
      assert.are.same(defs, (state()))
    end)

    it("creates, updates (replacing the tag set) and deletes", function()
      local status, out = run { "create", "signed_up", "--description", "A user signed up", "--tag", "core" }
      assert.are.equal(0, status)
      local created = json(out)
      assert.are.equal("signed_up", created.name)
      assert.are.same({ "core" }, created.tags)

      status, out = run { "update", created.id, "--tag", "growth", "--tag", "web", "--verified" }
      assert.are.equal(0, status)
      local updated = json(out)
      assert.are.same({ "growth", "web" }, updated.tags)
      assert.is_true(updated.verified)
      assert.are.equal("A user signed up", updated.description)

      clear_log()
      status, out = run { "delete", created.id, "--yes" }
      assert.are.equal(0, status)
      local report = json(out)
      assert.are.equal(1, report.ok)
      assert.are.equal(0, report.failed)
      assert.are.same({ "DELETE /api/projects/1/event_definitions/" .. created.id .. "/" }, writes())
      assert.is_nil(select(2, state()).signed_up)
    end)
  end)

  describe("export, plan and apply", function()
    local dir
    before_each(function() dir = tmpdir() end)
    after_each(function() os.execute("rm -rf " .. dir) end)

    it("exports CSV as schema.csv does (tags as a JSON array), whatever --format says", function()
      local status, out = run { "--format", "csv", "export", "csv" }
      assert.are.equal(0, status)
      assert.are.equal(schema.csv((state())), out)
      local rows = helpers.parse_csv(out)
      assert.are.equal("tags", rows[1][4])
    end)

    it("exports a snapshot that plans to no operations", function()
      local file = dir .. "/taxonomy.json"
      local status, out = run { "export", "snapshot", "--out", file }
      assert.are.equal(0, status)
      assert.are.equal("", out)
      assert.are.equal(schema.snapshot((state())), slurp(file))
      local err
      status, out, err = run { "--format", "json", "plan", file }
      assert.are.equal(0, status)
      assert.are.equal("[]\n", out)
      assert.matches("no changes", err)
      status, out = run { "plan", file, "--delete-missing", "--exit-code" }
      assert.are.equal(0, status)
      assert.are.equal("Plan: 0 to create, 0 to update, 0 to delete.\n", out)
    end)

    it("exports each format to stdout", function()
      local defs = state()
      local expected = {
        ["json-schema"] = schema.json_schema(defs), markdown = schema.markdown(defs),
        csv = schema.csv(defs), snapshot = schema.snapshot(defs),
      }
      for what, text in pairs(expected) do
        local status, out = run { "export", what }
        assert.are.equal(0, status, what)
        assert.are.equal(text:sub(-1) == "\n" and text or text .. "\n", out, what)
      end
    end)

    it("applies a changed snapshot: the fake's state changes exactly as planned", function()
      local file = dir .. "/taxonomy.json"
      assert.are.equal(0, (run { "export", "snapshot", "--out", file }))
      local doc = json(slurp(file))
      local kept = {}
      for _, d in ipairs(doc.definitions) do
        if d.name == "event_0002" then
          d.description = "Changed"
          d.tags = setmetatable({ "Core", "new " }, core.array_mt)
        end
        if d.name == "event_0003" then d.description = core.null end
        if d.name ~= "event_0012" then kept[#kept + 1] = d end
      end
      kept[#kept + 1] = { name = "added_event", description = "Added", tags = setmetatable({ "x" }, core.array_mt) }
      doc.definitions = setmetatable(kept, core.array_mt)
      spit(file, core.encode(doc))

      local status, out = run { "--format", "json", "plan", file, "--delete-missing" }
      assert.are.equal(0, status)
      local ops = json(out)
      local summary = {}
      for i, op in ipairs(ops) do summary[i] = op.op .. " " .. op.name end
      assert.are.same({ "create added_event", "update event_0002", "update event_0003", "delete event_0012" },
        summary)

      local before, old = state()
      status, out = run { "--format", "json", "apply", file, "--delete-missing", "--yes" }
      assert.are.equal(0, status)
      local report = json(out)
      assert.are.equal(4, report.ok)
      assert.are.equal(0, report.failed)

      local after, new = state()
      assert.are.equal(#before, #after) -- one added, one deleted
      assert.is_nil(new.event_0012)
      assert.are.equal("Added", new.added_event.description)
      assert.are.same({ "x" }, new.added_event.tags)
      assert.are.equal("Changed", new.event_0002.description)
      local tags = new.event_0002.tags
      table.sort(tags)
      assert.are.same({ "core", "new" }, tags)
      assert.is_true(new.event_0003.description == nil or new.event_0003.description == "")
      for name, d in pairs(old) do
        if name ~= "event_0002" and name ~= "event_0003" and name ~= "event_0012" then
          assert.are.same(d, new[name], name)
        end
      end
      status, out = run { "--format", "json", "plan", file, "--delete-missing" }
      assert.are.equal(0, status)
      assert.are.equal("[]\n", out)
    end)

    it("on a deployment without the Enterprise package plans and applies without the fields it refuses", function()
      helpers.reset { seed = 12, config = { enterprise = false } }
      local file = dir .. "/taxonomy.json"
      spit(file, core.encode { version = 1, definitions = setmetatable({
        { name = "event_0002", description = "Changed", verified = true,
          tags = setmetatable({ "core" }, core.array_mt) },
        { name = "added_event", description = "Added", hidden = false, tags = setmetatable({ "x" }, core.array_mt) },
      }, core.array_mt) })
      local status, out, err = run { "plan", file }
      assert.are.equal(0, status)
      assert.matches("Plan: 1 to create, 1 to update, 0 to delete.", out, 1, true)
      assert.not_matches("description", out)
      assert.are.equal("posthog-evdefs: this PostHog has no Enterprise package: left out 4 changes of "
        .. "description, hidden, verified, which it refuses or ignores\n", err)
      clear_log()
      status, out, err = run { "--format", "json", "apply", file }
      assert.are.equal(0, status, err)
      assert.are.equal(2, json(out).ok)
      local sent = 0
      for _, r in ipairs(helpers.api_requests()) do
        if r.method ~= "GET" then
          sent = sent + 1
          assert.not_matches("description", r.body or "")
        end
      end
      assert.are.equal(2, sent)
      local _, by_name = state()
      assert.are.same({ "core" }, by_name.event_0002.tags)
      assert.are.same({ "x" }, by_name.added_event.tags)
      status, out = run { "--format", "json", "plan", file }
      assert.are.equal(0, status)
      assert.are.equal("[]\n", out)
    end)

    it("on an empty project without the Enterprise package says in one line what to do when refused", function()
      helpers.reset { seed = 0, config = { enterprise = false } }
      local file = dir .. "/taxonomy.json"
      spit(file, core.encode { version = 1,
        definitions = setmetatable({ { name = "added_event", description = "Added" } }, core.array_mt) })
      local status, _, err = run { "apply", file }
      assert.are.equal(1, status)
      local hints = 0
      for line in err:gmatch("[^\n]+") do
        if line:find("no Enterprise package", 1, true) then hints = hints + 1 end
      end
      assert.are.equal(1, hints)
      assert.matches("leave those fields out", err)
      assert.are.same({}, (state()))
    end)

    it("exits 1 when an operation of apply fails, reporting it", function()
      local file = dir .. "/taxonomy.json"
      assert.are.equal(0, (run { "export", "snapshot", "--out", file }))
      local doc = json(slurp(file))
      for _, d in ipairs(doc.definitions) do
        if d.name == "event_0004" or d.name == "event_0005" then d.description = "Changed" end
      end
      spit(file, core.encode(doc))
      helpers.faults { { match = { method = "PATCH", path = select(2, state()).event_0004.id }, status = 400 } }
      local status, out = run { "apply", file }
      assert.are.equal(1, status)
      assert.matches("\nFAILED +update +event_0004 +%x+%-[%x-]+ +400 ", out)
      assert.matches("\nok +update +event_0005 +%x+%-", out)
      assert.matches("1 ok, 1 failed\n$", out)
      assert.are.equal("Changed", select(2, state()).event_0005.description)
    end)

    it("reports a file that is not a snapshot as a failure", function()
      local file = dir .. "/bad.json"
      spit(file, "{\"nope\": 1}")
      local status, out, err = run { "plan", file }
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.matches("^posthog%-evdefs: decode: schema%.load: neither a snapshot[^\n]*\n$", err)
    end)
  end)

  describe("bulk", function()
    it("tags the definitions given with --id, and only those", function()
      local before, old = state()
      local ids = { old.event_0001.id, old.event_0002.id }
      local status, out = run { "bulk", "tag", "add", "Launch", "--id", ids[1], "--id", ids[2] }
      assert.are.equal(0, status)
      local report = json(out)
      assert.are.equal(2, report.ok)
      assert.are.equal(0, report.failed)
      assert.are.equal(ids[1], report.results[1].id)
      local _, new = state()
      for _, d in ipairs(before) do
        local tags = new[d.name].tags
        if d.name == "event_0001" or d.name == "event_0002" then
          assert.are.same({ "launch" }, tags)
        else
          assert.are.same(d, new[d.name])
        end
      end
    end)

    it("deletes by filter with --yes, and hides and verifies by ids", function()
      local _, old = state()
      local status, out = run { "bulk", "delete", "--search", "event_001", "--yes" }
      assert.are.equal(0, status)
      assert.are.equal(3, json(out).ok)
      local after, new = state()
      assert.are.equal(9, #after)
      assert.is_nil(new.event_0010)
      status = run { "bulk", "hide", old.event_0001.id, "--yes" }
      assert.are.equal(0, status)
      status = run { "bulk", "verify", old.event_0002.id }
      assert.are.equal(0, status)
      _, new = state()
      assert.is_true(new.event_0001.hidden)
      assert.is_true(new.event_0002.verified)
    end)

    it("exits 1 when any operation fails", function()
      local _, old = state()
      local status, out = run { "bulk", "hide", old.event_0001.id, UNKNOWN, "--yes" }
      assert.are.equal(1, status)
      local report = json(out)
      assert.are.equal(1, report.ok)
      assert.are.equal(1, report.failed)
      assert.is_false(report.results[2].ok)
      assert.are.equal(404, report.results[2].error.status)
    end)

    it("sends no write with --dry-run", function()
      local before = state()
      clear_log()
      local status, out = run { "bulk", "delete", "--search", "event_001", "--dry-run" }
      assert.are.equal(0, status)
      assert.are.equal(3, #json(out))
      status = run { "bulk", "tag", "set", "a", "--search", "event_000", "--dry-run" }
      assert.are.equal(0, status)
      assert.are.same({}, writes())
      assert.are.same(before, (state()))
    end)

    it("needs ids or a filter, not both", function()
      assert.are.equal(2, (run { "bulk", "verify" }))
      assert.are.equal(2, (run { "bulk", "verify", UNKNOWN, "--search", "x" }))
    end)
  end)

  describe("codegen", function()
    local dir
    before_each(function() dir = tmpdir() end)
    after_each(function() os.execute("rm -rf " .. dir) end)

    it("writes the code and a lock; --check passes, then fails once the taxonomy changes", function()
      local out_file = dir .. "/events.ts"
      local status = run { "codegen", "--lang", "typescript", "--out", out_file }
      assert.are.equal(0, status)
      local client = helpers.client()
      local code = assert(client:typescript())
      assert.matches("Generated at", slurp(out_file))
      local lock = json(slurp(out_file .. ".lock.json"))
      assert.are.same({ lang = "typescript", schema_hash = code.schema_hash,
        generator_version = code.generator_version }, lock)

      local written, lock_text = slurp(out_file), slurp(out_file .. ".lock.json")
      local out
      status, out = run { "codegen", "--lang", "typescript", "--out", out_file, "--check" }
      assert.are.equal(0, status)
      assert.matches("up to date", out)

      local _, by_name = state()
      assert(client:update(by_name.event_0001.id, { verified = true }))
      local err
      status, out, err = run { "codegen", "--lang", "typescript", "--out", out_file, "--check" }
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.matches("^posthog%-evdefs: drift: ", err)
      assert.are.equal(written, slurp(out_file))
      assert.are.equal(lock_text, slurp(out_file .. ".lock.json"))

      status = run { "codegen", "--lang", "golang", "--out", out_file, "--check" }
      assert.are.equal(1, status)
      client:close()
    end)

    it("fails --check without a lock file, sending nothing", function()
      clear_log()
      local status, _, err = run { "codegen", "--lang", "python", "--out", dir .. "/events.py", "--check" }
      assert.are.equal(1, status)
      assert.matches("no lock file", err)
      assert.are.same({}, logged())
    end)
  end)

  describe("in-process (cli.main)", function()
    it("prints a table by default on a terminal and JSON otherwise", function()
      local status, out = main({ "list", "--limit", "2" }, { NO_COLOR = "1" }, { [1] = true })
      assert.are.equal(0, status)
      assert.matches("^NAME  +ID  +VERIFIED", out)
      status, out = main { "list", "--limit", "2" }
      assert.are.equal(0, status)
      assert.are.equal(2, #json(out))
    end)

    it("draws a progress bar on stderr only when stderr is a terminal", function()
      local defs = state()
      local ids = { "bulk", "tag", "add", "p", "--yes" }
      for _, d in ipairs(defs) do ids[#ids + 1] = "--id"; ids[#ids + 1] = d.id end
      local status, _, err = main(ids, nil, { [2] = true })
      assert.are.equal(0, status)
      assert.matches("\r%[#+%] 12/12\n$", err)
      status, _, err = main(ids)
      assert.are.equal(0, status)
      assert.are.equal("", err)
    end)

    it("takes host and project from flags before the environment", function()
      local status, _, err = main({ "--host", "ftp://example.com", "list" })
      assert.are.equal(1, status)
      assert.matches("http", err)
      status = main({ "--project-id", "2", "list" })
      assert.are.equal(0, status)
    end)
  end)
end)
