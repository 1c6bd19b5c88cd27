-- examples/export-csv.lua: the definitions of a project as CSV, the one CSV format of the project
-- (schema.csv: tags as a JSON array), which a spreadsheet can edit and `posthog-evdefs plan FILE`
-- reads back.
--
--   lua examples/export-csv.lua FILE [SEARCH]
--
-- Host, key and project come from POSTHOG_HOST, POSTHOG_PERSONAL_API_KEY and POSTHOG_PROJECT_ID.
local evdefs = require "posthog.event_definitions"
local schema = require "posthog.event_definitions.schema"

local path, search = arg[1], arg[2]
if not path then
  io.stderr:write("usage: lua examples/export-csv.lua FILE [SEARCH]\n")
  os.exit(2)
end

local client, err = evdefs.new {}
local defs
if client then defs, err = client:all { search = search } end
if not defs then
  io.stderr:write("export-csv: ", tostring(err), "\n")
  os.exit(1)
end
client:close()

local file = assert(io.open(path, "wb"))
assert(file:write(schema.csv(defs)))
assert(file:close())
print(("export-csv: %d definitions written to %s"):format(#defs, path))
