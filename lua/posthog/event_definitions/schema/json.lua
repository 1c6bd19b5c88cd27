--- The JSON text the schema module writes: pretty-printed, keys sorted bytewise, one key or item
-- per line, 2-space indent, a trailing newline. Scalars (and keys) go through core.encode, so a
-- string or a number is written exactly as the client would send it.
local util = require "posthog.event_definitions.schema.util"

local concat, sort = table.concat, table.sort
local encode, raise = util.encode, util.raise

local json = {}

-- Appends the pretty-printed JSON of v to out.
local function write(out, v, indent)
  if type(v) ~= "table" then
    out[#out + 1] = encode(v)
    return
  end
  if #indent > 200 then raise("a table nests too deeply (a cycle?)") end
  local inner = indent .. "  "
  if util.is_array(v) then
    if #v == 0 then out[#out + 1] = "[]" return end
    out[#out + 1] = "[\n"
    for i = 1, #v do
      out[#out + 1] = inner
      write(out, v[i], inner)
      out[#out + 1] = i < #v and ",\n" or "\n"
    end
    out[#out + 1] = indent .. "]"
    return
  end
  local keys = {}
  for k in pairs(v) do
    if type(k) ~= "string" then raise("cannot export a table key of type " .. type(k)) end
    keys[#keys + 1] = k
  end
  if #keys == 0 then out[#out + 1] = "{}" return end
  sort(keys, util.byte_less)
  out[#out + 1] = "{\n"
  for i, k in ipairs(keys) do
    out[#out + 1] = inner .. encode(k) .. ": "
    write(out, v[k], inner)
    out[#out + 1] = i < #keys and ",\n" or "\n"
  end
  out[#out + 1] = indent .. "}"
end

--- v as pretty-printed JSON text ending with a newline; raises on what JSON cannot hold.
function json.pretty(v)
  local out = {}
  write(out, v, "")
  out[#out + 1] = "\n"
  return concat(out)
end

return json
