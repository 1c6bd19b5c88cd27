--- JavaScript value semantics that PostHog's ingestion (Node.js) applies to event properties,
-- in pure Lua for Lua 5.1, 5.4 and LuaJIT: String.prototype.trim, Number(string), the Number
-- that JSON.parse makes of a JSON number text, Number::toString, String(value) and
-- JSON.stringify(JSON.parse(text)). Strings are UTF-8 (JSON text unescaped by the edge's core).
local js = {}

local byte, sub, find, format, rep = string.byte, string.sub, string.find, string.format, string.rep
local concat, sort, floor, huge = table.concat, table.sort, math.floor, math.huge
local tonumber, tostring = tonumber, tostring

------------------------------------------------------------------------------------------------
-- trim: WhiteSpace and LineTerminator of ECMAScript (also what Number() skips)
------------------------------------------------------------------------------------------------

-- Length of the white space character starting at byte i of s (0: none).
local function space_at(s, i)
  local b = byte(s, i)
  if b == 32 or (b and b >= 9 and b <= 13) then return 1 end
  if b == 0xC2 then return byte(s, i + 1) == 0xA0 and 2 or 0 end -- U+00A0
  if b == 0xE1 then return (byte(s, i + 1) == 0x9A and byte(s, i + 2) == 0x80) and 3 or 0 end -- U+1680
  if b == 0xE2 then
    local b2, b3 = byte(s, i + 1, i + 2)
    if b2 == 0x80 and b3 and ((b3 >= 0x80 and b3 <= 0x8A) or b3 == 0xA8 or b3 == 0xA9 or b3 == 0xAF) then
      return 3 -- U+2000..U+200A, U+2028, U+2029, U+202F
    end
    return (b2 == 0x81 and b3 == 0x9F) and 3 or 0 -- U+205F
  end
  if b == 0xE3 then return (byte(s, i + 1) == 0x80 and byte(s, i + 2) == 0x80) and 3 or 0 end -- U+3000
  if b == 0xEF then return (byte(s, i + 1) == 0xBB and byte(s, i + 2) == 0xBF) and 3 or 0 end -- U+FEFF
  return 0
end

-- Whether the white space character of length n ends at byte j of s.
local function space_before(s, j)
  local b = byte(s, j)
  if b == nil then return 0 end
  if b < 0x80 then return space_at(s, j) end
  for n = 2, 3 do
    if j - n + 1 >= 1 and space_at(s, j - n + 1) == n then return n end
  end
  return 0
end

--- The bytes i..j of s that s.trim() keeps (j < i when nothing is left).
function js.trim_range(s)
  local i, j = 1, #s
  while i <= j do
    local n = space_at(s, i)
    if n == 0 then break end
    i = i + n
  end
  while j >= i do
    local n = space_before(s, j)
    if n == 0 then break end
    j = j - n
  end
  return i, j
end

------------------------------------------------------------------------------------------------
-- numbers
------------------------------------------------------------------------------------------------

local NAN, LOG2 = 0 / 0, math.log(2)

-- The double nearest to the decimal digits of s from a to b (digits and at most one ".", at
-- least one digit) times 10^exp, correctly rounded, whatever the size of exp.
local function decimal(s, a, b, exp)
  local dot = find(s, ".", a, true)
  if dot and dot > b then dot = nil end
  local int_end = dot and dot - 1 or b
  local first = find(s, "[1-9]", a)
  if not first or first > b then return 0.0 end
  -- value = 0.<digits from first> * 10^point
  local point = (first <= int_end) and (int_end - first + 1) or -(first - (dot + 1))
  local digits = sub(s, first, b):gsub("%.", "")
  if #digits > 800 then -- enough digits to round correctly, and a sticky one for the rest
    digits = sub(digits, 1, 800) .. (find(digits, "[1-9]", 801) and "1" or "")
  end
  point = point + exp
  if point > 400 then return huge end
  if point < -400 then return 0.0 end
  return tonumber("0." .. digits .. "e" .. point) + 0.0
end

-- The value of an integer literal's digits in base 2^bits (radix prefix already removed),
-- rounded to a double as ECMAScript does.
local function radix(digits, bits)
  digits = digits:gsub("^0+", "")
  if digits == "" then return 0.0 end
  if (#digits - 1) * bits >= 1024 then return huge end -- at least 2^1024
  if bits ~= 4 then -- to hexadecimal, through binary
    local out = {}
    for k = 1, #digits do
      local d = byte(digits, k) - 48
      for shift = bits - 1, 0, -1 do out[#out + 1] = floor(d / 2 ^ shift) % 2 end
    end
    local bitstr, hex = rep("0", (4 - #out % 4) % 4) .. concat(out), {}
    for k = 1, #bitstr, 4 do hex[#hex + 1] = format("%x", tonumber(sub(bitstr, k, k + 3), 2)) end
    digits = concat(hex)
  end
  return tonumber("0x" .. digits .. "p0") + 0.0
end

--- Number(s) for a string s (NaN when s is not a StringNumericLiteral; 0 when blank).
function js.to_number(s)
  local i, j = js.trim_range(s)
  if j < i then return 0.0 end
  local b1, b2 = byte(s, i, i + 1)
  if b1 == 48 and b2 and j >= i + 2 then
    local p = ((b2 == 120 or b2 == 88) and "x") or ((b2 == 111 or b2 == 79) and "o") or ((b2 == 98 or b2 == 66) and "b")
    local class = p == "x" and "^%x+$" or p == "o" and "^[0-7]+$" or p == "b" and "^[01]+$"
    if class then
      local digits = sub(s, i + 2, j)
      if not find(digits, class) then return NAN end
      return radix(digits, p == "x" and 4 or p == "o" and 3 or 1)
    end
  end
  local sign = 1.0
  if b1 == 43 or b1 == 45 then
    if b1 == 45 then sign = -1.0 end
    i = i + 1
  end
  if j - i == 7 and sub(s, i, j) == "Infinity" then return sign * huge end
  local _, m_end = find(s, "^%d*%.?%d*", i)
  if m_end > j then m_end = j end
  if not find(sub(s, i, m_end), "%d") then return NAN end
  local exp = 0
  if m_end < j then
    local e_digits = sub(s, m_end + 1, j):match("^[eE]([+-]?%d+)$")
    if not e_digits then return NAN end
    exp = tonumber((e_digits:gsub("^([+-]?)0*(%d)", "%1%2"):sub(1, 12))) or 0
  end
  return sign * decimal(s, i, m_end, exp)
end

--- The double JSON.parse makes of a JSON number text, and whether PostHog gets exactly that
-- double: capture (serde_json without float_roundtrip) re-serializes the event, and its parse
-- is exact only for integers that fit 64 bits (i64, or u64 when positive) and decimals of at
-- most 2^53 with a power of ten up to 22 (one correctly rounded operation); other values may
-- differ by a few ulps.
function js.json_number(text)
  local x = js.to_number(text)
  local _, int_end, digits = find(text, "^-?(%d+)")
  if int_end == #text then -- serde_json keeps an integer of 64 bits exactly
    local limit = byte(text, 1) == 45 and "9223372036854775808" or "18446744073709551615"
    return x, #digits < #limit or (#digits == #limit and digits <= limit)
  end
  local frac = text:match("^%.(%d+)", int_end + 1) or ""
  local exp = tonumber(text:match("[eE]([+-]?%d+)$") or "0") or huge
  local sig = (digits .. frac):gsub("^0+", "")
  if sig == "" then return x, true end
  local small = #sig < 16 or (#sig == 16 and sig <= "9007199254740992")
  local e = exp - #frac
  return x, small and e >= -22 and e <= 22
end

-- Whether x (finite, > 0) is a normal power of two (its lower neighbour is nearer than its upper).
local function power_of_two(x)
  local e = floor(math.log(x) / LOG2)
  return x == 2 ^ (e - 1) or x == 2 ^ e or x == 2 ^ (e + 1)
end

-- The digit string one unit (in its last place) above digits, and its decimal exponent.
local function increment(digits, exp)
  local k = #digits
  while k >= 1 and byte(digits, k) == 57 do k = k - 1 end
  if k == 0 then return "1" .. rep("0", #digits - 1), exp + 1 end
  return sub(digits, 1, k - 1) .. string.char(byte(digits, k) + 1) .. rep("0", #digits - k), exp
end

-- The first p of the exact digits of a number rounded half to even (JavaScript's rule; LuaJIT's
-- own formatting rounds ties away from zero), and the decimal exponent of the first digit.
local function round_digits(exact, p, exp)
  local head, next_digit = sub(exact, 1, p), byte(exact, p + 1) - 48
  local up = next_digit > 5
  if next_digit == 5 then up = find(exact, "[1-9]", p + 2) ~= nil or (byte(head, p) - 48) % 2 == 1 end
  if up then return increment(head, exp) end
  return head, exp
end

local function reads_as(digits, exp, x)
  return tonumber(sub(digits, 1, 1) .. "." .. sub(digits, 2) .. "e" .. exp) == x
end

--- Number::toString(x): the shortest digits that read back as x, formatted as JavaScript does.
function js.number_to_string(x)
  if x ~= x then return "NaN" end
  if x == huge then return "Infinity" end
  if x == -huge then return "-Infinity" end
  if x == 0 then return "0" end
  local sign = ""
  if x < 0 then sign, x = "-", -x end
  local first, rest, e = format("%.99e", x):match("^(%d)%.(%d+)e([+-]%d+)$") -- 100 exact digits
  local exact, digits, exp = first .. rest, nil, nil
  for p = 1, 17 do -- the shortest digits that read back as x, the nearest of them
    digits, exp = round_digits(exact, p, tonumber(e))
    if reads_as(digits, exp, x) then break end
    if p < 17 and power_of_two(x) then
      local up_digits, up_exp = increment(digits, exp)
      if reads_as(up_digits, up_exp, x) then
        digits, exp = up_digits, up_exp
        break
      end
    end
  end
  digits = digits:gsub("0+$", "")
  local k, n = #digits, exp + 1 -- x = 0.digits * 10^n
  if k <= n and n <= 21 then return sign .. digits .. rep("0", n - k) end
  if 0 < n and n <= 21 then return sign .. sub(digits, 1, n) .. "." .. sub(digits, n + 1) end
  if -6 < n and n <= 0 then return sign .. "0." .. rep("0", -n) .. digits end
  local exponent = (n - 1 >= 0 and "+" or "-") .. tostring(n - 1 >= 0 and n - 1 or 1 - n)
  if k == 1 then return sign .. digits .. "e" .. exponent end
  return sign .. sub(digits, 1, 1) .. "." .. sub(digits, 2) .. "e" .. exponent
end

------------------------------------------------------------------------------------------------
-- JSON values as JavaScript sees them (for arrays and objects, given as valid JSON text)
------------------------------------------------------------------------------------------------

local NULL = {} -- JSON null inside an array or object
local OBJECT_MT, ARRAY_MT = {}, {}
local inexact -- set while reading when a number of the text may reach PostHog a few ulps away

-- UTF-8 of code point (or lone surrogate) c.
local function utf8_char(c)
  if c < 0x80 then return string.char(c) end
  if c < 0x800 then return string.char(0xC0 + floor(c / 64), 0x80 + c % 64) end
  if c < 0x10000 then
    return string.char(0xE0 + floor(c / 4096), 0x80 + floor(c / 64) % 64, 0x80 + c % 64)
  end
  return string.char(0xF0 + floor(c / 262144), 0x80 + floor(c / 4096) % 64, 0x80 + floor(c / 64) % 64,
    0x80 + c % 64)
end

local ESCAPED = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/" }

-- The string literal of text whose opening quote is at byte i: its value and the byte after it.
local function read_string(text, i)
  local parts, k = {}, i + 1
  while true do
    local stop = find(text, '["\\]', k)
    parts[#parts + 1] = sub(text, k, stop - 1)
    if byte(text, stop) == 34 then return concat(parts), stop + 1 end
    local e = sub(text, stop + 1, stop + 1)
    if e == "u" then
      local c = tonumber(sub(text, stop + 2, stop + 5), 16)
      k = stop + 6
      if c >= 0xD800 and c < 0xDC00 and sub(text, k, k + 1) == "\\u" then
        local low = tonumber(sub(text, k + 2, k + 5), 16)
        if low >= 0xDC00 and low < 0xE000 then
          c, k = 0x10000 + (c - 0xD800) * 1024 + (low - 0xDC00), k + 6
        end
      end
      parts[#parts + 1] = utf8_char(c)
    else
      parts[#parts + 1], k = ESCAPED[e], stop + 2
    end
  end
end

-- The value of the JSON text at byte i (after white space): the value and the byte after it.
local function read_value(text, i)
  i = find(text, "[^ \t\n\r]", i)
  local b = byte(text, i)
  if b == 34 then return read_string(text, i) end
  if b == 123 or b == 91 then
    local object, t, n = b == 123, {}, 0
    local keys, at = object and {} or nil, object and {} or nil
    i = find(text, "[^ \t\n\r]", i + 1)
    if byte(text, i) == (object and 125 or 93) then
      return setmetatable(object and { keys = keys, values = t } or { n = 0 }, object and OBJECT_MT or ARRAY_MT), i + 1
    end
    while true do
      local key, v
      if object then
        key, i = read_string(text, find(text, '"', i, true))
        i = find(text, ":", i, true) + 1
      end
      v, i = read_value(text, i)
      if object then
        if not at[key] then keys[#keys + 1], at[key] = key, true end
        t[key] = v
      else
        n = n + 1
        t[n] = v
      end
      i = find(text, "[,%]}]", i)
      if byte(text, i) ~= 44 then break end
      i = i + 1
    end
    if object then return setmetatable({ keys = keys, values = t }, OBJECT_MT), i + 1 end
    t.n = n
    return setmetatable(t, ARRAY_MT), i + 1
  end
  if b == 116 then return true, i + 4 end
  if b == 102 then return false, i + 5 end
  if b == 110 then return NULL, i + 4 end
  local _, last = find(text, "^-?%d+%.?%d*[eE]?[+-]?%d*", i)
  local x, exact = js.json_number(sub(text, i, last))
  if not exact then inexact = true end
  return x, last + 1
end

-- Whether key is an array index (such keys come first, in numeric order, in a JS object).
local function index_key(key)
  return (key == "0" or find(key, "^[1-9]%d*$") ~= nil) and #key <= 10 and tonumber(key) < 4294967295
end

local function numeric_order(a, b) return tonumber(a) < tonumber(b) end

-- The keys of an object in JavaScript's order: array indexes ascending, then the others in the
-- order they first appeared.
local function ordered_keys(keys)
  local indexes, others = {}, {}
  for k = 1, #keys do
    local list = index_key(keys[k]) and indexes or others
    list[#list + 1] = keys[k]
  end
  if #indexes == 0 then return keys end
  sort(indexes, numeric_order)
  for k = 1, #others do indexes[#indexes + 1] = others[k] end
  return indexes
end

-- Escapes of JSON.stringify: quote, backslash, C0 controls, lone surrogates.
local SHORT = {
  ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ['"'] = '\\"', ["\\"] = "\\\\",
}
local function escape_char(c)
  if c == "\127" then return c end
  return SHORT[c] or format("\\u%04x", byte(c))
end
local function escape_surrogate(c)
  local b1, b2, b3 = byte(c, 1, 3)
  return format("\\u%04x", (b1 - 0xE0) * 4096 + (b2 - 0x80) * 64 + (b3 - 0x80))
end

--- s as a JSON string literal, escaped as JSON.stringify escapes it.
function js.quote(s)
  s = s:gsub('[%c"\\]', escape_char)
  return '"' .. s:gsub("\237[\160-\191][\128-\191]", escape_surrogate) .. '"'
end

local function stringify(v, out)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = js.quote(v)
  elseif t == "number" then
    out[#out + 1] = (v == v and v ~= huge and v ~= -huge) and js.number_to_string(v) or "null"
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif v == NULL then
    out[#out + 1] = "null"
  elseif getmetatable(v) == ARRAY_MT then
    out[#out + 1] = "["
    for k = 1, v.n do
      if k > 1 then out[#out + 1] = "," end
      stringify(v[k], out)
    end
    out[#out + 1] = "]"
  else
    local keys = ordered_keys(v.keys)
    out[#out + 1] = "{"
    for k = 1, #keys do
      if k > 1 then out[#out + 1] = "," end
      out[#out + 1] = js.quote(keys[k]) .. ":"
      stringify(v.values[keys[k]], out)
    end
    out[#out + 1] = "}"
  end
  return out
end

-- String(v) of a value read by read_value.
local function to_string(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return js.number_to_string(v) end
  if t == "boolean" then return tostring(v) end
  if v == NULL then return "" end
  if getmetatable(v) == OBJECT_MT then return "[object Object]" end
  local parts = {}
  for k = 1, v.n do parts[k] = v[k] == NULL and "" or to_string(v[k]) end
  return concat(parts, ",")
end

--- String(value) of a property as the edge's core gives it (kind: "string", "number" (JSON
-- text), "boolean", "object" / "array" (JSON text)); and false when PostHog's value may differ
-- (a number that capture's re-serialization may move by a few ulps).
function js.string_of(kind, value)
  if kind == "string" then return value, true end
  if kind == "boolean" then return tostring(value), true end
  if kind == "number" then
    local x, exact = js.json_number(value)
    return js.number_to_string(x), exact
  end
  if kind == "object" then return "[object Object]", true end
  inexact = false
  local ok, v = pcall(read_value, value, 1) -- nested deeper than Lua's stack: unsure
  if not ok then return value, false end
  return to_string(v), not inexact
end

--- JSON.stringify(JSON.parse(text)) of an object's or array's JSON text (the text itself when
-- it nests too deep to read here).
function js.stringify(text)
  local ok, v = pcall(read_value, text, 1)
  if not ok then return text end
  return concat(stringify(v, {}))
end

return js
