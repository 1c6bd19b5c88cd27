--- fuzz/retry_after.lua: Retry-After and its HTTP-date parser, through core.decode_response.
-- Promises: retry_after is nil or an integer >= 0, always there on a 429 (60 when unreadable);
-- delay-seconds read as themselves; an IMF-fixdate agrees with a reference written here
-- (seconds from now, 0 once past).
-- Input: now (4 bytes, seconds), status selector, then the header value.
local core = require "posthog.event_definitions.core"
local lib = dofile("fuzz/lib.lua")
local check = lib.check

local DAYS = { Mon = 1, Tue = 1, Wed = 1, Thu = 1, Fri = 1, Sat = 1, Sun = 1 }
local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10,
  Nov = 11, Dec = 12 }

-- Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function month_days(y, m)
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  return ({ 31, leap and 29 or 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 })[m]
end

-- The reference: seconds since the epoch of an IMF-fixdate (exact case), or nil.
local function imf_fixdate(s)
  local day, d, mon, y, hh, mm, ss = s:match("^(%a%a%a), (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not day or not DAYS[day] or not MONTHS[mon] then return nil end
  d, y, hh, mm, ss = tonumber(d), tonumber(y), tonumber(hh), tonumber(mm), tonumber(ss)
  local m = MONTHS[mon]
  if d < 1 or d > month_days(y, m) or hh > 23 or mm > 59 or ss > 60 then return nil end
  return days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss
end

return function(data)
  local r = lib.reader(data)
  local now = r:u32()
  local status = r:byte() % 2 == 0 and 429 or 503
  local value = r:rest()
  local _, err = core.decode_response({ status = status, headers = { ["retry-after"] = value }, body = "" },
    nil, now)
  local got = err.retry_after
  check(got == nil or (math.type(got) == "integer" and got >= 0), "retry_after is an integer >= 0")
  if status == 429 then check(got ~= nil, "a 429 has retry_after") end
  local trimmed = value:match("^%s*(.-)%s*$")
  if trimmed:find("^%d+$") then
    local n = #trimmed <= 11 and tonumber(trimmed) or nil
    if n and n < 100000000000 then check(got == n, "delay-seconds read as themselves") end
  end
  local t = imf_fixdate(trimmed)
  if t then
    local expected = t > now and t - now or 0
    check(got == expected, string.format("%q: %s, the reference says %d", trimmed, tostring(got), expected))
  elseif status == 503 and got ~= nil and not trimmed:find("^%d+$") then
    check(trimmed:lower():find(" gmt$") or trimmed:find("%d%d%d%d$"), "only a date form is read as a date")
  end
end
