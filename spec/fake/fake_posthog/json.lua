-- JSON helpers of the fake server: a private lua-cjson instance (so its settings do not leak),
-- DRF-like output (forward slashes unescaped) and explicit arrays (cjson writes {} for empty tables).
local cjson = require("cjson").new()
local cjson_safe = require("cjson.safe").new()

local concat = table.concat

local M = {}

M.null = cjson.null

-- encode(value) -> JSON text; forward slashes are not escaped, like Python's json/orjson.
function M.encode(value)
  return (cjson.encode(value):gsub("\\/", "/"))
end

-- decode(text) -> value | nil, err (never raises).
function M.decode(text)
  if type(text) ~= "string" then return nil, "not a string" end
  return cjson_safe.decode(text)
end

-- str(s) -> JSON string literal, or null for nil.
function M.str(s)
  if s == nil or s == M.null then return "null" end
  return (cjson.encode(s):gsub("\\/", "/"))
end

-- array(list[, encode_item]) -> JSON array text, [] when empty; items encoded with encode_item or M.encode.
function M.array(list, encode_item)
  encode_item = encode_item or M.encode
  local out = {}
  for i = 1, #list do out[i] = encode_item(list[i]) end
  return "[" .. concat(out, ",") .. "]"
end

-- bool(v) -> "true" | "false" | "null" (nil and json null give null).
function M.bool(v)
  if v == nil or v == M.null then return "null" end
  return v and "true" or "false"
end

-- is_array(v) -> true when v is a table whose keys are exactly 1..n (an empty table counts).
function M.is_array(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  for i = 1, n do if v[i] == nil then return false end end
  return true
end

return M
