--- posthog.event_definitions.cli: the command-line program `posthog-evdefs` (bin/posthog-evdefs
-- is a two-line launcher). A thin layer: each subcommand is one or two library calls plus output.
--
-- `cli.main(argv, env)` runs one command line and returns the exit status: 0 success, 1 failure
-- (API or transport error, invalid value, missing key, refused delete, failed operation, codegen
-- drift), 2 usage error. Arguments are parsed with lua-argparse's `pparse` (its `parse` exits 1 on
-- a usage error) and its own `--help` (which calls os.exit) is replaced by one that returns.
-- `env` (all optional) makes it testable in-process: `stdout(s)`, `stderr(s)` writers,
-- `getenv(name)` and `isatty(fd)`. Plain Lua cannot ask whether a descriptor is a terminal, so the
-- default `isatty` runs `test -t <fd>` through os.execute: the shell inherits our descriptors,
-- and it costs one fork, done only when the answer matters (no --format given, progress bars).
local argparse = require "argparse"
local evdefs = require "posthog.event_definitions"
local schema = require "posthog.event_definitions.schema"
local core = require "posthog.event_definitions.core"

local concat, format = table.concat, string.format

local cli = {}

local PROGRAM = "posthog-evdefs"

------------------------------------------------------------------------------------------------
-- Small helpers
------------------------------------------------------------------------------------------------

local function array(list)
  local copy = {}
  for i = 1, #list do copy[i] = list[i] end
  return setmetatable(copy, core.array_mt)
end

-- Display width of UTF-8 text: its code points (continuation bytes do not count).
local function width(s)
  return #s:gsub("[\128-\191]", "")
end

-- s cut to at most n code points, "…" marking a cut.
local function shorten(s, n)
  if width(s) <= n then return s end
  local count = 0
  for i = 1, #s do
    local b = s:byte(i)
    if b < 128 or b >= 192 then
      count = count + 1
      if count == n then return s:sub(1, i - 1) .. "…" end
    end
  end
end

-- A value as one line of table text.
local function text(v)
  if v == nil then return "" end
  if type(v) == "string" then return (v:gsub("%c", " ")) end
  if type(v) == "table" then return core.encode(v) end
  return tostring(v)
end

-- Rows of cells (strings) as left-aligned columns two spaces apart.
local function render(rows)
  local widths = {}
  for _, row in ipairs(rows) do
    for c, cell in ipairs(row) do widths[c] = math.max(widths[c] or 0, width(cell)) end
  end
  local lines = {}
  for r, row in ipairs(rows) do
    local cells = {}
    for c, cell in ipairs(row) do cells[c] = cell .. (" "):rep(widths[c] - width(cell)) end
    lines[r] = concat(cells, "  "):gsub("%s+$", "") .. "\n"
  end
  return concat(lines)
end

local function read_file(path)
  local f, msg = io.open(path, "rb")
  if not f then return nil, msg end
  local content = f:read("*a")
  f:close()
  return content
end

local function write_file(path, content)
  local f, msg = io.open(path, "wb")
  if not f then return nil, msg end
  local ok, werr = f:write(content)
  f:close()
  if not ok then return nil, werr end
  return true
end

-- The default isatty: `test -t` (Lua 5.1 and LuaJIT return 0, Lua 5.2+ true on success).
local function isatty(fd)
  local status = os.execute("test -t " .. fd)
  return status == true or status == 0
end

------------------------------------------------------------------------------------------------
-- Command line
------------------------------------------------------------------------------------------------

local function positive_integer(s)
  local n = tonumber(s)
  if not n or n < 1 or n % 1 ~= 0 then return nil, "'" .. s .. "' is not a positive integer" end
  return n
end

local function non_negative(s)
  local n = tonumber(s)
  if not n or n < 0 then return nil, "'" .. s .. "' is not a non-negative number" end
  return n
end

-- The parser and the state its --help flags report to: state.help = the command asked about,
-- state.children[command] = {name = subcommand} (to find the usage to show with an error).
local function build_parser()
  local state = { children = {} }

  local function with_help(command)
    command:add_help(false)
    command:flag("-h --help", "Show this help and exit."):action(function()
      state.help = command
      error("help requested", 0) -- unwinds pparse; main sees state.help
    end)
    state.children[command] = {}
    return command
  end
  local function sub(parent, name, description)
    local command = with_help(parent:command(name, description))
    state.children[parent][name] = command
    return command
  end
  local function filters(command)
    command:option("--search", "Select the definitions whose name contains S."):argname("S")
    command:option("--event-type", "Select by event type."):argname("T")
  end

  local parser = with_help(argparse(PROGRAM, "Manage the event definitions of a PostHog project."))
  parser:help_max_width(100)
  parser:epilog("The personal API key comes from POSTHOG_PERSONAL_API_KEY only (never a flag); "
    .. "POSTHOG_HOST and POSTHOG_PROJECT_ID give the host and project when the flags do not. "
    .. "Global options come before the subcommand. Exit status: 0 success, 1 failure, 2 usage error.")
  parser:option("--host", "PostHog URL (default: $POSTHOG_HOST, else https://us.posthog.com)."):argname("URL")
  parser:option("--project-id", "Project id (default: $POSTHOG_PROJECT_ID, else @current)."):argname("ID")
  parser:option("--format", "Output format (default: table on a terminal, json otherwise).")
    :choices { "table", "json", "csv" }
  parser:command_target("command")

  local list = sub(parser, "list", "List definitions: one page, or every page with --all.")
  filters(list)
  list:option("--limit", "Page size."):argname("N"):convert(positive_integer)
  list:flag("--all", "Fetch every page.")

  sub(parser, "get", "Show one definition."):argument("id", "Definition id (a UUID).")
  sub(parser, "metrics", "Show a definition's metrics."):argument("id", "Definition id (a UUID).")

  local stale = sub(parser, "stale", "List definitions not seen for --days.")
  stale:option("--days", "Days without being seen (default 30)."):argname("N"):convert(non_negative)
  stale:flag("--include-never-seen", "Also list definitions never seen.")

  local create = sub(parser, "create", "Create a definition.")
  create:argument("name", "Event name.")
  create:option("--description", "Description."):argname("D")
  create:option("--tag", "A tag (repeat for more)."):argname("T"):count("*")
  create:flag("--dry-run", "Print what would be sent; send nothing.")

  local update = sub(parser, "update", "Change a definition's fields.")
  update:argument("id", "Definition id (a UUID).")
  update:option("--description", "New description."):argname("D")
  update:option("--tag", "The new tag set (repeat for more): replaces every tag."):argname("T"):count("*")
  update:mutex(
    update:flag("--verified", "Mark verified."):target("verified"):action("store_true"),
    update:flag("--no-verified", "Mark not verified."):target("verified"):action("store_false"))
  update:mutex(
    update:flag("--hidden", "Hide."):target("hidden"):action("store_true"),
    update:flag("--no-hidden", "Unhide."):target("hidden"):action("store_false"))
  update:flag("--dry-run", "Print what would be sent; send nothing.")

  local delete = sub(parser, "delete", "Delete definitions (needs an explicit project).")
  delete:argument("id", "Definition ids (UUIDs)."):args("+"):argname("ID")
  delete:flag("--yes", "Confirm deleting more than one definition.")
  delete:flag("--dry-run", "Print what would be sent; send nothing (no --yes needed).")

  local export = sub(parser, "export", "Export every definition.")
  export:argument("what", "Export format."):choices { "json-schema", "csv", "markdown", "snapshot" }
  export:option("--out", "Write to FILE instead of stdout."):argname("FILE")

  local plan = sub(parser, "plan", "Print the operations that turn the project into FILE (a snapshot "
    .. "or JSON Schema export).")
  plan:argument("file", "Desired state.")
  plan:flag("--delete-missing", "Also delete definitions missing from FILE.")

  local apply = sub(parser, "apply", "Run the operations of `plan FILE` as one batch.")
  apply:argument("file", "Desired state.")
  apply:flag("--dry-run", "Print what would be sent; send nothing.")
  apply:flag("--delete-missing", "Also delete definitions missing from FILE (needs an explicit project).")

  local bulk = sub(parser, "bulk", "Act on many definitions: by ids, or by --search / --event-type.")
  bulk:command_target("bulk_command")
  local actions = {
    delete = "Delete the selected definitions (needs --yes and an explicit project).",
    hide = "Hide the selected definitions (needs --yes).",
    verify = "Verify the selected definitions.",
  }
  for _, name in ipairs { "delete", "hide", "verify" } do
    local command = sub(bulk, name, actions[name])
    command:argument("ids", "Definition ids (UUIDs)."):args("*"):argname("ID")
    filters(command)
    command:flag("--dry-run", "Print what would be sent; send nothing (no --yes needed).")
    command:flag("--yes", "Confirm.")
    if name == "verify" then command:flag("--unverify", "Mark not verified instead.") end
  end
  local tag = sub(bulk, "tag", "Add, remove or set tags on the selected definitions.")
  tag:argument("action", "What to do with the tags."):choices { "add", "remove", "set" }
  tag:argument("tags", "Tags."):args("+"):argname("TAG")
  tag:option("--id", "A definition id (repeat for more)."):argname("ID"):count("*")
  filters(tag)
  tag:flag("--dry-run", "Print what would be sent; send nothing.")
  tag:flag("--yes", "Confirm.")

  local codegen = sub(parser, "codegen", "Write generated types and a lock file, or check them for drift.")
  codegen:option("--lang", "Language."):choices { "typescript", "golang", "python" }:count(1)
  codegen:option("--out", "The code file; the lock is FILE.lock.json."):argname("FILE"):count(1)
  codegen:flag("--check", "Write nothing; exit 1 when the server's schema_hash differs from the lock's.")

  return parser, state
end

-- The deepest (sub)command named in argv, for the usage shown with an error.
local function command_in(parser, state, argv)
  local command = parser
  for _, token in ipairs(argv) do
    command = state.children[command][token] or command
  end
  return command
end

------------------------------------------------------------------------------------------------
-- Output
------------------------------------------------------------------------------------------------

local function fail(ctx, message)
  ctx.err(PROGRAM .. ": " .. tostring(message) .. "\n")
  return 1
end

local function note(ctx, message)
  ctx.err(PROGRAM .. ": " .. message .. "\n")
end

local function usage_error(ctx, message, command)
  ctx.err(PROGRAM .. ": " .. message .. "\n" .. command:get_usage() .. "\n"
    .. "Run with --help for more.\n")
  return 2
end

local function yes_no(v) return v and "yes" or "no" end

local function print_definitions(ctx, defs)
  if ctx.format == "json" then
    ctx.out(core.encode(array(defs)) .. "\n")
  elseif ctx.format == "csv" then
    ctx.out(schema.csv(defs, { tag_separator = ";" }))
  else
    local rows = { { "NAME", "ID", "VERIFIED", "HIDDEN", "TAGS", "LAST SEEN", "DESCRIPTION" } }
    for _, d in ipairs(defs) do
      rows[#rows + 1] = { text(d.name), text(d.id), yes_no(d.verified), yes_no(d.hidden),
        text(concat(d.tags or {}, ",")), text(d.last_seen_at or "never"), shorten(text(d.description), 40) }
    end
    ctx.out(render(rows))
  end
end

-- One object (a definition, metrics): JSON, a CSV row (definitions only) or key/value lines.
local function print_object(ctx, object)
  if ctx.format == "json" then
    ctx.out(core.encode(object) .. "\n")
  elseif ctx.format == "csv" then
    ctx.out(schema.csv({ object }, { tag_separator = ";" }))
  else
    local keys = {}
    for k in pairs(object) do keys[#keys + 1] = k end
    table.sort(keys)
    local rows = {}
    for i, k in ipairs(keys) do rows[i] = { k .. ":", text(object[k]) } end
    ctx.out(render(rows))
  end
end

-- A progress callback drawing a bar on stderr when it is a terminal (for two operations or
-- more), else nil.
local function progress(ctx)
  if not ctx.isatty(2) then return nil end
  return function(done, total)
    if total < 2 then return end
    local filled = math.floor(30 * done / total)
    ctx.err(format("\r[%s%s] %d/%d", ("#"):rep(filled), ("-"):rep(30 - filled), done, total)
      .. (done >= total and "\n" or ""))
  end
end

-- What a report's result i is about: its label fields (op, name, id) as one text.
local function label_text(label, result, i)
  if label then return concat({ label.op, label.name or label.id }, " ") end
  local value = result.value
  if type(value) == "table" and (value.name or value.id) then return text(value.name or value.id) end
  return "#" .. i
end

-- Prints a dry run's requests (each distinct one once: a bulk chunk serves many ids) and its
-- failures; returns the exit status.
local function print_dry_run(ctx, report, labels)
  local seen, requests, lines = {}, {}, {}
  for i, r in ipairs(report.results) do
    if not r.ok then
      note(ctx, label_text(labels and labels[i], r, i) .. ": " .. tostring(r.err))
    elseif r.request and not seen[r.request] then
      seen[r.request] = true
      local q = r.request
      requests[#requests + 1] = { method = q.method, path = q.path, body = q.body and core.decode(q.body) }
      lines[#lines + 1] = { q.method, text(q.path), q.body or "" }
    end
  end
  if ctx.format == "json" then ctx.out(core.encode(array(requests)) .. "\n") else ctx.out(render(lines)) end
  return report.failed > 0 and 1 or 0
end

-- Prints a batch report (one result per line, or JSON); returns the exit status (1 when any
-- operation failed). labels[i] (optional) = {op, name, id} of operation i.
local function print_report(ctx, report, labels)
  if report.results[1] and report.results[1].dry_run then return print_dry_run(ctx, report, labels) end
  if #report.results == 0 then note(ctx, "no definitions matched") end
  if ctx.format == "json" then
    local results = {}
    for i, r in ipairs(report.results) do
      local out = { ok = r.ok, value = r.value, unchanged = r.unchanged }
      for k, v in pairs(labels and labels[i] or {}) do out[k] = v end
      if r.err then
        out.error = { message = tostring(r.err), kind = r.err.kind, status = r.err.status }
      end
      results[i] = out
    end
    ctx.out(core.encode { ok = report.ok, failed = report.failed, results = array(results) } .. "\n")
  else
    local rows = {}
    for i, r in ipairs(report.results) do
      rows[i] = { r.ok and "ok" or "FAILED", label_text(labels and labels[i], r, i), r.err and tostring(r.err) or "" }
    end
    ctx.out(render(rows) .. format("%d ok, %d failed\n", report.ok, report.failed))
  end
  return report.failed > 0 and 1 or 0
end

------------------------------------------------------------------------------------------------
-- Subcommands: each is handler(ctx, args) -> exit status
------------------------------------------------------------------------------------------------

local function env_value(ctx, name)
  local v = ctx.getenv(name)
  if v ~= nil and v ~= "" then return v end
end

-- A client from the flags and environment, or nil and the exit status. `deletes`: the command
-- deletes, so the project must be explicit (@current follows the key owner's last project).
local function connect(ctx, args, deletes)
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

local commands = {}

function commands.list(ctx, args)
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
  print_definitions(ctx, defs)
  if page and page.next and ctx.format == "table" then
    note(ctx, format("%d of %s definitions shown; --all fetches every page", #defs, tostring(page.count)))
  end
  return 0
end

local function show(method)
  return function(ctx, args)
    local client, status = connect(ctx, args)
    if not client then return status end
    local value, err = client[method](client, args.id)
    if value == nil then return fail(ctx, err) end
    print_object(ctx, value)
    return 0
  end
end
commands.get = show("get")
commands.metrics = show("metrics")

function commands.stale(ctx, args)
  local client, status = connect(ctx, args)
  if not client then return status end
  local defs, err = client:stale { days = args.days, include_never_seen = args.include_never_seen }
  if not defs then return fail(ctx, err) end
  print_definitions(ctx, defs)
  return 0
end

-- Runs one create or update: with --dry-run prints the request, else the definition.
local function write_one(ctx, args, op)
  local client, status = connect(ctx, args)
  if not client then return status end
  if args.dry_run then
    local report, err = client:batch({ op }, { dry_run = true })
    if not report then return fail(ctx, err) end
    return print_dry_run(ctx, report)
  end
  local value, err
  if op.op == "create" then value, err = client:create(op.fields) else value, err = client:update(op.id, op.fields) end
  if not value then return fail(ctx, err) end
  print_object(ctx, value)
  return 0
end

function commands.create(ctx, args)
  local fields = { name = args.name, description = args.description }
  if #args.tag > 0 then fields.tags = array(args.tag) end
  return write_one(ctx, args, { op = "create", fields = fields })
end

function commands.update(ctx, args)
  local fields = { description = args.description, verified = args.verified, hidden = args.hidden }
  if #args.tag > 0 then fields.tags = array(args.tag) end
  if next(fields) == nil then
    return usage_error(ctx, "nothing to update: give --description, --tag, --[no-]verified or --[no-]hidden",
      ctx.command)
  end
  return write_one(ctx, args, { op = "update", id = args.id, fields = fields })
end

-- Refuses a destructive command without --yes (a dry run needs none); returns the exit status.
local function refused(ctx, args, what)
  if args.yes or args.dry_run then return nil end
  return fail(ctx, "refusing to " .. what .. " without --yes; nothing was changed")
end

function commands.delete(ctx, args)
  local ids = args.id
  local refusal = #ids > 1 and refused(ctx, args, "delete " .. #ids .. " definitions")
  if refusal then return refusal end
  local client, status = connect(ctx, args, true)
  if not client then return status end
  local ops, labels = {}, {}
  for i, id in ipairs(ids) do
    ops[i] = { op = "delete", id = id }
    labels[i] = { op = "delete", id = id }
  end
  local report, err = client:batch(ops, { dry_run = args.dry_run, on_progress = progress(ctx) })
  if not report then return fail(ctx, err) end
  return print_report(ctx, report, labels)
end

local EXPORTS = {
  ["json-schema"] = schema.json_schema,
  csv = schema.csv, -- the schema export: tags as a JSON array (--format csv joins them with ";")
  markdown = schema.markdown,
  snapshot = schema.snapshot,
}

function commands.export(ctx, args)
  local client, status = connect(ctx, args)
  if not client then return status end
  local defs, err = client:all()
  if not defs then return fail(ctx, err) end
  local content = EXPORTS[args.what](defs)
  if not args.out then
    ctx.out(content:sub(-1) == "\n" and content or content .. "\n")
    return 0
  end
  local ok, msg = write_file(args.out, content)
  if not ok then return fail(ctx, "cannot write " .. msg) end
  note(ctx, format("wrote %d definitions to %s", #defs, args.out))
  return 0
end

-- The plan from FILE to the project: client, plan, or nil and the exit status.
local function plan_of(ctx, args, deletes)
  local client, status = connect(ctx, args, deletes)
  if not client then return nil, nil, status end
  local content, msg = read_file(args.file)
  if not content then return nil, nil, fail(ctx, "cannot read " .. msg) end
  local desired
  desired, msg = schema.load(content)
  if not desired then return nil, nil, fail(ctx, msg) end
  local current, err = client:all()
  if not current then return nil, nil, fail(ctx, err) end
  local plan
  plan, msg = schema.plan(current, desired, { delete_missing = args.delete_missing })
  if not plan then return nil, nil, fail(ctx, msg) end
  if #plan.ops == 0 then note(ctx, "no changes") end
  return client, plan
end

function commands.plan(ctx, args)
  local client, plan, status = plan_of(ctx, args, false)
  if not client then return status end
  if ctx.format == "json" then
    ctx.out(core.encode(array(plan.ops)) .. "\n")
  else
    local rows = {}
    for i, op in ipairs(plan.ops) do
      rows[i] = { op.op, text(op.name), op.id or "", op.fields and core.encode(op.fields) or "" }
    end
    ctx.out(render(rows))
  end
  return 0
end

function commands.apply(ctx, args)
  local client, plan, status = plan_of(ctx, args, args.delete_missing)
  if not client then return status end
  if #plan.ops == 0 then return 0 end
  local report, err = client:batch(plan.ops, { dry_run = args.dry_run, on_progress = progress(ctx) })
  if not report then return fail(ctx, err) end
  return print_report(ctx, report, plan.ops)
end

-- The selection of a bulk command: ids, or a filter; or nil and the exit status.
local function selection(ctx, args, ids)
  local filter = { search = args.search, event_type = args.event_type }
  if #ids > 0 and next(filter) ~= nil then
    return nil, usage_error(ctx, "give ids or --search/--event-type, not both", ctx.command)
  end
  if #ids > 0 then return ids end
  if next(filter) ~= nil then return filter end
  return nil, usage_error(ctx, "nothing selected: give ids or --search/--event-type", ctx.command)
end

-- Labels for a report over an ids selection (nil for a filter).
local function id_labels(selected)
  if selected[1] == nil then return nil end
  local labels = {}
  for i, id in ipairs(selected) do labels[i] = { id = id } end
  return labels
end

local bulk = {}

-- A bulk subcommand: `run(client, selected, opts, args)` calls the library helper.
local function bulk_command(run, what, deletes)
  return function(ctx, args)
    local selected, status = selection(ctx, args, args.ids or args.id)
    if not selected then return status end
    local refusal = what and refused(ctx, args, what)
    if refusal then return refusal end
    local client
    client, status = connect(ctx, args, deletes)
    if not client then return status end
    local report, err = run(client, selected, { dry_run = args.dry_run, on_progress = progress(ctx) }, args)
    if not report then return fail(ctx, err) end
    return print_report(ctx, report, id_labels(selected))
  end
end

bulk.delete = bulk_command(function(client, selected, opts) return client:bulk_delete(selected, opts) end,
  "bulk delete", true)
bulk.hide = bulk_command(function(client, selected, opts) return client:bulk_hide(selected, opts) end,
  "bulk hide")
bulk.verify = bulk_command(function(client, selected, opts, args)
  opts.verified = not args.unverify
  return client:bulk_verify(selected, opts)
end)
bulk.tag = bulk_command(function(client, selected, opts, args)
  return client:bulk_tag(selected, args.action, args.tags, opts)
end)

function commands.bulk(ctx, args)
  return bulk[args.bulk_command](ctx, args)
end

-- The lock file text: sorted keys, one per line.
local function lock_text(lang, code)
  local function value(v) return core.encode(v == nil and evdefs.null or v) end
  return format('{\n  "generator_version": %s,\n  "lang": %s,\n  "schema_hash": %s\n}\n',
    value(code.generator_version), value(lang), value(code.schema_hash))
end

function commands.codegen(ctx, args)
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
  local client, status = connect(ctx, args)
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
  local ok, msg = write_file(args.out, code.content or "")
  if ok then ok, msg = write_file(lock_path, lock_text(args.lang, code)) end
  if not ok then return fail(ctx, "cannot write " .. msg) end
  note(ctx, format("wrote %s (%s events) and %s", args.out, text(code.event_count or "?"), lock_path))
  return 0
end

------------------------------------------------------------------------------------------------
-- Entry point
------------------------------------------------------------------------------------------------

-- Commands whose output is definitions, the only ones --format csv applies to (not dry runs),
-- and commands that write files in a format of their own, which --format does not touch.
local CSV_COMMANDS = { list = true, get = true, stale = true, create = true, update = true }
local OWN_FORMAT = { export = true, codegen = true }

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
  local parser, state = build_parser()
  local plain = {}
  for i = 1, #argv do plain[i] = argv[i] end
  local ran, parsed, args = pcall(parser.pparse, parser, plain)
  if state.help then
    ctx.out(state.help:get_help() .. "\n")
    return 0
  end
  if not ran then error(parsed, 0) end
  ctx.command = command_in(parser, state, plain)
  if not parsed then return usage_error(ctx, args, ctx.command) end
  if args.format == "csv" and not OWN_FORMAT[args.command] and (not CSV_COMMANDS[args.command] or args.dry_run) then
    return usage_error(ctx, "--format csv is for definitions: list, get, stale, create and update", ctx.command)
  end
  ctx.format = args.format or (ctx.isatty(1) and "table" or "json")
  local status = commands[args.command](ctx, args)
  if ctx.client then ctx.client:close() end
  return status
end

return cli
