--- The capture test app (spec/nginx/capture.conf.in, spec/67-edge_capture_spec.lua): reads each
-- request with edge/capture.lua and, by the mode its location names, reports what it read or
-- writes a changed text back and lets nginx forward the request to the fake PostHog, which
-- records what arrives byte for byte. Test-only; no edge.init.
-- luacheck: globals ngx
local cjson = require "cjson.safe"
local capture = require "posthog.event_definitions.edge.capture"

local app = {}

-- The change the "change" mode makes to a text: one event renamed, so the size changes too.
app.FROM, app.TO = "change_me", "changed_into_a_longer_name"

-- The endpoint the fake PostHog records for a request path: the capture path without any
-- prefix (those the fake does not serve go to /capture/).
local FAKE_PATHS = { "/i/v1/analytics/events", "/i/v0/e", "/capture", "/track", "/batch", "/e" }
local function upstream_path(path)
  local slash = path:sub(-1) == "/" and "/" or ""
  local bare = slash == "/" and path:sub(1, -2) or path
  for _, p in ipairs(FAKE_PATHS) do
    if bare:sub(-#p) == p then return p .. slash end
  end
  return "/capture/"
end

local function limits()
  return { max_body = tonumber(ngx.var.http_x_test_max_body) or 20 * 1024 * 1024,
    max_ratio = tonumber(ngx.var.http_x_test_max_ratio) or 100 }
end

-- Answers with the JSON of `t` and ends the request.
local function report(t)
  ngx.status = 200
  ngx.header["Content-Type"] = "application/json"
  ngx.print(cjson.encode(t))
  return ngx.exit(ngx.HTTP_OK)
end

--- access_by_lua: `mode` "report" answers {kind, text, bearer, reason, detail, memory_kb} without
-- forwarding; "same" writes the text back unchanged; "change" renames app.FROM to app.TO; "none"
-- reads and forwards untouched. `rest` is the path after the mode.
function app.access(mode, rest)
  local kind = capture.kind(rest, ngx.req.get_method())
  ngx.var.upstream_path = upstream_path(rest)
  if mode == "report" then
    collectgarbage()
    local before = collectgarbage("count")
    local payload, reason, detail = capture.read(kind, limits())
    local grown = collectgarbage("count") - before
    return report { kind = kind or cjson.null, text = payload and payload.text or cjson.null,
      bearer = payload and payload.bearer or cjson.null, reason = reason or cjson.null,
      detail = detail or cjson.null, memory_kb = grown }
  end
  local payload, reason, detail = capture.read(kind, limits())
  if not payload then
    if reason then ngx.log(ngx.NOTICE, "capture_app: uninspected ", reason, ": ", detail) end
    return
  end
  if mode == "same" then capture.write(payload, payload.text)
  elseif mode == "change" then
    capture.write(payload, (payload.text:gsub(app.FROM, app.TO)))
  end
end

return app
