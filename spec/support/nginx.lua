--- spec/support/nginx.lua: what the specs that run nginx share: an HTTP request with a bounded
-- wait, polling until something holds, and an nginx started by spec/nginx/start in a fresh
-- directory of its own and stopped by its pid.
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"

local M = {}

M.WAIT_LIMIT = 20 -- seconds: the longest any request or poll waits before failing

--- An HTTP request with a bounded wait; returns body, status, headers.
function M.request(method, url, body, headers)
  local chunks = {}
  local h = { ["content-length"] = body and tostring(#body) or nil }
  for k, v in pairs(headers or {}) do h[k] = v end
  local _, status, response_headers = http.request {
    url = url, method = method, headers = h,
    source = body and ltn12.source.string(body) or nil,
    sink = ltn12.sink.table(chunks),
    create = function()
      local s = socket.tcp()
      s:settimeout(M.WAIT_LIMIT)
      return s
    end,
  }
  return table.concat(chunks), status, response_headers
end

--- Polls `probe` until it returns a non-nil value, at most WAIT_LIMIT seconds; returns the value.
function M.eventually(what, probe)
  local deadline = socket.gettime() + M.WAIT_LIMIT
  while socket.gettime() < deadline do
    local value = probe()
    if value ~= nil then return value end
    socket.sleep(0.02)
  end
  error("timed out waiting for " .. what)
end

--- Starts nginx with spec/nginx/start `args` (and environment assignments `env`) in a new
-- directory; returns {url, dir, tls_port}.
function M.start(args, env)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir .. " && chmod 755 " .. dir))
  local pipe = assert(io.popen((env or "") .. " spec/nginx/start --dir " .. dir .. " " .. args))
  local url = pipe:read("*l")
  pipe:close()
  assert(url and url:match("^http://127%.0%.0%.1:%d+$"), "nginx did not start in " .. dir)
  local f = io.open(dir .. "/tls_port")
  local tls_port = f and f:read("*l")
  if f then f:close() end
  return { url = url, dir = dir, tls_port = tls_port }
end

--- Stops the nginx of `app` (nil: nothing) and removes its directory.
function M.stop(app)
  if app then os.execute("spec/fake/stop " .. app.dir .. " >/dev/null 2>&1; rm -rf " .. app.dir) end
end

--- The text of `app`'s error log ("" when there is none).
function M.log(app)
  local f = io.open(app.dir .. "/logs/error.log")
  if not f then return "" end
  local text = f:read("*a")
  f:close()
  return text
end

return M
