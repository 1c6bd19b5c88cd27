--- fuzz/lib.lua: what the harness scripts share: reading the fuzzer's bytes, building Lua values
-- from them, and checking a promise (a broken one raises, and the harness aborts).
local core = require "posthog.event_definitions.core"

local lib = {}

--- Raises "broken promise: <what>" unless ok.
function lib.check(ok, what)
  if not ok then error("broken promise: " .. what, 2) end
  return ok
end

--- Whether s is well-formed UTF-8 (Lua 5.4's utf8.len refuses overlong forms, surrogates and
-- code points past U+10FFFF).
function lib.utf8(s)
  return utf8.len(s) ~= nil
end

local Reader = {}
Reader.__index = Reader

--- A reader over the bytes of data; past the end every read gives zeros and empty strings.
function lib.reader(data)
  return setmetatable({ data = data, pos = 1 }, Reader)
end

function Reader:byte()
  local b = self.data:byte(self.pos) or 0
  self.pos = self.pos + 1
  return b
end

function Reader:u16() return self:byte() * 256 + self:byte() end

function Reader:u32() return self:u16() * 65536 + self:u16() end

function Reader:left() return #self.data - self.pos + 1 end

--- The next n bytes (fewer at the end).
function Reader:take(n)
  local s = self.data:sub(self.pos, self.pos + n - 1)
  self.pos = self.pos + n
  return s
end

--- Everything not read yet.
function Reader:rest() return self:take(self:left()) end

--- A string of 0-31 bytes, or one of words (when given) chosen by the first byte.
function Reader:string(words)
  local b = self:byte()
  if words and b >= 0xC0 then return words[b % #words + 1] end
  return self:take(b % 32)
end

-- Names the codec treats specially: the definition's fields, list parameters, bulk bodies.
lib.NAMES = { "id", "name", "owner", "description", "tags", "verified", "hidden", "enforcement_mode",
  "primary_property", "post_to_slack", "default_columns", "media_preview_urls", "created_at", "updated_at",
  "ids", "names", "ordering", "excluded_properties", "exclude_stale", "exclude_hidden", "search",
  "event_type", "limit", "offset", "action", "count", "next", "results", "updated", "skipped", "1", "" }

local NUMBERS = { 0, -0.0, 1, -1, 0.5, 1e300, -1e-300, 2 ^ 53, 2 ^ 63, -2 ^ 63, math.maxinteger,
  math.mininteger, 0 / 0, math.huge, -math.huge, 255, 256 }

--- A Lua value built from the reader: strings, numbers, booleans, core.null, arrays, objects
-- (names from lib.NAMES often), tables with mixed keys, empty arrays marked core.array_mt;
-- nesting at most `depth` (default 6).
function lib.value(r, depth)
  depth = depth or 6
  local op = r:byte() % 12
  if op == 0 then return r:string(lib.NAMES)
  elseif op == 1 then return NUMBERS[r:byte() % #NUMBERS + 1]
  elseif op == 2 then return (r:u32() - 2147483648) * (r:byte() % 2 == 0 and 1 or 1000003)
  elseif op == 3 then
    local s = r:take(8)
    return #s == 8 and string.unpack("<d", s) or 0.25
  elseif op == 4 then return r:byte() % 2 == 0
  elseif op == 5 then return core.null
  elseif op == 6 then return setmetatable({}, core.array_mt)
  elseif depth <= 0 or op == 7 then return r:string()
  elseif op == 8 or op == 9 then -- array
    local t = {}
    for i = 1, r:byte() % 6 do t[i] = lib.value(r, depth - 1) end
    return t
  elseif op == 10 then -- object
    local t = {}
    for _ = 1, r:byte() % 6 do
      local k = r:string(lib.NAMES)
      t[k] = lib.value(r, depth - 1)
    end
    return t
  else -- odd keys: numbers past the sequence, booleans, mixed
    local t = { lib.value(r, depth - 1) }
    local k = r:byte() % 3
    if k == 0 then t[3] = 1 elseif k == 1 then t[true] = 1 else t.x = 1 end
    return t
  end
end

--- A table of string values only (a definition's array fields, tags), 0-5 items.
function lib.strings(r)
  local t = {}
  for i = 1, r:byte() % 6 do t[i] = r:string() end
  return t
end

return lib
