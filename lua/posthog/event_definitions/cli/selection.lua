--- What a command that changes many definitions acts on, shown before it acts: the definitions
-- named by REFs (each once, with its name) or selected by the list filters (with their names,
-- through the library's dry run), and the guard against acting on all or most of a project.
-- Each target is {id, name} (name nil for a UUID that names no definition); the command then
-- acts on exactly these ids, never on a selection made again.
local output = require "posthog.event_definitions.cli.output"
local messages = require "posthog.event_definitions.cli.messages"
local session = require "posthog.event_definitions.cli.session"

local format = string.format
local fail, text = messages.fail, output.text

local selection = {}

--- The definitions of refs, each once (a name and its UUID are the same definition), in the
-- order given: names looked up with by_name, UUIDs with get (a UUID that names no definition is
-- kept, without a name, for the action to report); or nil and the exit status.
function selection.by_refs(ctx, client, refs)
  local targets, seen = {}, {}
  for _, ref in ipairs(refs) do
    local id, name
    if ref == "" then return nil, fail(ctx, "REF must be a UUID or an event name, not empty") end
    if session.is_uuid(ref) then
      local def, err = client:get(ref)
      if not def and not (type(err) == "table" and err.status == 404) then return nil, fail(ctx, err) end
      id, name = ref:lower(), def and def.name
    else
      local def, status = session.definition(ctx, client, ref)
      if not def then return nil, status end
      id, name = def.id, def.name
    end
    if not seen[id] then
      seen[id] = true
      targets[#targets + 1] = { id = id, name = name }
    end
  end
  return targets
end

--- The number of definitions of the project (PostHog's count), or nil and the exit status.
function selection.project_size(ctx, client)
  local page, err = client:list { limit = 1 }
  if not page then return nil, fail(ctx, err) end
  return page.count
end

--- The guard of commands that act on a selection rather than on definitions named one by one:
-- `n` of the project's `whole` definitions chosen by `what` ("--search x", "this plan"), which
-- `verb`s them ("selects", "deletes"). Every definition needs --all-definitions (`every`: why
-- that is likely a mistake); so does more than half of them when `most` (delete, hide: a
-- truncated snapshot, --exclude-hidden). Returns the exit status of a refusal, or nil to go on.
function selection.guard(ctx, args, n, whole, choice)
  if args.all_definitions or n == 0 then return nil end
  local project = tostring(ctx.project)
  if n >= whole then
    return fail(ctx, format("%s %s every definition of project %s (%d): %s; add --all-definitions if you mean "
      .. "every one; nothing was changed", choice.what, choice.verb, project, whole, choice.every))
  end
  if choice.most and n > whole / 2 then
    return fail(ctx, format("%s %s %d of the %d definitions of project %s, more than half; add "
      .. "--all-definitions if that is what you mean; nothing was changed", choice.what, choice.verb, n, whole,
      project))
  end
  return nil
end

--- The lines that show targets: "  <name>  <id>", aligned, "(no such definition)" for a UUID
-- that names none.
function selection.lines(ctx, targets)
  local rows = {}
  for i, t in ipairs(targets) do rows[i] = { "", t.name and text(t.name) or "(no such definition)", t.id } end
  local lines = {}
  for line in output.render(ctx, rows):gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

return selection
