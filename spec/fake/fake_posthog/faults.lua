-- Fault injection: a queue of faults (POST /__fake/faults) consumed by matching API requests.
-- A fault is {match = {method, path, query}, times, then status (+ body, headers) or action}.
local json = require "fake_posthog.json"
local shm = require "fake_posthog.shm"
local http = require "fake_posthog.http"

local state = shm.state

local M = {}

local ACTIONS = { cut = true, truncate = true, malformed = true, html = true, close = true, delay = true,
  chunked = true }

local HTML_502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
  .. "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"

local MALFORMED = '{"count":1,"next":null,"previous":null,"results":[{"id":"0190c6a2-8f4e-7000-9c1d-3f5b2a7e9d11",'
  .. '"name":downloaded_file}]}'

-- validate(f) -> nil | message. Fills in the default times = 1.
local function validate(f)
  if type(f) ~= "table" then return "a fault must be an object" end
  if f.match ~= nil and type(f.match) ~= "table" then return "match must be an object" end
  for k, v in pairs(f.match or {}) do
    if (k ~= "method" and k ~= "path" and k ~= "query") or type(v) ~= "string" then
      return "match takes string method, path and query"
    end
  end
  f.times = f.times or 1
  if type(f.times) ~= "number" then return "times must be a number" end
  if (f.status == nil) == (f.action == nil) then return "give exactly one of status and action" end
  if f.status ~= nil and (type(f.status) ~= "number" or f.status < 100 or f.status > 599) then
    return "status must be an HTTP status"
  end
  if f.action ~= nil and not ACTIONS[f.action] then return "unknown action '" .. tostring(f.action) .. "'" end
  if f.action == "delay" and (type(f.seconds) ~= "number" or f.seconds < 0) then return "delay needs seconds" end
  if f.headers ~= nil and type(f.headers) ~= "table" then return "headers must be an object" end
  return nil
end

-- add(list) -> number queued | nil, message. Faults are appended to the queue.
function M.add(list)
  if not json.is_array(list) then return nil, "faults must be an array" end
  for i, f in ipairs(list) do
    local err = validate(f)
    if err then return nil, "fault " .. i .. ": " .. err end
  end
  shm.with_lock("faults", function()
    local queue = json.decode(state:get("faults") or "[]") or {}
    for _, f in ipairs(list) do queue[#queue + 1] = f end
    shm.set(state, "faults", #queue > 0 and json.encode(queue) or "[]")
    state:set("faults_n", #queue)
  end)
  return #list
end

-- pending() -> JSON text of the queue.
function M.pending()
  local queue = state:get("faults") or "[]"
  return queue == "{}" and "[]" or queue
end

-- clear() -> nothing; empties the queue.
function M.clear()
  shm.with_lock("faults", function()
    state:delete("faults")
    state:set("faults_n", 0)
  end)
end

-- found(pattern, text) -> true when pattern occurs in text as a substring or as a Lua pattern.
local function found(pattern, text)
  if text:find(pattern, 1, true) then return true end
  local ok, pos = pcall(string.find, text, pattern)
  return ok and pos ~= nil
end

-- matches(match, req) -> bool.
local function matches(match, req)
  if not match then return true end
  if match.method and match.method:upper() ~= req.method then return false end
  if match.path and not found(match.path, req.raw_path) then return false end
  if match.query and not found(match.query, req.args) then return false end
  return true
end

-- take(req[, path_named]) -> the first queued fault matching req (its use counted; times <= 0 never
-- runs out), or nil. With path_named (capture requests), only faults whose match gives a path.
function M.take(req, path_named)
  if (state:get("faults_n") or 0) == 0 then return nil end
  return shm.with_lock("faults", function()
    local queue = json.decode(state:get("faults") or "[]") or {}
    for i, f in ipairs(queue) do
      if matches(f.match, req) and (not path_named or (f.match and f.match.path)) then
        if f.times > 0 then
          f.times = f.times - 1
          if f.times == 0 then table.remove(queue, i) end
        end
        shm.set(state, "faults", #queue > 0 and json.encode(queue) or "[]")
        state:set("faults_n", #queue)
        return f
      end
    end
    return nil
  end)
end

-- default_response(status, retry_after, cfg) -> a plausible PostHog body for an injected status.
-- A 429 carries Retry-After (retry_after, default 1) unless cfg.retry_after_header is false and
-- the fault gave none.
local function default_response(status, retry_after, cfg)
  if status == 429 then
    return http.throttled(retry_after or 1, retry_after ~= nil or cfg.retry_after_header)
  end
  if status == 503 then
    return http.error(503, "server_error", "event_definitions_timeout",
      "Loading events took too long. Try a narrower search, or try again in a moment.", nil)
  end
  if status >= 500 then return http.error(status, "server_error", "error", "A server error occurred.", nil) end
  return http.error(status, "invalid_request", "error", "Injected fault.", nil)
end

-- response(f, cfg) -> the response of a status fault or of the actions html and malformed.
-- Headers given as JSON null remove a default header (e.g. Retry-After of a default 429).
function M.response(f, cfg)
  if f.action == "html" then return http.response(502, HTML_502, "text/html") end
  if f.action == "malformed" then return http.response(200, MALFORMED) end
  local headers = f.headers or {}
  local res
  if f.body == nil then
    local retry_after
    for k, v in pairs(headers) do
      if k:lower() == "retry-after" then retry_after = tonumber(v) end
    end
    res = default_response(f.status, retry_after, cfg)
  elseif type(f.body) == "string" then
    res = http.response(f.status, f.body, "text/plain; charset=utf-8")
  else
    res = http.response(f.status, json.encode(f.body))
  end
  for k, v in pairs(headers) do
    for old in pairs(res.headers) do
      if old:lower() == k:lower() then res.headers[old] = nil end
    end
    if v ~= json.null then res.headers[k] = tostring(v) end
  end
  return res
end

return M
