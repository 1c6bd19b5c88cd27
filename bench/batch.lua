-- bench/batch.lua: 200 updates through client:batch against the fake PostHog server with 20 ms
-- of server latency, one at a time against 8 at a time, side by side in one run.
--
--   FAKE_POSTHOG_URL=http://127.0.0.1:PORT lua5.4 bench/batch.lua   (bench/run starts the server)

local helpers = require "spec.helpers"
local core = require "posthog.event_definitions.core"

local OPS, LATENCY = 200, 0.02

helpers.reset { seed = OPS }
helpers.config { latency = LATENCY }
local client = helpers.client()
local defs = assert(client:all { limit = OPS })
local ops = {}
for i, def in ipairs(defs) do ops[i] = { op = "update", id = def.id, fields = { description = "bench " .. i } } end

local function run(concurrency)
  local t0 = core.monotonic()
  local report = assert(client:batch(ops, { concurrency = concurrency }))
  assert(report.ok == OPS, "failed operations: " .. report.failed)
  return core.monotonic() - t0
end

local serial, parallel = run(1), run(8)
print(string.format("batch of %d updates, %d ms server latency: concurrency 1 %.2f s, concurrency 8 %.2f s, "
  .. "speed-up %.1fx", OPS, LATENCY * 1000, serial, parallel, serial / parallel))
client:close()
