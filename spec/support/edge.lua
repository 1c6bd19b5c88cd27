--- spec/support/edge.lua: what the edge specs share: the capture proxy of examples/nginx/edge.conf
-- started in real nginx (spec/nginx/start --edge) in front of the fake PostHog, which is the API
-- the taxonomy comes from, the capture upstream and the quarantine project alike; what the fake
-- received (forwarded requests, quarantined events); the proxy's metrics.
local mime = require "mime"
local cjson = require "cjson.safe"
local helpers = require "spec.helpers"
local nginx = require "support.nginx"
local edge_core = require "posthog.event_definitions.edge.core"

local M = {}

M.QUARANTINE_TOKEN = "phc_quarantine_0123456789"

--- Starts the proxy with spec/nginx/start --edge `args` (and the quarantine unless `no_quarantine`).
function M.start(args, no_quarantine)
  local fake = helpers.fake_url()
  local env = "FAKE_POSTHOG_URL=" .. fake .. " POSTHOG_HOST=" .. fake .. " POSTHOG_PERSONAL_API_KEY="
    .. helpers.KEY .. " POSTHOG_PROJECT_ID=1"
    .. (no_quarantine and "" or (" POSTHOG_QUARANTINE_TOKEN=" .. M.QUARANTINE_TOKEN))
  return nginx.start("--edge --workers 2 " .. (args or ""), env)
end

--- Forgets what the fake's capture endpoint received.
function M.clear() helpers.control("DELETE", "captured") end

--- What the fake's capture endpoints received since the last clear: `forwarded` (the proxy's
-- requests, bodies decoded from base64) and `quarantined` (the event texts of the requests that
-- carry the quarantine token, byte for byte).
function M.received()
  local forwarded, quarantined = {}, {}
  for _, r in ipairs(helpers.control("GET", "captured").captured) do
    for k, v in pairs(r) do if v == cjson.null then r[k] = nil end end
    r.body = mime.unb64(r.body_b64 or "") or ""
    local decoded = r.uri:find("^/batch/?$") and cjson.decode(r.body)
    if type(decoded) == "table" and decoded.api_key == M.QUARANTINE_TOKEN then
      for _, text in ipairs(M.event_texts(r.body)) do quarantined[#quarantined + 1] = text end
    else
      forwarded[#forwarded + 1] = r
    end
  end
  return forwarded, quarantined
end

--- The event texts of a JSON capture text, byte for byte, and its envelope (the text before the
-- first event and after the last).
function M.event_texts(text)
  local form, ev, n = edge_core.scan(text)
  assert(form, "not a capture body: " .. text)
  local out = {}
  for i = 0, n - 1 do out[#out + 1] = text:sub(ev[i * edge_core.FIELDS + 1], ev[i * edge_core.FIELDS + 2]) end
  local first, last = ev[1] or (#text + 1), ev[(n - 1) * edge_core.FIELDS + 2] or #text
  return out, text:sub(1, first - 1), text:sub(last + 1)
end

--- The proxy's metrics text.
function M.metrics(app)
  local text, status = nginx.request("GET", app.url .. "/metrics")
  assert(status == 200, "metrics answered " .. tostring(status))
  return text
end

--- The value of one metrics line (0 when absent).
function M.metric(text, line)
  for l in text:gmatch("[^\n]+") do
    local name, value = l:match("^(.-) (%S+)$")
    if name == line then return tonumber(value) end
  end
  return 0
end

--- Waits until every project's index of `app` is loaded (`count` definitions in project `key`,
-- default "default", when given).
function M.ready(app, key, count)
  key = key or "default"
  local line = 'posthog_edge_index_definitions{project="' .. key .. '"}'
  nginx.eventually("the index of " .. key, function()
    local n = M.metric(M.metrics(app), line)
    if count then return n == count or nil end
    return n > 0 or nil
  end)
end

--- Waits until `n` events reached the quarantine since the last clear; returns their texts.
function M.quarantined(n)
  return nginx.eventually(n .. " quarantined events", function()
    local _, q = M.received()
    if #q >= n then return q end
  end)
end

return M
