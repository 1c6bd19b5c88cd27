--- fuzz/response.lua: core.decode_response with any status, headers and body. Promises: never
-- raises on a well-formed res; a 2xx gives the value (true for "none") or kind "decode"; any
-- other status kind "http" with that status; retry_after an integer >= 0 when present, always
-- present on a 429; every text field valid UTF-8, a body sample on one line.
-- Input: shape byte, status (2 bytes), now (4 bytes), then "name: value" lines, an empty line
-- and the body.
local core = require "posthog.event_definitions.core"
local lib = dofile("fuzz/lib.lua")
local check = lib.check

local SHAPES = { false, "none", "definition", "page", "bulk", "primary_properties", "object", "codegen" }

return function(data)
  local r = lib.reader(data)
  local shape = SHAPES[r:byte() % #SHAPES + 1] or nil
  local status = 100 + r:u16() % 500
  local now = r:u32()
  local rest = r:rest()
  local head, body = rest:match("^(.-)\n\n(.*)$")
  if not head then head, body = "", rest end
  local headers = {}
  for line in head:gmatch("[^\n]+") do
    local name, value = line:match("^([^:]*):%s*(.*)$")
    if name then headers[name:lower()] = value end
  end
  local v, err = core.decode_response({ status = status, headers = headers, body = body }, shape, now)
  if v ~= nil then
    check(status >= 200 and status < 300, "only a 2xx gives a value")
    if shape == "none" then check(v == true, "shape none gives true") end
    return
  end
  check(type(err) == "table" and err.status == status, "the error carries the status")
  if status >= 200 and status < 300 then
    check(err.kind == "decode", "a bad 2xx is kind decode")
  else
    check(err.kind == "http", "a non-2xx is kind http")
    check(type(err.detail) == "string" and err.detail ~= "", "an http error has a detail")
  end
  if status == 429 then check(err.retry_after ~= nil, "a 429 has retry_after") end
  if err.retry_after ~= nil then
    check(math.type(err.retry_after) == "integer" and err.retry_after >= 0, "retry_after is an integer >= 0")
  end
  for _, field in ipairs({ "detail", "type", "code", "attr" }) do
    if err[field] ~= nil then check(lib.utf8(err[field]), field .. " is valid UTF-8") end
  end
  local json = core.decode(body)
  if err.kind == "http" and not (type(json) == "table" and type(json.detail) == "string") then
    check(not err.detail:find("[%z\1-\31\127]"), "a body sample is one line without control characters")
    check(#err.detail <= 100 or err.detail:find("^HTTP %d+$"), "a body sample is at most 100 bytes")
  end
end
