-- A fake capture endpoint (PostHog's /e/, /i/v0/e/, /capture/, /track/, /batch/,
-- /i/v1/analytics/events): answers 200 {"status":1} and records what it received, byte for byte
-- (the body in base64), for the edge enforcement specs. GET /__fake/captured lists the records
-- (oldest first, the last KEEP), DELETE /__fake/captured (and /__fake/reset) forgets them. Queued
-- faults whose match names a path apply here too; a request answered by a status fault (or closed
-- unprocessed) is not recorded.
local json = require "fake_posthog.json"
local shm = require "fake_posthog.shm"
local http = require "fake_posthog.http"
local faults = require "fake_posthog.faults"

local M = {}

local KEEP = 1000
local PATHS = { "/e", "/i/v0/e", "/capture", "/track", "/batch", "/engage", "/s", "/i/v0/ai", "/i/v0/ai/batch",
  "/i/v1/analytics/events", "/i/v1/ai/events" }
local LENGTH_ONLY = { ["/s"] = true, ["/s/"] = true } -- recordings: their size is recorded, not their bytes

-- is_capture(uri) -> whether uri is a capture endpoint (trailing slash optional).
function M.is_capture(uri)
  if uri:sub(-1) == "/" then uri = uri:sub(1, -2) end
  for _, p in ipairs(PATHS) do
    if uri == p then return true end
  end
  return false
end

-- record() -> nothing; records the current request.
local function record()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then
    local path = ngx.req.get_body_file()
    local f = path and io.open(path, "rb")
    body = f and f:read("*a") or ""
    if f then f:close() end
  end
  local h = ngx.req.get_headers()
  local function header(name)
    local v = h[name]
    if type(v) == "table" then v = table.concat(v, ", ") end
    return json.str(v)
  end
  local dict = shm.runtime
  local seq = dict:incr("capture:n", 1, 0)
  shm.set(dict, "capture:" .. seq, '{"seq":' .. seq .. ',"method":' .. json.str(ngx.req.get_method())
    .. ',"uri":' .. json.str(ngx.var.uri) .. ',"args":' .. json.str(ngx.var.args)
    .. ',"content_type":' .. header("content-type") .. ',"content_encoding":' .. header("content-encoding")
    .. ',"content_length":' .. header("content-length") .. ',"body_length":' .. #body
    .. ',"body_b64":' .. json.str(LENGTH_ONLY[ngx.var.uri] and "" or ngx.encode_base64(body)) .. "}")
  dict:delete("capture:" .. (seq - KEEP))
end

-- handle(cfg) -> nothing; applies the first queued fault that names a path this request fits,
-- records the request unless the fault answers instead, and answers it.
function M.handle(cfg)
  local fault = faults.take({ method = ngx.req.get_method(), raw_path = ngx.var.request_uri:match("^[^?]*"),
    args = ngx.var.args or "" }, true)
  local mode = fault and fault.action
  if fault and (fault.status or mode == "html" or mode == "malformed") then
    return http.send(faults.response(fault, cfg))
  end
  if mode == "close" and not fault.process then return http.send(nil, "close") end
  if mode == "delay" then
    ngx.sleep(fault.seconds)
    mode = nil
  end
  record()
  return http.send(http.response(200, '{"status":1}'), mode)
end

-- records() -> JSON array text of the kept records, oldest first.
function M.records()
  local dict = shm.runtime
  local n = dict:get("capture:n") or 0
  local out = {}
  for seq = math.max(1, n - KEEP + 1), n do
    local rec = dict:get("capture:" .. seq)
    if rec then out[#out + 1] = rec end
  end
  return "[" .. table.concat(out, ",") .. "]"
end

-- clear() -> nothing; forgets every record.
function M.clear()
  local dict = shm.runtime
  local n = dict:get("capture:n") or 0
  for seq = math.max(1, n - KEEP + 1), n do dict:delete("capture:" .. seq) end
  dict:set("capture:n", n)
end

return M
