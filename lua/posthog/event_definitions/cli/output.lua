--- What posthog-evdefs prints on stdout: definitions and objects as a table, JSON or CSV (the one
-- CSV format, schema.csv's), colour, and the progress shown on stderr. Every function takes the
-- command's context `ctx`: ctx.out(s) and ctx.err(s) write, ctx.format is "table", "json" or
-- "csv", ctx.color says whether stdout gets colour, ctx.quiet silences progress, ctx.isatty(fd).
local core = require "posthog.event_definitions.core"
local schema = require "posthog.event_definitions.schema"

local concat, format = table.concat, string.format

local output = {}

--- A copy of list, marked as a JSON array (so that an empty one prints as []).
function output.array(list)
  local copy = {}
  for i = 1, #list do copy[i] = list[i] end
  return setmetatable(copy, core.array_mt)
end
local array = output.array

-- Display width of UTF-8 text: its code points (continuation bytes do not count).
local function width(s)
  return #s:gsub("[\128-\191]", "")
end

-- s cut to at most n code points, "…" marking a cut.
local function shorten(s, n)
  if width(s) <= n then return s end
  local count = 0
  for i = 1, #s do
    local b = s:byte(i)
    if b < 128 or b >= 192 then
      count = count + 1
      if count == n then return s:sub(1, i - 1) .. "…" end
    end
  end
end

--- A value as one line of table text.
function output.text(v)
  if v == nil then return "" end
  if type(v) == "string" then return (v:gsub("%c", " ")) end
  if type(v) == "table" then return core.encode(v) end
  return tostring(v)
end
local text = output.text

local COLORS = { bold = "1", red = "31", green = "32", yellow = "33", dim = "2" }

--- s in `color` (bold, red, green, yellow, dim) when ctx.color, else s.
function output.paint(ctx, color, s)
  if not ctx.color or s == "" then return s end
  return "\27[" .. COLORS[color] .. "m" .. s .. "\27[0m"
end
local paint = output.paint

--- Rows of cells (strings) as left-aligned columns two spaces apart; colors[r] (optional) =
-- {[column] = color} paints cells without moving the columns.
function output.render(ctx, rows, colors)
  local widths = {}
  for _, row in ipairs(rows) do
    for c, cell in ipairs(row) do widths[c] = math.max(widths[c] or 0, width(cell)) end
  end
  local lines = {}
  for r, row in ipairs(rows) do
    local cells = {}
    for c, cell in ipairs(row) do
      local color = colors and colors[r] and colors[r][c]
      local pad = c < #row and (" "):rep(widths[c] - width(cell)) or ""
      cells[c] = (color and paint(ctx, color, cell) or cell) .. pad
    end
    lines[r] = concat(cells, "  "):gsub("%s+$", "") .. "\n"
  end
  return concat(lines)
end
local render = output.render

local function yes_no(v) return v and "yes" or "no" end

local HEADER = { [1] = { "bold", "bold", "bold", "bold", "bold", "bold", "bold" } }

--- Prints definitions: a JSON array, schema.csv's CSV, or a table.
function output.definitions(ctx, defs)
  if ctx.format == "json" then
    ctx.out(core.encode(array(defs)) .. "\n")
  elseif ctx.format == "csv" then
    ctx.out(schema.csv(defs))
  else
    local rows = { { "NAME", "ID", "VERIFIED", "HIDDEN", "TAGS", "LAST SEEN", "DESCRIPTION" } }
    for _, d in ipairs(defs) do
      rows[#rows + 1] = { text(d.name), text(d.id), yes_no(d.verified), yes_no(d.hidden),
        text(concat(d.tags or {}, ",")), text(d.last_seen_at or "never"), shorten(text(d.description), 40) }
    end
    ctx.out(render(ctx, rows, HEADER))
  end
end

--- Prints one object (a definition, metrics): JSON, a CSV row (definitions only) or key/value lines.
function output.object(ctx, object)
  if ctx.format == "json" then
    ctx.out(core.encode(object) .. "\n")
  elseif ctx.format == "csv" then
    ctx.out(schema.csv({ object }))
  else
    local keys = {}
    for k in pairs(object) do keys[#keys + 1] = k end
    table.sort(keys)
    local rows = {}
    for i, k in ipairs(keys) do rows[i] = { k .. ":", text(object[k]) } end
    ctx.out(render(ctx, rows))
  end
end

-- True when progress goes to stderr: it is a terminal and --quiet was not given.
local function shows_progress(ctx)
  return not ctx.quiet and ctx.isatty(2)
end

--- A progress callback for a batch, drawing a bar on stderr when it shows progress (for two
-- operations or more), else nil.
function output.progress(ctx)
  if not shows_progress(ctx) then return nil end
  return function(done, total)
    if total < 2 then return end
    local filled = math.floor(30 * done / total)
    ctx.err(format("\r[%s%s] %d/%d", ("#"):rep(filled), ("-"):rep(30 - filled), done, total)
      .. (done >= total and "\n" or ""))
    ctx.bar_open = done < total
  end
end

--- Ends a progress bar that stopped short (an interrupted batch), so that what follows starts a line.
function output.end_progress(ctx)
  if ctx.bar_open then ctx.err("\n") end
  ctx.bar_open = false
end

--- A counter for a read that takes many requests when stderr shows progress, else nil:
-- count(n) redraws "<what>: n", count(n, true) ends the line.
function output.counter(ctx, what)
  if not shows_progress(ctx) then return nil end
  return function(n, finished)
    ctx.err(format("\r%s: %d", what, n) .. (finished and "\n" or ""))
  end
end

return output
