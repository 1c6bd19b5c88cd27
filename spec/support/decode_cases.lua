--- spec/support/decode_cases.lua: texts that simdjson refuses or reads differently from a naive
-- parser, with what core.decode must answer for each whichever parser read them (spec/01 runs
-- them with the simdjson module registered and, in a child process, with the core alone).
local cases = {}

local has_integers = math.type ~= nil

-- {text, value, math.type} of numbers.
cases.numbers = {
  { "-0", 0, "integer" },
  { "-0.0", 0, "float" },
  { "9223372036854775807", 9223372036854775807, "integer" },
  { "9223372036854775808", 9223372036854775808.0, "float" }, -- uint64 for simdjson
  { "18446744073709551615", 18446744073709551615.0, "float" },
  { "18446744073709551616", 18446744073709551616.0, "float" }, -- beyond simdjson
  { "123456789012345678901234567890", 1.2345678901234568e29, "float" },
  { "-9223372036854775809", -9223372036854775809.0, "float" },
  { "1E2", 100, "float" },
  { "1e-400", 0, "float" },
}

-- text -> the decode error's detail.
cases.errors = {
  ["{} x"] = "decode: parse error: trailing garbage at byte 4",
  ['"a\1"'] = "decode: lexical error: invalid character inside string at byte 2",
  ["[1,]"] = "decode: parse error: unallowed token at this point in JSON text at byte 4",
  ["\239\187\191{}"] = "decode: lexical error: invalid char in json text at byte 1",
  ['"\192\128"'] = "decode: a string that is not valid UTF-8",
  ['{"\237\160\128":1}'] = "decode: a key that is not valid UTF-8",
  ['"\\udc00"'] = "decode: a string that is not valid UTF-8",
  ["1e400"] = "decode: a number beyond the range of a double",
  [("["):rep(1100) .. ("]"):rep(1100)] = "decode: nested deeper than 100 levels",
  ["[" .. ("["):rep(150) .. ("]"):rep(151)] = "decode: nested deeper than 100 levels",
  ["  "] = "decode: empty input",
}

--- Raises with the first case core.decode answers otherwise; true when all pass.
function cases.check(core)
  for _, c in ipairs(cases.numbers) do
    local text, value, kind = c[1], c[2], c[3]
    local v = core.decode(text)
    assert(v == value, text .. ": " .. tostring(v))
    assert(not has_integers or math.type(v) == kind, text .. ": not " .. kind)
  end
  local v = core.decode("\f{}\v")
  assert(type(v) == "table" and next(v) == nil, "\\f{}\\v")
  assert(core.decode('"a\\u0000b\\ud83d\\ude00"') == "a\0b\240\159\152\128", "escapes")
  for text, detail in pairs(cases.errors) do
    local value, err = core.decode(text)
    assert(value == nil and err.kind == "decode" and err.detail == detail,
      ("%q: %s"):format(text:sub(1, 20), tostring(err and err.detail)))
  end
  return true
end

return cases
