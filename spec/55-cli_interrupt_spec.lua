-- posthog-evdefs interrupted or failing unexpectedly (issue 19): real processes of bin/posthog-evdefs
-- against the fake PostHog, sent real signals while they write; and a defect reported as one line.
local helpers = require "helpers"
local T = require "support.cli"

local run = T.run

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
end)
