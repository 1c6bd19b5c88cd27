--- posthog.event_definitions.cli: the command-line program `posthog-evdefs` (bin/posthog-evdefs
-- is a short launcher). A thin layer over the library: each subcommand is a few calls of the
-- client (posthog.event_definitions) or of posthog.event_definitions.schema, plus output.
--
-- `cli.main(argv, env)` runs one command line and returns the exit status: 0 success, 1 failure
-- (API or transport error, invalid value, missing key, refused or unconfirmed destructive
-- command, failed operation, codegen drift), 2 usage error, 3 `plan --exit-code` with changes.
-- Arguments are parsed with lua-argparse's `pparse` (its `parse` exits 1 on a usage error); its
-- own --help and --version (which call os.exit) are replaced by flags that return.
-- `env` (all optional) makes it testable in-process: `stdout(s)`, `stderr(s)` writers,
-- `getenv(name)`, `isatty(fd)` and `readline()` (the answer to a confirmation). Plain Lua cannot
-- ask whether a descriptor is a terminal, so the default `isatty` runs `test -t <fd>` through
-- os.execute: the shell inherits our descriptors; it costs one fork per descriptor, done only
-- when the answer matters (no --format given, colour, progress, confirmations).
--
-- The parts: parser (the command line), output (tables, JSON, CSV, colour, progress), messages
-- (diagnostics and hints), changes (plans, reports, dry runs), session (the client from flags and
-- environment, REFs, reads with progress, confirmations, files), and the subcommands by concern:
-- read (list, get, metrics, stale), write (create, update, delete), bulk, schema (export, plan,
-- apply) and codegen.
local evdefs = require "posthog.event_definitions"
local runtime = require "posthog.event_definitions.runtime"
local command_line = require "posthog.event_definitions.cli.parser"
local messages = require "posthog.event_definitions.cli.messages"

local cli = {}

-- Subcommand name -> handler(ctx, args) -> exit status.
local commands = {}
for _, part in ipairs { "read", "write", "bulk", "schema", "codegen" } do
  for name, handler in pairs(require("posthog.event_definitions.cli." .. part)) do commands[name] = handler end
end

-- Commands whose output is definitions or a report of changes (a row per definition), the only
-- ones --format csv applies to (not dry runs); commands that write files in a format of their
-- own, which --format does not touch; and commands that print text unless --format json (or
-- csv, for apply's report).
local CSV_COMMANDS = { list = true, get = true, stale = true, create = true, update = true, delete = true,
  bulk = true, apply = true }
local OWN_FORMAT = { export = true, codegen = true }
local TEXT_UNLESS_JSON = { plan = true, apply = true }

-- The default isatty: `test -t` (Lua 5.1 and LuaJIT return 0, Lua 5.2+ true on success).
local function isatty(fd)
  local status = os.execute("test -t " .. fd)
  return status == true or status == 0
end

-- isatty asked once per descriptor.
local function remembered(test)
  local known = {}
  return function(fd)
    if known[fd] == nil then known[fd] = test(fd) == true end
    return known[fd]
  end
end

-- The subcommands `help [SUBCOMMAND…]` and `completion SHELL`.
local function help(ctx, args, parser, state)
  local command = parser
  for _, word in ipairs(args.topic) do
    local child = state.children[command][word]
    if not child then return messages.usage_error(ctx, "no subcommand '" .. word .. "' to help with", command) end
    command = child
  end
  ctx.out(command:get_help() .. "\n")
  return 0
end

local function completion(ctx, args, parser)
  ctx.out(require("posthog.event_definitions.cli.completion").script(parser, args.shell))
  return 0
end

-- What an unexpected error leaves for the report: its message and the traceback from where it
-- was raised. A report raised again (by run) passes through as it is.
local REPORT = {}
local function caught(e)
  if getmetatable(e) == REPORT then return e end
  return setmetatable({ message = e, traceback = debug.traceback(tostring(e), 2) }, REPORT)
end

-- Runs the command line `plain` in `ctx`; returns the exit status.
local function run(ctx, plain)
  local parser, state = command_line.build()
  local ran, parsed, args = pcall(parser.pparse, parser, plain)
  if state.version then
    ctx.out("posthog-evdefs " .. evdefs.VERSION .. "\n")
    return 0
  end
  if state.help then
    ctx.out(state.help:get_help() .. "\n")
    return 0
  end
  if not ran then error(parsed, 0) end
  ctx.command = command_line.command_in(parser, state, plain)
  if not parsed then return messages.usage_error(ctx, args, ctx.command) end
  if args.command == "help" then return help(ctx, args, parser, state) end
  if args.command == "completion" then return completion(ctx, args, parser) end
  if args.format == "csv" and not OWN_FORMAT[args.command] and (not CSV_COMMANDS[args.command] or args.dry_run) then
    return messages.usage_error(ctx, "--format csv is for definitions and reports: list, get, stale, create, "
      .. "update, delete, bulk and apply (not with --dry-run)", ctx.command)
  end
  ctx.quiet = args.quiet
  ctx.color = not args.no_color and (ctx.getenv("NO_COLOR") or "") == "" and ctx.isatty(1)
  if TEXT_UNLESS_JSON[args.command] then
    ctx.format = (args.format == "json" or args.format == "csv") and args.format or "table"
  else
    ctx.format = args.format or (ctx.isatty(1) and "table" or "json")
  end
  -- The command talks to PostHog: SIGINT and SIGTERM are caught until it ends (held, not before,
  -- so that help, completion and usage errors never load the transport). Its unexpected error
  -- is reported from where it was raised, not from the release of the hold.
  local done, status = runtime.holding(messages.INTERRUPTED, xpcall, function()
    return commands[args.command](ctx, args)
  end, caught)
  if not done then error(status, 0) end
  return status
end

--- Runs the command line `argv` (an array of strings, without the program name) and returns the
-- exit status 0, 1, 2 or 3. `env` (optional): `stdout(s)`, `stderr(s)`, `getenv(name)`,
-- `isatty(fd)`, `readline()` replace io.stdout, io.stderr, os.getenv, the terminal test and
-- io.stdin's next line. An unexpected error (a defect) is one line with the version and where to
-- report it, status 1; with --debug anywhere in argv, its traceback follows. SIGINT and SIGTERM
-- are caught while a command talks to PostHog: one that comes while nothing is being changed
-- ends the program at once with one line (status 130 or 143); one that comes during a batch
-- (apply, bulk, delete) lets the requests in flight finish and the report says what was done
-- and what was not (a second one ends the program at once).
function cli.main(argv, env)
  env = env or {}
  local unwritten -- why stdout refused what was written to it (a full disk, say)
  -- Flushes io.stdout (not a writer given in env), noting why it failed.
  local function flush()
    if env.stdout then return end
    local flushed, why = io.stdout:flush()
    if not flushed then unwritten = unwritten or why end
  end
  local ctx = {
    out = env.stdout or function(s)
      local ok, why = io.stdout:write(s)
      if not ok then unwritten = unwritten or why end
    end,
    err = env.stderr or function(s) io.stderr:write(s) end,
    getenv = env.getenv or os.getenv,
    isatty = remembered(env.isatty or isatty),
    readline = env.readline or function() return io.stdin:read("*l") end,
    flush = flush,
  }
  local plain, debugging = {}, false
  for i = 1, #argv do
    plain[i] = argv[i]
    if argv[i] == "--debug" then debugging = true end
  end
  local ok, status = xpcall(function() return run(ctx, plain) end, caught)
  if ctx.client then pcall(ctx.client.close, ctx.client) end
  if not ok then return messages.internal_error(ctx, status.message, debugging and status.traceback) end
  flush()
  if unwritten then -- output cut short must not pass for the whole
    return messages.fail(ctx, "cannot write the output: " .. tostring(unwritten))
  end
  return status
end

return cli
