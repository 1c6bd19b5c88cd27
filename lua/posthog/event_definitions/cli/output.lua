--- What posthog-evdefs prints: definitions and objects as a table, JSON or CSV (schema.csv's
-- format), batch reports and dry runs, progress bars, and the one-line diagnostics on stderr
-- (each starting "posthog-evdefs: "). Every function takes the command's context `ctx`:
-- ctx.out(s) and ctx.err(s) write, ctx.format is "table", "json" or "csv", ctx.isatty(fd).
local core = require "posthog.event_definitions.core"
local schema = require "posthog.event_definitions.schema"

local concat, format = table.concat, string.format

local output = {}

local PROGRAM = "posthog-evdefs"

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

-- A value as one line of table text.
local function text(v)
  if v == nil then return "" end
  if type(v) == "string" then return (v:gsub("%c", " ")) end
  if type(v) == "table" then return core.encode(v) end
  return tostring(v)
end

-- Rows of cells (strings) as left-aligned columns two spaces apart.
local function render(rows)
  local widths = {}
  for _, row in ipairs(rows) do
    for c, cell in ipairs(row) do widths[c] = math.max(widths[c] or 0, width(cell)) end
  end
  local lines = {}
  for r, row in ipairs(rows) do
    local cells = {}
    for c, cell in ipairs(row) do cells[c] = cell .. (" "):rep(widths[c] - width(cell)) end
    lines[r] = concat(cells, "  "):gsub("%s+$", "") .. "\n"
  end
  return concat(lines)
end

-- A message or an error table as the text of a diagnostic: the error's one line without the
-- library's own "posthog.event_definitions: " (the line already starts "posthog-evdefs: ").
local LIBRARY = "posthog.event_definitions: "
local function diagnostic(message)
  message = tostring(message)
  if message:sub(1, #LIBRARY) == LIBRARY then return message:sub(#LIBRARY + 1) end
  return message
end

-- Prints "posthog-evdefs: <message>" on stderr (message: text or an error table); returns 1.
local function fail(ctx, message)
  ctx.err(PROGRAM .. ": " .. diagnostic(message) .. "\n")
  return 1
end

local function note(ctx, message)
  ctx.err(PROGRAM .. ": " .. message .. "\n")
end

local function usage_error(ctx, message, command)
  ctx.err(PROGRAM .. ": " .. message .. "\n" .. command:get_usage() .. "\n"
    .. "Run with --help for more.\n")
  return 2
end

local function yes_no(v) return v and "yes" or "no" end

local function print_definitions(ctx, defs)
  if ctx.format == "json" then
    ctx.out(core.encode(array(defs)) .. "\n")
  elseif ctx.format == "csv" then
    ctx.out(schema.csv(defs, { tag_separator = ";" }))
  else
    local rows = { { "NAME", "ID", "VERIFIED", "HIDDEN", "TAGS", "LAST SEEN", "DESCRIPTION" } }
    for _, d in ipairs(defs) do
      rows[#rows + 1] = { text(d.name), text(d.id), yes_no(d.verified), yes_no(d.hidden),
        text(concat(d.tags or {}, ",")), text(d.last_seen_at or "never"), shorten(text(d.description), 40) }
    end
    ctx.out(render(rows))
  end
end

-- One object (a definition, metrics): JSON, a CSV row (definitions only) or key/value lines.
local function print_object(ctx, object)
  if ctx.format == "json" then
    ctx.out(core.encode(object) .. "\n")
  elseif ctx.format == "csv" then
    ctx.out(schema.csv({ object }, { tag_separator = ";" }))
  else
    local keys = {}
    for k in pairs(object) do keys[#keys + 1] = k end
    table.sort(keys)
    local rows = {}
    for i, k in ipairs(keys) do rows[i] = { k .. ":", text(object[k]) } end
    ctx.out(render(rows))
  end
end

-- A progress callback drawing a bar on stderr when it is a terminal (for two operations or
-- more), else nil.
local function progress(ctx)
  if not ctx.isatty(2) then return nil end
  return function(done, total)
    if total < 2 then return end
    local filled = math.floor(30 * done / total)
    ctx.err(format("\r[%s%s] %d/%d", ("#"):rep(filled), ("-"):rep(30 - filled), done, total)
      .. (done >= total and "\n" or ""))
  end
end

-- What a report's result i is about: its label fields (op, name, id) as one text.
local function label_text(label, result, i)
  if label then return concat({ label.op, label.name or label.id }, " ") end
  local value = result.value
  if type(value) == "table" and (value.name or value.id) then return text(value.name or value.id) end
  return "#" .. i
end

-- Prints a dry run's requests (each distinct one once: a bulk chunk serves many ids) and its
-- failures; returns the exit status.
local function print_dry_run(ctx, report, labels)
  local seen, requests, lines = {}, {}, {}
  for i, r in ipairs(report.results) do
    if not r.ok then
      note(ctx, label_text(labels and labels[i], r, i) .. ": " .. diagnostic(r.err))
    elseif r.request and not seen[r.request] then
      seen[r.request] = true
      local q = r.request
      requests[#requests + 1] = { method = q.method, path = q.path, body = q.body and core.decode(q.body) }
      lines[#lines + 1] = { q.method, text(q.path), q.body or "" }
    end
  end
  if ctx.format == "json" then ctx.out(core.encode(array(requests)) .. "\n") else ctx.out(render(lines)) end
  return report.failed > 0 and 1 or 0
end

-- Prints a batch report (one result per line, or JSON); returns the exit status (1 when any
-- operation failed). labels[i] (optional) = {op, name, id} of operation i.
local function print_report(ctx, report, labels)
  if report.results[1] and report.results[1].dry_run then return print_dry_run(ctx, report, labels) end
  if #report.results == 0 then note(ctx, "no definitions matched") end
  if ctx.format == "json" then
    local results = {}
    for i, r in ipairs(report.results) do
      local out = { ok = r.ok, value = r.value, unchanged = r.unchanged }
      for k, v in pairs(labels and labels[i] or {}) do out[k] = v end
      if r.err then
        out.error = { message = tostring(r.err), kind = r.err.kind, status = r.err.status }
      end
      results[i] = out
    end
    ctx.out(core.encode { ok = report.ok, failed = report.failed, results = array(results) } .. "\n")
  else
    local rows = {}
    for i, r in ipairs(report.results) do
      rows[i] = { r.ok and "ok" or "FAILED", label_text(labels and labels[i], r, i), r.err and tostring(r.err) or "" }
    end
    ctx.out(render(rows) .. format("%d ok, %d failed\n", report.ok, report.failed))
  end
  return report.failed > 0 and 1 or 0
end

-- Prints the ops of a plan: a JSON array, or one line per op (op, name, id, changed fields).
local function print_plan(ctx, plan)
  if ctx.format == "json" then
    ctx.out(core.encode(array(plan.ops)) .. "\n")
    return
  end
  local rows = {}
  for i, op in ipairs(plan.ops) do
    rows[i] = { op.op, text(op.name), op.id or "", op.fields and core.encode(op.fields) or "" }
  end
  ctx.out(render(rows))
end

output.text = text
output.render = render
output.fail = fail
output.note = note
output.usage_error = usage_error
output.definitions = print_definitions
output.object = print_object
output.progress = progress
output.report = print_report
output.dry_run = print_dry_run
output.plan = print_plan

return output
