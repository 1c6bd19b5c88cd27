--- spec/support/background.lua: a command run in the background, to be sent signals while it
-- works: its pid, its stdout and stderr collected in files, its exit status once it ends.
-- Waits are bounded polls for readiness, never a fixed time.
local socket = require "socket"

local M = {}

--- s quoted for sh.
local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local content = f:read("*a")
  f:close()
  return content
end

--- Waits until ready() is true, polling every 25 ms for at most 30 s; raises naming `what`
-- otherwise.
function M.wait_for(what, ready)
  for _ = 1, 1200 do
    if ready() then return end
    socket.sleep(0.025)
  end
  error("gave up waiting for " .. what)
end

-- Whether the file at path holds something.
local function written(path)
  local content = slurp(path)
  return content ~= nil and content ~= ""
end

--- Starts the shell command line `command` in the background with SIGINT and SIGTERM at their
-- defaults (a background job of sh would ignore SIGINT), on a pseudo-terminal (util-linux
-- `script`) with `tty`; returns the run {pid, dir} once its pid is known. `command` must be a
-- program the shell can exec (its pid is the run's).
function M.start(command, tty)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir))
  local shell = "sh -c " .. quote("echo $$ >" .. dir .. "/pid; exec env --default-signal=INT,TERM " .. command)
  if tty then shell = "script -qefc " .. quote(shell) .. " /dev/null" end
  os.execute("(" .. shell .. " </dev/null >" .. dir .. "/out 2>" .. dir .. "/err; echo $? >" .. dir
    .. "/rc) >/dev/null 2>&1 &")
  M.wait_for("the program to start", function() return written(dir .. "/pid") end)
  return { pid = slurp(dir .. "/pid"):match("%d+"), dir = dir }
end

--- Sends `signal` (INT, TERM) to the run.
function M.send(run, signal)
  assert(os.execute("kill -" .. signal .. " " .. run.pid))
end

--- Waits for the run to end; returns its exit status, stdout and stderr.
function M.finish(run)
  M.wait_for("the program to end", function() return written(run.dir .. "/rc") end)
  local status, out, err = tonumber(slurp(run.dir .. "/rc")), slurp(run.dir .. "/out"), slurp(run.dir .. "/err")
  os.execute("rm -rf " .. run.dir)
  return status, out, err
end

return M
