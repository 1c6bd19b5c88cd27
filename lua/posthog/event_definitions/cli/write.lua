--- The subcommands that change one definition or a few: create, update, delete. Each is
-- handler(ctx, args) -> exit status; --dry-run prints the requests and sends nothing.
local core = require "posthog.event_definitions.core"
local runtime = require "posthog.event_definitions.runtime"
local output = require "posthog.event_definitions.cli.output"
local messages = require "posthog.event_definitions.cli.messages"
local changes = require "posthog.event_definitions.cli.changes"
local session = require "posthog.event_definitions.cli.session"
local selection = require "posthog.event_definitions.cli.selection"

local connect, fail, array = session.connect, messages.fail, output.array

local write = {}

-- Runs one create or update: with --dry-run prints the request, else the definition.
local function write_one(ctx, args, client, op)
  if args.dry_run then
    local report, err = client:batch({ op }, { dry_run = true })
    if not report then return fail(ctx, err) end
    return changes.dry_run(ctx, report)
  end
  local value, err
  if op.op == "create" then
    value, err = runtime.holding(messages.WRITING, client.create, client, op.fields)
  else
    value, err = runtime.holding(messages.WRITING, client.update, client, op.id, op.fields)
  end
  if not value then return fail(ctx, err) end
  output.object(ctx, value)
  return 0
end

function write.create(ctx, args)
  local client, status = connect(ctx, args)
  if not client then return status end
  local fields = { name = args.name, description = args.description }
  if #args.tag > 0 then fields.tags = array(args.tag) end
  return write_one(ctx, args, client, { op = "create", fields = fields })
end

-- The tags of def with `add` added and `remove` removed, compared as PostHog stores tags
-- (trimmed, lower-cased); a tag that is not valid stays as given, for the library to refuse.
local function changed_tags(def, add, remove)
  local function normal(tag)
    local ok, normalised = pcall(core.normalize_tag, tag)
    return ok and normalised or tag
  end
  local drop, seen, tags = {}, {}, {}
  for _, tag in ipairs(remove) do drop[normal(tag)] = true end
  for _, list in ipairs { def.tags or {}, add } do
    for _, tag in ipairs(list) do
      local key = normal(tag)
      if not drop[key] and not seen[key] then
        seen[key] = true
        tags[#tags + 1] = tag
      end
    end
  end
  return array(tags)
end

function write.update(ctx, args)
  local fields = { description = args.description, verified = args.verified, hidden = args.hidden }
  local edits_tags = #args.add_tag > 0 or #args.remove_tag > 0
  if #args.tag > 0 and edits_tags then
    return messages.usage_error(ctx, "give --tag (the whole tag set) or --add-tag/--remove-tag, not both",
      ctx.command)
  end
  if #args.tag > 0 then fields.tags = array(args.tag) end
  if next(fields) == nil and not edits_tags then
    return messages.usage_error(ctx, "nothing to update: give --description, --tag, --add-tag, --remove-tag, "
      .. "--[no-]verified or --[no-]hidden", ctx.command)
  end
  local client, status = connect(ctx, args)
  if not client then return status end
  local id = args.ref
  if edits_tags or not session.is_uuid(id) then
    local def
    def, status = session.definition(ctx, client, args.ref)
    if not def then return status end
    id = def.id
    if edits_tags then fields.tags = changed_tags(def, args.add_tag, args.remove_tag) end
  end
  return write_one(ctx, args, client, { op = "update", id = id, fields = fields })
end

--- Deletes the definitions given (each once, however often it is named) as one batch, once
-- confirmed (--yes, or "yes" on a terminal after the definitions were shown by name and id);
-- the report names each.
function write.delete(ctx, args)
  local what = "delete " .. (#args.refs == 1 and "1 definition" or #args.refs .. " definitions")
  local refusal = session.unnamed_project(ctx, args) or session.refused(ctx, args, what)
  if refusal then return refusal end
  local client, status = connect(ctx, args)
  if not client then return status end
  local targets
  targets, status = selection.by_refs(ctx, client, args.refs)
  if not targets then return status end
  what = "delete " .. (#targets == 1 and "1 definition" or #targets .. " definitions")
  refusal = session.confirm(ctx, args, what, function()
    local lines = { "This deletes from project " .. tostring(ctx.project) .. ":" }
    for _, line in ipairs(selection.lines(ctx, targets)) do lines[#lines + 1] = line end
    return lines
  end)
  if refusal then return refusal end
  local ops, labels = {}, {}
  for i, t in ipairs(targets) do
    ops[i], labels[i] = { op = "delete", id = t.id }, { op = "delete", id = t.id, name = t.name }
  end
  local report, err = client:batch(ops, { dry_run = args.dry_run, on_progress = output.progress(ctx) })
  if not report then return fail(ctx, err) end
  return changes.report(ctx, report, labels, "run the command again with --dry-run to see what is left",
    "This would delete from project " .. tostring(ctx.project) .. ":")
end

return write
