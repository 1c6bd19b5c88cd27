-- posthog-evdefs and files (issue 19): real processes of bin/posthog-evdefs against the fake
-- PostHog. What it reads (a snapshot with a misspelt field, a directory) fails in one clear
-- line; what it writes (--out, export, codegen and its lock) replaces the target whole or not at
-- all, a full disk included (`ulimit -f`); CSV cells a spreadsheet would run are neutralised and
-- read back as they were.
local helpers = require "helpers"
local T = require "support.cli"

local run, slurp, spit = T.run, T.slurp, T.spit

describe("posthog-evdefs and files", function()
  before_each(function()
    helpers.reset { seed = 12 }
  end)

  describe("what plan reads", function()
    it("a misspelt field in a snapshot fails plan --exit-code (it said no changes: a CI gate went green)", function()
      local dir = T.tmpdir()
      local file = dir .. "/taxonomy.json"
      assert.are.equal(0, (run { "export", "snapshot", "--out", file }))
      local text = slurp(file)
      spit(file, (text:gsub('"description": "Seeded event 2"', '"desciption": "Sign-up started"')))
      local status, out, err = run { "plan", file, "--exit-code" }
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.matches('^posthog%-evdefs: decode: schema%.load: definitions%[%d+%] %("event_0002"%): unknown field '
        .. '"desciption" %(did you mean "description"%?%) %(in [^\n]*taxonomy%.json%)\n$', err)
    end)

    it("a directory is one line, no traceback", function()
      local dir = T.tmpdir()
      local status, out, err = run { "plan", dir }
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.are.equal("posthog-evdefs: cannot read " .. dir .. ": Is a directory\n", err)
    end)
  end)
end)
