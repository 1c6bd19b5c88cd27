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

-- Lua source for the value `v` (strings, numbers, booleans and tables of them).
local function literal(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for k, x in pairs(v) do parts[#parts + 1] = "[" .. literal(k) .. "] = " .. literal(x) end
  table.sort(parts)
  return "{ " .. table.concat(parts, ", ") .. " }"
end
M.literal = literal

local Fake = {}
Fake.__index = Fake

--- The events the fake logged so far: {time, connection, event} in order.
function Fake:events()
  local out = {}
  local f = io.open(self.dir .. "/log")
  if not f then return out end
  for line in f:lines() do
    local t, id, event = line:match("^(%S+) (%d+) (%S+)$")
    out[#out + 1] = { time = tonumber(t), connection = tonumber(id), event = event }
  end
  f:close()
  return out
end

--- How many times the fake logged `event` (a command name, "accept" or "close").
function Fake:count(event)
  local n = 0
  for _, e in ipairs(self:events()) do
    if e.event == event then n = n + 1 end
  end
  return n
end

--- Stops the fake (by its pid) and removes its directory.
function Fake:stop()
  sh("kill -KILL " .. self.pid .. " 2>/dev/null")
  sh("rm -rf " .. self.dir)
end

-- Starts `script` (Lua 5.4, its own process) with a new directory that holds `files`; returns
-- {dir, pid, port} once it wrote its port there, or raises after 10 s.
local function start_fake(script, files)
  local dir = os.tmpname()
  os.remove(dir)
  assert(sh("mkdir -p " .. dir))
  for name, text in pairs(files) do
    local f = assert(io.open(dir .. "/" .. name, "w"))
    f:write(text)
    f:close()
  end
  assert(sh(string.format("lua5.4 %s %s >%s/out 2>&1 & echo $! >%s/pid", script, dir, dir, dir)))
  local pid_file = assert(io.open(dir .. "/pid"))
  local fake = setmetatable({ dir = dir, pid = assert(tonumber(pid_file:read("*l"))) }, Fake)
  pid_file:close()
  for _ = 1, 200 do
    local port_file = io.open(dir .. "/port")
    if port_file then
      fake.port = tonumber(port_file:read("*l"))
      port_file:close()
      return fake
    end
    socket.sleep(0.05)
  end
  fake:stop()
  error(script .. " did not start (see " .. dir .. "/out)")
end

--- Starts spec/support/fake_resp.lua (Lua 5.4, its own process) with `scenario` (see there);
-- returns {port, dir, pid} once it listens, or raises after 10 s.
function M.fake(scenario)
  return start_fake("spec/support/fake_resp.lua", { ["scenario.lua"] = "return " .. literal(scenario) .. "\n" })
end

--- Starts spec/support/fake_dns.lua (every A query answered 127.0.0.1); returns {port, dir, pid}.
function M.fake_dns()
  return start_fake("spec/support/fake_dns.lua", {})
end

--- Starts an nginx (one worker, its own directory) whose locations run Lua content with a
-- resolver of their own, resolver_timeout 30 s: `locations` = {[path] = {resolver = UDP port on
-- 127.0.0.1, content = Lua source}}. Returns {url, dir}; stop it with support.nginx's stop.
function M.nginx_resolving(locations)
  local dir = os.tmpname()
  os.remove(dir)
  assert(sh("mkdir -p " .. dir .. "/logs " .. dir .. "/tmp && chmod -R 755 " .. dir))
  local copy = io.popen("spec/nginx/copy-code " .. dir) -- what its workers (nobody) may read
  local root = copy:read("*l")
  copy:close()
  local port, blocks = free_port(), {}
  for path, l in pairs(locations) do
    blocks[#blocks + 1] = string.format("location = %s {\n resolver 127.0.0.1:%d ipv6=off;\n"
      .. " content_by_lua_block {\n%s\n }\n}", path, l.resolver, l.content)
  end
  local temp = {}
  for _, kind in ipairs { "client_body", "proxy", "fastcgi", "uwsgi", "scgi" } do
    temp[#temp + 1] = string.format('%s_temp_path "%s/tmp/%s";', kind, dir, kind)
  end
  local f = assert(io.open(dir .. "/nginx.conf", "w"))
  f:write(string.format([[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes 1;
daemon on;
pid "%s/nginx.pid";
error_log "%s/logs/error.log" warn;
events { worker_connections 64; }
http {
  access_log off;
  %s
  lua_package_path "%s/lua/?.lua;%s/lua/?/init.lua;;";
  lua_package_cpath "%s/build/jit/?.so;;";
  resolver_timeout 30s;
  server {
    listen 127.0.0.1:%d;
    %s
  }
}
]], dir, dir, table.concat(temp, "\n  "), root, root, root, port, table.concat(blocks, "\n")))
  f:close()
  assert(sh("env -u LUA_PATH -u LUA_CPATH nginx -p " .. dir .. " -c " .. dir .. "/nginx.conf -e " .. dir
    .. "/logs/error.log"))
  return { url = "http://127.0.0.1:" .. port, dir = dir }
end

------------------------------------------------------------------------------------------------
-- What the Redis specs share: processes that call the fake PostHog, and pacing checks
------------------------------------------------------------------------------------------------

--- The Lua source of a process that makes `calls` list calls of the shared fake PostHog with
-- `rate_limit` and prints "done" (or the error, exit 1).
function M.caller(rate_limit, calls)
  local helpers = require "spec.helpers"
  return string.format([[
local evdefs = require "posthog.event_definitions"
local c = assert(evdefs.new { host = %s, personal_api_key = %s, project_id = 1, rate_limit = %s })
for _ = 1, %d do
  local page, err = c:list { limit = 1 }
  if not page then print("error " .. tostring(err)) os.exit(1) end
end
print("done")
]], literal(helpers.fake_url()), literal(helpers.KEY), literal(rate_limit), calls)
end

--- The arrival times of the shared fake PostHog's API requests (when nginx began reading
-- each), sorted.
function M.arrival_times()
  local times = {}
  for _, r in ipairs(require("spec.helpers").api_requests()) do times[#times + 1] = r.arrived end
  table.sort(times)
  return times
end

--- Asserts that no window of one second holds more than `per_second` of `times` (sorted): the
-- limit as PostHog counts it, at the arrival times.
function M.assert_paced(times, per_second)
  for i = 1, #times - per_second do
    local span = times[i + per_second] - times[i]
    assert(span >= 1, string.format("%d requests within %.4f s (requests %d to %d)",
      per_second + 1, span, i, i + per_second))
  end
end

--- How many lines of `text` contain `needle`.
function M.count_lines(text, needle)
  local n = 0
  for line in (text or ""):gmatch("[^\n]+") do
    if line:find(needle, 1, true) then n = n + 1 end
  end
  return n
end

--- Runs `fn` with io.stderr replaced by a buffer; returns fn's first two results and what was
-- written.
function M.capture_stderr(fn)
  local real, written = io.stderr, {}
  local buffer = {}
  function buffer:write(...)
    for _, s in ipairs { ... } do written[#written + 1] = tostring(s) end
    return self
  end
  io.stderr = buffer -- luacheck: ignore
  local ok, a, b = pcall(fn)
  io.stderr = real -- luacheck: ignore
  if not ok then error(a, 0) end
  return a, b, table.concat(written)
end

--- The interpreter running this process ("lua5.4", "lua5.1" or "luajit").
function M.lua()
  return rawget(_G, "jit") and "luajit" or _VERSION == "Lua 5.4" and "lua5.4" or "lua5.1"
end

--- Starts the Lua source `script` in a background process of this interpreter (same
-- LUA_PATH and LUA_CPATH), killed after `limit` seconds, its command line after the shell
-- words `wrapper` if given; returns a handle whose `wait()` gives the exit code, stdout and
-- stderr once the process ends.
function M.spawn(script, limit, wrapper)
  local base = os.tmpname()
  local f = assert(io.open(base .. ".lua", "w"))
  f:write(script)
  f:close()
  assert(sh(string.format("(%s timeout %d %s %s.lua >%s.out 2>%s.err; echo $? >%s.rc) &",
    wrapper or "", limit or 60, M.lua(), base, base, base, base)))
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
