--- spec/support/redis_server.lua: a real redis-server (Debian's) for the specs and the fleet
-- simulation, on a free loopback port, in the foreground of a background job whose pid is
-- recorded: nothing persisted (--save '' --appendonly no), a password unless told otherwise.
-- It never touches the system's Redis service. Also: background Lua processes, and redis-cli.
local socket = require "socket"

local M = {}

-- Runs a shell command; returns true when it exited 0 (Lua 5.1 and 5.4 alike).
local function sh(command)
  local ok, _, code = os.execute(command)
  if type(ok) == "number" then return ok == 0 end
  return ok == true and (code == nil or code == 0)
end
M.sh = sh

-- A loopback port nothing listens on now (the kernel's choice for a bound socket).
local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

local Server = {}
Server.__index = Server

--- Runs redis-cli against the server with the words of `...`; returns its output, trimmed.
function Server:cli(...)
  local words = {}
  for i, w in ipairs { ... } do words[i] = "'" .. tostring(w):gsub("'", "'\\''") .. "'" end
  local auth = self.password and (" -a '" .. self.password .. "' --no-auth-warning") or ""
  local pipe = assert(io.popen(string.format("timeout 5 redis-cli -h 127.0.0.1 -p %d%s %s 2>&1",
    self.port, auth, table.concat(words, " "))))
  local out = pipe:read("*a")
  pipe:close()
  return (out:gsub("%s+$", ""))
end

--- Whether the server answers PING.
function Server:up()
  return self:cli("PING") == "PONG"
end

--- Starts (again) the server on its port; raises when it does not answer within 5 s.
function Server:start()
  local auth = self.password and (" --requirepass '" .. self.password .. "'") or ""
  assert(sh(string.format("redis-server --port %d --bind 127.0.0.1%s --save '' --appendonly no "
    .. "--daemonize no --dir %s %s >>%s/redis.log 2>&1 & echo $! >%s/pid", self.port, auth, self.dir,
    self.extra or "", self.dir, self.dir)))
  local f = assert(io.open(self.dir .. "/pid"))
  self.pid = assert(tonumber(f:read("*l")))
  f:close()
  for _ = 1, 100 do
    if self:up() then return self end
    socket.sleep(0.05)
  end
  error("redis-server did not start on port " .. self.port .. " (see " .. self.dir .. "/redis.log)")
end

--- Sends `signal` (default KILL) to the server and, for KILL and TERM, waits until it is gone.
function Server:signal(signal)
  signal = signal or "KILL"
  sh("kill -" .. signal .. " " .. self.pid .. " 2>/dev/null")
  if signal == "KILL" or signal == "TERM" then
    for _ = 1, 100 do
      if not sh("kill -0 " .. self.pid .. " 2>/dev/null") then return end
      socket.sleep(0.05)
    end
  end
end

--- Stops the server and removes its directory.
function Server:stop()
  self:signal("CONT")
  self:signal("TERM")
  self:signal("KILL")
  sh("rm -rf " .. self.dir)
end

--- A started server: {port, password, dir, pid}; `opts` = {password (default a fixed test
-- secret; false for none), extra (more redis-server arguments)}.
function M.start(opts)
  opts = opts or {}
  local dir = os.tmpname()
  os.remove(dir)
  assert(sh("mkdir -p " .. dir))
  local password = opts.password
  if password == nil then password = "redis-test-secret-7f3a" end
  local server = setmetatable({ port = free_port(), password = password or nil, dir = dir,
    extra = opts.extra }, Server)
  return server:start()
end

--- The interpreter running this process ("lua5.4", "lua5.1" or "luajit").
function M.lua()
  return rawget(_G, "jit") and "luajit" or _VERSION == "Lua 5.4" and "lua5.4" or "lua5.1"
end

--- Starts the Lua source `script` in a background process of this interpreter (same
-- LUA_PATH and LUA_CPATH), killed after `limit` seconds; returns a handle whose `wait()` gives
-- the exit code, stdout and stderr once the process ends.
function M.spawn(script, limit)
  local base = os.tmpname()
  local f = assert(io.open(base .. ".lua", "w"))
  f:write(script)
  f:close()
  assert(sh(string.format("(timeout %d %s %s.lua >%s.out 2>%s.err; echo $? >%s.rc) &",
    limit or 60, M.lua(), base, base, base, base)))
  local handle = {}
  local function slurp(name)
    local h = io.open(base .. name)
    if not h then return nil end
    local text = h:read("*a")
    h:close()
    return text
  end
  function handle.wait()
    local deadline = socket.gettime() + (limit or 60) + 5
    while socket.gettime() < deadline do
      local rc = slurp(".rc")
      if rc and rc:find("%d") then
        local out, err = slurp(".out"), slurp(".err")
        sh(string.format("rm -f %s %s.lua %s.out %s.err %s.rc", base, base, base, base, base))
        return tonumber(rc:match("%d+")), out, err
      end
      socket.sleep(0.05)
    end
    error("a child process did not end")
  end
  return handle
end

return M
