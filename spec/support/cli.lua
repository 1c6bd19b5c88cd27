--- spec/support/cli.lua: running posthog-evdefs in the specs: as a real process (bin/posthog-evdefs
-- with the interpreter running busted) against the fake PostHog server, through a
-- pseudo-terminal (util-linux `script`), or in-process through cli.main; and the fake's view of
-- what happened (request log, state).
local helpers = require "helpers"
local core = require "posthog.event_definitions.core"

local M = {}

M.URL = helpers.fake_url()
M.UNKNOWN = "01900000-0000-7000-8000-000000000000"

--- The interpreter running busted: the lowest index of the global `arg`.
M.LUA = (function()
  local i = -1
  while arg[i - 1] do i = i - 1 end
  return arg[i]
end)()

--- s quoted for sh.
function M.quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
local quote = M.quote

function M.slurp(path)
  local f = assert(io.open(path, "rb"))
  local content = f:read("*a")
  f:close()
  return content
end
local slurp = M.slurp

function M.spit(path, content)
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
end

--- The environment of a run: the fake's URL, the all-scopes key and project 1, with `vars`
-- replacing them (false unsets).
function M.environment(vars)
  local env = { POSTHOG_HOST = M.URL, POSTHOG_PERSONAL_API_KEY = helpers.KEY, POSTHOG_PROJECT_ID = "1" }
  for k, v in pairs(vars or {}) do env[k] = v or nil end
  return env
end

-- "env -u … NAME=value …": the environment of a run as a command prefix.
local function env_words(vars)
  local words = { "env -u POSTHOG_HOST -u POSTHOG_PROJECT_ID -u POSTHOG_PERSONAL_API_KEY -u NO_COLOR" }
  for k, v in pairs(M.environment(vars)) do words[#words + 1] = k .. "=" .. quote(v) end
  return table.concat(words, " ")
end

--- The program run: bin/posthog-evdefs, or $SPEC_PROGRAM (the installed one, make test-installed).
M.PROGRAM = os.getenv("SPEC_PROGRAM") or "bin/posthog-evdefs"

--- The shell command line of the program with argv, in the environment of a run.
function M.command(argv, vars)
  local words = { env_words(vars), quote(M.LUA) .. " " .. quote(M.PROGRAM) }
  for _, a in ipairs(argv) do words[#words + 1] = quote(a) end
  return table.concat(words, " ")
end
local command = M.command

--- Runs `shell` (a command line) with stdin from /dev/null (or `input`); returns its exit
-- status, stdout and stderr.
function M.sh(shell, input)
  local out, err, rc, inp = os.tmpname(), os.tmpname(), os.tmpname(), os.tmpname()
  M.spit(inp, input or "")
  os.execute("(" .. shell .. ") <" .. inp .. " >" .. out .. " 2>" .. err .. "; echo $? >" .. rc)
  local status = tonumber(slurp(rc))
  local stdout, stderr = slurp(out), slurp(err)
  os.remove(out); os.remove(err); os.remove(rc); os.remove(inp)
  return status, stdout, stderr
end

--- Runs bin/posthog-evdefs with argv as a process (stdin: /dev/null, or `input`); returns its
-- exit status, stdout and stderr.
function M.run(argv, vars, input)
  return M.sh(command(argv, vars), input)
end

--- Runs the command line `shell` on a pseudo-terminal (util-linux `script`: stdin, stdout and
-- stderr are the terminal), typing `input` (default: nothing) at once, or once the terminal shows
-- `after`, then an end of input; returns its exit status and everything the terminal showed
-- (CR LF as LF).
function M.tty(shell, input, after)
  local pty = "script -qefc " .. quote(shell) .. " /dev/null"
  if after then
    local out = os.tmpname()
    local status = M.sh("(i=0; until grep -qF " .. quote(after) .. " " .. out .. "; do sleep 0.05; i=$((i+1)); "
      .. "[ $i -gt 400 ] && break; done; printf '%s' " .. quote(input) .. ") | " .. pty .. " >" .. out)
    local screen = slurp(out)
    os.remove(out)
    return status, (screen:gsub("\r\n", "\n"))
  end
  -- script forwards its stdin as keystrokes (the terminal holds them until read)
  local status, out = M.sh(pty, input)
  return status, (out:gsub("\r\n", "\n"))
end

--- Runs bin/posthog-evdefs with argv on a pseudo-terminal, typing `input` (see M.tty); returns its
-- exit status, everything the terminal showed without colours, and with them.
function M.run_tty(argv, vars, input)
  local status, out = M.tty(command(argv, vars), input)
  return status, M.plain(out), out
end

--- What a terminal shows of `text`: on each line, what the last carriage return left.
function M.rendered(text)
  return (text:gsub("[^\n]*\r([^\r\n]*)", "%1"))
end

--- Runs cli.main in-process; `tty` = {[fd] = true} for the descriptors that are terminals;
-- `answer` (optional) is the line read as a confirmation.
function M.main(argv, vars, tty, answer)
  local cli = require "posthog.event_definitions.cli"
  local out, err, env = {}, {}, M.environment(vars)
  local status = cli.main(argv, {
    stdout = function(s) out[#out + 1] = s end,
    stderr = function(s) err[#err + 1] = s end,
    getenv = function(name) return env[name] end,
    isatty = function(fd) return (tty or {})[fd] == true end,
    readline = function() return answer end,
  })
  return status, table.concat(out), table.concat(err)
end

--- text decoded as JSON (fails the test when it is not).
function M.json(text)
  local value, msg = core.decode(text)
  assert(value ~= nil, "not JSON (" .. tostring(msg) .. "): " .. text)
  return value
end

--- Empties the fake's request log.
function M.clear_log() helpers.control("DELETE", "requests") end

--- The API requests the fake saw since the last clear_log(), as "METHOD path" strings (only
-- the writes with `writes_only`).
function M.logged(writes_only)
  local out = {}
  for _, r in ipairs(helpers.requests()) do
    if not writes_only or r.method ~= "GET" then out[#out + 1] = r.method .. " " .. r.path end
  end
  return out
end
function M.writes() return M.logged(true) end

--- Every definition of project 1 (through the library), and by name.
function M.state()
  local client = helpers.client()
  local defs = assert(client:all())
  client:close()
  local by_name = {}
  for _, d in ipairs(defs) do by_name[d.name] = d end
  return defs, by_name
end

--- A new empty directory.
function M.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir))
  return dir
end

--- s without ANSI colour sequences.
function M.plain(s)
  return (s:gsub("\27%[[%d;]*m", ""))
end

return M
