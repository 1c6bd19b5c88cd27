--- The subcommands that only read: list, get, metrics, stale. Each is handler(ctx, args) -> exit status.
local output = require "posthog.event_definitions.cli.output"
local session = require "posthog.event_definitions.cli.session"

local connect, fail = session.connect, output.fail

local read = {}

function read.list(ctx, args)
  local client, status = connect(ctx, args)
  if not client then return status end
  local params = { search = args.search, event_type = args.event_type, limit = args.limit }
  local defs, page, err
  if args.all then
    defs, err = client:all(params)
  else
    page, err = client:list(params)
    defs = page and page.results
  end
  if not defs then return fail(ctx, err) end
  output.definitions(ctx, defs)
  if page and page.next and ctx.format == "table" then
    output.note(ctx, string.format("%d of %s definitions shown; --all fetches every page", #defs,
      tostring(page.count)))
  end
  return 0
end

-- A subcommand printing what client:<method>(id) returns.
local function show(method)
  return function(ctx, args)
    local client, status = connect(ctx, args)
    if not client then return status end
    local value, err = client[method](client, args.id)
    if value == nil then return fail(ctx, err) end
    output.object(ctx, value)
    return 0
  end
end
read.get = show("get")
read.metrics = show("metrics")

function read.stale(ctx, args)
  local client, status = connect(ctx, args)
  if not client then return status end
  local defs, err = client:stale { days = args.days, include_never_seen = args.include_never_seen }
  if not defs then return fail(ctx, err) end
  output.definitions(ctx, defs)
  return 0
end

return read
