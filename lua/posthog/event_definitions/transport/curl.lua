--- The libcurl transport: requests prepared by the C core run on a libcurl multi handle that
-- keeps connections alive between calls. Lua drives it (`add`, then `poll` until done), so the
-- same driver serves single calls and concurrent batches.
local core = require "posthog.event_definitions.core"

local curl = {}
curl.__index = curl

--- A transport over one multi handle; `options` = {max_response_bytes, ca_file, insecure}.
function curl.new(options)
  return setmetatable({
    driver = core.multi(),
    options = {
      max_response_bytes = options.max_response_bytes,
      ca_file = options.ca_file,
      insecure = options.insecure,
    },
    finished = {},
  }, curl)
end

--- Starts `req` without waiting; returns its id.
function curl:start(req)
  return self.driver:add(req, self.options)
end

--- Waits up to `timeout` seconds and returns the transfers that finished, as
-- `{ {id, res} | {id, err}, … }`, including ones another caller's poll collected.
function curl:collect(timeout)
  local done = self.finished
  if #done > 0 then
    self.finished = {}
    return done
  end
  return self.driver:poll(timeout)
end

--- Runs `req` to completion: returns res, or nil and a transport error table.
function curl:request(req)
  local id = self:start(req)
  while true do
    for i, item in ipairs(self.finished) do
      if item.id == id then
        table.remove(self.finished, i)
        return item.res, item.err
      end
    end
    for _, item in ipairs(self.driver:poll(1)) do
      self.finished[#self.finished + 1] = item
    end
  end
end

--- Runs `workers` (functions of a ctx) as coroutines over this driver until all return:
-- `ctx.transport(req)` starts a request and yields until it finishes, `ctx.sleep(s)` yields
-- until `s` seconds have passed. `now` and `sleep` are the client's clock and idle sleep.
function curl:run(workers, now, sleep)
  local waiting, waiting_count = {}, 0 -- request id -> coroutine
  local sleepers = {}                 -- { co = coroutine, wake = time }
  local alive = #workers
  local function step(co, ...)
    local ok, what, arg = coroutine.resume(co, ...)
    if not ok then error(what, 0) end
    if coroutine.status(co) == "dead" then
      alive = alive - 1
    elseif what == "request" then
      waiting[arg], waiting_count = co, waiting_count + 1
    else
      sleepers[#sleepers + 1] = { co = co, wake = now() + arg }
    end
  end
  local ctx = {
    transport = function(req) return coroutine.yield("request", self:start(req)) end,
    sleep = function(seconds) coroutine.yield("sleep", seconds) end,
  }
  for _, worker in ipairs(workers) do step(coroutine.create(worker), ctx) end
  while alive > 0 do
    local t, due, later, earliest = now(), {}, {}, nil
    for _, s in ipairs(sleepers) do
      if s.wake <= t then due[#due + 1] = s.co
      else
        later[#later + 1] = s
        if not earliest or s.wake < earliest then earliest = s.wake end
      end
    end
    sleepers = later
    for _, co in ipairs(due) do step(co) end
    if #due == 0 then
      if waiting_count > 0 then
        local timeout = earliest and math.min(1, math.max(0, earliest - now())) or 1
        for _, item in ipairs(self.driver:poll(timeout)) do
          local co = waiting[item.id]
          if co then
            waiting[item.id], waiting_count = nil, waiting_count - 1
            step(co, item.res, item.err)
          end
        end
      elseif earliest then
        sleep(math.max(0, earliest - now()))
      end
    end
  end
end

--- Releases the connections; idempotent.
function curl:close()
  self.driver:close()
end

return curl
