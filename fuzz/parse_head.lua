--- fuzz/parse_head.lua: core.parse_head and core.normalize_headers. Promises: never raise on
-- a string or a table of strings; a parsed head has a status of 3 digits, lower-case header
-- names without white space or colons, values trimmed; a failure is {kind = "transport"}.
-- Input: the head's bytes.
local core = require "posthog.event_definitions.core"
local lib = dofile("fuzz/lib.lua")
local check = lib.check

return function(text)
  local status, headers, minor = core.parse_head(text)
  if status == nil then
    check(type(headers) == "table" and headers.kind == "transport", "a bad head is kind transport")
  else
    check(math.type(status) == "integer" and status >= 0 and status <= 999, "a status of 3 digits")
    check(math.type(minor) == "integer" and minor >= 0 and minor <= 9, "a minor version digit")
    for name, value in pairs(headers) do
      check(name ~= "" and not name:find("[A-Z:%s]"), "a header name is lower-case, no colon, no space")
      check(not value:find("^[ \t]") and not value:find("[ \t]$"), "a header value is trimmed")
    end
  end
  local map = {}
  for line in text:gmatch("[^\n]+") do
    local k, v = line:match("^([^:]*):(.*)$")
    if k then map[k] = v end
  end
  local out, err = core.normalize_headers(map)
  if out then
    for name in pairs(out) do check(not name:find("[A-Z]"), "normalize_headers lower-cases names") end
  else
    check(err.kind == "transport", "a bad map is kind transport")
  end
end
