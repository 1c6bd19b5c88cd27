--- Helpers shared by the parts of posthog.event_definitions.schema: bytewise order, JSON arrays,
-- the owner's id, argument checks (programmer errors raise) and the one error table of a failed
-- load or plan (`nil, err`).
local core = require "posthog.event_definitions.core"
local errors = require "posthog.event_definitions.errors"

local null, array_mt = core.null, core.array_mt
local byte, sort = string.byte, table.sort

local util = {}

local PREFIX = "posthog.event_definitions.schema: "

--- Raises a programmer error (a wrong Lua argument), prefixed with the module's name.
function util.raise(message)
  error(PREFIX .. message, 0)
end

--- nil and the library's error table: kind "decode" (text that is not an export this module
-- reads) or "validation" (a bad value). Nothing was sent, so nothing is retryable.
function util.fail(kind, detail)
  return nil, errors.new { kind = kind, detail = detail, retryable = false, attempts = 0 }
end

--- The message of a failed core.decode or core.encode, whether it came as a string or as an
-- error table with a `detail`.
function util.message(err)
  if type(err) == "table" then return tostring(err.detail or err.kind or "error") end
  return tostring(err)
end

--- v as compact JSON text; raises when JSON cannot hold it (a NaN, a function: a programmer error).
function util.encode(v)
  local text, err = core.encode(v)
  if not text then util.raise("cannot export " .. tostring(v) .. ": " .. util.message(err)) end
  return text
end

--- The text of one cell of a table or a CSV row: nil and null empty, strings as they are,
-- booleans true/false, numbers and tables as compact JSON.
function util.cell_text(v)
  if v == nil or v == null then return "" end
  if type(v) == "string" then return v end
  if type(v) == "boolean" then return tostring(v) end
  return util.encode(v)
end

-- The edit distance (insertions, deletions, substitutions, swaps of neighbours) between a and b.
local function distance(a, b)
  local previous, row = {}, {}
  for j = 0, #b do row[j] = j end
  for i = 1, #a do
    local before
    before, previous, row = previous, row, { [0] = i }
    for j = 1, #b do
      local cost = byte(a, i) == byte(b, j) and 0 or 1
      row[j] = math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
      if i > 1 and j > 1 and byte(a, i) == byte(b, j - 1) and byte(a, i - 1) == byte(b, j) then
        row[j] = math.min(row[j], before[j - 2] + 1)
      end
    end
  end
  return row[#b]
end

--- " (did you mean \"<candidate>\"?)" for the candidate nearest to `word` when it is near enough
-- to be a misspelling of it (at most a third of its letters changed), else "".
function util.did_you_mean(word, candidates)
  local best, best_distance
  for _, candidate in ipairs(candidates) do
    local d = distance(word:lower(), candidate:lower())
    if d <= math.max(1, math.floor(#candidate / 3)) and (not best_distance or d < best_distance) then
      best, best_distance = candidate, d
    end
  end
  return best and " (did you mean " .. util.encode(best) .. "?)" or ""
end

--- A CSV cell as written: neutralised when a spreadsheet would run it as a formula (it begins
-- with =, +, -, @, a tab or a carriage return, after any single quotes: a quote is put before
-- it, as OWASP recommends; the reader takes exactly one away again), then quoted (RFC 4180)
-- when it holds a comma, a quote or a line break.
function util.csv_field(s)
  if s:find("^'*[=+%-@\t\r]") then s = "'" .. s end
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

--- Bytewise string order (Lua's `<` follows the locale's collation).
function util.byte_less(a, b)
  if a == b then return false end
  for i = 1, math.min(#a, #b) do
    local x, y = byte(a, i), byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

--- Orders tables by their name, bytewise.
function util.by_name(a, b)
  return util.byte_less(a.name, b.name)
end

--- "1 event", "2 events".
function util.count(n, noun)
  return n .. " " .. noun .. (n == 1 and "" or "s")
end

--- t marked as a JSON array.
function util.array(t)
  return setmetatable(t, array_mt)
end

--- A copy of list, marked as an array.
function util.copy_array(list)
  local copy = {}
  for i = 1, #list do copy[i] = list[i] end
  return util.array(copy)
end

--- A sorted copy of an array of strings, marked as an array.
function util.sorted(list)
  local copy = util.copy_array(list)
  sort(copy, util.byte_less)
  return copy
end

--- True when t is a JSON array: marked as one, or a non-empty sequence.
function util.is_array(t)
  if getmetatable(t) == array_mt then return true end
  local n = #t
  if n == 0 then return false end
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then return false end
  end
  return true
end

--- True when v is a JSON array.
function util.is_json_array(v)
  return type(v) == "table" and util.is_array(v)
end

--- True when v is a JSON object (a table that is not an array).
function util.is_object(v)
  return type(v) == "table" and not util.is_array(v)
end

--- The user id of a user field: the id of a UserBasic object, or the value as given.
function util.owner_id(owner)
  if type(owner) == "table" then return owner.id end
  return owner
end

--- The definitions sorted by name (a copy).
function util.sorted_defs(defs)
  local copy = {}
  for i = 1, #defs do copy[i] = defs[i] end
  sort(copy, util.by_name)
  return copy
end

--- Checks the arguments of an exporter (programmer errors raise); returns opts or {}.
function util.check_args(fname, defs, opts)
  if type(defs) ~= "table" then util.raise(fname .. ": defs must be a table, got " .. type(defs)) end
  for i = 1, #defs do
    if type(defs[i]) ~= "table" or type(defs[i].name) ~= "string" then
      util.raise(fname .. ": defs[" .. i .. "] must be a table with a string name")
    end
  end
  if opts ~= nil and type(opts) ~= "table" then
    util.raise(fname .. ": opts must be a table, got " .. type(opts))
  end
  return opts or {}
end

--- The known properties of event `name` from opts.properties, each checked, sorted by name;
-- {} for an event without an entry; nil without opts.properties.
function util.properties_of(opts, fname, name)
  local all = opts.properties
  if all == nil then return nil end
  if type(all) ~= "table" then util.raise(fname .. ": opts.properties must be a table") end
  local list = all[name]
  if list == nil then return {} end
  local where = fname .. ": opts.properties[" .. util.encode(name) .. "]"
  if type(list) ~= "table" then util.raise(where .. " must be a table") end
  local props = {}
  for i = 1, #list do
    local p = list[i]
    if type(p) ~= "table" or type(p.name) ~= "string" then
      util.raise(where .. "[" .. i .. "] must be a table with a string name")
    end
    props[i] = p
  end
  sort(props, util.by_name)
  return props
end

return util
