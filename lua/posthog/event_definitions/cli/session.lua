--- What every subcommand needs before it acts: the client, made from the flags and the
-- environment (ctx.getenv); definitions named by REF (a UUID or an event name); the reads of
-- every definition, with progress on a terminal; the confirmation of destructive commands; and
-- the files it reads and writes.
local core = require "posthog.event_definitions.core"
local evdefs = require "posthog.event_definitions"
local endpoints = require "posthog.event_definitions.endpoints"
local output = require "posthog.event_definitions.cli.output"
local messages = require "posthog.event_definitions.cli.messages"

local fail = messages.fail

local session = {}

-- The value of an environment variable, nil when unset or empty.
local function env_value(ctx, name)
  local v = ctx.getenv(name)
  if v ~= nil and v ~= "" then return v end
end

-- A value as quoted in a message.
local function quoted(v)
  return core.encode(tostring(v))
end

-- Where a setting came from: its flag, else its environment variable, else the default.
local function setting(ctx, args, flag, variable, default)
  local key = flag:gsub("^%-%-", ""):gsub("%-", "_")
  if args[key] ~= nil then return args[key], flag end
  local v = env_value(ctx, variable)
  if v then return v, variable end
  return default, nil
end

--- Refuses a destructive command (delete, bulk delete, bulk hide, an apply that deletes) when
-- the project is not named (--project-id or POSTHOG_PROJECT_ID; @current follows the project
-- the key's owner last opened): the exit status, or nil when it is named.
function session.unnamed_project(ctx, args)
  local project = setting(ctx, args, "--project-id", "POSTHOG_PROJECT_ID", "@current")
  if project ~= "@current" then return nil end
  return fail(ctx, "this command deletes or hides: name the project with --project-id or POSTHOG_PROJECT_ID "
    .. "(@current follows the project last opened and is refused)")
end

--- A client from the flags and environment, or nil and the exit status (a destructive command
-- calls session.unnamed_project first: its project must be explicit). With
-- POSTHOG_REDIS_URL (redis://[:password@]host[:port][/db]) the client's pacing windows live in
-- that Redis, shared with every other client of the key (rate_limit.redis).
-- The client is kept in ctx.client, which cli.main closes; ctx.host and ctx.project say where it points.
function session.connect(ctx, args)
  local key = env_value(ctx, "POSTHOG_PERSONAL_API_KEY")
  if not key then
    return nil, fail(ctx, "POSTHOG_PERSONAL_API_KEY is not set (the key is read from the environment only)")
  end
  local project, project_from = setting(ctx, args, "--project-id", "POSTHOG_PROJECT_ID", "@current")
  local host, host_from = setting(ctx, args, "--host", "POSTHOG_HOST", evdefs.DEFAULTS.host)
  ctx.host, ctx.project = host, project
  local redis = env_value(ctx, "POSTHOG_REDIS_URL")
  local client, err = evdefs.new {
    host = host, personal_api_key = key, project_id = project,
    ca_file = args.ca_file, insecure = args.insecure or nil,
    rate_limit = redis and { redis = redis } or nil,
  }
  if not client then
    local detail = tostring(err.detail or "")
    if detail:find("^rate_limit%.redis") then -- the variable, never its value (it may hold a password)
      return nil, fail(ctx, "POSTHOG_REDIS_URL" .. detail:sub(#"rate_limit.redis" + 1))
    end
    local given
    if detail:find("^host") and host_from then
      given = host_from .. " " .. quoted(messages.hide_userinfo(host)) -- a password typed into it
    elseif detail:find("^project_id") and project_from then
      given = project_from .. " " .. quoted(project)
    elseif detail:find("^ca_file") then
      given = "--ca-file " .. quoted(args.ca_file)
    end
    return nil, fail(ctx, messages.diagnostic(err) .. (given and (" (" .. given .. ")") or ""))
  end
  ctx.client = client
  return client
end

--- True when ref is shaped like a UUID (then it is always an id, never a name).
session.is_uuid = endpoints.is_uuid

-- The error of a name that by_name did not find, or the error as it came.
local function not_found(ctx, ref, err)
  if type(err) == "table" and err.status == 404 and not session.is_uuid(ref) then
    return fail(ctx, "no definition named " .. quoted(ref) .. " in project " .. tostring(ctx.project))
  end
  return fail(ctx, err)
end

--- The definition named by ref (its UUID, else its event name): the definition, or nil and the
-- exit status.
function session.definition(ctx, client, ref)
  if ref == "" then return nil, fail(ctx, "REF must be a UUID or an event name, not empty") end
  local def, err
  if session.is_uuid(ref) then def, err = client:get(ref) else def, err = client:by_name(ref) end
  if not def then return nil, not_found(ctx, ref, err) end
  return def
end

--- Every definition matching params, or nil, err (client:all: never a partial list). When
-- stderr shows progress, a running count of the definitions read, ended by a newline.
function session.all(ctx, client, params)
  local count = output.counter(ctx, "reading definitions")
  if not count then return client:all(params) end
  local read = 0
  local defs, err = client:all(params, { on_progress = function(n, total)
    read = n
    if n ~= total then count(n) end -- the last one is written with its newline below
  end })
  if read > 0 then count(defs and #defs or read, true) end
  return defs, err
end

--- Refuses a destructive command that cannot be confirmed: no --yes (nor --dry-run) and no
-- terminal on stdin to ask on. The exit status, or nil when it may go on (to ask, or not).
function session.refused(ctx, args, what)
  if args.yes or args.dry_run or ctx.isatty(0) then return nil end
  return fail(ctx, "refusing to " .. what .. " without --yes (stdin is not a terminal to ask on); "
    .. "nothing was changed")
end

--- Confirms a destructive command: nil to go on (--yes, --dry-run, or "yes" typed on a
-- terminal after `lines()` were shown), or the exit status (refused or not confirmed).
function session.confirm(ctx, args, what, lines)
  if args.yes or args.dry_run then return nil end
  local refusal = session.refused(ctx, args, what)
  if refusal then return refusal end
  for _, line in ipairs(lines and lines() or {}) do ctx.err(line .. "\n") end
  ctx.err("Type yes to " .. what .. ": ")
  local answer = ctx.readline()
  if answer and answer:match("^%s*(.-)%s*$") == "yes" then return nil end
  if answer == nil then ctx.err("\n") end
  return fail(ctx, "not confirmed; nothing was changed")
end

--- The content of the file at path, or nil and the message ("<path>: <why>").
function session.read_file(path)
  local f, msg = io.open(path, "rb")
  if not f then return nil, msg end
  local content, why = f:read("*a")
  f:close()
  if not content then return nil, path .. ": " .. tostring(why or "cannot be read") end
  return content
end

--- Replaces the file at path by content, whole or not at all (core.replace_file: a temporary
-- file in the same directory, every write and the close checked, synced, renamed over it): true,
-- or nil and the message "<path>: <reason>", path left as it was.
session.write_file = core.replace_file

return session
