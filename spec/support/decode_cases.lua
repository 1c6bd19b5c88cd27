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

-- text -> the decode error's detail: where it is (line and column, in characters), and what a
-- text PostHog's Python could write but UTF-8 cannot hold (an unpaired surrogate escape) is.
cases.errors = {
  ["{} x"] = "decode: parse error: trailing garbage at line 1, column 4",
  ['"a\1"'] = "decode: lexical error: invalid character inside string at line 1, column 3",
  ["[1,]"] = "decode: parse error: unallowed token at this point in JSON text at line 1, column 4",
  ["\239\187\191{}"] = "decode: lexical error: invalid char in json text at line 1, column 1",
  ['{\n  "a": 1,\n  "é": oops\n}'] = "decode: lexical error: invalid char in json text at line 3, column 8",
  ['{"a":1'] = "decode: parse error: premature EOF at line 1, column 7",
  ['"\192\128"'] = "decode: a string that is not valid UTF-8 at line 1, column 1",
  ['{"\237\160\128":1}'] = "decode: a key that is not valid UTF-8 at line 1, column 2",
  ['"\\udc00"'] = "decode: a string with an unpaired surrogate escape (\\udc00) at line 1, column 2",
  ['"\\ud800"'] = "decode: a string with an unpaired surrogate escape (\\ud800) at line 1, column 2",
  ['"?\\ud800\\u0041"'] = "decode: a string with an unpaired surrogate escape (\\ud800) at line 1, column 3",
  ['["ok",\n "\\uD800\\uD800"]'] = "decode: a string with an unpaired surrogate escape (\\uD800) at line 2, column 3",
  ['{"k\\udbff\\\\udc00":1}'] = "decode: a key with an unpaired surrogate escape (\\udbff) at line 1, column 4",
  ["1e400"] = "decode: a number beyond the range of a double",
  [("["):rep(1100) .. ("]"):rep(1100)] = "decode: nested deeper than 100 levels",
  ["[" .. ("["):rep(150) .. ("]"):rep(151)] = "decode: nested deeper than 100 levels",
  ["  "] = "decode: empty input",
}

-- {text, keep_nulls, key, value}: a key that comes again takes its last value, as Python's
-- json (PostHog's) reads it; a last null is an absent key (core.null with keep_nulls).
cases.duplicates = {
  { '{"a":1,"a":2}', false, "a", 2 },
  { '{"a":1,"a":null}', false, "a", nil },
  { '{"a":null,"a":"x"}', false, "a", "x" },
  { '{"a":1,"a":null}', true, "a", "null" },
  { '{"tags":["x"],"tags":[]}', false, "tags", 0 },
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
  assert(core.decode('"\\uDBFF\\uDFFF?"') == "\244\143\191\191?", "the last code point")
  for _, c in ipairs(cases.duplicates) do
    local got = core.decode(c[1], nil, c[2])[c[3]]
    if c[4] == "null" then got = got == core.null and "null" or got end
    if type(got) == "table" then got = #got end
    assert(got == c[4], c[1] .. ": " .. tostring(got))
  end
  for text, detail in pairs(cases.errors) do
    local value, err = core.decode(text)
    assert(value == nil and err.kind == "decode" and err.detail == detail,
      ("%q: %s"):format(text:sub(1, 20), tostring(err and err.detail)))
  end
  return true
end

return cases
