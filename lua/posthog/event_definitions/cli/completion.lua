--- `posthog-evdefs completion bash|zsh|fish`: lua-argparse's completion scripts, completed where
-- they fall short. Its bash and fish scripts offer the choices of options but not those of an
-- argument (`export json-schema|csv|markdown|snapshot`, `bulk tag add|remove|set`, `completion
-- bash|zsh|fish`): they are added, taken from the parser. Its zsh script names the program only
-- as `posthog-evdefs`, which zsh does not match to `bin/posthog-evdefs` in a clone: a pattern is
-- added (bash and fish fall back to the command's last path component by themselves).
local completion = {}

local PROGRAM = "posthog-evdefs"

-- The commands with an argument of fixed choices: {path = "bulk tag", choices = {…}, valued =
-- {options that take a value}}, found in the parser (argparse's fields, as its own completion
-- scripts read them).
local function argument_choices(parser)
  local found = {}
  local function visit(command, path)
    for _, argument in ipairs(command._arguments or {}) do
      if argument._choices then
        local valued = {}
        for _, option in ipairs(command._options or {}) do
          if option._minargs and option._minargs > 0 then
            for _, alias in ipairs(option._aliases) do valued[#valued + 1] = alias end
          end
        end
        found[#found + 1] = { path = path, choices = argument._choices, valued = valued }
        break -- the first argument only: after it come free words
      end
    end
    for _, child in ipairs(command._commands or {}) do
      visit(child, (path == "" and "" or path .. " ") .. child._name)
    end
  end
  visit(parser, "")
  return found
end

-- The bash function that offers the choices of a command's first argument, given the command
-- as argparse's script resolved it ($cmd): once the words of the command are met, it counts the
-- arguments after them (options and the values of those that take one left out).
local function bash_arguments(found)
  local cases = {}
  for _, f in ipairs(found) do
    cases[#cases + 1] = string.format("        '%s') words=(%s); valued=\" %s \"; choices=\"%s\" ;;", f.path, f.path,
      table.concat(f.valued, " "), table.concat(f.choices, " "))
  end
  return table.concat({
    "_" .. PROGRAM .. "_arguments() {",
    '    local words valued choices i w depth=0 n=0 skip=0 cur="${COMP_WORDS[COMP_CWORD]}"',
    '    case "$1" in',
    table.concat(cases, "\n"),
    "        *) return 0 ;;",
    "    esac",
    '    [[ "$cur" == -* ]] && return 0',
    "    for ((i = 1; i < COMP_CWORD; i++)); do",
    '        w="${COMP_WORDS[i]}"',
    '        if ((depth < ${#words[@]})); then [[ "$w" == "${words[depth]}" ]] && depth=$((depth + 1)); continue; fi',
    "        if ((skip)); then skip=0",
    '        elif [[ "$w" == -* ]]; then [[ "$w" != *=* && "$valued" == *" $w "* ]] && skip=1',
    "        else n=$((n + 1))",
    "        fi",
    "    done",
    "    if ((depth == ${#words[@]} && n == 0 && skip == 0)); then",
    '        COMPREPLY=($(compgen -W "$choices" -- "$cur"))',
    "    fi",
    "}",
  }, "\n")
end

-- The bash script: argparse's, whose function calls the one above before its last step.
local function bash(parser, found)
  local script = parser:get_bash_complete()
  local last = '    if [[ "$cur" = -* ]]; then\n        COMPREPLY=($(compgen -W "$opts" -- "$cur"))\n    fi\n}'
  local at = script:find(last, 1, true)
  if not at then return script end -- another argparse: its script as it is
  return bash_arguments(found) .. "\n\n" .. script:sub(1, at - 1) .. "    _" .. PROGRAM .. '_arguments "$cmd"\n'
    .. script:sub(at)
end

-- The fish script: argparse's, and the choices of each argument after its command.
local function fish(parser, found)
  local lines = { parser:get_fish_complete() }
  for _, f in ipairs(found) do
    lines[#lines + 1] = string.format("complete -c %s -n '__fish_%s_using_command %s' -xa '%s'", PROGRAM, PROGRAM,
      f.path, table.concat(f.choices, " "))
  end
  return table.concat(lines, "\n") .. "\n"
end

-- The zsh script: argparse's, also for the program named by a path (bin/posthog-evdefs).
local function zsh(parser)
  local script, head = parser:get_zsh_complete(), "#compdef " .. PROGRAM .. "\n"
  if script:sub(1, #head) ~= head then return script end
  return "#compdef " .. PROGRAM .. " -p */" .. PROGRAM .. "\n" .. script:sub(#head + 1)
end

--- The completion script for `shell` ("bash", "zsh" or "fish") of the argparse parser.
function completion.script(parser, shell)
  local found = argument_choices(parser)
  if shell == "bash" then return bash(parser, found) end
  if shell == "fish" then return fish(parser, found) end
  return zsh(parser)
end

return completion
