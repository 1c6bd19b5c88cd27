--- The `bulk` subcommands: delete, hide, verify and tag the definitions selected by REFs or by
-- the list filters, through the library's bulk helpers (one report each). A filter that selects
-- every definition of the project is refused by the library unless --all-definitions (its
-- `opts.all`). `delete` and `hide` need an explicit project and change nothing without --yes,
-- except on a terminal, where they show the selection and ask; `verify` and `tag` ask on a
-- terminal too (unless --yes) and go on without one.
local output = require "posthog.event_definitions.cli.output"
local messages = require "posthog.event_definitions.cli.messages"
local changes = require "posthog.event_definitions.cli.changes"
local session = require "posthog.event_definitions.cli.session"
local read = require "posthog.event_definitions.cli.read"

local fail, usage_error = messages.fail, messages.usage_error

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
  add("--search", args.search)
  add("--event-type", args.event_type)
  for _, t in ipairs(args.tag or {}) do add("--tag", t) end
  if args.verified ~= nil then add(args.verified and "--verified" or "--no-verified", true) end
  add("--exclude-hidden", args.exclude_hidden or nil)
  return table.concat(words, " ")
end

-- The selection of a bulk command: {refs = …} or {filter = …}; or nil and the exit status.
local function selection(ctx, args)
  local refs = args.refs or args.id
  local filter = read.filter(args)
  if #refs > 0 and next(filter) ~= nil then
    return nil, usage_error(ctx, "give REFs or filters, not both", ctx.command)
  end
  if #refs > 0 then return { refs = refs } end
  if next(filter) ~= nil then return { filter = filter } end
  return nil, usage_error(ctx, "nothing selected: give REFs"
    .. (args.bulk_command == "tag" and " with --id" or "")
    .. " or filters (--search, --event-type, --tag, --[no-]verified, --exclude-hidden)", ctx.command)
end

-- The lines shown before asking: the definitions of refs (labels), or how many the filter
-- selects (a dry run through the library, which also refuses a filter selecting everything);
-- or nil and the exit status.
local function preview(ctx, client, args, action, selected, labels)
  local head = "This would " .. action.verb .. " in project " .. tostring(ctx.project) .. ":"
  local lines = { head }
  if labels then
    for i, label in ipairs(labels) do
      local def = not label.name and client:get(label.id)
      lines[i + 1] = "  " .. (label.name or def and def.name or "(not found)") .. "  " .. label.id
    end
    return lines
  end
  local report, err = action.run(client, selected, { dry_run = true, all = args.all_definitions or nil }, args)
  if not report then return nil, err end
  lines[1] = string.format("%s %s selects %d definition%s of project %s; this would %s %s.", filter_text(args),
    args.all_definitions and "(--all-definitions)" or "", #report.results, #report.results == 1 and "" or "s",
    tostring(ctx.project), action.verb, #report.results == 1 and "it" or "them")
  lines[1] = lines[1]:gsub("  +", " ")
  return lines
end

-- The hint after a refused filter: --all-definitions, when the library refused a whole project.
local function whole_project_hint(ctx, args, err)
  local detail = type(err) == "table" and type(err.detail) == "string" and err.detail:lower() or ""
  if not args.all_definitions and err.kind == "validation"
    and (detail:find("all = true", 1, true) or detail:find("every definition", 1, true)) then
    messages.print_hint(ctx, filter_text(args) .. " selects every definition of the project; add "
      .. "--all-definitions if that is what you mean")
  end
end

local function bulk(ctx, args)
  local action = ACTIONS[args.bulk_command]
  local selected, status = selection(ctx, args)
  if not selected then return status end
  local what = action.verb .. " the selected definitions"
  if action.destructive then
    local refusal = session.unnamed_project(ctx, args) or session.refused(ctx, args, what)
    if refusal then return refusal end
  end
  local client
  client, status = session.connect(ctx, args, action.destructive)
  if not client then return status end
  local target, labels = selected.filter, nil
  if selected.refs then
    target, labels = session.ids(ctx, client, selected.refs)
    if not target then return labels end
    for _, label in ipairs(labels) do label.op = action.verb end
  end
  if selected.filter and ctx.isatty(2) then
    messages.note(ctx, "selecting the definitions " .. filter_text(args) .. "…")
  end
  if not args.yes and not args.dry_run and ctx.isatty(0) then
    local lines, err = preview(ctx, client, args, action, target, labels)
    if not lines then
      status = fail(ctx, err)
      whole_project_hint(ctx, args, err)
      return status
    end
    local refusal = session.confirm(ctx, args, what, function() return lines end)
    if refusal then return refusal end
  end
  local opts = { dry_run = args.dry_run, all = args.all_definitions or nil, on_progress = output.progress(ctx) }
  local report, err = action.run(client, target, opts, args)
  if not report then
    status = fail(ctx, err)
    whole_project_hint(ctx, args, err)
    return status
  end
  return changes.report(ctx, report, labels)
end

--- `bulk delete|hide|verify|tag …`: handler(ctx, args) -> exit status.
return { bulk = bulk }
