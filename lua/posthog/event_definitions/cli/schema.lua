--- The subcommands over posthog.event_definitions.schema: `export` (every definition as JSON
-- Schema, CSV, Markdown or a snapshot), `plan FILE` (what would turn the project into FILE: each
-- operation with old and new values, and a summary line) and `apply FILE` (the plan, confirmed
-- when it deletes, run as one batch). FILE is a snapshot, a JSON Schema or a CSV export. Each is
-- handler(ctx, args) -> exit status.
local schema = require "posthog.event_definitions.schema"
local output = require "posthog.event_definitions.cli.output"
local messages = require "posthog.event_definitions.cli.messages"
local changes = require "posthog.event_definitions.cli.changes"
local session = require "posthog.event_definitions.cli.session"
local selection = require "posthog.event_definitions.cli.selection"

local connect, fail, note = session.connect, messages.fail, messages.note

local commands = {}

local EXPORTS = {
  ["json-schema"] = schema.json_schema,
  csv = schema.csv,
  markdown = schema.markdown,
  snapshot = schema.snapshot,
}

function commands.export(ctx, args)
  local client, status = connect(ctx, args)
  if not client then return status end
  local defs, err = session.all(ctx, client)
  if not defs then return fail(ctx, err) end
  local content = EXPORTS[args.what](defs)
  if not args.out then
    ctx.out(content:sub(-1) == "\n" and content or content .. "\n")
    return 0
  end
  local ok, msg = session.write_file(args.out, content)
  if not ok then return fail(ctx, "cannot write " .. msg .. "; " .. args.out .. " was left as it was") end
  note(ctx, string.format("wrote %d definitions to %s", #defs, args.out))
  return 0
end

-- False when the project's definitions come without `verified`, which every answer of a deployment
-- with PostHog's Enterprise package holds (reference §20.4); true otherwise, and when there is no
-- definition to tell by.
local function has_enterprise(current)
  if #current == 0 then return true end
  for _, def in ipairs(current) do
    if def.verified ~= nil then return true end
  end
  return false
end

-- One line saying which fields the plan left out for a deployment without the Enterprise package.
local function note_skipped(ctx, skipped)
  local fields, seen = {}, {}
  for _, s in ipairs(skipped) do
    if not seen[s.field] then seen[s.field], fields[#fields + 1] = true, s.field end
  end
  table.sort(fields)
  note(ctx, string.format("this PostHog has no Enterprise package: left out %d change%s of %s, which it "
    .. "refuses or ignores", #skipped, #skipped == 1 and "" or "s", table.concat(fields, ", ")))
end

-- The plan from the project to FILE: client, plan and the current definitions by name; or nil
-- and the exit status. On a deployment without the Enterprise package, the fields it does not
-- take are left out of the plan, with a note.
local function plan_of(ctx, args, deletes)
  local refusal = deletes and session.unnamed_project(ctx, args)
  if refusal then return nil, refusal end
  local content, msg = session.read_file(args.file)
  if not content then return nil, fail(ctx, "cannot read " .. msg) end
  local desired, err = schema.load(content)
  if not desired then return nil, fail(ctx, messages.diagnostic(err) .. " (in " .. args.file .. ")") end
  local client, status = connect(ctx, args)
  if not client then return nil, status end
  local current
  current, err = session.all(ctx, client)
  if not current then return nil, fail(ctx, err) end
  local plan
  plan, err = schema.plan(current, desired,
    { delete_missing = args.delete_missing, enterprise = has_enterprise(current) })
  if not plan then return nil, fail(ctx, err) end
  if #plan.skipped > 0 then note_skipped(ctx, plan.skipped) end
  local by_name = {}
  for _, def in ipairs(current) do by_name[def.name] = def end
  return client, plan, by_name, current
end

function commands.plan(ctx, args)
  local client, plan, current = plan_of(ctx, args, false)
  if not client then return plan end
  changes.plan(ctx, plan, current)
  if #plan.ops == 0 then note(ctx, "no changes: the project matches " .. args.file) end
  return (args.exit_code and #plan.ops > 0) and 3 or 0
end

function commands.apply(ctx, args)
  local client, plan, current, current_list = plan_of(ctx, args, args.delete_missing)
  if not client then return plan end
  if ctx.format == "table" then
    changes.plan(ctx, plan, current)
    ctx.flush() -- the plan stays on record, whatever happens to the batch
  end
  if #plan.ops == 0 then
    if ctx.format ~= "table" then changes.report(ctx, { ok = 0, failed = 0, results = {} }) end
    note(ctx, "no changes: the project matches " .. args.file)
    return 0
  end
  local _, _, deletes = changes.counts(plan)
  if deletes > 0 then
    local refusal = selection.guard(ctx, args, deletes, #current_list, { what = "this plan", verb = "deletes",
      most = true, every = args.file .. " may be empty or cut short" })
    if refusal then return refusal end
    local what = "apply this plan, which deletes " .. deletes .. " definition" .. (deletes == 1 and "" or "s")
    refusal = session.confirm(ctx, args, what)
    if refusal then return refusal end
  end
  local report, err = client:batch(plan.ops, { dry_run = args.dry_run, on_progress = output.progress(ctx) })
  if not report then return fail(ctx, err) end
  output.end_progress(ctx)
  if ctx.format == "table" then ctx.out("\n") end
  return changes.report(ctx, report, plan.ops)
end

return commands
