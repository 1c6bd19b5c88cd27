--- The libcurl transport: requests prepared by the C core run on a libcurl multi handle that
-- keeps connections alive between calls. Lua drives it (`add`, then `poll` until done), so the
-- same driver serves single calls and concurrent batches. Every finished transfer is filed by
-- its id, whoever polled it, so a call made from a batch's callback (or a batch inside another)
-- never takes an answer that another caller waits for.
local libcurl = require "posthog.event_definitions.transport.libcurl"

local curl = {}
curl.__index = curl

--- A transport over one multi handle; `options` = {max_response_bytes, ca_file, insecure}.
function curl.new(options)
  return setmetatable({
    driver = libcurl.new(),
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

--- Runs `req` to completion: returns res, or nil and a transport error table. Should the
-- driver raise meanwhile (out of memory), the transfer is removed before the error goes on.
function curl:request(req)
  local id = self:start(req)
  while true do
    local item = self:take(id)
    if item then return item.res, item.err end
    local ok, err = pcall(self.pump, self, 1)
    if not ok then
      self.driver:remove(id)
      error(err, 0)
    end
  end
end

-- One pass of the scheduler: resumes one coroutine whose transfer finished or whose sleep
-- ended; otherwise waits for transfers (or sleeps until the earliest wake-up). `state` holds
-- waiting (request id -> coroutine), sleepers ({co, wake}) and step (resumes a coroutine).
function curl:schedule(state, now, sleep)
  for id, co in pairs(state.waiting) do
    local item = self:take(id)
    if item then
      state.waiting[id] = nil
      state.step(co, item.res, item.err)
      return
    end
  end
  local t, later, earliest = now(), {}, nil
  local woken
  local stopping = state.interrupted and state.interrupted() -- a sleep ends early
  for _, s in ipairs(state.sleepers) do
    if (s.wake <= t or stopping) and not woken then
      woken = s.co
    else
      later[#later + 1] = s
      if not earliest or s.wake < earliest then earliest = s.wake end
    end
  end
  state.sleepers = later
  if woken then return state.step(woken) end
  if next(state.waiting) then
    self:pump(earliest and math.min(1, math.max(0, earliest - now())) or 1)
  elseif earliest then
    sleep(math.max(0, earliest - now()))
  end
end

--- Runs `workers` (functions of a ctx) as coroutines over this driver until all return:
-- `ctx.transport(req)` starts a request and yields until it finishes, `ctx.sleep(s)` yields
-- until `s` seconds have passed. `now` and `sleep` are the client's clock and idle sleep.
-- A worker that raises sets `ctx.cancelled` (the others start nothing new); the others finish
-- what they have in flight, then the error propagates. Should the driver itself raise, every
-- transfer in flight is removed first, so the driver is left empty either way. With
-- `interrupted` (a function, also ctx.interrupted), every sleep ends as soon as it returns true.
function curl:run(workers, now, sleep, interrupted)
  local state = { waiting = {}, sleepers = {}, alive = #workers, interrupted = interrupted }
  local failure
  local ctx = {
    interrupted = interrupted,
    cancelled = false,
    transport = function(req) return coroutine.yield("request", self:start(req)) end,
    sleep = function(seconds) coroutine.yield("sleep", seconds) end,
  }
  function state.step(co, ...)
    local ok, what, arg = coroutine.resume(co, ...)
    if not ok then
      state.alive = state.alive - 1
      ctx.cancelled = true
      failure = failure or { what }
    elseif coroutine.status(co) == "dead" then
      state.alive = state.alive - 1
    elseif what == "request" then
      state.waiting[arg] = co
    else
      state.sleepers[#state.sleepers + 1] = { co = co, wake = now() + arg }
    end
  end
  local ok, err = pcall(function()
    for _, worker in ipairs(workers) do state.step(coroutine.create(worker), ctx) end
    while state.alive > 0 do self:schedule(state, now, sleep) end
  end)
  if not ok then
    for id in pairs(state.waiting) do self.driver:remove(id) end
    error(err, 0)
  end
  if failure then error(failure[1], 0) end
end

--- Releases the connections; idempotent.
function curl:close()
  self.driver:close()
end

return curl
