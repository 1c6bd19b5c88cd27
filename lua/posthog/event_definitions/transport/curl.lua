--- The libcurl transport: requests prepared by the C core run on a libcurl multi handle that
-- keeps connections alive between calls. Lua drives it (`add`, then `poll` until done), so the
-- same driver serves single calls and concurrent batches. Every finished transfer is filed by
-- its id, whoever polled it, so a call made from a batch's callback (or a batch inside another)
-- never takes an answer that another caller waits for.
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
    finished = {}, -- request id -> { res = …, err = … }, until its caller takes it
  }, curl)
end

--- Starts `req` without waiting; returns its id.
function curl:start(req)
  return self.driver:add(req, self.options)
end

-- Waits up to `timeout` seconds for transfers and files the finished ones by id.
function curl:pump(timeout)
  for _, item in ipairs(self.driver:poll(timeout)) do self.finished[item.id] = item end
end

-- The result of transfer `id` if it has finished (and forgets it), else nil.
function curl:take(id)
  local item = self.finished[id]
  if item then self.finished[id] = nil end
  return item
end

--- Runs `req` to completion: returns res, or nil and a transport error table.
function curl:request(req)
  local id = self:start(req)
  while true do
    local item = self:take(id)
    if item then return item.res, item.err end
    self:pump(1)
  end
end

--- Runs `workers` (functions of a ctx) as coroutines over this driver until all return:
-- `ctx.transport(req)` starts a request and yields until it finishes, `ctx.sleep(s)` yields
-- until `s` seconds have passed. `now` and `sleep` are the client's clock and idle sleep.
function curl:run(workers, now, sleep)
  local waiting = {}  -- request id -> coroutine
  local sleepers = {} -- { co = coroutine, wake = time }
  local alive = #workers
  local function step(co, ...)
    local ok, what, arg = coroutine.resume(co, ...)
    if not ok then error(what, 0) end
    if coroutine.status(co) == "dead" then
      alive = alive - 1
    elseif what == "request" then
      waiting[arg] = co
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
    local resumed = false
    for id, co in pairs(waiting) do
      local item = self:take(id)
      if item then
        waiting[id] = nil
        resumed = true
        step(co, item.res, item.err)
        break -- `waiting` changed: look again from the start
      end
    end
    if not resumed then
      local t, later, earliest = now(), {}, nil
      for _, s in ipairs(sleepers) do
        if s.wake <= t and not resumed then
          resumed = true
          step(s.co)
        else
          later[#later + 1] = s
          if not earliest or s.wake < earliest then earliest = s.wake end
        end
      end
      sleepers = later
      if not resumed then
        if next(waiting) then
          self:pump(earliest and math.min(1, math.max(0, earliest - now())) or 1)
        elseif earliest then
          sleep(math.max(0, earliest - now()))
        end
      end
    end
  end
end

--- Releases the connections; idempotent.
function curl:close()
  self.driver:close()
end

return curl
