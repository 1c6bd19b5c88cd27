-- Test only (spec/62-edge_spec.lua): policies of the test locations /v/<variant>/… that
-- spec/nginx/start --edge adds to examples/nginx/edge.conf (tables made once per worker, so the
-- edge checks each policy once), and /init_errors: what edge.init says to bad options.
local edge = require "posthog.event_definitions.edge"

local ALL = { "unknown", "hidden", "unverified", "schema" }
local function every(action)
  local p = {}
  for _, class in ipairs(ALL) do p[class] = action end
  return { policy = p }
end

local VARIANTS = {
  pass = every("pass"),
  tag = every("tag"),
  drop = every("drop"),
  reject = every("reject"),
  named = { policy = { unknown = "drop", ["$pageview"] = "drop", ["$autocapture"] = "tag",
    ["survey shown"] = "drop" } },
  strict_unread = { policy = { unknown = "pass" }, uninspected = "reject" },
}

local M = {}

-- enforce(variant) -> edge.enforce with that variant's options (404 for an unknown variant).
function M.enforce(variant)
  local opts = VARIANTS[variant]
  if not opts then return ngx.exit(ngx.HTTP_NOT_FOUND) end
  return edge.enforce(opts)
end

-- init_errors() -> what edge.init raises for each bad set of options, one line each. None is
-- valid, so the worker's edge stays as edge.conf set it up.
function M.init_errors()
  local client = rawget(_G, "posthog") -- edge.conf's client
  local cases = {
    "posthog_edge",
    { client = client, dict = "posthog_edge", refreshh = 10 },
    { client = client, dict = "posthog_edge", refresh = "10" },
    { dict = "posthog_edge" },
    { client = client },
    { client = client, dict = "no_such_dict" },
    { client = client, dict = "posthog_edge", refresh = 0 },
    { client = client, dict = "posthog_edge", max_body = math.huge },
    { client = client, dict = "posthog_edge", uninspected = "drop" },
    { client = client, dict = "posthog_edge", policy = { unknown = "explode" } },
    { client = client, dict = "posthog_edge", policy = { sometimes = "drop" } },
    { client = client, dict = "posthog_edge", redis = "http://10.0.0.5:6379" },
    { client = client, dict = "posthog_edge", unknown_token = "explode" },
    { client = client, dict = "posthog_edge", quarantine = { host = "ftp://example.com", token = "phc_x" } },
    { client = client, projects = { phc_x = client }, dict = "posthog_edge" },
  }
  local out = {}
  for i, opts in ipairs(cases) do
    local ok, err = pcall(edge.init, opts)
    out[i] = ok and "accepted" or tostring(err)
  end
  return table.concat(out, "\n")
end

return M
