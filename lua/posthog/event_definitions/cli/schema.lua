--- The subcommands over posthog.event_definitions.schema: `export` (every definition as JSON
-- Schema, CSV, Markdown or a snapshot), `plan FILE` (the ops that turn the project into FILE) and
-- `apply FILE` (those ops run as one batch). Each is handler(ctx, args) -> exit status.
local schema = require "posthog.event_definitions.schema"
local output = require "posthog.event_definitions.cli.output"
local session = require "posthog.event_definitions.cli.session"

local connect, fail, note = session.connect, output.fail, output.note

local commands = {}

local EXPORTS = {
  ["json-schema"] = schema.json_schema,
  csv = schema.csv, -- the schema export: tags as a JSON array (--format csv joins them with ";")
  markdown = schema.markdown,
  snapshot = schema.snapshot,
}

function commands.export(ctx, args)
  local client, status = connect(ctx, args)
  if not client then return status end
  local defs, err = client:all()
  if not defs then return fail(ctx, err) end
  local content = EXPORTS[args.what](defs)
  if not args.out then
    ctx.out(content:sub(-1) == "\n" and content or content .. "\n")
    return 0
  end
  local ok, msg = session.write_file(args.out, content)
  if not ok then return fail(ctx, "cannot write " .. msg) end
  note(ctx, string.format("wrote %d definitions to %s", #defs, args.out))
  return 0
end

-- The plan from FILE to the project: client, plan, or nil and the exit status.
local function plan_of(ctx, args, deletes)
  local client, status = connect(ctx, args, deletes)
  if not client then return nil, nil, status end
  local content, msg = session.read_file(args.file)
  if not content then return nil, nil, fail(ctx, "cannot read " .. msg) end
  local desired, err = schema.load(content)
  if not desired then return nil, nil, fail(ctx, err) end
  local current
  current, err = client:all()
  if not current then return nil, nil, fail(ctx, err) end
  local plan
  plan, err = schema.plan(current, desired, { delete_missing = args.delete_missing })
  if not plan then return nil, nil, fail(ctx, err) end
  if #plan.ops == 0 then note(ctx, "no changes") end
  return client, plan
end

function commands.plan(ctx, args)
  local client, plan, status = plan_of(ctx, args, false)
  if not client then return status end
  output.plan(ctx, plan)
  return 0
end

function commands.apply(ctx, args)
  local client, plan, status = plan_of(ctx, args, args.delete_missing)
  if not client then return status end
  if #plan.ops == 0 then return 0 end
  local report, err = client:batch(plan.ops, { dry_run = args.dry_run, on_progress = output.progress(ctx) })
  if not report then return fail(ctx, err) end
  return output.report(ctx, report, plan.ops)
end

return commands
