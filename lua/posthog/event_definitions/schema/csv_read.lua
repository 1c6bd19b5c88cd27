--- Reading a CSV export (schema.csv's format, perhaps edited in a spreadsheet) back into
-- definitions, for schema.load. RFC 4180: fields separated by commas, quoted with '"' when they
-- hold a comma, a quote or a line break, rows ending with CRLF (or LF, as many editors write
-- them). The header row names the columns, in any order:
-- `name` is required, every other column must be a field of the definition (a misspelt column is
-- refused, never ignored), and read-only ones (id, last_seen_at, …) are skipped.
--
-- A cell becomes the field's value by the field's type in the C shape: text as it is; booleans
-- `true`/`false` (any case, as spreadsheets write them); integers; arrays (tags) and objects as
-- JSON (`["core","pii"]`, `[]` for none). An empty cell means "not given" (the field is left as
-- it is), never "clear". The owner column holds a user id; an owner given as an email (what the
-- export writes when PostHog sent one) cannot be sent to PostHog, which takes ids, so it counts
-- as not given. Rows whose cells are all empty are skipped. A cell that schema.csv neutralised
-- (a single quote before =, +, -, @, a tab or a CR, after any other single quotes) loses that one
-- quote again.
local core = require "posthog.event_definitions.core"
local shape = require "posthog.event_definitions.schema.shape"
local util = require "posthog.event_definitions.schema.util"

local encode = core.encode

-- The rows of `text` as arrays of fields, or nil and the message.
local function rows_of(text)
  local rows, row, pos, line = {}, {}, 1, 1
  local n = #text
  while pos <= n do
    local value
    if text:sub(pos, pos) == '"' then
      local parts, start_line = {}, line
      pos = pos + 1
      while true do
        local q = text:find('"', pos, true)
        if not q then return nil, "line " .. start_line .. ": a quoted field is not closed" end
        local piece = text:sub(pos, q - 1)
        local _, breaks = piece:gsub("\n", "")
        line = line + breaks
        parts[#parts + 1] = piece
        if text:sub(q + 1, q + 1) == '"' then
          parts[#parts + 1] = '"'
          pos = q + 2
        else
          pos = q + 1
          break
        end
      end
      value = table.concat(parts)
      local after = text:sub(pos, pos)
      if after ~= "," and after ~= "\r" and after ~= "\n" and after ~= "" then
        return nil, "line " .. line .. ": text after a closing quote"
      end
    else
      local stop = text:find("[,\r\n]", pos) or n + 1
      value = text:sub(pos, stop - 1)
      if value:find('"', 1, true) then return nil, "line " .. line .. ": a quote in an unquoted field" end
      pos = stop
    end
    row[#row + 1] = value
    local c = text:sub(pos, pos)
    if c == "," then
      pos = pos + 1
      if pos > n then row[#row + 1] = "" end
    else
      if c == "\r" and text:sub(pos + 1, pos + 1) == "\n" then pos = pos + 2 elseif c ~= "" then pos = pos + 1 end
      if not (#row == 1 and row[1] == "") then rows[#rows + 1] = row end -- a blank line
      row, line = {}, line + 1
    end
  end
  if #row > 0 then rows[#rows + 1] = row end
  return rows
end

-- The value of field f in a cell (not empty): the value, nil to leave it out, or nil and the message.
local function cell_value(f, cell)
  if f.array or f.type == "object" or f.type == "any" then
    local v = core.decode(cell)
    if v == nil then
      return nil, f.name .. " must be JSON (" .. (f.array and "an array, e.g. [\"a\",\"b\"]" or "an object")
        .. "), got " .. encode(cell)
    end
    return v
  end
  if f.type == "boolean" then
    local lower = cell:lower()
    if lower == "true" or lower == "false" then return lower == "true" end
    return nil, f.name .. " must be true or false, got " .. encode(cell)
  end
  if f.type == "integer" or f.type == "user" then
    local n = tonumber(cell)
    if n and n % 1 == 0 then return n end -- sent without a fraction in any case
    if f.type == "user" and cell:find("@", 1, true) then return nil end -- an email: not given
    return nil, f.name .. " must be an integer" .. (f.type == "user" and " user id" or "") .. ", got " .. encode(cell)
  end
  return cell
end

--- The definitions of CSV export text, in row order: an array, or nil, the error kind ("decode"
-- for text that is not such a CSV, "validation" for a bad cell) and the message.
return function(text)
  local rows, why = rows_of(text)
  if not rows then return nil, "decode", "not a CSV export: " .. why end
  local header = rows[1]
  if not header then return nil, "decode", "an empty CSV export (no header row)" end
  local fields, has_name, seen = {}, false, {}
  for c, column in ipairs(header) do
    local f = shape.field[column]
    if not f then
      local names = {}
      for i, known in ipairs(core.fields) do names[i] = known.name end
      local suggestion = util.did_you_mean(column, names)
      return nil, "decode", "not a CSV export: unknown column " .. encode(column) .. (suggestion ~= "" and suggestion
        or " (the columns are fields of a definition, e.g. name,description,tags,verified,hidden)")
    end
    if seen[column] then return nil, "decode", "column " .. encode(column) .. " appears twice" end
    seen[column] = true
    if column == "name" then has_name = true end
    if f.writable then fields[c] = f end
  end
  if not has_name then return nil, "decode", "not a CSV export: the header row has no name column" end
  local defs = {}
  for r = 2, #rows do
    local row, def, empty = rows[r], {}, true
    if #row ~= #header then
      return nil, "decode", "row " .. r .. " has " .. #row .. " fields, the header " .. #header
    end
    for c, cell in ipairs(row) do
      if cell:find("^'+[=+%-@\t\r]") then cell = cell:sub(2) end -- neutralised by schema.csv
      if cell ~= "" then
        empty = false
        local f = fields[c]
        if f then
          local v, message = cell_value(f, cell)
          if message then return nil, "validation", "row " .. r .. ": " .. message end
          def[f.name] = v
        end
      end
    end
    if not empty then defs[#defs + 1] = def end
  end
  return defs
end
