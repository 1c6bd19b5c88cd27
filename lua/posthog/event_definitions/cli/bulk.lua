--- The `bulk` subcommands: delete, hide, verify and tag the definitions selected by ids or by
-- the list filters, through the library's bulk helpers (one report each).
local output = require "posthog.event_definitions.cli.output"
local session = require "posthog.event_definitions.cli.session"

local usage_error = output.usage_error

-- The selection of a bulk command: ids, or a filter; or nil and the exit status.
local function selection(ctx, args, ids)
  local filter = { search = args.search, event_type = args.event_type }
  if #ids > 0 and next(filter) ~= nil then
    return nil, usage_error(ctx, "give ids or --search/--event-type, not both", ctx.command)
  end
  if #ids > 0 then return ids end
  if next(filter) ~= nil then return filter end
  return nil, usage_error(ctx, "nothing selected: give ids or --search/--event-type", ctx.command)
end

-- Labels for a report over an ids selection (nil for a filter).
local function id_labels(selected)
  if selected[1] == nil then return nil end
  local labels = {}
  for i, id in ipairs(selected) do labels[i] = { id = id } end
  return labels
end

local actions = {}

-- A bulk subcommand: `run(client, selected, opts, args)` calls the library helper; `what`, when
-- given, names what needs --yes; `deletes`: the project must be explicit.
local function bulk_command(run, what, deletes)
  return function(ctx, args)
    local selected, status = selection(ctx, args, args.ids or args.id)
    if not selected then return status end
    local refusal = what and session.refused(ctx, args, what)
    if refusal then return refusal end
    local client
    client, status = session.connect(ctx, args, deletes)
    if not client then return status end
    local report, err = run(client, selected, { dry_run = args.dry_run, on_progress = output.progress(ctx) }, args)
    if not report then return output.fail(ctx, err) end
    return output.report(ctx, report, id_labels(selected))
  end
end

actions.delete = bulk_command(function(client, selected, opts) return client:bulk_delete(selected, opts) end,
  "bulk delete", true)
actions.hide = bulk_command(function(client, selected, opts) return client:bulk_hide(selected, opts) end,
  "bulk hide")
actions.verify = bulk_command(function(client, selected, opts, args)
  opts.verified = not args.unverify
  return client:bulk_verify(selected, opts)
end)
actions.tag = bulk_command(function(client, selected, opts, args)
  return client:bulk_tag(selected, args.action, args.tags, opts)
end)

--- `bulk delete|hide|verify|tag …`: handler(ctx, args) -> exit status.
return {
  bulk = function(ctx, args)
    return actions[args.bulk_command](ctx, args)
  end,
}
