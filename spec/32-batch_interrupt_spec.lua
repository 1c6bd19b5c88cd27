-- client:batch and the bulk helpers under SIGINT and SIGTERM (issue 19): a real Lua process runs
-- a batch against the fake PostHog, whose writes wait first; it is sent real signals while
-- requests are in flight. Nothing is started after the signal, what is in flight finishes, the
-- report says which operations were not started and names the signal, and the script goes on.
local helpers = require "helpers"
local T = require "support.cli"
local background = require "support.background"

local json, quote = T.json, T.quote
local wait_for, send, finish = background.wait_for, background.send, background.finish

-- The script: a batch of `op` over every definition (concurrency 4), then its report as JSON
-- on stdout, with the last progress count and what the script did after the batch.
local SCRIPT = [[
local evdefs = require "posthog.event_definitions"
local core = require "posthog.event_definitions.core"
local client = assert(evdefs.new { rate_limit = false })
local defs = assert(client:all())
local progress, report = 0, nil
local opts = { concurrency = 4, on_progress = function(done) progress = done end }
if arg[1] == "bulk_hide" then
  local ids = {}
  for i, d in ipairs(defs) do ids[i] = d.id end
  report = assert(client:bulk_hide(ids, opts))
else
  local ops = {}
  for i, d in ipairs(defs) do ops[i] = { op = "update", id = d.id, fields = { description = "Edited" } } end
  report = assert(client:batch(ops, opts))
end
local kinds = {}
for i, r in ipairs(report.results) do kinds[i] = r.ok and "ok" or r.err.kind end
print(core.encode { ok = report.ok, failed = report.failed, not_started = report.not_started,
  interrupted = report.interrupted, progress = progress, kinds = setmetatable(kinds, core.array_mt),
  line = tostring(report.results[#report.results].err) })
print("after the batch")
]]

-- Runs SCRIPT with `what` in the background, sends `signal` once `landed_first` writes have
-- landed, and returns the exit status, the decoded report, stderr and the writes that landed.
local function interrupted_run(what, signal, landed_first)
  local file = T.tmpdir() .. "/batch.lua"
  T.spit(file, SCRIPT)
  helpers.control("DELETE", "requests")
  helpers.faults { { match = { method = "PATCH" }, action = "delay", seconds = 0.4, times = 0 } }
  local env = "env POSTHOG_HOST=" .. quote(T.URL) .. " POSTHOG_PERSONAL_API_KEY=" .. helpers.KEY
    .. " POSTHOG_PROJECT_ID=1 "
  local run = background.start(env .. quote(T.LUA) .. " " .. quote(file) .. " " .. what)
  local function landed()
    local n = 0
    for _, q in ipairs(helpers.requests()) do
      if q.method == "PATCH" and q.status == 200 then n = n + 1 end
    end
    return n
  end
  wait_for("writes to land", function() return landed() >= landed_first end)
  send(run, signal)
  local status, out, err = finish(run)
  local report = json(out:match("^[^\n]*"))
  return status, report, err, landed(), out
end

describe("a batch interrupted by a signal (a Lua traceback, the report lost)", function()
  before_each(function()
    helpers.reset { seed = 40 }
  end)

  it("client:batch starts nothing after SIGINT, finishes what is in flight and reports what was not started",
    function()
      local status, report, err, landed, out = interrupted_run("batch", "INT", 4)
      assert.are.equal(0, status, err)
      assert.are.equal("", err)
      assert.are.equal("SIGINT", report.interrupted)
      assert.is_true(report.not_started > 0 and report.not_started < 40)
      assert.are.equal(40, report.ok + report.failed)
      assert.are.equal(report.not_started, report.failed)
      assert.are.equal(landed, report.ok)
      assert.are.equal(report.ok, report.progress) -- progress counts what was done, not what was skipped
      local edited = 0
      for _, d in ipairs(helpers.state()) do if d.description == "Edited" then edited = edited + 1 end end
      assert.are.equal(report.ok, edited)
      for i, kind in ipairs(report.kinds) do -- done first, in input order, then the ones never started
        assert.are.equal(i <= report.ok and "ok" or "interrupted", kind, i)
      end
      assert.matches("^posthog%.event_definitions: interrupted: not started, the batch was stopped by SIGINT "
        .. "%(PATCH /api/projects/1/event_definitions/[%x-]+/%)$", report.line)
      assert.matches("\nafter the batch\n$", out) -- the script goes on
    end)

  it("a bulk helper under SIGTERM reports the same way", function()
    local status, report, err, landed = interrupted_run("bulk_hide", "TERM", 4)
    assert.are.equal(0, status, err)
    assert.are.equal("SIGTERM", report.interrupted)
    assert.is_true(report.not_started > 0)
    assert.are.equal(landed, report.ok)
    assert.are.equal(report.ok, report.progress)
    assert.are.equal(40 - report.ok, report.not_started)
  end)
end)

describe("runtime.holding", function()
  it("returns what the function returned and raises again what it raised, the hold released either way",
    function()
      -- after the raise, SIGTERM meets the process's own disposition (it ends), not a hold left behind
      local script = [[
        local runtime = require "posthog.event_definitions.runtime"
        local a, b, c = runtime.holding(nil, function(x, y) return x, nil, y end, 1, 2)
        assert(a == 1 and b == nil and c == 2 and select("#", runtime.holding(nil, function() end)) == 0)
        local raised = {}
        local ok, got = pcall(runtime.holding, nil, error, raised)
        assert(not ok and got == raised)
        os.execute("kill -TERM $PPID; sleep 2")
        os.exit(runtime.interrupted() == "SIGTERM" and 3 or 4)
      ]]
      -- a shell of its own reports the signal ("Terminated") and passes on the status
      local status = T.sh("sh -c " .. quote(quote(T.LUA) .. " -e " .. quote(script) .. "; exit $?") .. " 2>/dev/null")
      assert.are.equal(128 + 15, status)
    end)
end)
