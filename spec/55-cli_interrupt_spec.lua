-- posthog-evdefs interrupted or failing unexpectedly (issue 19): real processes of bin/posthog-evdefs
-- against the fake PostHog, sent real signals while they write; and a defect reported as one line.
local helpers = require "helpers"
local T = require "support.cli"
local background = require "support.background"

local run, slurp, json = T.run, T.slurp, T.json
local wait_for, send, finish = background.wait_for, background.send, background.finish

-- Starts bin/posthog-evdefs with argv in the background (on a pseudo-terminal with `tty`).
local function start(argv, tty)
  return background.start(T.command(argv), tty)
end

-- The fake's answered writes (PATCH and DELETE answered 2xx) so far.
local function landed()
  local n = 0
  for _, q in ipairs(helpers.requests()) do
    if (q.method == "PATCH" or q.method == "DELETE") and q.status and q.status < 300 then n = n + 1 end
  end
  return n
end

-- Makes every write (PATCH, DELETE) the fake answers wait `seconds` first, and empties its log.
local function slow_writes(seconds)
  helpers.control("DELETE", "requests")
  helpers.faults { { match = { method = "PATCH" }, action = "delay", seconds = seconds, times = 0 },
    { match = { method = "DELETE" }, action = "delay", seconds = seconds, times = 0 } }
end

-- A snapshot of the project with every description changed: a plan of one update each.
local function edited_snapshot()
  local file = T.tmpdir() .. "/taxonomy.json"
  assert.are.equal(0, (run { "export", "snapshot", "--out", file }))
  T.spit(file, (slurp(file):gsub('"Seeded event', '"Edited event')))
  return file
end

-- The number of definitions whose description was edited, in the fake's state.
local function edited_count()
  local n = 0
  for _, d in ipairs(helpers.state()) do
    if (d.description or ""):find("^Edited") then n = n + 1 end
  end
  return n
end

-- A LUA_INIT chunk that loads the clone's modules and replaces the `list` subcommand by one with
-- a defect (it indexes nil), so that the program meets an unexpected error of its own.
local DEFECT = "local v = rawget(_G, 'jit') and 'jit' or _VERSION:match('%d+%.%d+'); "
  .. "package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path; "
  .. "package.cpath = 'build/' .. v .. '/?.so;' .. package.cpath; "
  .. "require('posthog.event_definitions.cli.read').list = function() local none; return none.field end"

describe("posthog-evdefs interrupted or failing", function()
  before_each(function()
    helpers.reset { seed = 12 }
  end)

  describe("an unexpected error (a traceback reached the user)", function()
    it("is one line with the version and where to report it, exit 1; --debug adds the traceback", function()
      local status, out, err = run({ "list" }, { LUA_INIT = DEFECT })
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.matches("^posthog%-evdefs: internal error %(posthog%-evdefs %d+%.%d+%.%d+%): [^\n]*attempt to index"
        .. "[^\n]*; please report it at https://[^\n]*/issues %(%-%-debug shows the traceback%)\n$", err)
      status, out, err = run({ "--debug", "list" }, { LUA_INIT = DEFECT })
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.matches("^posthog%-evdefs: internal error [^\n]*/issues\n[^\n]*attempt to index[^\n]*\nstack traceback:\n",
        err)
    end)

    it("never shows the key, even in the traceback", function()
      local key_defect = DEFECT:gsub("return none%.field",
        "error('failed with ' .. os.getenv('POSTHOG_PERSONAL_API_KEY'))")
      local status, _, err = run({ "--debug", "list" }, { LUA_INIT = key_defect })
      assert.are.equal(1, status)
      assert.matches("failed with %[redacted%]", err)
      assert.is_nil(err:find(helpers.KEY, 1, true))
    end)
  end)

  it("signals are held only by commands that talk to PostHog: help, completion and usage errors "
    .. "never load the transport", function()
    local SCRIPT = [[
      local cli = require "posthog.event_definitions.cli"
      local vars = { POSTHOG_HOST = %q, POSTHOG_PERSONAL_API_KEY = %q, POSTHOG_PROJECT_ID = "1" }
      local status = cli.main({ %s }, { stdout = function() end, stderr = function() end,
        getenv = function(name) return vars[name] end })
      io.write(status, " ", tostring(package.loaded["posthog.event_definitions.transport.libcurl"] ~= nil))
    ]]
    for _, case in ipairs { { "'--help'", "0 false" }, { "'--version'", "0 false" },
      { "'completion', 'bash'", "0 false" }, { "'list', '--no-such-flag'", "2 false" }, { "'get'", "2 false" },
      { "'list'", "0 true" } } do
      local script = SCRIPT:format(T.URL, helpers.KEY, case[1])
      local _, out, err = T.sh(T.quote(T.LUA) .. " -e " .. T.quote(script))
      assert.are.equal(case[2], out, case[1] .. ": " .. err)
    end
  end)

  describe("a signal during a batch (a traceback, or nothing, and no count of what was done)", function()
    before_each(function()
      helpers.reset { seed = 64 }
    end)

    for _, case in ipairs { { "INT", 130, "SIGINT" }, { "TERM", 143, "SIGTERM" } } do
      it("SIG" .. case[1] .. " stops apply starting work; the requests in flight finish; the report counts "
        .. "what was done and not, exit " .. case[2], function()
        local file = edited_snapshot()
        slow_writes(0.4)
        local r = start { "--format", "table", "apply", file }
        wait_for("writes to land", function() return landed() >= 8 end)
        send(r, case[1])
        local status, out, err = finish(r)
        assert.are.equal(case[2], status, err)
        local done = edited_count()
        assert.is_true(done >= 8 and done < 64, done)
        assert.are.equal(done, landed())
        local rows, skipped = 0, 0
        for line in out:gmatch("[^\n]+") do
          if line:find("^ok +update +event_%d+ +[%x-]+$") then rows = rows + 1 end
          if line:find("^NOT STARTED +update +event_%d+ +[%x-]+$") then skipped = skipped + 1 end
        end
        assert.are.equal(done, rows)
        assert.are.equal(64 - done, skipped)
        assert.matches("\n" .. done .. " ok, 0 failed, " .. (64 - done) .. " not started\n$", out)
        assert.are.equal("posthog-evdefs: interrupted (" .. case[3] .. "): " .. done .. " done, 0 failed, 0 ambiguous, "
          .. (64 - done) .. " not started; run plan again to see what is left\n", err)
        -- and plan shows what is left: exactly the updates not started
        local _, left = run { "plan", file }
        assert.matches("Plan: 0 to create, " .. (64 - done) .. " to update, 0 to delete%.", left)
      end)
    end

    it("the progress bar on a terminal counts what landed", function()
      local file = edited_snapshot()
      slow_writes(0.4)
      local r = start({ "apply", file }, true)
      wait_for("writes to land", function() return landed() >= 8 end)
      send(r, "INT")
      local status, screen = finish(r)
      assert.are.equal(130, status, screen)
      local bars = {}
      for n in screen:gmatch("%] (%d+)/64") do bars[#bars + 1] = tonumber(n) end
      local done = edited_count()
      assert.are.equal(done, bars[#bars], screen)
      assert.are.equal(done, landed())
      assert.matches("%] " .. done .. "/64\r?\n", screen) -- the bar's line is ended before the report
      assert.is_nil(screen:find("traceback", 1, true))
    end)

    it("bulk hide: the JSON report names the signal and each definition not started", function()
      slow_writes(0.4)
      local r = start { "bulk", "hide", "--search", "event_00", "--yes", "--all-definitions" }
      wait_for("writes to land", function() return landed() >= 8 end)
      send(r, "TERM")
      local status, out, err = finish(r)
      assert.are.equal(143, status, err)
      local report = json(out)
      assert.are.equal("SIGTERM", report.interrupted)
      assert.are.equal(64, #report.results)
      assert.are.equal(64 - report.not_started, report.ok)
      assert.are.equal(landed(), report.ok)
      local not_started = 0
      for _, res in ipairs(report.results) do
        assert.is_string(res.name)
        assert.is_string(res.id)
        if res.error and res.error.kind == "interrupted" then not_started = not_started + 1 end
      end
      assert.are.equal(report.not_started, not_started)
      assert.is_true(report.not_started > 0)
      assert.matches("^posthog%-evdefs: interrupted %(SIGTERM%): %d+ done, 0 failed, 0 ambiguous, %d+ not started; "
        .. "run the command again with %-%-dry%-run to see what is left\n$", err)
    end)

    it("a second SIGINT ends the program at once, with one line", function()
      local file = edited_snapshot()
      slow_writes(5) -- long enough to be in flight; gone before the next test resets
      local r = start { "apply", file }
      wait_for("requests in flight", function() return helpers.stats().inflight >= 8 end)
      send(r, "INT")
      send(r, "INT")
      local status, out, err = finish(r)
      assert.are.equal(130, status)
      assert.matches("^Plan: ", out:match("[^\n]*\n$") or "")
      assert.are.equal("posthog-evdefs: interrupted again: stopped at once; requests in flight may have been "
        .. "applied (plan, or the command with --dry-run, shows what is left)\n", err)
    end)

    it("a signal while nothing is being changed ends the program at once, with one line", function()
      helpers.config { latency = 5 }
      local r = start { "list", "--all" }
      wait_for("a request in flight", function() return helpers.stats().inflight >= 1 end)
      send(r, "TERM")
      local status, out, err = finish(r)
      assert.are.equal(143, status)
      assert.are.equal("", out)
      assert.are.equal("posthog-evdefs: interrupted; nothing was changed in PostHog\n", err)
    end)
  end)
end)
