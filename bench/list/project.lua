-- bench/list/project.lua: this project's contestant in bench/list.lua. Lists every definition
-- with client:all{limit = N} (the first page, then the others by offset, a few in flight) or
-- with client:each{limit = N} (one page at a time, following `next`).
--
--   LUA_CPATH='build/5.4/?.so;;' lua5.4 bench/list/project.lua HOST LIMIT all|each [FETCHERS [GC]]
--     -> prints "<seconds> <definitions>"
-- FETCHERS: pages in flight for all (TUNING.page_fetchers, default 4); GC: "generational" or
-- "stopped" to run the listing under that collector (Lua 5.4), to measure what it costs.

local evdefs = require "posthog.event_definitions"
local core = require "posthog.event_definitions.core"
-- The client loads its libcurl driver on its first call; load it now, untimed, as the peers
-- load their modules before their clocks start.
require "posthog.event_definitions.transport.curl"

local host, limit, mode, fetchers, gc = arg[1], tonumber(arg[2]), arg[3], tonumber(arg[4]), arg[5]
assert(host and limit and (mode == "all" or mode == "each") and (gc == nil or gc == "generational" or gc == "stopped"),
  "usage: project.lua HOST LIMIT all|each [FETCHERS [generational|stopped]]")
if fetchers then require("posthog.event_definitions.options").TUNING.page_fetchers = fetchers end
local client = assert(evdefs.new { host = host, personal_api_key = "phx_bench", project_id = 1, rate_limit = false })

if gc == "generational" then collectgarbage("generational") elseif gc == "stopped" then collectgarbage("stop") end
local t0 = core.monotonic()
local definitions = 0
if mode == "all" then
  definitions = #assert(client:all { limit = limit })
else
  for def, err in client:each { limit = limit } do
    assert(def, err)
    definitions = definitions + 1
  end
end
print(string.format("%.6f %d", core.monotonic() - t0, definitions))
client:close()
