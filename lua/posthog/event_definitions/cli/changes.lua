--- What posthog-evdefs prints about changes: a plan (each operation with the old and new value of
-- every field it changes, then `Plan: N to create, N to update, N to delete.`), the report of a
-- batch that ran (one line per operation, or JSON), and the requests of a dry run.
local core = require "posthog.event_definitions.core"
local output = require "posthog.event_definitions.cli.output"
local messages = require "posthog.event_definitions.cli.messages"

local concat, format, sort = table.concat, string.format, table.sort
local array, paint, render, text = output.array, output.paint, output.render, output.text
local diagnostic, note = messages.diagnostic, messages.note

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

-- What a report's result i is about: its label fields (op, name, id) as one text.
local function label_text(label, result, i)
  if label then return (label.op and label.op .. " " or "") .. text(label.name or label.id) end
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
      messages.fail(ctx, label_text(labels and labels[i], r, i) .. ": " .. diagnostic(r.err))
    elseif r.request and not seen[r.request] then
      seen[r.request] = true
      local q = r.request
      requests[#requests + 1] = { method = q.method, path = q.path, body = q.body and core.decode(q.body) }
      lines[#lines + 1] = { q.method, text(q.path), q.body or "" }
    end
  end
  if ctx.format == "json" then
    ctx.out(core.encode(array(requests)) .. "\n")
  else
    ctx.out(render(ctx, lines))
    note(ctx, "dry run: nothing was sent")
  end
  return report.failed > 0 and 1 or 0
end
changes.dry_run = print_dry_run

--- Prints a batch report (one result per line, or JSON); returns the exit status (1 when any
-- operation failed). labels[i] (optional) = {op, name, id} of operation i.
function changes.report(ctx, report, labels)
  if report.results[1] and report.results[1].dry_run then return print_dry_run(ctx, report, labels) end
  if #report.results == 0 then note(ctx, "no definitions matched") end
  if ctx.format == "json" then
    local results = {}
    for i, r in ipairs(report.results) do
      local out = { ok = r.ok, value = r.value, unchanged = r.unchanged }
      for k, v in pairs(labels and labels[i] or {}) do out[k] = v end
      if r.err then
        out.error = { message = diagnostic(r.err), kind = r.err.kind, status = r.err.status }
      end
      results[i] = out
    end
    ctx.out(core.encode { ok = report.ok, failed = report.failed, results = array(results) } .. "\n")
  else
    local rows, colors = {}, {}
    for i, r in ipairs(report.results) do
      rows[i] = { r.ok and "ok" or "FAILED", label_text(labels and labels[i], r, i), r.err and diagnostic(r.err) or "" }
      colors[i] = { r.ok and "green" or "red" }
    end
    ctx.out(render(ctx, rows, colors) .. format("%d ok, %d failed\n", report.ok, report.failed))
  end
  local hinted = {}
  for _, r in ipairs(report.results) do
    local h = not r.ok and messages.hint(ctx, r.err)
    if h and not hinted[h] then
      hinted[h] = true
      messages.print_hint(ctx, h)
    end
  end
  return report.failed > 0 and 1 or 0
end

return changes
