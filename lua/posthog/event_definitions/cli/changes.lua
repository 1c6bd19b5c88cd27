--- What posthog-evdefs prints about changes: a plan (each operation with the old and new value of
-- every field it changes, then `Plan: N to create, N to update, N to delete.`), the report of a
-- batch that ran (one line per operation, or JSON), and the requests of a dry run.
local core = require "posthog.event_definitions.core"
local util = require "posthog.event_definitions.schema.util"
local output = require "posthog.event_definitions.cli.output"
local messages = require "posthog.event_definitions.cli.messages"
local selection_lines = require("posthog.event_definitions.cli.selection").lines

local concat, format, sort = table.concat, string.format, table.sort
local array, paint, render, text = output.array, output.paint, output.render, output.text
local diagnostic, note = messages.diagnostic, messages.note
local csv_field = util.csv_field

local changes = {}

local FIELD = {}
for _, f in ipairs(core.fields) do FIELD[f.name] = f end

-- Field `name`'s value v as shown in a plan: JSON, a user as its id, an array sorted.
local function shown(name, v)
  local f = FIELD[name]
  if v == nil or v == core.null then return "null" end
  if f and f.type == "user" and type(v) == "table" then v = v.id end
  if f and f.array and type(v) == "table" then
    local copy = array(v)
    sort(copy, function(a, b) return tostring(a) < tostring(b) end)
    v = copy
  end
  return core.encode(v)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t or {}) do keys[#keys + 1] = k end
  sort(keys)
  return keys
end

local SIGN = { create = { "+", "green" }, update = { "~", "yellow" }, delete = { "-", "red" } }

--- The counts of a plan's ops by kind: creates, updates, deletes.
function changes.counts(plan)
  local n = { create = 0, update = 0, delete = 0 }
  for _, op in ipairs(plan.ops) do n[op.op] = n[op.op] + 1 end
  return n.create, n.update, n.delete
end

--- The summary line of a plan.
function changes.summary(plan)
  return format("Plan: %d to create, %d to update, %d to delete.", changes.counts(plan))
end

--- Prints plan `plan` (ops of schema.plan) against `current` ({name = definition}): with --format
-- json the ops as a JSON array (an update also carries `old`, the current values of the fields
-- it changes); else one block per op and the summary line.
function changes.plan(ctx, plan, current)
  if ctx.format == "json" then
    local ops = {}
    for i, op in ipairs(plan.ops) do
      local copy = { op = op.op, name = op.name, id = op.id, fields = op.fields }
      if op.op == "update" then
        copy.old = {}
        for k in pairs(op.fields) do copy.old[k] = current[op.name] and current[op.name][k] end
      end
      ops[i] = copy
    end
    ctx.out(core.encode(array(ops)) .. "\n")
    return
  end
  local lines = {}
  for _, op in ipairs(plan.ops) do
    local sign = SIGN[op.op]
    lines[#lines + 1] = paint(ctx, sign[2], sign[1] .. " " .. op.op) .. " " .. text(op.name)
      .. (op.id and paint(ctx, "dim", " (" .. op.id .. ")") or "")
    for _, k in ipairs(sorted_keys(op.fields)) do
      if not (op.op == "create" and k == "name") then
        local new = shown(k, op.fields[k])
        if op.op == "update" then
          new = shown(k, current[op.name] and current[op.name][k]) .. " → " .. new
        end
        lines[#lines + 1] = "    " .. k .. ": " .. new
      end
    end
  end
  lines[#lines + 1] = (#plan.ops > 0 and "\n" or "") .. paint(ctx, "bold", changes.summary(plan))
  ctx.out(concat(lines, "\n") .. "\n")
end

-- What result i of a report is about: {op, name, id}, from its label (labels[i], optional:
-- {op, name, id}), else from the result itself (a bulk helper names each) or its value.
local function about(labels, result, i)
  local label, value = labels and labels[i] or {}, type(result.value) == "table" and result.value or {}
  return { op = label.op, name = label.name or result.name or value.name,
    id = label.id or result.id or value.id }
end

-- What became of a result: "ok", "not started" (the batch was interrupted first), "ambiguous"
-- (it may have been applied) or "failed".
local function outcome(result)
  if result.ok then return "ok" end
  if result.err and result.err.kind == "interrupted" then return "not started" end
  if result.err and result.err.ambiguous then return "ambiguous" end
  return "failed"
end

local OUTCOME_COLOR = { ok = "green", failed = "red", ambiguous = "yellow", ["not started"] = "dim" }

--- Prints a dry run's requests (each distinct one once: a bulk chunk serves many ids) and its
-- failures; returns the exit status. labels[i] (optional) = {op, name, id} of operation i; with
-- `head` (the line that introduces them), the definitions it would change come first, one line
-- each with name and id. With --format json, each request lists the definitions it acts on.
function changes.dry_run(ctx, report, labels, head)
  local seen, requests, lines, targets = {}, {}, {}, {}
  for i, r in ipairs(report.results) do
    local def = about(labels, r, i)
    if not r.ok then
      messages.fail(ctx, text(def.name or def.id or ("#" .. i)) .. ": " .. diagnostic(r.err))
    elseif r.request then
      local q = r.request
      if not seen[q] then
        seen[q] = { method = q.method, path = q.path, body = q.body and core.decode(q.body) }
        requests[#requests + 1] = seen[q]
        lines[#lines + 1] = { q.method, text(q.path), q.body or "" }
      end
      if def.id or def.name then
        seen[q].definitions = seen[q].definitions or array {}
        seen[q].definitions[#seen[q].definitions + 1] = { id = def.id, name = def.name }
        targets[#targets + 1] = def
      end
    end
  end
  if ctx.format == "json" then
    ctx.out(core.encode(array(requests)) .. "\n")
  else
    if head and #targets > 0 then
      ctx.out(head .. "\n" .. concat(selection_lines(ctx, targets), "\n") .. "\n")
    end
    ctx.out(render(ctx, lines))
    note(ctx, "dry run: nothing was sent")
  end
  return report.failed > 0 and 1 or 0
end

-- The counts of a report by outcome.
local function tally(report)
  local n = { ok = 0, failed = 0, ambiguous = 0, ["not started"] = 0 }
  for _, r in ipairs(report.results) do
    local o = outcome(r)
    n[o] = n[o] + 1
  end
  return n
end

-- The one-line summary after the rows: "3 ok, 1 failed (1 ambiguous: …), 4 not started".
local function summary(n)
  local failed = n.failed + n.ambiguous
  return format("%d ok, %d failed", n.ok, failed)
    .. (n.ambiguous > 0 and format(" (%d ambiguous: may have been applied)", n.ambiguous) or "")
    .. (n["not started"] > 0 and format(", %d not started", n["not started"]) or "")
end

local EXIT_OF_SIGNAL = { SIGINT = 130, SIGTERM = 143 }

--- Prints a batch report: one row per operation (its outcome, op, name, id and error) as a
-- table, JSON or CSV; returns the exit status: 1 when any operation failed; 130 or 143 when the
-- batch was interrupted by SIGINT or SIGTERM (then a line on stderr counts what was done and
-- what was not, and says `again`: how to see what is left). labels[i] (optional) = {op, name,
-- id} of operation i; a dry run is printed by changes.dry_run (with `head`).
function changes.report(ctx, report, labels, again, head)
  if report.results[1] and report.results[1].dry_run then return changes.dry_run(ctx, report, labels, head) end
  output.end_progress(ctx)
  local n = tally(report)
  if ctx.format == "json" then
    local results = {}
    for i, r in ipairs(report.results) do
      local out = about(labels, r, i)
      out.ok, out.value, out.unchanged = r.ok, r.value, r.unchanged
      if r.err then
        out.error = { message = diagnostic(r.err), kind = r.err.kind, status = r.err.status,
          ambiguous = r.err.ambiguous }
      end
      results[i] = out
    end
    ctx.out(core.encode { ok = report.ok, failed = report.failed, not_started = n["not started"],
      interrupted = report.interrupted, results = array(results) } .. "\n")
  elseif ctx.format == "csv" then
    local rows = { "result,op,name,id,error" }
    for i, r in ipairs(report.results) do
      local def = about(labels, r, i)
      local o = outcome(r)
      local cells = { o, def.op or "", def.name or "", def.id or "", o ~= "not started" and r.err and diagnostic(r.err)
        or "" }
      for c, cell in ipairs(cells) do cells[c] = csv_field(cell) end
      rows[#rows + 1] = concat(cells, ",")
    end
    ctx.out(concat(rows, "\r\n") .. "\r\n")
  else
    local rows, colors = {}, {}
    for i, r in ipairs(report.results) do
      local def, o = about(labels, r, i), outcome(r)
      rows[i] = { o == "ok" and "ok" or o:upper(), def.op or "", text(def.name or ""), def.id or "",
        o ~= "not started" and r.err and diagnostic(r.err) or "" }
      colors[i] = { OUTCOME_COLOR[o] }
    end
    ctx.out(render(ctx, rows, colors) .. summary(n) .. "\n")
  end
  local hinted = {}
  for _, r in ipairs(report.results) do
    local h = not r.ok and messages.hint(ctx, r.err)
    if h and not hinted[h] then
      hinted[h] = true
      messages.print_hint(ctx, h)
    end
  end
  if report.interrupted then
    ctx.err(format("posthog-evdefs: interrupted (%s): %d done, %d failed, %d ambiguous, %d not started; %s\n",
      report.interrupted, n.ok, n.failed, n.ambiguous, n["not started"], again or "run plan again to see what is "
      .. "left"))
    return EXIT_OF_SIGNAL[report.interrupted] or 130
  end
  return report.failed > 0 and 1 or 0
end

return changes
