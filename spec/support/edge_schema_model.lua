--- spec/support/edge_schema_model.lua: for spec/64-edge_schema_spec.lua, generated inputs and a
-- model of PostHog's validation (validate-event-schema.ts of PR #49168, the schema as
-- PostHog's manager builds it) that works on facts Node printed about each generated value
-- (String(v), Number(v.trim()), isValidClickHouseDateTime(v)), not on the edge's code.
local model = {}

local fmt, rep = string.format, string.rep

-- Number::toString and Number() facts (Node 20).
model.number_strings = {
  [0.1 + 0.2] = "0.30000000000000004", [1e21] = "1e+21", [1e-7] = "1e-7", [123e-20] = "1.23e-18",
  [2 ^ 53] = "9007199254740992", [1 / 3] = "0.3333333333333333", [100] = "100", [9.5] = "9.5",
  [5e-324] = "5e-324", [1.7976931348623157e308] = "1.7976931348623157e+308",
  [12345678901234567890] = "12345678901234567000", [0.000001] = "0.000001", [2 ^ -25] = "2.9802322387695312e-8",
  [-2188357547595052.25] = "-2188357547595052.2", [0.125] = "0.125", [2 ^ 100] = "1.2676506002282294e+30",
  [1e20] = "100000000000000000000", [123456789e-15] = "1.23456789e-7", [-1.5e-7] = "-1.5e-7",
  [1 / 0] = "Infinity", [-1 / 0] = "-Infinity",
}
model.string_numbers = {
  ["0x1F"] = 31, ["0o17"] = 15, ["0b101"] = 5, [" \194\1601e3\227\128\128"] = 1000, ["-0x10"] = 0 / 0, ["+.5"] = 0.5,
  ["."] = 0 / 0, ["5."] = 5, ["1.e3"] = 1000, ["0x"] = 0 / 0, ["Infinity"] = 1 / 0, ["+Infinity"] = 1 / 0,
  ["infinity"] = 0 / 0, ["1e400"] = 1 / 0, [""] = 0, ["  "] = 0, ["1_000"] = 0 / 0, ["12abc"] = 0 / 0,
  ["0x" .. rep("f", 256)] = 1 / 0, ["0x" .. "fffffffffffffb" .. rep("f", 242)] = 1.7976931348623157e308,
  ["0x20000000000001"] = 2 ^ 53, ["0b1" .. rep("0", 1023)] = 2 ^ 1023, ["0b1" .. rep("0", 1024)] = 1 / 0,
  ["0." .. rep("0", 500) .. "1e501"] = 1,
  ["1e99999999999999999999"] = 1 / 0, ["-1e-400"] = -0.0, ["\226\128\168-12.5e1\239\187\191"] = -125,
}

------------------------------------------------------------------------------------------------
-- dates ClickHouse reads, in many layouts
------------------------------------------------------------------------------------------------

local MONTHS = { "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
  "November", "December" }
local WEEKDAYS = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" }
local SPACES = { "", "", " ", "\t", "\n", "\194\160", "\226\128\168", "\227\128\128", "\239\187\191" }

local function days(y, m)
  if m == 2 then return (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) and 29 or 28 end
  return ({ 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 })[m]
end

local function case_of(random, word)
  local k = random(3)
  return k == 1 and word:upper() or k == 2 and word:lower() or word
end

--- A date written in one of the layouts ClickHouse's best-effort parser reads (random: math.random).
function model.generated_date(random)
  local y, m = random(1900, 2099), random(1, 12)
  local d, H, M, S = random(1, days(y, m)), random(0, 23), random(0, 59), random(0, 59)
  local mon = case_of(random, MONTHS[m]:sub(1, random(3, #MONTHS[m])))
  local time = fmt("%02d:%02d:%02d", H, M, S) .. (random(2) == 1 and "." .. rep("7", random(1, 9)) or "")
  local zone = ({ "", "Z", "+03:00", "-0100", " UTC", " GMT", "+5", " MSK", "+0530" })[random(9)]
  local layouts = {
    fmt("%04d-%02d-%02d", y, m, d) .. ({ " ", "T" })[random(2)] .. time .. zone,
    fmt("%04d/%02d/%02d", y, m, d),
    fmt("%04d-%d-%d", y, m, d) .. zone,
    fmt("%02d.%02d.%04d %02d:%02d", d, m, y, H, M),
    fmt("%d-%s-%02d", d, mon, y % 100),
    fmt("%d", random(1000000000, 2147483647)) .. (random(2) == 1 and "." .. random(0, 999999) or ""),
    fmt("%d%03d", random(1000000000, 2147483647), random(0, 999)),
    fmt("%04d%02d%02d", y, m, d) .. (random(2) == 1 and fmt("%02d%02d%02d", H, M, S) or ""),
    fmt("%s, %02d %s %04d %s GMT", WEEKDAYS[random(7)], d, mon, y, time),
    fmt("%s %d, %04d", mon, d, y),
    fmt("%04d-%02d", y, m),
    time,
    fmt("%04d-%02d-%02d %02d:%02d:%02d %s", y, m, d, random(1, 12), M, S, case_of(random, ({ "AM", "PM" })[random(2)])),
  }
  return SPACES[random(#SPACES)] .. layouts[random(#layouts)] .. SPACES[random(#SPACES)]
end

------------------------------------------------------------------------------------------------
-- generated events, and PostHog's verdicts on them from the model
------------------------------------------------------------------------------------------------

-- Values with Node's facts: JSON text; kind; String(v); Number(v.trim()) for strings and numbers
-- (as JS prints it); isValidClickHouseDateTime(v); and whether capture delivers the number
-- exactly (false: only "the edge is never stricter" is asserted).
local VALUES = {}
local function value(json, kind, str, num, dt, inexact)
  VALUES[#VALUES + 1] = { json = json, kind = kind, str = str, num = num, dt = dt, inexact = inexact }
end
for _, f in ipairs {
  { "active", "NaN", false }, { "42", "42", false }, { "1e3", "1000", false }, { " 5 ", "5", true },
  { "0x10", "16", false }, { "", "0", false }, { "   ", "0", false }, { "Infinity", "Infinity", false },
  { "NaN", "NaN", false }, { "true", "NaN", false }, { "TRUE", "NaN", false }, { "2021-01-01", "NaN", true },
  { "2021-01-01T00:00:00Z", "NaN", true }, { "17.0", "17", true }, { "-0", "0", false }, { "100", "100", false },
  { "99.5", "99.5", false }, { "1,5", "NaN", true }, { "\194\16042\194\160", "42", false }, { "0b101", "5", false },
  { "+7", "7", false }, { ".5", "0.5", false }, { "1e400", "Infinity", false }, { "3.14", "3.14", true },
  { "[object Object]", "NaN", false }, { "1,2", "NaN", true }, { "1e21", "1e+21", false }, { "-0x10", "NaN", false },
  { "  -12.5e1 ", "-125", false }, { "24/DEC/2018", "NaN", true }, { "2020-02-30", "NaN", false },
  { "\195\169", "NaN", false }, { "100.5", "100.5", false }, { "-1", "-1", false }, { "0.5", "0.5", true },
} do value('"' .. f[1] .. '"', "string", f[1], f[2], f[3]) end
for _, f in ipairs {
  { "17.0", "17" }, { "1E2", "100" }, { "-0", "0" }, { "42", "42" }, { "3.14", "3.14" }, { "1e21", "1e+21" },
  { "1e-7", "1e-7" }, { "101", "101" }, { "0.1", "0.1" }, { "50", "50" }, { "100.5", "100.5" }, { "2.50e1", "25" },
  { "-1", "-1" }, { "0.5", "0.5" }, { "1e400", "Infinity", true }, { "-1e400", "-Infinity", true },
  { "0.30000000000000004", "0.30000000000000004", true },
} do value(f[1], "number", f[2], f[2], true, f[3]) end
value("true", "boolean", "true")
value("false", "boolean", "false")
value("null", "null")
for _, f in ipairs { { '{"x":1}', "[object Object]" }, { "{}", "[object Object]" } } do value(f[1], "object", f[2]) end
for _, f in ipairs { { "[]", "" }, { "[1,2]", "1,2" }, { '["a"]', "a" }, { "[null]", "" }, { "[42]", "42" },
  { '[1e21,"x",[2,3]]', "1e+21,x,2,3" } } do value(f[1], "array", f[2]) end

local NAMES = { "a", "b", "constructor", "__proto__" }
local INHERITED = { constructor = { kind = "function", str = "function Object() { [native code] }" },
  __proto__ = { kind = "object", str = "[object Object]" } }
local TYPES = { "String", "Numeric", "Boolean", "DateTime", "Object", "Duration", "Numeric" }
local ENUM_ITEMS = { "active", "42", "17", "100", "true", "[object Object]", "1,2", "", "1e+21", "0.5", 42 }
local BOUNDS = { 0, 1, 42, 100, 0.5, 1e21, -1, 99.5, "5", "abc" }

local function rules(random)
  local k = random(9)
  if k <= 3 then return nil end
  if k == 4 then return {} end
  local function list()
    local t = {}
    for i = 1, random(3) do t[i] = ENUM_ITEMS[random(#ENUM_ITEMS)] end
    return t
  end
  if k == 5 then return { enum = list() } end
  if k == 6 then return { ["not"] = { enum = list() } } end
  local r = {}
  for _, key in ipairs { "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum" } do
    if random(3) == 1 then r[key] = BOUNDS[random(#BOUNDS)] end
  end
  if next(r) == nil then r.minimum = BOUNDS[random(#BOUNDS)] end
  return r
end

--- Random property groups and properties JSON text, whether every value of it reaches PostHog
-- exactly, and the value PostHog reads for each name (the last of repeated keys).
function model.random_event(random)
  local groups = {}
  for g = 1, random(3) do
    local props = {}
    for _, name in ipairs(NAMES) do
      if random(2) == 1 then
        props[#props + 1] = { name = name, property_type = TYPES[random(#TYPES)], is_required = random(4) ~= 1,
          validation_rules = rules(random) }
      end
    end
    groups[g] = { properties = props }
  end
  local parts, values, exact = {}, {}, true
  for _ = 1, random(0, 5) do
    local name, v = NAMES[random(#NAMES)], VALUES[random(#VALUES)]
    parts[#parts + 1] = '"' .. name .. '":' .. v.json
    values[name] = v
    if v.inexact then exact = false end
  end
  return groups, "{" .. table.concat(parts, ",") .. "}", exact, values
end

local function number_of(js_string)
  if js_string == nil then return nil end
  if js_string == "Infinity" then return 1 / 0 end
  if js_string == "-Infinity" then return -1 / 0 end
  return tonumber(js_string) or 0 / 0
end

local function finite(x) return x ~= nil and x == x and x ~= 1 / 0 and x ~= -1 / 0 end

-- canCoerceToType
local function coerces(v, t)
  if t == "String" then return true end
  if t == "Numeric" then
    if v.kind == "number" then return finite(number_of(v.num)) end
    return v.kind == "string" and v.str:match("^ *$") == nil and finite(number_of(v.num)) -- trim() ~= ""
  end
  if t == "Boolean" then
    return v.kind == "boolean" or (v.kind == "string" and (v.str == "true" or v.str == "false"))
  end
  if t == "DateTime" then return v.kind == "number" or (v.kind == "string" and v.dt == true) end
  if t == "Object" then return v.kind == "object" or v.kind == "array" end
  return true
end

local function contains(list, s)
  for _, x in ipairs(list) do if x == s then return true end end
  return false
end

local function bound(b)
  if type(b) == "string" then return b == "5" and 5 or 0 / 0 end
  return b
end

-- validatePropertyValue: whether one of the rule sets takes v
local function passes(v, sets)
  for _, r in ipairs(sets) do
    if r.enum then
      if contains(r.enum, v.str) then return true end
    elseif r["not"] and r["not"].enum then
      if not contains(r["not"].enum, v.str) then return true end
    elseif r.minimum or r.exclusiveMinimum or r.maximum or r.exclusiveMaximum then
      local n = (v.kind == "number" or v.kind == "string") and number_of(v.num) or nil
      if finite(n) and not (r.minimum and n < bound(r.minimum))
        and not (r.exclusiveMinimum and n <= bound(r.exclusiveMinimum))
        and not (r.maximum and n > bound(r.maximum))
        and not (r.exclusiveMaximum and n >= bound(r.exclusiveMaximum)) then
        return true
      end
    else
      return true
    end
  end
  return false
end

--- PostHog's errors ("name:reason …") for the groups and the values by name (random_event's):
-- types and rule sets from the rows that require a property; the rule sets of rows where it is
-- optional join as alternatives when required rows have some (as the edge does).
function model.verdict(groups, values)
  local types, sets, optional, names = {}, {}, {}, {}
  for _, g in ipairs(groups) do
    for _, p in ipairs(g.properties) do
      if p.is_required then
        if not types[p.name] then types[p.name], sets[p.name], names[#names + 1] = {}, {}, p.name end
        types[p.name][p.property_type] = true
        if p.validation_rules then table.insert(sets[p.name], p.validation_rules) end
      elseif p.validation_rules then
        optional[p.name] = optional[p.name] or {}
        table.insert(optional[p.name], p.validation_rules)
      end
    end
  end
  table.sort(names)
  local out = {}
  for _, name in ipairs(names) do
    local v = values[name] or INHERITED[name]
    local reason
    if v == nil or v.kind == "null" then
      reason = "missing_required"
    else
      local ok = false
      for t in pairs(types[name]) do ok = ok or coerces(v, t) end
      if not ok then
        reason = "type_mismatch"
      elseif #sets[name] > 0 then
        for _, r in ipairs(optional[name] or {}) do table.insert(sets[name], r) end
        if not passes(v, sets[name]) then reason = "value_validation_failed" end
      end
    end
    if reason then out[#out + 1] = name .. ":" .. reason end
  end
  return table.concat(out, " ")
end

return model
