--- The retry policy: which failures are worth another attempt, and how long to wait before it.
local TUNING = require("posthog.event_definitions.options").TUNING

local retry = {}

-- Methods whose replay after an ambiguous failure gives the same final state.
local REPLAYABLE = { GET = true, PUT = true, PATCH = true, DELETE = true }

--- Statuses that only a gateway answers (PostHog's application never does, reference §15.2):
-- the gateway got no complete answer from PostHog, which may have applied the request.
retry.GATEWAY_ONLY = { [502] = true, [504] = true }
-- Statuses of a gateway or of an unavailable PostHog (503: a gateway's, or PostHog's own
-- database_unavailable), worth another attempt of a replayable request.
local GATEWAY = { [502] = true, [503] = true, [504] = true }

--- Whether a failed attempt of `method` is retryable in kind: returns bool, reason.
-- `err` is the error table of the attempt (kind, status, sent).
function retry.should_retry(method, err)
  local kind = err.kind
  if err.retryable == false then return false, "the transport says a retry cannot help" end
  if kind == "transport" or kind == "timeout" then
    if err.sent == false then return true, "the request was not sent" end
    if REPLAYABLE[method] then return true, "idempotent request failed in flight" end
    return false, method .. " is not replayed after an ambiguous failure"
  elseif kind == "http" then
    if err.status == 429 then return true, "throttled" end
    if GATEWAY[err.status] then
      if REPLAYABLE[method] then return true, "gateway or availability error" end
      return false, method .. " is not replayed after a " .. err.status
    end
  end
  return false, "not retryable"
end

--- Seconds to wait before attempt `attempt + 1`: Retry-After when given, else exponential
-- backoff with equal jitter. `random` returns a float in [0, 1).
function retry.delay(attempt, retry_after, random)
  if retry_after then return retry_after end
  local full = math.min(TUNING.backoff_cap, TUNING.backoff_base * 2 ^ (attempt - 1))
  return full / 2 + random() * full / 2
end

return retry
