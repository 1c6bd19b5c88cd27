--- schema.csv: RFC 4180 CSV text, the one CSV format of the project (the CLI's too).
local util = require "posthog.event_definitions.schema.util"

local concat, field = table.concat, util.csv_field

local COLUMNS = { "id", "name", "description", "tags", "verified", "hidden", "owner", "last_seen_at",
  "created_at", "updated_at" }

--- A header row, then one row per definition in input order, CRLF line ends. Columns
-- id,name,description,tags,verified,hidden,owner,last_seen_at,created_at,updated_at;
-- tags sorted, as a compact JSON array; owner as its email, else its id. A cell that begins with
-- =, +, -, @, a tab or a CR (after any single quotes) gets a single quote first, so that no
-- spreadsheet runs it as a formula (event names come from public capture traffic). schema.load
-- reads it back as it was (schema/csv_read.lua).
return function(defs, opts)
  util.check_args("csv", defs, opts)
  local rows = { concat(COLUMNS, ",") }
  for _, def in ipairs(defs) do
    local cells = {}
    for i, column in ipairs(COLUMNS) do
      local v = def[column]
      if column == "tags" and type(v) == "table" then
        v = util.sorted(v)
      elseif column == "owner" and type(v) == "table" then
        v = (type(v.email) == "string" and v.email ~= "") and v.email or v.id
      end
      cells[i] = field(util.cell_text(v))
    end
    rows[#rows + 1] = concat(cells, ",")
  end
  return concat(rows, "\r\n") .. "\r\n"
end
