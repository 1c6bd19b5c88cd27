-- examples/retag.lua: renames a tag across a project: every definition tagged OLD gets NEW and
-- loses OLD, through PostHog's bulk_update_tags (a few requests, whatever the number of
-- definitions). Without --apply it only says what it would change.
--
--   lua examples/retag.lua OLD NEW [--apply]
--
-- PostHog stores tags lower-cased, so OLD is matched lower-cased. Host, key and project come from
-- POSTHOG_HOST, POSTHOG_PERSONAL_API_KEY and POSTHOG_PROJECT_ID.
local evdefs = require "posthog.event_definitions"

local old, new, apply = arg[1], arg[2], arg[3] == "--apply"
if not (old and new) or (arg[3] and not apply) then
  io.stderr:write("usage: lua examples/retag.lua OLD NEW [--apply]\n")
  os.exit(2)
end
old = old:lower()

local function check(value, err)
  if value == nil then
    io.stderr:write("retag: ", tostring(err), "\n")
    os.exit(1)
  end
  return value
end

local client = check(evdefs.new {})
local selection = { tags = { old } } -- the definitions carrying OLD
-- A dry run selects without changing anything, so the count comes first.
local preview = check(client:bulk_tag(selection, "add", { new }, { dry_run = true }))
if #preview.results == 0 then
  print(("retag: no definition is tagged %q"):format(old))
  os.exit(0)
end
if not apply then
  print(("retag: %d definitions tagged %q would be tagged %q instead (run again with --apply)")
    :format(#preview.results, old, new))
  os.exit(0)
end
local added = check(client:bulk_tag(selection, "add", { new }))
local removed = check(client:bulk_tag(selection, "remove", { old }))
client:close()
print(("retag: %d definitions tagged %q instead of %q (%d failed)"):format(removed.ok, new, old,
  added.failed + removed.failed))
os.exit((added.failed + removed.failed) > 0 and 1 or 0)
