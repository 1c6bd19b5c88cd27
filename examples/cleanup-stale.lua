-- examples/cleanup-stale.lua: hides the definitions of events not seen for DAYS days (default 90),
-- so that PostHog's pickers stop offering them. Hiding can be undone (`posthog-evdefs update REF
-- --no-hidden`); definitions never seen (as every definition created through the API starts) are
-- left alone. Without --apply it only lists them.
--
--   lua examples/cleanup-stale.lua [DAYS] [--apply]
--
-- Host, key and project come from POSTHOG_HOST, POSTHOG_PERSONAL_API_KEY and POSTHOG_PROJECT_ID.
local evdefs = require "posthog.event_definitions"

local days, apply = 90, false
for _, a in ipairs(arg) do
  if a == "--apply" then
    apply = true
  elseif tonumber(a) then
    days = tonumber(a)
  else
    io.stderr:write("usage: lua examples/cleanup-stale.lua [DAYS] [--apply]\n")
    os.exit(2)
  end
end

local function check(value, err)
  if value == nil then
    io.stderr:write("cleanup-stale: ", tostring(err), "\n")
    os.exit(1)
  end
  return value
end

local client = check(evdefs.new {})
local ids = {}
for _, def in ipairs(check(client:stale { days = days })) do
  if not def.hidden then
    ids[#ids + 1] = def.id
    print(("%-40s last seen %s"):format(def.name, def.last_seen_at))
  end
end
if #ids == 0 or not apply then
  print(("cleanup-stale: %d definitions not seen for %d days%s"):format(#ids, days,
    #ids > 0 and " (run again with --apply to hide them)" or ""))
  os.exit(0)
end
local report = check(client:bulk_hide(ids))
client:close()
print(("cleanup-stale: %d hidden, %d failed"):format(report.ok, report.failed))
for i, r in ipairs(report.results) do
  if not r.ok then io.stderr:write(ids[i], ": ", tostring(r.err), "\n") end
end
os.exit(report.failed > 0 and 1 or 0)
