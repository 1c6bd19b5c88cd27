--- The edge's demo (make edge-demo, through examples/run-edge-demo): what posthog-js and
-- posthog-node send, through the edge of examples/nginx/edge.conf; which events went on to
-- PostHog, which to the quarantine project (with why), and the edge's metrics.
--   lua5.4 examples/edge-demo.lua EDGE_URL FAKE_URL
local http = require "socket.http"
local ltn12 = require "ltn12"
local mime = require "mime"
local cjson = require "cjson"
local sdk = require "support.sdk_bodies"

local edge, fake = arg[1], arg[2]

-- An HTTP request; returns body and status.
local function request(method, url, body, headers)
  local chunks = {}
  local h = { ["content-length"] = body and tostring(#body) or nil }
  for k, v in pairs(headers or {}) do h[k] = v end
  local _, status = http.request { url = url, method = method, headers = h, sink = ltn12.sink.table(chunks),
    source = body and ltn12.source.string(body) or nil }
  return table.concat(chunks), status
end

-- Polls `probe` (at most 20 s) until it returns a value.
local function eventually(probe)
  for _ = 1, 400 do
    local v = probe()
    if v then return v end
    os.execute("sleep 0.05")
  end
  error("the demo timed out")
end

local function metric(text, line)
  return tonumber(text:match("\n" .. line:gsub("%p", "%%%0") .. " (%S+)")) or 0
end

eventually(function()
  return metric(request("GET", edge .. "/metrics"), 'posthog_edge_index_definitions{project="default"}') > 0
end)
print("the edge loaded the taxonomy\n")

local function send(title, req)
  request("DELETE", fake .. "/__fake/captured")
  local answer, status = request(req.method, edge .. req.path .. (req.query and "?" .. req.query or ""), req.body,
    req.headers)
  print(title .. ": the edge answered " .. status .. " " .. answer)
end

-- What reached PostHog and the quarantine since the last send.
local function show(quarantined_count)
  local forwarded, quarantined = {}, {}
  eventually(function()
    forwarded, quarantined = {}, {}
    for _, r in ipairs(cjson.decode((request("GET", fake .. "/__fake/captured"))).captured) do
      local body = mime.unb64(r.body_b64) or ""
      local text = body:sub(1, 2) == "\31\139" and sdk.decompress("gzip", body) or body
      local value = cjson.decode(text)
      local events = value.batch or value
      for _, e in ipairs(events) do
        if value.api_key == "phc_quarantine_demo" then quarantined[#quarantined + 1] = e
        else forwarded[#forwarded + 1] = e end
      end
    end
    return #quarantined >= quarantined_count
  end)
  for _, e in ipairs(forwarded) do print("  -> PostHog:     " .. e.event) end
  for _, e in ipairs(quarantined) do
    local p = e.properties
    print("  -> quarantine:  " .. e.event .. "  ($taxonomy_violation = " .. p["$taxonomy_violation"] .. ", detail "
      .. cjson.encode(p["$taxonomy_violation_detail"]) .. ")")
  end
  print()
end

send("posthog-js (gzip, only the magic bytes say so)", sdk.build("posthog_js", {
  { event = "signup", properties = { plan = "pro" } }, { event = "$pageview" },
  { event = "mystery_event" }, { event = "survey shown" } }))
show(1)
send("posthog-node (/batch/, Content-Encoding: gzip)", sdk.build("posthog_node", {
  { event = "checkout", properties = { order_id = "17" } }, { event = "checkout", properties = { order_id = "A-1" } },
  { event = "junk_event" } }))
show(2)
print("the edge's metrics (GET /metrics):")
for line in request("GET", edge .. "/metrics"):gmatch("[^\n]+") do
  if not line:find("^#") and line:find("project=\"default\"", 1, true) then print("  " .. line) end
end
