--- The one error table of the library: `kind` says what failed, the other fields say where and why.
-- Every error the client returns goes through `errors.new`, which scrubs the personal API key out of
-- every string field, so no message, log line or field can carry it, and escapes control
-- characters, so that `tostring(err)` is always one line (a server cannot inject log lines).
local errors = {}

local Error = {}
Error.__index = Error

local PREFIX = "posthog.event_definitions: "

--- One line: `posthog.event_definitions: 404 not_found: Not found. (GET /api/…/)`.
function Error.__tostring(e)
  local head
  if e.status then
    head = tostring(e.status) .. (e.code and (" " .. e.code) or "")
  else
    head = e.kind or "error"
  end
  local line = PREFIX .. head .. ": " .. tostring(e.detail or "")
  if e.method and e.path then
    line = line .. " (" .. e.method .. " " .. e.path .. ")"
  end
  return line
end

--- Replaces every occurrence of `secret` in `s` by "[redacted]" (plain search, no patterns).
function errors.scrub(s, secret)
  if type(s) ~= "string" or not secret or secret == "" then return s end
  local out, start = {}, 1
  while true do
    local i, j = string.find(s, secret, start, true)
    if not i then break end
    out[#out + 1] = string.sub(s, start, i - 1)
    out[#out + 1] = "[redacted]"
    start = j + 1
  end
  if start == 1 then return s end
  out[#out + 1] = string.sub(s, start)
  return table.concat(out)
end

local ESCAPES = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- `s` with every control character written as an escape ("\n", "\x1b", …).
local function escape_controls(s)
  return (s:gsub("%c", function(c) return ESCAPES[c] or string.format("\\x%02x", c:byte()) end))
end

--- Makes an error table from `fields` (kind, status, detail, …): `secret` is scrubbed from its
-- strings and control characters in them are escaped.
function errors.new(fields, secret)
  for k, v in pairs(fields) do
    if type(v) == "string" then fields[k] = escape_controls(errors.scrub(v, secret)) end
  end
  return setmetatable(fields, Error)
end

return errors
