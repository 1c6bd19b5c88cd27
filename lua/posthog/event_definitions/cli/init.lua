--- posthog.event_definitions.cli: the command-line program `posthog-evdefs` (bin/posthog-evdefs
-- is a two-line launcher). A thin layer over the library: each subcommand is one or two calls of
-- the client (posthog.event_definitions) or of posthog.event_definitions.schema, plus output.
--
-- `cli.main(argv, env)` runs one command line and returns the exit status: 0 success, 1 failure
-- (API or transport error, invalid value, missing key, refused delete, failed operation, codegen
-- drift), 2 usage error. Arguments are parsed with lua-argparse's `pparse` (its `parse` exits 1 on
-- a usage error) and its own `--help` (which calls os.exit) is replaced by one that returns.
-- `env` (all optional) makes it testable in-process: `stdout(s)`, `stderr(s)` writers,
-- `getenv(name)` and `isatty(fd)`. Plain Lua cannot ask whether a descriptor is a terminal, so the
-- default `isatty` runs `test -t <fd>` through os.execute: the shell inherits our descriptors,
-- and it costs one fork, done only when the answer matters (no --format given, progress bars).
--
-- The parts: parser (the command line), output (tables, JSON, CSV, reports, diagnostics),
-- session (the client from flags and environment, confirmations, files), and the subcommands by
-- concern: read (list, get, metrics, stale), write (create, update, delete), bulk, schema
-- (export, plan, apply) and codegen.
local command_line = require "posthog.event_definitions.cli.parser"
local output = require "posthog.event_definitions.cli.output"

local cli = {}

-- Subcommand name -> handler(ctx, args) -> exit status.
local commands = {}
for _, part in ipairs { "read", "write", "bulk", "schema", "codegen" } do
  for name, handler in pairs(require("posthog.event_definitions.cli." .. part)) do commands[name] = handler end
end

-- Commands whose output is definitions, the only ones --format csv applies to (not dry runs),
-- and commands that write files in a format of their own, which --format does not touch.
local CSV_COMMANDS = { list = true, get = true, stale = true, create = true, update = true }
local OWN_FORMAT = { export = true, codegen = true }

-- The default isatty: `test -t` (Lua 5.1 and LuaJIT return 0, Lua 5.2+ true on success).
local function isatty(fd)
  local status = os.execute("test -t " .. fd)
  return status == true or status == 0
end

--- Runs the command line `argv` (an array of strings, without the program name) and returns the
-- exit status 0, 1 or 2. `env` (optional): `stdout(s)`, `stderr(s)`, `getenv(name)`, `isatty(fd)`
-- replace io.stdout, io.stderr, os.getenv and the terminal test.
function cli.main(argv, env)
  env = env or {}
  local ctx = {
    out = env.stdout or function(s) io.stdout:write(s) end,
    err = env.stderr or function(s) io.stderr:write(s) end,
    getenv = env.getenv or os.getenv,
    isatty = env.isatty or isatty,
  }
  local parser, state = command_line.build()
  local plain = {}
  for i = 1, #argv do plain[i] = argv[i] end
  local ran, parsed, args = pcall(parser.pparse, parser, plain)
  if state.help then
    ctx.out(state.help:get_help() .. "\n")
    return 0
  end
  if not ran then error(parsed, 0) end
  ctx.command = command_line.command_in(parser, state, plain)
  if not parsed then return output.usage_error(ctx, args, ctx.command) end
  if args.format == "csv" and not OWN_FORMAT[args.command] and (not CSV_COMMANDS[args.command] or args.dry_run) then
    return output.usage_error(ctx, "--format csv is for definitions: list, get, stale, create and update",
      ctx.command)
  end
  ctx.format = args.format or (ctx.isatty(1) and "table" or "json")
  local status = commands[args.command](ctx, args)
  if ctx.client then ctx.client:close() end
  return status
end

return cli
