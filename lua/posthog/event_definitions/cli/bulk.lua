--- The `bulk` subcommands: delete, hide, verify and tag the definitions selected by REFs or by
-- the list filters, through the library's bulk helpers. What a filter selects is read once
-- (through the helper's dry run, which names each definition), shown (the terminal prompt, the
-- dry run) and then acted on by id: a definition that appears after the preview is never
-- touched. `delete` and `hide` need an explicit project and change nothing without --yes,
-- except on a terminal, where they show the selection and ask; `verify` and `tag` ask on a
-- terminal too (unless --yes) and go on without one. A filter that selects every definition of
-- the project, or (delete, hide) more than half of them, needs --all-definitions.
local output = require "posthog.event_definitions.cli.output"
local messages = require "posthog.event_definitions.cli.messages"
local changes = require "posthog.event_definitions.cli.changes"
local session = require "posthog.event_definitions.cli.session"
local selection = require "posthog.event_definitions.cli.selection"
local read = require "posthog.event_definitions.cli.read"

local fail, note, usage_error = messages.fail, messages.note, messages.usage_error

-- Each action: the helper call, the verb shown, whether it cannot be undone by the same tool.
local ACTIONS = {
  delete = { verb = "delete", destructive = true,
    run = function(client, selected, opts) return client:bulk_delete(selected, opts) end },
  hide = { verb = "hide", destructive = true,
    run = function(client, selected, opts) return client:bulk_hide(selected, opts) end },
  verify = { verb = "verify",
    run = function(client, selected, opts, args)
      opts.verified = not args.unverify
      return client:bulk_verify(selected, opts)
    end },
  tag = { verb = "tag",
    run = function(client, selected, opts, args) return client:bulk_tag(selected, args.action, args.tags, opts) end },
}

-- The filter flags as given, for messages.
local function filter_text(args)
  local words = {}
  local function add(flag, v) if v ~= nil then words[#words + 1] = flag .. (v == true and "" or " " .. v) end end
  for _, n in ipairs(args.name or {}) do add("--name", n) end
  add("--search", args.search)
  add("--event-type", args.event_type)
  for _, t in ipairs(args.tag or {}) do add("--tag", t) end
  if args.verified ~= nil then add(args.verified and "--verified" or "--no-verified", true) end
  add("--exclude-hidden", args.exclude_hidden or nil)
  return table.concat(words, " ")
end

-- The selection of a bulk command: {refs = …} or {filter = …}; or nil and the exit status.
local function selection_of(ctx, args)
  local refs = args.refs or args.id
  local filter = read.filter(args)
  if #refs > 0 and next(filter) ~= nil then
    return nil, usage_error(ctx, "give REFs or filters, not both", ctx.command)
  end
  if #refs > 0 then return { refs = refs } end
  if next(filter) ~= nil then return { filter = filter } end
  return nil, usage_error(ctx, "nothing selected: give REFs"
    .. (args.bulk_command == "tag" and " with --id" or "")
    .. " or filters (--name, --search, --event-type, --tag, --[no-]verified, --exclude-hidden)", ctx.command)
end

-- The definitions `filter` selects, guarded (every definition, or most for delete and hide,
-- needs --all-definitions), and the helper's dry run over them; or nil and the exit status.
-- PostHog's counts are compared first, so that a refused filter costs two requests, not a walk.
local function by_filter(ctx, client, args, action, filter)
  if ctx.isatty(2) then note(ctx, "selecting the definitions " .. filter_text(args) .. "…") end
  local whole, status = selection.project_size(ctx, client)
  if not whole then return nil, status end
  local choice = { what = filter_text(args), verb = "selects", most = action.destructive,
    every = "PostHog ignores filters such as --event-type all; narrow the filter" }
  local counted, err = client:list(read.filter(args, { limit = 1 })) -- the count of `filter`
  if not counted then return nil, fail(ctx, err) end
  local refusal = selection.guard(ctx, args, counted.count, whole, choice)
  if refusal then return nil, refusal end
  local preview
  preview, err = action.run(client, filter, { dry_run = true, all = true }, args)
  if not preview then return nil, fail(ctx, err) end
  local targets = {}
  for i, r in ipairs(preview.results) do targets[i] = { id = r.id, name = r.name } end
  refusal = selection.guard(ctx, args, #targets, math.max(whole, #targets), choice)
  if refusal then return nil, refusal end
  return targets, preview
end

local function bulk(ctx, args)
  local action = ACTIONS[args.bulk_command]
  local selected, status = selection_of(ctx, args)
  if not selected then return status end
  local what = action.verb .. " the selected definitions"
  if action.destructive then
    local refusal = session.unnamed_project(ctx, args) or session.refused(ctx, args, what)
    if refusal then return refusal end
  end
  local client
  client, status = session.connect(ctx, args)
  if not client then return status end
  local targets, preview
  if selected.refs then
    targets, status = selection.by_refs(ctx, client, selected.refs)
  else
    targets, preview = by_filter(ctx, client, args, action, selected.filter)
    status = preview
  end
  if not targets then return status end
  if #targets == 0 then
    note(ctx, "no definitions matched")
    return changes.report(ctx, { ok = 0, failed = 0, results = {} })
  end
  local ids, labels = {}, {}
  for i, t in ipairs(targets) do ids[i], labels[i] = t.id, { op = action.verb, id = t.id, name = t.name } end
  local head = string.format("This would %s %d definition%s of project %s:", action.verb, #targets,
    #targets == 1 and "" or "s", tostring(ctx.project))
  if args.dry_run and not preview then
    local err
    preview, err = action.run(client, ids, { dry_run = true }, args)
    if not preview then return fail(ctx, err) end
  end
  if args.dry_run then return changes.dry_run(ctx, preview, labels, head) end
  local refusal = (action.destructive or ctx.isatty(0)) and session.confirm(ctx, args, what, function()
    local lines = { head }
    for _, line in ipairs(selection.lines(ctx, targets)) do lines[#lines + 1] = line end
    return lines
  end)
  if refusal then return refusal end
  local report, err = action.run(client, ids, { on_progress = output.progress(ctx) }, args)
  if not report then return fail(ctx, err) end
  return changes.report(ctx, report, labels, "run the command again with --dry-run to see what is left")
end

--- `bulk delete|hide|verify|tag …`: handler(ctx, args) -> exit status.
return { bulk = bulk }
