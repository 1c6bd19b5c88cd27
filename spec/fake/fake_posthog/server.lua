-- Entry point of the fake PostHog server (content_by_lua): control requests go to
-- fake_posthog.control; every other request is an API request: counted, delayed by the configured
-- latency, matched against the fault queue, dispatched, logged and written.
local http = require "fake_posthog.http"
local config = require "fake_posthog.config"
local faults = require "fake_posthog.faults"
local reqlog = require "fake_posthog.reqlog"
local auth = require "fake_posthog.auth"
local api = require "fake_posthog.api"
local control = require "fake_posthog.control"
local capture = require "fake_posthog.capture"

local M = {}

-- init_worker() -> nothing; seeds the worker's random generator (UUID random bits).
function M.init_worker()
  math.randomseed(ngx.now() * 1000 + ngx.worker.pid())
end

-- run(req, cfg) -> response (nil for "close"), write mode (nil | "cut" | "truncate" | "chunked" |
-- "close"), name of the fault applied.
local function run(req, cfg)
  if cfg.latency > 0 then ngx.sleep(cfg.latency) end
  local fault = faults.take(req)
  if not fault then return api.dispatch(req, cfg) end
  local name = fault.action or tostring(fault.status)
  if fault.status or fault.action == "html" or fault.action == "malformed" then
    return faults.response(fault, cfg), nil, name
  end
  if fault.action == "delay" then
    ngx.sleep(fault.seconds)
    return api.dispatch(req, cfg), nil, name
  end
  if fault.action == "close" and not fault.process then return nil, "close", name end
  return api.dispatch(req, cfg), fault.action, name
end

-- handle() -> nothing; serves the current request.
function M.handle()
  if ngx.var.uri:sub(1, 8) == "/__fake/" then
    return http.send(control.handle(http.request()))
  end
  local cfg = config.get()
  if capture.is_capture(ngx.var.uri) then return capture.handle(cfg) end
  local req = http.request(cfg.public_base or nil)
  reqlog.begin()
  local ok, res, mode, fault = pcall(run, req, cfg)
  reqlog.finish()
  if not ok then
    ngx.log(ngx.ERR, "fake posthog: ", res)
    res, mode, fault = http.server_error(), nil, nil
  end
  if not req.key then req.key, req.key_source = auth.sent_key(req) end
  reqlog.record(req, res and res.status, fault)
  return http.send(res, mode)
end

return M
