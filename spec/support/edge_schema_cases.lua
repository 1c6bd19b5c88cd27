--- spec/support/edge_schema_cases.lua: the cases of spec/64-edge_schema_spec.lua: PostHog's own
-- test cases with its verdicts (sources named there), facts printed by Node, a generator of
-- dates in layouts ClickHouse reads, and a model of PostHog's validation code working on
-- Node's facts about each generated value, for the property-based comparison.
local cases = {}

local HELLO_OBJECT, LIST = '{"foo":"bar"}', "[1,2,3]"

-- validate-event-schema.test.ts: {schema (types by name), rules (rule sets by name), properties
-- JSON text (nil: undefined), the errors PostHog reports ("name:reason …", "" when valid)}.
-- NaN cannot be written in JSON; Infinity arrives as a JSON number too large for a double.
local P = {}
local function case(types, rules, props, expect)
  P[#P + 1] = { schema = types, rules = rules, props = props, expect = expect }
end
local function each(types, values, expect, rules)
  for _, v in ipairs(values) do
    case(types, rules, v == "undefined" and "{}" or '{"prop":' .. v .. "}", expect)
  end
end
local R = { prop = { "String" } }
each({ required_prop = { "String" } }, { "undefined" }, "required_prop:missing_required")
case({ required_prop = { "String" } }, nil, '{"required_prop":null}', "required_prop:missing_required")
case({ required_prop = { "String" } }, nil, nil, "required_prop:missing_required")
case({ field1 = { "String" }, field2 = { "Numeric" }, field3 = { "Boolean" } }, nil, "{}",
  "field1:missing_required field2:missing_required field3:missing_required")
each(R, { '"hello"', "42", "true", HELLO_OBJECT, LIST }, "")
each({ prop = { "Numeric" } }, { "42", "3.14", "-10", "0", '"42"', '"-10"', '"3.14"' }, "")
each({ prop = { "Numeric" } }, { '"hello"', '""', '"   "', HELLO_OBJECT, LIST, "true", "false", "1e400", "-1e400",
  '"Infinity"', '"-Infinity"', '"NaN"' }, "prop:type_mismatch")
each({ prop = { "Boolean" } }, { "true", "false", '"true"', '"false"' }, "")
each({ prop = { "Boolean" } }, { "1", "0", '"yes"', '"no"', '"TRUE"', '"FALSE"', '"True"', '"False"', "{}", "[]" },
  "prop:type_mismatch")
each({ prop = { "DateTime" } }, { "1609459200", '"2021-01-01T00:00:00Z"', '"2021-01-01T00:00:00+00:00"',
  '"2021-01-01"' }, "")
each({ prop = { "DateTime" } }, { '"not-a-date"', "{}", "[]", "true" }, "prop:type_mismatch")
each({ prop = { "Object" } }, { HELLO_OBJECT, "{}", LIST, "[]" }, "")
each({ prop = { "Object" } }, { '"hello"', "42", "true" }, "prop:type_mismatch")
case({ name = { "String" }, age = { "Numeric" } }, nil, '{"name":"alice","age":30}', "")
case({ name = { "String" }, age = { "Numeric" } }, nil, '{"name":"alice","age":"not-a-number"}', "age:type_mismatch")
each({ prop = { "String", "Numeric" } }, { '"hello"', "42" }, "")
each({ prop = { "Numeric", "Boolean" } }, { '{"nested":true}' }, "prop:type_mismatch")
each({ prop = { "UnknownType" } }, { '"anything"' }, "")
each({ prop = { "Any" } }, { '"hello"', "42", "true", HELLO_OBJECT, LIST }, "") -- the PR's 'Any'
each({ prop = { "Any" } }, { "undefined" }, "prop:missing_required")
local function rule(types, rules, value, ok)
  local name = types[1] == "String" and "status" or "amount"
  case({ [name] = types }, { [name] = { rules } }, ('{"%s":%s}'):format(name, value),
    ok and "" or name .. ":value_validation_failed")
end
local AP, NOT = { enum = { "active", "pending" } }, { ["not"] = { enum = { "test", "debug" } } }
rule({ "String" }, AP, '"active"', true)
rule({ "String" }, AP, '"pending"', true)
rule({ "String" }, AP, '"cancelled"', false)
rule({ "String" }, NOT, '"valid"', true)
rule({ "String" }, NOT, '"test"', false)
rule({ "String" }, { enum = { "42", "hello" } }, "42", true)
for _, c in ipairs {
  { { minimum = 0 }, "0", true }, { { minimum = 0 }, "-1", false }, { { exclusiveMinimum = 0 }, "1", true },
  { { exclusiveMinimum = 0 }, "0", false }, { { maximum = 100 }, "100", true }, { { maximum = 100 }, "101", false },
  { { exclusiveMaximum = 100 }, "99", true }, { { exclusiveMaximum = 100 }, "100", false },
  { { minimum = 0, maximum = 100 }, "50", true }, { { minimum = 0, maximum = 100 }, "-1", false },
  { { minimum = 0, maximum = 100 }, "101", false }, { { minimum = 0, exclusiveMaximum = 100 }, "50", true },
  { { minimum = 0, exclusiveMaximum = 100 }, "100", false }, { { minimum = 0, maximum = 100 }, '"50"', true },
  { { minimum = 0, maximum = 100 }, '"150"', false },
} do rule({ "Numeric" }, c[1], c[2], c[3]) end
local OR = { status = { AP, { enum = { "cancelled", "archived" } } } }
case({ status = { "String" } }, OR, '{"status":"active"}', "")
case({ status = { "String" } }, OR, '{"status":"cancelled"}', "")
case({ status = { "String" } }, OR, '{"status":"unknown"}', "status:value_validation_failed")
case({}, nil, '{"prop":"value"}', "") -- no enforced schema
cases.posthog = P

-- clickhouse-datetime-parser.test.ts @5a75b3c: strings isValidClickHouseDateTime takes / refuses.
local function lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end
cases.datetime_valid = lines [[
2000-01-01 00:00:00
2000-01-01 01:00:00
02/01/17 010203 MSK
02/01/17 010203 MSK+0100
02/01/17 010203 UTC+0300
02/01/17 010203Z
02/01/1970 010203Z
02/01/70 010203Z
11 Feb 2018 06:40:50 +0300
17 Apr 2000 2 1:2:3
1970/01/02 010203Z
19700102 01:00:00
19700102010203
19700102010203Z
20 2000
2016-01-01
2016-01-01 MSD
2016-01-01MSD
2016-01-01UTC
2016-01-01Z
201601-01
201601-01 MSD
20160101
2017
2017 25 Apr 1:2:3
2017 Apr 01 11:22:33
2017 Apr 02 010203 UTC+0300
2017 Apr 02 01:2:3 UTC+0300
2017 Apr 02 1:02:3
2017 Apr 02 1:2:03
2017 Apr 02 1:2:3
2017 Apr 02 1:2:3 MSK
2017 Apr 02 1:2:3 UTC+0000
2017 Apr 02 1:2:3 UTC+0300
2017 Apr 02 1:2:3 UTC+0400
2017 Apr 02 1:2:33
2017 Apr 02 1:22:33
2017 Apr 02 11:22:33
2017 Apr 2 1:2:3
2017 Jan 02 010203 UTC+0300
2017-01 03:04 MSD Jun
2017-01 03:04:05 MSD Jun
2017-01 MSD Jun
2017-01-02 03:04:05
2017-01-02 03:04:05 -0100
2017-01-02 03:04:05 MSD
2017-01-02 03:04:05 MSD Feb
2017-01-02 03:04:05 MSD Jun
2017-01-02 03:04:05 MSK
2017-01-02 03:04:05+0
2017-01-02 03:04:05+00
2017-01-02 03:04:05+0000
2017-01-02 03:04:05+030
2017-01-02 03:04:05+0300
2017-01-02 03:04:05+1
2017-01-02 03:04:05+300
2017-01-02 03:04:05+900
2017-01-02 03:04:05GMT
2017-01-02T03:04:05
2017-01-02T03:04:05 -0100
2017-01-02T03:04:05+00
2017-01-02T03:04:05+0100
2017-01-02T03:04:05-0100
2017-01-02T03:04:05Z
2017/01/00
2017/01/00 MSD
2017/01/00 MSD Jun
2017/01/01
2017/01/31
201701 02 010203 UTC+0300
201701 MSD Jun
25 Apr 2017 01:02:03
25 Apr 2017 1:2:3
25 Jan 2017 1:2:3
25 Jan 2017 1:2:3 MSK
25 Jan 2017 1:2:3 PM
25 Jan 2017 1:2:3 Z
25 Jan 2017 1:2:3 Z +03:00 PM
25 Jan 2017 1:2:3 Z +0300
25 Jan 2017 1:2:3 Z +0300 PM
25 Jan 2017 1:2:3 Z +03:30 PM
25 Jan 2017 1:2:3 Z PM
25 Jan 2017 1:2:3 Z PM +03:00
25 Jan 2017 1:2:3 Z+03:00
25 Jan 2017 1:2:3 Z+03:00 PM
25 Jan 2017 1:2:3Z
25 Jan 2017 1:2:3Z Mon
25 Jan 2017 1:2:3Z PM
Sun 11 Feb 2018 06:40:50 +0300
Sun, 11 Feb 2018 06:40:50 +0300
24.12.2018
24-12-2018
24.12.18
24-12-18
24-Dec-18
24/DEC/18
24/DEC/2018
01-OCT-2015
24.12.18 010203
24.12.18 01:02:03
24.DEC.18T01:02:03.000+0300
01-September-2018 11:22
Thu, 18 Aug 2018 07:22:16 GMT
Tue, 16 Aug 2018 07:22:16 GMT
2020-05-14T03:37:03.253184Z
2020-05-14T03:37:03.253184
2020-05-14T03:37:03
2020-05-14 03:37:03
1640649600123
1596752940
100000000
20200807
2020-05-14 11:37:03 AM
2020-05-14 11:37:03 PM
2020-05-14 12:37:03 AM
2020-05-14 12:37:03 PM
Dec 15, 2021
2010-01-01
2010-01-01 01:01:01
2020-01-01 11:01:01 am
2020-01-01 11:01:01 pm
2020-01-01 12:01:01 am
2020-01-01 12:01:01 pm
2000-01-01 01:01:01
15-JUL-16
20220101-010203
20220101+010203
20220101 010203
20220101T010203
20220101T01:02
20220101-0102
20220101+0102
20220101-010203-01
20220101-010203+0100
20220101-010203-01:00
01/12/2017, 18:31:44
01/12/2017,18:31:44
01/12/2017 ,   18:31:44
01/12/2017    ,18:31:44
18:31:44, 31/12/2015
18:31:44  , 31/12/2015
1969-01-01
1969-01-01 10:42:00
1744042005.1
1744042005.123456789
174404200.1
174404200.123456789
1969-01-01 00:00:00.468
1969-07-20 20:17:40.123456
1950-01-01 00:00:00.500
1969-12-31 23:59:59.999
1970-01-01 00:00:00.000
1640649600
20240115
20240115143022
15.01.2024
15-01-2024
2020-05-14T03:37:03Z
20200514
20200514033703
25 Jan 2017 12:4:5 PM
25 Jan 2017 12:4:5 AM
2020-02-29
24/12/2018
]]
cases.datetime_invalid = lines [[
0
0000
201
2017/01/32
1970010201:00:00
2017-01-0203:04:05
2017 25 1:2:3
2017 Apr 02 1:2:3 MSK 2017
2017 Apr 02 1:2:3 MSK 2018
25 Jan 2017 1:2:3 Z +0300 OM
25 Jan 2017 1:2:3Z Mo
25 Jan 2017 1:2:3Z Moo
Jun, 11 Feb 2018 06:40:50 +0300
2017 Apr 02 01/02/03 UTC+0300
foo
bar
2020-05-14T03:37:03.253184012345678910111213141516171819Z
2.55
x
20100
0100:0100:0000
01/12/2017,
18:31:44,,,, 31/12/2015
18:31:44, 31/12/2015,
01/12/2017, 18:31:44,
01/12/2017, ,,,18:31:44
18:31:44  ,,,,, 31/12/2015
2020-02-30
2019-02-29
2017-13-01
not-a-date
]]
table.insert(cases.datetime_invalid, "")
table.insert(cases.datetime_invalid, "       ")

return cases
