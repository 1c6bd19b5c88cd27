-- The two lua_shared_dicts of the fake server and a cross-worker spin lock.
--   fake_state:   definitions, taxonomy, config, faults, locks, id counters
--   fake_runtime: request log, stats, throttle windows (flushed by /__fake/reset)
local M = {}

M.state = ngx.shared.fake_state
M.runtime = ngx.shared.fake_runtime

-- with_lock(name, fn) -> the results of fn() (up to three); fn runs while no other worker holds
-- the lock `name`. Errors in fn are re-raised after the lock is released. fn must not yield.
function M.with_lock(name, fn)
  local key = "lock:" .. name
  while true do
    local ok, err = M.state:add(key, true, 10)      -- expiry frees a lock held by a dead worker
    if ok then break end
    if err ~= "exists" then error("fake lock " .. name .. ": " .. tostring(err)) end
    ngx.sleep(0.001)
  end
  local ok, a, b, c = pcall(fn)
  M.state:delete(key)
  if not ok then error(a, 0) end
  return a, b, c
end

-- set(dict, key, value) -> nothing; raises when the dict is full (a fake that silently forgets lies).
function M.set(dict, key, value)
  local ok, err = dict:set(key, value)
  if not ok then error("fake shared dict: " .. tostring(err)) end
end

return M
