--- Whether PostHog's ingestion takes a string for a DateTime property: its isValidClickHouseDateTime
-- (nodejs/src/ingestion/event-preprocessing/clickhouse-datetime-parser.ts, a port of ClickHouse's
-- parseDateTimeBestEffort, non-US, plus the check that the whole input was read), reproduced
-- step for step on the bytes of the string after JavaScript's trim. Where PostHog's answer
-- depends on the day it runs (29 February of a year the text does not give), the string passes:
-- the edge errs toward valid.
local js = require "posthog.event_definitions.edge.js"

local byte, find = string.byte, string.find
local trim_range = js.trim_range

local datetime = {}

local SPACE, COMMA, DOT, COLON, PLUS, MINUS, SLASH = 32, 44, 46, 58, 43, 45, 47
local T, Z = 84, 90

-- Month and other three-letter words, by their lower-case letters.
local MONTHS = {
  jan = 1, feb = 2, mar = 3, apr = 4, may = 5, jun = 6, jul = 7, aug = 8, sep = 9, oct = 10, nov = 11, dec = 12,
}
local ZONES = { utc = true, gmt = true, msk = true, msd = true }
local WEEKDAYS = { mon = true, tue = true, wed = true, thu = true, fri = true, sat = true, sun = true }
local DAYS_IN_MONTH = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 } -- February: checked apart

-- The number of ASCII digits at byte p of s, up to byte j and at most 19 (readDigits).
local function digits(s, p, j)
  local _, last = find(s, "^[0-9]+", p)
  if not last or p > j then return 0 end
  if last > j then last = j end
  local n = last - p + 1
  return n > 19 and 19 or n
end

-- The number of ASCII letters at byte p of s, up to byte j and at most max (readAlpha).
local function letters(s, p, j, max)
  local _, last = find(s, "^[A-Za-z]+", p)
  if not last or p > j then return 0 end
  if last > j then last = j end
  local n = last - p + 1
  return n > max and max or n
end

-- The value of the decimal digits at bytes a..b of s.
local function number(s, a, b)
  local v = 0
  for k = a, b do v = v * 10 + byte(s, k) - 48 end
  return v
end

-- The value of the one or two digits at byte p of s (up to byte j) and the byte after them; nil
-- and the byte after the digits there when there are none or more than two.
local function one_or_two(s, p, j)
  local m = digits(s, p, j)
  if m == 1 or m == 2 then return number(s, p, p + m - 1), p + m end
  return nil, p + m
end

-- The three letters at byte p of s, lower case.
local function word(s, p)
  return s:sub(p, p + 2):lower()
end

-- Whether the date is real; year 0 (not given) decides nothing for 29 February.
local function real_date(year, month, day)
  if month == 0 then month = 1 end
  if day == 0 then day = 1 end
  if month > 12 then return false end
  if month == 2 and day == 29 then
    return year == 0 or year % 400 == 0 or (year % 100 ~= 0 and year % 4 == 0)
  end
  return day >= 1 and day <= DAYS_IN_MONTH[month]
end

-- The number of bytes of the character at byte p (one UTF-16 unit when below 4).
local function char_length(s, p)
  local b = byte(s, p)
  if b < 0xC0 then return 1 end
  if b < 0xE0 then return 2 end
  if b < 0xF0 then return 3 end
  return 4
end

local function is_date_separator(b)
  return b == SLASH or b == DOT or b == MINUS
end

--- Whether PostHog's isValidClickHouseDateTime takes the string s (true also where the answer
-- depends on the current date).
function datetime.valid(s)
  local p, j = trim_range(s)
  if j < p then return false end
  local year, month, day, has_time, comma = 0, 0, 0, false, false
  while p <= j do
    repeat -- one pass of the parser's loop; `break` is its `continue`
      if (year ~= 0) ~= has_time and byte(s, p) == COMMA then
        comma, p = true, p + 1
        if p > j then break end
      end
      local n = 0
      if year == 0 or not has_time then
        local start = p
        n = digits(s, p, j)
        p = p + n
        if n == 13 and year == 0 and not has_time then return p > j end -- unix time in ms
        if (n == 10 or n == 9) and year == 0 and not has_time then -- unix time, maybe a fraction
          if p <= j and byte(s, p) == DOT then p = p + 1 + digits(s, p + 1, j) end
          return p > j
        end
        if n == 14 and year == 0 and not has_time then -- YYYYMMDDhhmmss
          year, month, day, has_time = number(s, start, start + 3), number(s, start + 4, start + 5),
            number(s, start + 6, start + 7), true
        elseif n == 8 and year == 0 then -- YYYYMMDD
          year, month, day = number(s, start, start + 3), number(s, start + 4, start + 5),
            number(s, start + 6, start + 7)
        elseif n == 6 then -- YYYYMM, or hhmmss
          if year == 0 and month == 0 then
            year, month = number(s, start, start + 3), number(s, start + 4, start + 5)
          elseif not has_time then
            has_time = true
          else
            return false
          end
        elseif n == 4 and year == 0 then -- YYYY, maybe followed by <d>MM<d>DD for one delimiter d
          year = number(s, start, start + 3)
          if p <= j then
            local d = byte(s, p)
            if d < 0x20 or d == COMMA or d == 59 or d == 39 or d == 34 then return false end -- ; ' "
            if month ~= 0 then break end
            local d_length = char_length(s, p)
            if d_length == 4 then return false end -- one UTF-16 unit of two: no digit follows
            local delimiter = s:sub(p, p + d_length - 1)
            p = p + d_length
            local value
            value, p = one_or_two(s, p, j)
            if value then month = value
            elseif d == SPACE then break
            else return false end
            local again = p + d_length - 1 <= j and s:sub(p, p + d_length - 1) == delimiter
            if day == 0 and again then
              value, p = one_or_two(s, p + d_length, j)
              if value then day = value
              elseif d == SPACE then break
              else return false end
            end
          end
        elseif n == 1 or n == 2 then
          local value = number(s, start, start + n - 1)
          local c = p <= j and byte(s, p)
          if c == COLON then -- a time h[h]:m[m][:s[s]]
            if has_time then return false end
            has_time = true
            local m = digits(s, p + 1, j)
            if m ~= 1 and m ~= 2 then return false end
            p = p + 1 + m
            if p <= j and byte(s, p) == COLON then
              m = digits(s, p + 1, j)
              if m ~= 1 and m ~= 2 then return false end
              p = p + 1 + m
            end
          elseif c == COMMA then
            p = p + 1
            if month ~= 0 and day == 0 then day = value end
          elseif p <= j and is_date_separator(c) then -- DD<sep>MM or DD<sep>Mon, maybe <sep>YY[YY]
            p = p + 1
            if day ~= 0 or month ~= 0 then return false end
            day = value
            local m = digits(s, p, j)
            if m == 1 or m == 2 then
              month = number(s, p, p + m - 1)
              p = p + m
            elseif m == 0 then
              local a = letters(s, p, j, 9)
              month = a >= 3 and MONTHS[word(s, p)]
              if not month then return false end
              p = p + a
              n = 0 -- the parser goes on to the non-digit step
            else
              return false
            end
            if month > 12 then month, day = day, month end
            if p <= j and is_date_separator(byte(s, p)) then
              if year ~= 0 then return false end
              local y = digits(s, p + 1, j)
              if y == 4 then
                year = number(s, p + 1, p + 4)
              elseif y == 2 then
                year = number(s, p + 1, p + 2)
                year = year >= 70 and year + 1900 or year + 2000
              else
                return false
              end
              p, n = p + 1 + y, y
            end
          elseif day == 0 then -- else an hour: nothing the answer depends on
            day = value
          end
        elseif n ~= 0 then
          return false
        end
      end
      if n == 0 then -- not a digit
        local c = byte(s, p)
        if p > j then
          break -- after a month name at the end: the parser's loop ends there
        elseif c == SPACE or (c == T and year ~= 0 and not has_time) then
          p = p + 1
        elseif c == Z then
          p = p + 1
        elseif c == DOT then -- fraction of a second
          if not has_time then return false end
          p = p + 1 + digits(s, p + 1, j)
        elseif c == PLUS or c == MINUS then -- a time zone offset, or hhmmss after a full date
          local m = digits(s, p + 1, j)
          p = p + 1 + m
          if not (m == 6 and not has_time and year ~= 0 and month ~= 0 and day ~= 0) then
            if m < 1 or m > 4 then return false end
            if m < 3 and p <= j and byte(s, p) == COLON then
              local mm = digits(s, p + 1, j)
              if mm ~= 1 and mm ~= 2 then return false end
              p = p + 1 + mm
            end
          else
            has_time = true
          end
        else
          local a = letters(s, p, j, 3)
          if a ~= 2 and a ~= 3 then return false end -- 0: input left over; 1: invalid
          local w = word(s, p)
          if a == 2 then
            local first, second = byte(w, 1, 2)
            if second ~= 109 or (first ~= 97 and first ~= 112) then return false end -- am, pm
            p = p + 2
          else
            local weekday = WEEKDAYS[w]
            if MONTHS[w] then
              month = MONTHS[w]
            elseif not ZONES[w] and not weekday then
              return false
            end
            p = p + 3
            p = p + letters(s, p, j, j)
            if weekday and p <= j and byte(s, p) == COMMA then p = p + 1 end
          end
        end
      end
    until true
  end
  if comma and (not has_time or year == 0 or month == 0 or day == 0) then return false end
  if year == 0 and month == 0 and day == 0 and not has_time then return false end
  return real_date(year, month, day)
end

return datetime
