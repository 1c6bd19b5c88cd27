-- Test only (spec/62-edge_spec.lua): policies of the test locations /v/<variant>/… that
-- spec/nginx/start --edge adds to examples/nginx/edge.conf. Tables made once per worker, so the
-- edge checks each policy once.
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
  named = { policy = { unknown = "drop", ["$pageview"] = "drop", ["$autocapture"] = "tag" } },
  strict_unread = { policy = { unknown = "pass" }, uninspected = "reject" },
}

local M = {}

-- enforce(variant) -> edge.enforce with that variant's options (404 for an unknown variant).
function M.enforce(variant)
  local opts = VARIANTS[variant]
  if not opts then return ngx.exit(ngx.HTTP_NOT_FOUND) end
  return edge.enforce(opts)
end

return M
