--- The command line of posthog-evdefs: the lua-argparse definition of every flag and subcommand.
-- Each command gets a --help flag of our own, and the program a --version: argparse's call
-- os.exit, ours record what was asked and unwind `pparse`, so that cli.main prints it and returns 0.
local argparse = require "argparse"

local command_line = {}

local PROGRAM = "posthog-evdefs"

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

local function non_empty(s)
  if s == "" then return nil, "a name must not be empty" end
  return s
end

local REF = "A definition's UUID or its event name."

-- The parser and the state its --help and --version flags report to.
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
  local function pair(command, name, target, yes, no)
    command:mutex(
      command:flag("--" .. name, yes):target(target):action("store_true"),
      command:flag("--no-" .. name, no):target(target):action("store_false"))
  end
  -- The list filters, which also select the definitions of a bulk command.
  local function filters(command)
    command:option("--name", "The definition named N, exactly (repeat: any of them)."):argname("N"):count("*")
      :convert(non_empty)
    command:option("--search", "Definitions whose name contains S."):argname("S")
    command:option("--event-type", "event_custom or event_posthog (all and action_event select "
      .. "every event)."):argname("T")
    command:option("--tag", "Definitions carrying tag T (repeat: any of them)."):argname("T"):count("*")
    pair(command, "verified", "verified", "Verified definitions (and PostHog's core events).",
      "Definitions not verified.")
    command:flag("--exclude-hidden", "Leave hidden definitions out.")
  end
  local function dry_run(command, yes)
    command:flag("--dry-run", "Print what would be sent; send nothing.")
    if yes then command:flag("--yes", yes) end
  end

  local parser = with_help(argparse(PROGRAM, "Manage the event definitions of a PostHog project."))
  parser:help_max_width(100)
  parser:epilog("The personal API key comes from POSTHOG_PERSONAL_API_KEY only (never a flag); "
    .. "POSTHOG_HOST and POSTHOG_PROJECT_ID give the host and project when the flags do not. "
    .. "Global options come before the subcommand. REF is a definition's UUID or its event name. "
    .. "Exit status: 0 success, 1 failure (or a refused or unconfirmed destructive command), "
    .. "2 usage error, 3 `plan --exit-code` with changes. Colour only on a terminal, never with "
    .. "--no-color or NO_COLOR.")
  parser:option("--host", "PostHog URL (default: $POSTHOG_HOST, else https://us.posthog.com; EU: "
    .. "https://eu.posthog.com)."):argname("URL")
  parser:option("--project-id", "Project id (default: $POSTHOG_PROJECT_ID, else @current)."):argname("ID")
  parser:option("--format", "Output format (default: table on a terminal, json otherwise; plan and "
    .. "apply: text unless json).")
    :choices { "table", "json", "csv" }
  parser:option("--ca-file", "CA bundle to trust instead of the system's (a private CA)."):argname("FILE")
  parser:flag("--insecure", "Do not verify the server's TLS certificate.")
  parser:flag("-q --quiet", "No progress and no notices (errors still print).")
  parser:flag("--no-color", "No colour, even on a terminal.")
  parser:flag("--debug", "On an unexpected error (a defect to report), also print the Lua traceback.")
  parser:flag("--version", "Print the version and exit."):action(function()
    state.version = true
    error("version requested", 0)
  end)
  parser:command_target("command")

  local help = sub(parser, "help", "Show the help of the program or of a subcommand.")
  help:argument("topic", "A subcommand (and its subcommand)."):args("*"):argname("SUBCOMMAND")

  local completion = sub(parser, "completion", "Print a shell completion script, e.g. "
    .. "source <(posthog-evdefs completion bash).")
  completion:argument("shell", "The shell."):choices { "bash", "zsh", "fish" }

  local list = sub(parser, "list", "List definitions: one page, or every page with --all.")
  filters(list)
  list:option("--ordering", "Sort by a field, -field descending (repeat for more)."):argname("O"):count("*")
  list:option("--limit", "Page size."):argname("N"):convert(positive_integer)
  list:flag("--all", "Fetch every page.")

  sub(parser, "get", "Show one definition."):argument("ref", REF):argname("REF")
  sub(parser, "metrics", "Show a definition's metrics (PostHog refuses scoped keys here)."):argument("ref", REF)
    :argname("REF")

  local stale = sub(parser, "stale", "List definitions not seen for --days.")
  stale:option("--days", "Days without being seen (default 30)."):argname("N"):convert(non_negative)
  stale:flag("--include-never-seen", "Also list definitions never seen.")

  local create = sub(parser, "create", "Create a definition.")
  create:argument("name", "Event name.")
  create:option("--description", "Description."):argname("D")
  create:option("--tag", "A tag (repeat for more)."):argname("T"):count("*")
  dry_run(create)

  local update = sub(parser, "update", "Change a definition's fields.")
  update:argument("ref", REF):argname("REF")
  update:option("--description", "New description."):argname("D")
  update:option("--tag", "The new tag set (repeat for more): replaces every tag."):argname("T"):count("*")
  update:option("--add-tag", "Add a tag (repeat for more)."):argname("T"):count("*")
  update:option("--remove-tag", "Remove a tag (repeat for more)."):argname("T"):count("*")
  pair(update, "verified", "verified", "Mark verified.", "Mark not verified.")
  pair(update, "hidden", "hidden", "Hide.", "Unhide.")
  dry_run(update)

  local delete = sub(parser, "delete", "Delete definitions (asks first; needs an explicit project).")
  delete:argument("refs", REF):args("+"):argname("REF")
  dry_run(delete, "Do not ask: delete.")

  local export = sub(parser, "export", "Export every definition.")
  export:argument("what", "Export format."):choices { "json-schema", "csv", "markdown", "snapshot" }
  export:option("--out", "Write to FILE instead of stdout."):argname("FILE")

  local plan = sub(parser, "plan", "Print what apply FILE would change: each operation with the old and "
    .. "new value of every field, then a summary line.")
  plan:argument("file", "Desired state: a snapshot, JSON Schema or CSV export.")
  plan:flag("--delete-missing", "Also delete definitions missing from FILE.")
  plan:flag("--exit-code", "Exit 3 when the plan has changes (0 when none, 1 on failure).")

  local apply = sub(parser, "apply", "Print the plan of FILE and run it as one batch (deletions ask first).")
  apply:argument("file", "Desired state: a snapshot, JSON Schema or CSV export.")
  apply:flag("--delete-missing", "Also delete definitions missing from FILE (needs an explicit project).")
  apply:flag("--all-definitions", "Allow a plan that deletes every definition of the project, or more than half.")
  dry_run(apply, "Do not ask before deleting.")

  local bulk = sub(parser, "bulk", "Act on many definitions: by REFs (--id for tag), or by the list filters.")
  bulk:command_target("bulk_command")
  local actions = {
    delete = { "Delete the selected definitions (asks first; needs an explicit project).", "Do not ask: delete." },
    hide = { "Hide the selected definitions (asks first; needs an explicit project).", "Do not ask: hide." },
    verify = { "Verify the selected definitions (asks first on a terminal).", "Do not ask." },
  }
  for _, name in ipairs { "delete", "hide", "verify" } do
    local command = sub(bulk, name, actions[name][1])
    command:argument("refs", REF):args("*"):argname("REF")
    filters(command)
    command:flag("--all-definitions", "Allow filters that select every definition of the project"
      .. (name == "verify" and "." or ", or more than half."))
    if name == "verify" then command:flag("--unverify", "Mark not verified instead.") end
    dry_run(command, actions[name][2])
  end
  local tag = sub(bulk, "tag", "Add, remove or set tags on the selected definitions (asks first on a terminal).")
  tag:argument("action", "What to do with the tags."):choices { "add", "remove", "set" }
  tag:argument("tags", "Tags."):args("+"):argname("TAG")
  tag:option("--id", "A definition to tag, as a REF (repeat for more)."):argname("REF"):count("*")
  filters(tag)
  tag:flag("--all-definitions", "Allow filters that select every definition of the project.")
  dry_run(tag, "Do not ask.")

  local codegen = sub(parser, "codegen", "Write generated types and a lock file, or check them for drift.")
  codegen:option("--lang", "Language."):choices { "typescript", "golang", "python" }:count(1)
  codegen:option("--out", "The code file; the lock is FILE.lock.json."):argname("FILE"):count(1)
  codegen:flag("--check", "Write nothing; exit 1 when the server's schema_hash differs from the lock's.")

  return parser, state
end

local function command_in(parser, state, argv)
  local command = parser
  for _, token in ipairs(argv) do
    command = state.children[command][token] or command
  end
  return command
end

--- The parser and its state: state.help = the command whose --help was given, state.version =
-- true for --version, state.children[command] = {name = subcommand}.
command_line.build = build_parser

--- The deepest (sub)command named in argv, for the usage shown with an error.
command_line.command_in = command_in

return command_line
