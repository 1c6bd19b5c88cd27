--- The command line of posthog-evdefs: the lua-argparse definition of every flag and subcommand.
-- Each command gets a --help flag of our own: argparse's calls os.exit, ours records the command
-- asked about and unwinds `pparse`, so that cli.main prints the help and returns 0.
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

-- The parser and the state its --help flags report to.
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

local function command_in(parser, state, argv)
  local command = parser
  for _, token in ipairs(argv) do
    command = state.children[command][token] or command
  end
  return command
end

--- The parser and its state: state.help = the command whose --help was given,
-- state.children[command] = {name = subcommand}.
command_line.build = build_parser

--- The deepest (sub)command named in argv, for the usage shown with an error.
command_line.command_in = command_in

return command_line
