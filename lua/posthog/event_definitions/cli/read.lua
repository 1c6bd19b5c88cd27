--- The subcommands that only read: list, get, metrics, stale. Each is handler(ctx, args) -> exit status.
local output = require "posthog.event_definitions.cli.output"
local messages = require "posthog.event_definitions.cli.messages"
local session = require "posthog.event_definitions.cli.session"

local connect, fail, note = session.connect, messages.fail, messages.note

local read = {}

--- The list params of the filter flags (--name, --search, --event-type, --tag, --[no-]verified,
-- --exclude-hidden); `extra` (optional) adds to them.
function read.filter(args, extra)
  local params = { search = args.search, event_type = args.event_type, verified = args.verified,
    exclude_hidden = args.exclude_hidden or nil }
  if args.name and #args.name > 0 then params.names = output.array(args.name) end
  if args.tag and #args.tag > 0 then params.tags = output.array(args.tag) end
  for k, v in pairs(extra or {}) do params[k] = v end
  return params
end

function read.list(ctx, args)
  local client, status = connect(ctx, args)
  if not client then return status end
  local params = read.filter(args, { limit = args.limit,
    ordering = #args.ordering > 0 and output.array(args.ordering) or nil })
  local defs, page, err
  if args.all then
    defs, err = session.all(ctx, client, params)
  else
    page, err = client:list(params)
    defs = page and page.results
  end
  if not defs then return fail(ctx, err) end
  output.definitions(ctx, defs)
  if page and page.next and ctx.format == "table" then
    note(ctx, string.format("%d of %s definitions shown; --all fetches every page", #defs, tostring(page.count)))
  end
  return 0
end

function read.get(ctx, args)
  local client, status = connect(ctx, args)
  if not client then return status end
  local def
  def, status = session.definition(ctx, client, args.ref)
  if not def then return status end
  output.object(ctx, def)
  return 0
end

function read.metrics(ctx, args)
  local client, status = connect(ctx, args)
  if not client then return status end
  local id = args.ref
  if not session.is_uuid(id) then
    local def
    def, status = session.definition(ctx, client, id)
    if not def then return status end
    id = def.id
  end
  local metrics, err = client:metrics(id)
  if not metrics then return fail(ctx, err) end
  output.object(ctx, metrics)
  return 0
end

function read.stale(ctx, args)
  local client, status = connect(ctx, args)
  if not client then return status end
  if ctx.isatty(2) then note(ctx, "reading every definition to find those not seen for " .. (args.days or 30)
    .. " days…") end
  local defs, err = client:stale { days = args.days, include_never_seen = args.include_never_seen }
  if not defs then return fail(ctx, err) end
  output.definitions(ctx, defs)
  return 0
end

return read
