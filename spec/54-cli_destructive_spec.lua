-- posthog-evdefs's destructive commands show what they act on and act on exactly that (issue 19):
-- real processes of bin/posthog-evdefs against the fake PostHog (seeded with event_0001 …
-- event_0012), through a pseudo-terminal where a person answers.
local helpers = require "helpers"
local core = require "posthog.event_definitions.core"
local T = require "support.cli"

local run, json, state, quote, slurp, spit = T.run, T.json, T.state, T.quote, T.slurp, T.spit
local clear_log, writes = T.clear_log, T.writes

local UUID = "%x+%-%x+%-%x+%-%x+%-%x+"

-- s as a Lua pattern that matches it literally.
local function lit(s) return (s:gsub("%p", "%%%0")) end

-- Runs argv on a pseudo-terminal; once the terminal shows `after`, runs the shell command
-- `meanwhile`, then types `input`. Returns the exit status and what the terminal showed.
local function tty_meanwhile(argv, after, meanwhile, input)
  local out = os.tmpname()
  local status = T.sh("(i=0; until grep -qF " .. quote(after) .. " " .. out .. "; do sleep 0.05; i=$((i+1)); "
    .. "[ $i -gt 400 ] && break; done; " .. meanwhile .. "; printf '%s' " .. quote(input) .. ") | script -qefc "
    .. quote(T.command(argv)) .. " /dev/null >" .. out)
  local screen = slurp(out)
  os.remove(out)
  return status, T.plain(screen:gsub("\r\n", "\n"))
end

-- A snapshot file of the project keeping only the definitions for which keep(name) is true.
local function snapshot_keeping(keep)
  local dir = T.tmpdir()
  local file = dir .. "/taxonomy.json"
  assert.are.equal(0, (run { "export", "snapshot", "--out", file }))
  local doc, kept = json(slurp(file)), {}
  for _, d in ipairs(doc.definitions) do
    if keep(d.name) then kept[#kept + 1] = d end
  end
  doc.definitions = setmetatable(kept, core.array_mt)
  spit(file, core.encode(doc))
  return file
end

describe("posthog-evdefs's destructive commands", function()
  before_each(function()
    helpers.reset { seed = 12 }
  end)

  describe("act on exactly what they showed", function()
    it("bulk delete by filter lists each name and id, then deletes those ids: one ingested meanwhile stays", function()
      local _, before = state()
      local ingest = "curl -s -X POST -H 'content-type: application/json' -d "
        .. quote('{"insert":[{"name":"event_0019"}]}') .. " " .. quote(T.URL .. "/__fake/ingest") .. " >/dev/null"
      local status, screen = tty_meanwhile({ "bulk", "delete", "--search", "event_001" }, "Type yes", ingest, "yes\n")
      assert.are.equal(0, status, screen)
      local preview = "This would delete 3 definitions of project 1:\n"
      for _, name in ipairs { "event_0010", "event_0011", "event_0012" } do
        preview = preview .. "  " .. name .. "  " .. before[name].id .. "\n"
      end
      assert.is_truthy(screen:find(preview .. "Type yes to delete the selected definitions: ", 1, true), screen)
      assert.matches("\nok +delete +event_0010 +" .. lit(before.event_0010.id) .. "\n", screen)
      assert.matches("3 ok, 0 failed\n", screen)
      local _, after = state()
      assert.is_nil(after.event_0010)
      assert.is_nil(after.event_0012)
      assert.is_table(after.event_0019, "a definition that appeared after the preview was deleted")
    end)

    it("delete sends each definition once, however often it is named", function()
      local _, before = state()
      clear_log()
      local status, out, err = run { "delete", "event_0001", "event_0001", before.event_0001.id, "--yes" }
      assert.are.equal(0, status, err)
      assert.are.same({ "DELETE /api/projects/1/event_definitions/" .. before.event_0001.id .. "/" }, writes())
      local report = json(out)
      assert.are.same({ ok = 1, failed = 0, not_started = 0 },
        { ok = report.ok, failed = report.failed, not_started = report.not_started })
      assert.are.equal(1, #report.results)
      assert.are.equal("event_0001", report.results[1].name)
    end)
  end)

  describe("name each definition in the dry run and in every report row", function()
    it("the dry run lists names and ids (table), or each request with the definitions it acts on (JSON)", function()
      local _, before = state()
      clear_log()
      local status, out = run { "--format", "table", "bulk", "hide", "--search", "event_001", "--dry-run" }
      assert.are.equal(0, status)
      assert.matches("^This would hide 3 definitions of project 1:\n  event_0010  "
        .. lit(before.event_0010.id) .. "\n", out)
      assert.matches("\nPATCH +/api/projects/1/event_definitions/" .. lit(before.event_0012.id) .. "/ ", out)
      status, out = run { "bulk", "verify", "--search", "event_001", "--dry-run" }
      assert.are.equal(0, status)
      local requests = json(out)
      assert.are.equal(1, #requests)
      assert.are.equal(3, #requests[1].definitions)
      assert.are.same({ id = before.event_0011.id, name = "event_0011" }, requests[1].definitions[2])
      status, out = run { "delete", "event_0001", before.event_0002.id, "--dry-run", "--format", "table" }
      assert.are.equal(0, status)
      assert.matches("^This would delete from project 1:\n  event_0001  " .. UUID .. "\n  event_0002  "
        .. lit(before.event_0002.id) .. "\n", out)
      assert.are.same({}, writes())
    end)

    it("table, JSON and CSV reports carry each definition's id and name", function()
      local _, before = state()
      local status, out = run { "--format", "table", "bulk", "tag", "add", "x", "--id", before.event_0003.id,
        "--yes" }
      assert.are.equal(0, status)
      assert.are.equal("ok  tag  event_0003  " .. before.event_0003.id .. "\n1 ok, 0 failed\n", out)
      status, out = run { "bulk", "verify", "--search", "event_001", "--yes" }
      assert.are.equal(0, status)
      for i, r in ipairs(json(out).results) do
        assert.are.same({ "verify", "event_001" .. (i - 1), before["event_001" .. (i - 1)].id }, { r.op, r.name, r.id })
      end
      status, out = run { "--format", "csv", "bulk", "hide", "event_0004", T.UNKNOWN, "--yes" }
      assert.are.equal(1, status)
      local rows = helpers.parse_csv(out)
      assert.are.same({ "result", "op", "name", "id", "error" }, rows[1])
      assert.are.same({ "ok", "hide", "event_0004", before.event_0004.id, "" }, rows[2])
      assert.are.same({ "failed", "hide", "", T.UNKNOWN }, { rows[3][1], rows[3][2], rows[3][3], rows[3][4] })
      assert.matches("404", rows[3][5])
    end)
  end)

  describe("guard the project as a whole (apply had no guard, --exclude-hidden selecting 11 of 12 neither)", function()
    it("apply --delete-missing of an empty or truncated snapshot needs --all-definitions", function()
      local before = state()
      local empty = snapshot_keeping(function() return false end)
      local truncated = snapshot_keeping(function(name) return name < "event_0006" end) -- 5 kept, 7 to delete
      local half = snapshot_keeping(function(name) return name < "event_0007" end) -- 6 kept, 6 to delete
      clear_log()
      local status, out, err = run { "apply", empty, "--delete-missing", "--yes" }
      assert.are.equal(1, status)
      assert.are.equal("posthog-evdefs: this plan deletes every definition of project 1 (12): " .. empty
        .. " may be empty or cut short; add --all-definitions if you mean every one; nothing was changed\n", err)
      assert.matches("Plan: 0 to create, 0 to update, 12 to delete%.", out)
      status, out, err = run { "apply", truncated, "--delete-missing", "--yes", "--dry-run" }
      assert.are.equal(1, status)
      assert.are.equal("posthog-evdefs: this plan deletes 7 of the 12 definitions of project 1, more than half; "
        .. "add --all-definitions if that is what you mean; nothing was changed\n", err)
      assert.matches("Plan: 0 to create, 0 to update, 7 to delete%.", out)
      assert.are.same({}, writes())
      assert.are.same(before, (state()))
      status = run { "apply", half, "--delete-missing", "--yes" }
      assert.are.equal(0, status)
      assert.are.equal(6, #state())
      status = run { "apply", empty, "--delete-missing", "--yes", "--all-definitions" }
      assert.are.equal(0, status)
      assert.are.equal(0, #state())
    end)

    it("bulk hide --exclude-hidden selecting most of the project needs --all-definitions, in the program's terms",
      function()
        clear_log()
        local status, _, err = run { "bulk", "hide", "--exclude-hidden", "--yes" }
        assert.are.equal(1, status)
        assert.are.equal("posthog-evdefs: --exclude-hidden selects 11 of the 12 definitions of project 1, more "
          .. "than half; add --all-definitions if that is what you mean; nothing was changed\n", err)
        status, _, err = run { "bulk", "delete", "--event-type", "all", "--yes" }
        assert.are.equal(1, status)
        assert.are.equal("posthog-evdefs: --event-type all selects every definition of project 1 (12): PostHog "
          .. "ignores filters such as --event-type all; narrow the filter; add --all-definitions if you mean every "
          .. "one; nothing was changed\n", err)
        assert.is_nil(err:find("opts.all", 1, true))
        assert.is_nil(err:find("POST", 1, true))
        assert.are.same({}, writes())
        -- verify and tag may act on most definitions (they are undone as easily), not on all
        assert.are.equal(0, (run { "bulk", "verify", "--exclude-hidden", "--yes" }))
        status, _, err = run { "bulk", "tag", "add", "x", "--event-type", "all" }
        assert.are.equal(1, status)
        assert.matches("selects every definition of project 1 %(12%)", err)
        assert.are.equal(0, (run { "bulk", "hide", "--exclude-hidden", "--yes", "--all-definitions" }))
        for _, d in ipairs(state()) do assert.is_true(d.hidden, d.name) end
      end)
  end)
end)
