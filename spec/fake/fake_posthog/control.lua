-- Test-only control API under /__fake/ (no auth, JSON in and out); see spec/fake/README.md.
local json = require "fake_posthog.json"
local http = require "fake_posthog.http"
local config = require "fake_posthog.config"
local store = require "fake_posthog.store"
local faults = require "fake_posthog.faults"
local reqlog = require "fake_posthog.reqlog"
local seed = require "fake_posthog.seed"
local defs = require "fake_posthog.defs"
local taxonomy = require "fake_posthog.taxonomy"
local ingest = require "fake_posthog.ingest"
local capture = require "fake_posthog.capture"

local concat = table.concat

local M = {}

-- bad(message) -> 400 {"error": message}.
local function bad(message)
  return http.response(400, '{"error":' .. json.str(message) .. "}")
end

-- body(req) -> the JSON object sent ({} when empty) | nil, 400 response.
local function body(req)
  if not req.body or req.body == "" then return {} end
  local value, err = json.decode(req.body)
  if type(value) ~= "table" then return nil, bad("body must be a JSON object: " .. tostring(err or "")) end
  return value
end

-- reset(b) -> response. Clears definitions, taxonomy, config, faults, the ingestion queue, the
-- request log and stats, then applies b.config (after the fixture's clock) and loads b.fixture,
-- b.seed, b.definitions, b.property_groups and b.property_definitions, in that order.
local function reset(b)
  if b.seed ~= nil and (type(b.seed) ~= "number" or b.seed < 0 or b.seed % 1 ~= 0) then
    return bad("seed must be a non-negative integer")
  end
  if b.fixture ~= nil and b.fixture ~= "worked" then return bad('fixture must be "worked"') end
  for _, k in ipairs({ "definitions", "property_groups", "property_definitions" }) do
    if b[k] ~= nil and not json.is_array(b[k]) then return bad(k .. " must be an array") end
  end
  config.reset()
  faults.clear()
  ingest.clear()
  reqlog.reset()
  capture.clear()
  if b.fixture then config.merge({ now = seed.WORKED_NOW }) end
  if b.config ~= nil then
    local ok, err = config.merge(b.config)
    if not ok then return bad(err) end
  end
  local now = config.now_us()
  local ok, err = pcall(store.write, function(tx)
    tx:clear()
    if b.fixture then
      for _, rec in ipairs(seed.worked(tx)) do tx:insert(rec) end
    end
    for i = 1, b.seed or 0 do tx:insert(seed.generated(tx, i, b.seed, now)) end
    for _, d in ipairs(b.definitions or {}) do tx:insert(seed.given(tx, d, now)) end
    taxonomy.build(tx, b.property_groups, b.property_definitions, now)
  end)
  if not ok then
    if type(err) == "table" and err.fake_error then return bad(err.fake_error) end
    error(err, 0)
  end
  return http.response(200, '{"ok":true,"definitions":' .. #store.current().order .. "}")
end

-- state() -> every definition (API object plus project_id and query_usage_30_day) and the taxonomy.
local function state()
  local view = store.current()
  local items = {}
  for i, id in ipairs(view.order) do
    local rec = view.recs[id]
    items[i] = '{"project_id":' .. rec.project_id .. ',"query_usage_30_day":' .. (rec.query_usage_30_day or 0) .. ","
      .. defs.json(view, rec):sub(2)
  end
  return http.response(200, '{"definitions":[' .. concat(items, ",") .. "]," .. taxonomy.state_json(view) .. "}")
end

-- handle(req) -> response for /__fake/<route>.
function M.handle(req)
  local route = req.uri:match("^/__fake/([%w_]+)/?$")
  local method = req.method
  local b, err
  if method == "POST" then
    b, err = body(req)
    if not b then return err end
  end
  if route == "reset" and method == "POST" then return reset(b) end
  if route == "config" and method == "POST" then
    local ok
    ok, err = config.merge(b)
    if not ok then return bad(err) end
  end
  if route == "config" and (method == "GET" or method == "POST") then
    return http.response(200, json.encode(config.public()))
  end
  if route == "faults" and method == "POST" then
    local n
    n, err = faults.add(b.faults)
    if not n then return bad(err) end
    return http.response(200, '{"queued":' .. n .. "}")
  end
  if route == "faults" and method == "GET" then return http.response(200, '{"faults":' .. faults.pending() .. "}") end
  if route == "faults" and method == "DELETE" then faults.clear(); return http.response(200, '{"ok":true}') end
  if route == "ingest" and method == "POST" then
    local queued, applied = ingest.add(json.is_array(b.entries) and b.entries or { b })
    if not queued then return bad(applied) end
    return http.response(200, '{"queued":' .. queued .. ',"applied":' .. applied .. "}")
  end
  if route == "ingest" and method == "GET" then return http.response(200, '{"ingest":' .. ingest.pending() .. "}") end
  if route == "ingest" and method == "DELETE" then ingest.clear(); return http.response(200, '{"ok":true}') end
  if route == "requests" and method == "GET" then
    return http.response(200, '{"requests":[' .. concat(reqlog.entries(), ",") .. "]}")
  end
  if route == "requests" and method == "DELETE" then reqlog.clear(); return http.response(200, '{"ok":true}') end
  if route == "captured" and method == "GET" then
    return http.response(200, '{"captured":' .. capture.records() .. "}")
  end
  if route == "captured" and method == "DELETE" then capture.clear(); return http.response(200, '{"ok":true}') end
  if route == "stats" and method == "GET" then return http.response(200, json.encode(reqlog.stats())) end
  if route == "state" and method == "GET" then return state() end
  return http.response(404, '{"error":"unknown control route"}')
end

return M
