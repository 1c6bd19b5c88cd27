--- The subcommands that change one definition or a few: create, update, delete. Each is
-- handler(ctx, args) -> exit status; --dry-run prints the requests and sends nothing.
local output = require "posthog.event_definitions.cli.output"
local session = require "posthog.event_definitions.cli.session"

local connect, fail, array = session.connect, output.fail, output.array

local write = {}

-- Runs one create or update: with --dry-run prints the request, else the definition.
local function write_one(ctx, args, op)
  local client, status = connect(ctx, args)
  if not client then return status end
  if args.dry_run then
    local report, err = client:batch({ op }, { dry_run = true })
    if not report then return fail(ctx, err) end
    return output.dry_run(ctx, report)
  end
  local value, err
  if op.op == "create" then value, err = client:create(op.fields) else value, err = client:update(op.id, op.fields) end
  if not value then return fail(ctx, err) end
  output.object(ctx, value)
  return 0
end

function write.create(ctx, args)
  local fields = { name = args.name, description = args.description }
  if #args.tag > 0 then fields.tags = array(args.tag) end
  return write_one(ctx, args, { op = "create", fields = fields })
end

function write.update(ctx, args)
  local fields = { description = args.description, verified = args.verified, hidden = args.hidden }
  if #args.tag > 0 then fields.tags = array(args.tag) end
  if next(fields) == nil then
    return output.usage_error(ctx, "nothing to update: give --description, --tag, --[no-]verified or "
      .. "--[no-]hidden", ctx.command)
  end
  return write_one(ctx, args, { op = "update", id = args.id, fields = fields })
end

--- Deletes every id given as one batch; more than one needs --yes.
function write.delete(ctx, args)
  local ids = args.id
  local refusal = #ids > 1 and session.refused(ctx, args, "delete " .. #ids .. " definitions")
  if refusal then return refusal end
  local client, status = connect(ctx, args, true)
  if not client then return status end
  local ops, labels = {}, {}
  for i, id in ipairs(ids) do
    ops[i] = { op = "delete", id = id }
    labels[i] = { op = "delete", id = id }
  end
  local report, err = client:batch(ops, { dry_run = args.dry_run, on_progress = output.progress(ctx) })
  if not report then return fail(ctx, err) end
  return output.report(ctx, report, labels)
end

return write
