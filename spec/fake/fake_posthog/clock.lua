-- Time of the fake server: microseconds since the epoch, DRF-style formatting, ISO-8601 parsing.
local floor = math.floor

local M = {}

M.DAY = 86400 * 1e6

-- days_from_civil(y, m, d) -> days since 1970-01-01 in the proleptic Gregorian calendar.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- parse(text) -> microseconds, or nil. Accepts YYYY-MM-DD, and YYYY-MM-DD[T ]HH:MM[:SS[.f…]]
-- followed by nothing (UTC), Z, or an offset ±HH:MM / ±HHMM.
function M.parse(text)
  if type(text) ~= "string" then return nil end
  local y, mo, d, rest = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil end
  local h, mi, s, frac, tz = "0", "0", "0", "", ""
  if rest ~= "" then
    local after
    h, mi, after = rest:match("^[T ](%d%d):(%d%d)(.*)$")
    if not h then return nil end
    s, frac, tz = after:match("^:(%d%d)%.?(%d*)(.*)$")
    if not s then s, frac, tz = "0", "", after end
  end
  local offset = 0
  if tz ~= "" and tz ~= "Z" then
    local sign, oh, om = tz:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 60 + tonumber(om)) * 60 * (sign == "+" and 1 or -1)
  end
  local secs = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset
  local us = tonumber((frac .. "000000"):sub(1, 6))
  return secs * 1e6 + us
end

-- split(us) -> whole seconds, microsecond remainder.
local function split(us)
  local secs = floor(us / 1e6)
  return secs, us - secs * 1e6
end

-- format(us) -> "YYYY-MM-DDTHH:MM:SS[.ffffff]Z"; fractional digits only when non-zero (§6.3).
function M.format(us)
  local secs, frac = split(us)
  local text = os.date("!%Y-%m-%dT%H:%M:%S", secs)
  if frac ~= 0 then text = text .. string.format(".%06d", frac) end
  return text .. "Z"
end

-- format_local(us) -> Python isoformat() of a naive server-local (UTC) datetime, as codegen embeds it.
function M.format_local(us)
  local secs, frac = split(us)
  local text = os.date("!%Y-%m-%dT%H:%M:%S", secs)
  if frac ~= 0 then text = text .. string.format(".%06d", frac) end
  return text
end

-- real_us() -> the wall clock in microseconds (millisecond resolution, refreshed).
function M.real_us()
  ngx.update_time()
  return floor(ngx.now() * 1000 + 0.5) * 1000
end

-- day(us) -> the UTC day number of a timestamp (what Postgres' ::date compares).
function M.day(us)
  return floor(us / M.DAY)
end

return M
