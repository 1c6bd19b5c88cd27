--- What every subcommand needs before it acts: the client, made from the flags and the
-- environment (ctx.getenv), the rules for destructive commands, and the files it reads and writes.
local evdefs = require "posthog.event_definitions"
local output = require "posthog.event_definitions.cli.output"

local fail = output.fail

local session = {}

-- The value of an environment variable, nil when unset or empty.
local function env_value(ctx, name)
  local v = ctx.getenv(name)
  if v ~= nil and v ~= "" then return v end
end

--- A client from the flags and environment, or nil and the exit status. `deletes`: the command
-- deletes, so the project must be explicit (@current follows the key owner's last project).
-- The client is kept in ctx.client, which cli.main closes.
function session.connect(ctx, args, deletes)
  local key = env_value(ctx, "POSTHOG_PERSONAL_API_KEY")
  if not key then
    return nil, fail(ctx, "POSTHOG_PERSONAL_API_KEY is not set (the key is read from the environment only)")
  end
  local project = args.project_id or env_value(ctx, "POSTHOG_PROJECT_ID")
  if deletes and (project == nil or project == "@current") then
    return nil, fail(ctx, "this command deletes: name the project with --project-id or POSTHOG_PROJECT_ID "
      .. "(@current follows the project last opened and is refused)")
  end
  local client, err = evdefs.new {
    host = args.host or env_value(ctx, "POSTHOG_HOST") or evdefs.DEFAULTS.host,
    personal_api_key = key,
    project_id = project or "@current",
  }
  if not client then return nil, fail(ctx, err) end
  ctx.client = client
  return client
end

--- Refuses a destructive command without --yes (a dry run needs none): the exit status, or nil
-- when it may go on.
function session.refused(ctx, args, what)
  if args.yes or args.dry_run then return nil end
  return fail(ctx, "refusing to " .. what .. " without --yes; nothing was changed")
end

--- The content of the file at path, or nil and the message.
function session.read_file(path)
  local f, msg = io.open(path, "rb")
  if not f then return nil, msg end
  local content = f:read("*a")
  f:close()
  return content
end

--- Writes content to the file at path: true, or nil and the message.
function session.write_file(path, content)
  local f, msg = io.open(path, "wb")
  if not f then return nil, msg end
  local ok, werr = f:write(content)
  f:close()
  if not ok then return nil, werr end
  return true
end

return session
