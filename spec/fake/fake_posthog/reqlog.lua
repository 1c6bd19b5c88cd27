-- Request log and counters of the fake server (in fake_runtime; cleared by /__fake/reset).
local json = require "fake_posthog.json"
local shm = require "fake_posthog.shm"

local rt = shm.runtime

local M = {}

local CAP = 20000              -- entries kept; older ones are dropped
local MAX_BODY = 65536         -- longer logged bodies are cut (the entry says so)

-- begin() -> nothing; counts an API request, its connection and one more in-flight request.
function M.begin()
  rt:incr("st:requests", 1, 0)
  if rt:safe_add("conn:" .. ngx.var.connection, true) then rt:incr("st:connections", 1, 0) end
  local n = rt:incr("st:inflight", 1, 0)
  if n > (rt:get("st:inflight_high") or 0) then
    shm.with_lock("inflight_high", function()
      if n > (rt:get("st:inflight_high") or 0) then rt:set("st:inflight_high", n) end
    end)
  end
end

-- finish() -> nothing; one request fewer in flight.
function M.finish()
  rt:incr("st:inflight", -1, 0)
end

-- throttled() -> nothing; counts a 429 given by the throttle.
function M.throttled()
  rt:incr("st:throttled", 1, 0)
end

-- record(req, status, fault) -> nothing; appends the request to the log.
function M.record(req, status, fault)
  local body = req.body
  local truncated = body and #body > MAX_BODY or nil
  if truncated then body = body:sub(1, MAX_BODY) end
  local seq = rt:incr("log:last", 1, 0)
  local entry = json.encode({
    seq = seq, time = ngx.now(), arrived = ngx.req.start_time(), method = req.method, path = req.raw_path,
    args = req.args,
    headers = req.headers, key = req.key, key_source = req.key_source, body = body,
    body_truncated = truncated, connection = tonumber(ngx.var.connection),
    connection_requests = tonumber(ngx.var.connection_requests), status = status, fault = fault,
    worker = ngx.worker.pid(),
  })
  if seq > CAP then rt:delete("log:" .. (seq - CAP)) end
  if not rt:safe_set("log:" .. seq, entry) then
    for old = seq - CAP + 1, seq - CAP + 200 do rt:delete("log:" .. old) end
    rt:safe_set("log:" .. seq, entry)
  end
end

-- entries() -> array of the logged entries as JSON texts, oldest first.
function M.entries()
  local last = rt:get("log:last") or 0
  local out = {}
  for seq = math.max(1, last - CAP + 1), last do
    local entry = rt:get("log:" .. seq)
    if entry then out[#out + 1] = entry end
  end
  return out
end

-- clear() -> nothing; empties the request log (counters stay).
function M.clear()
  local last = rt:get("log:last") or 0
  for seq = math.max(1, last - CAP + 1), last do rt:delete("log:" .. seq) end
end

-- stats() -> {requests, connections, inflight, inflight_high, throttled}.
function M.stats()
  return {
    requests = rt:get("st:requests") or 0,
    connections = rt:get("st:connections") or 0,
    inflight = rt:get("st:inflight") or 0,
    inflight_high = rt:get("st:inflight_high") or 0,
    throttled = rt:get("st:throttled") or 0,
  }
end

-- reset() -> nothing; empties fake_runtime (log, counters, throttle windows) but keeps the
-- in-flight gauge of requests still running.
function M.reset()
  local inflight = rt:get("st:inflight") or 0
  rt:flush_all()
  rt:flush_expired()
  rt:set("st:inflight", inflight)
  rt:set("st:inflight_high", inflight)
end

return M
