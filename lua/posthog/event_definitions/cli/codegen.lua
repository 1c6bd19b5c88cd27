--- The `codegen` subcommand: the server's generated types written to --out with a lock file
-- <out>.lock.json (lang, schema_hash, generator_version); with --check, nothing is written and
-- the status is 1 when the server's schema_hash differs from the lock's (content is never
-- compared: the generated code embeds a timestamp).
local core = require "posthog.event_definitions.core"
local evdefs = require "posthog.event_definitions"
local output = require "posthog.event_definitions.cli.output"
local messages = require "posthog.event_definitions.cli.messages"
local session = require "posthog.event_definitions.cli.session"

local format = string.format
local fail, note, text = messages.fail, messages.note, output.text
local read_file, write_file = session.read_file, session.write_file

-- The lock file text: sorted keys, one per line.
local function lock_text(lang, code)
  local function value(v) return core.encode(v == nil and evdefs.null or v) end
  return format('{\n  "generator_version": %s,\n  "lang": %s,\n  "schema_hash": %s\n}\n',
    value(code.generator_version), value(lang), value(code.schema_hash))
end


--- handler(ctx, args) -> exit status.
local function codegen(ctx, args)
  local lock_path = args.out .. ".lock.json"
  local lock
  if args.check then
    local content = read_file(lock_path)
    if not content then
      return fail(ctx, "no lock file " .. lock_path .. "; run codegen without --check to write it")
    end
    lock = core.decode(content)
    if type(lock) ~= "table" or type(lock.schema_hash) ~= "string" then
      return fail(ctx, lock_path .. " is not a lock file with a schema_hash")
    end
    if lock.lang ~= args.lang then
      return fail(ctx, lock_path .. " was written for " .. text(lock.lang) .. ", not " .. args.lang)
    end
  end
  local client, status = session.connect(ctx, args)
  if not client then return status end
  local code, err = client[args.lang](client)
  if not code then return fail(ctx, err) end
  if lock then
    if code.schema_hash ~= lock.schema_hash then
      return fail(ctx, format("drift: %s is out of date (lock schema_hash %s, server %s); run codegen "
        .. "without --check", args.out, lock.schema_hash, text(code.schema_hash or "none")))
    end
    ctx.out(format("%s is up to date (schema_hash %s)\n", args.out, lock.schema_hash))
    return 0
  end
  -- the code first, its lock last: a lock never vouches for code that was not written
  local ok, msg = write_file(args.out, code.content or "")
  if not ok then
    return fail(ctx, "cannot write " .. msg .. "; " .. args.out .. " and its lock were left as they were")
  end
  ok, msg = write_file(lock_path, lock_text(args.lang, code))
  if not ok then
    return fail(ctx, "wrote " .. args.out .. " but cannot write its lock " .. msg .. "; codegen --check reports "
      .. "drift until codegen succeeds")
  end
  note(ctx, format("wrote %s (%s events) and %s", args.out, text(code.event_count or "?"), lock_path))
  return 0
end

return { codegen = codegen }
