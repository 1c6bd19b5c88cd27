-- Per-key sliding-window rate limiting like DRF's SimpleRateThrottle (§16): every configured
-- window records an allowed request; a request refused by any window gets 429 with the longest wait.
local shm = require "fake_posthog.shm"
local http = require "fake_posthog.http"
local reqlog = require "fake_posthog.reqlog"

local rt = shm.runtime

local M = {}

-- check(key, windows[, retry_after]) -> nil when allowed, else the 429 response. windows:
-- config.windows; retry_after: config.retry_after_header (false: no Retry-After header).
function M.check(key, windows, retry_after)
  if #windows == 0 then return nil end
  ngx.update_time()
  local now = ngx.now()
  local wait = shm.with_lock("throttle", function()
    local longest
    for _, w in ipairs(windows) do
      local list = "thr:" .. w.secs .. ":" .. key
      local oldest
      while true do                         -- drop timestamps that left the window
        local head = rt:lpop(list)
        if head == nil then break end
        if head > now - w.secs then
          rt:lpush(list, head)
          oldest = head
          break
        end
      end
      if rt:llen(list) >= w.limit then
        local w_wait = oldest + w.secs - now
        if not longest or w_wait > longest then longest = w_wait end
      else
        rt:rpush(list, now)
      end
    end
    return longest
  end)
  if not wait then return nil end
  reqlog.throttled()
  return http.throttled(wait, retry_after)
end

return M
