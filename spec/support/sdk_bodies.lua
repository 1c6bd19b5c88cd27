--- Capture requests built byte for byte as PostHog's SDKs send them (reference §21.3): method,
-- path, query, headers and body, each SDK's JSON style (separators, escapes, key order) and
-- framing (gzip, deflate, zstd, br, base64, forms, a GET's data=).
--
--   local sdk = require "support.sdk_bodies"
--   local req = sdk.build("posthog_js", { { event = "signup", properties = { plan = "pro" } },
--                                          { raw = '{"event":"as_is"}' } })
--   req.method, req.path, req.query (nil or the raw query string), req.headers, req.body (bytes),
--   req.text (the JSON text inside, what the edge must read)
--   sdk.rewrap(req, text) -> the request the same SDK would send for that JSON text
--   sdk.decompress(format, data) -> data decompressed by the format's own tool
--
-- An event is {event = name, properties = map (keys sorted) or sdk.object{{k, v}, …} (in that
-- order), distinct_id = …} or {raw = JSON text}, inserted as given. Values: strings, numbers,
-- booleans, sdk.null, sdk.object{…}, sequences (sdk.array{} for an empty one). Compression goes
-- through gzip, python3's zlib, zstd and brotli (Debian packages gzip, python3, zstd, brotli).
local mime = require "mime"

local M = {}

M.TOKEN = "phc_EdgeSpecToken0123456789abcdefABCDEF"
M.SENT_AT = "2026-03-01T12:34:56.789Z"
M.MS = "1772368496789" -- SENT_AT in milliseconds (posthog-js's `_=`)

local OBJECT, ARRAY = {}, {}
M.null = setmetatable({}, { __tostring = function() return "null" end })
--- An object whose keys keep the order given: sdk.object{{"k", v}, …}.
function M.object(pairs_list) return setmetatable(pairs_list, OBJECT) end
--- An array (needed only for an empty one).
function M.array(list) return setmetatable(list, ARRAY) end

------------------------------------------------------------------------------------------------
-- JSON in each SDK's style
------------------------------------------------------------------------------------------------

-- The code points of a UTF-8 string, with the byte length of each.
local function utf8_each(s)
  local i, n = 1, #s
  return function()
    if i > n then return nil end
    local c = s:byte(i)
    local len = c < 0x80 and 1 or c < 0xE0 and 2 or c < 0xF0 and 3 or 4
    local cp = len == 1 and c or c % (2 ^ (7 - len))
    for k = 1, len - 1 do cp = cp * 64 + s:byte(i + k) % 64 end
    local ch = s:sub(i, i + len - 1)
    i = i + len
    return cp, ch
  end
end

local SHORT = { [8] = "\\b", [9] = "\\t", [10] = "\\n", [12] = "\\f", [13] = "\\r", [34] = '\\"', [92] = "\\\\" }

local function u(cp) return string.format("\\u%04x", cp) end

-- String escapers: JSON.stringify (js, node), json.dumps (python, ensure_ascii), encoding/json
-- (go: HTML-safe, U+2028/9), JSONSerialization (ios: "\/"), Gson (android: HTML-safe, = and ').
local ESCAPERS = {
  js = function(cp, ch) return SHORT[cp] or (cp < 0x20 and u(cp)) or ch end,
  python = function(cp, ch)
    if SHORT[cp] then return SHORT[cp] end
    if cp < 0x20 or cp >= 0x7F then
      if cp < 0x10000 then return u(cp) end
      cp = cp - 0x10000
      return u(0xD800 + math.floor(cp / 0x400)) .. u(0xDC00 + cp % 0x400)
    end
    return ch
  end,
  go = function(cp, ch)
    if cp == 8 or cp == 12 then return u(cp) end
    if SHORT[cp] then return SHORT[cp] end
    if cp < 0x20 or cp == 0x3C or cp == 0x3E or cp == 0x26 or cp == 0x2028 or cp == 0x2029 then return u(cp) end
    return ch
  end,
  ios = function(cp, ch)
    if cp == 0x2F then return "\\/" end
    return SHORT[cp] or (cp < 0x20 and u(cp)) or ch
  end,
  android = function(cp, ch)
    if SHORT[cp] then return SHORT[cp] end
    if cp < 0x20 or cp == 0x3C or cp == 0x3E or cp == 0x26 or cp == 0x3D or cp == 0x27
      or cp == 0x2028 or cp == 0x2029 then return u(cp) end
    return ch
  end,
}

local function quote(s, style)
  local escape, out = ESCAPERS[style], {}
  for cp, ch in utf8_each(s) do out[#out + 1] = escape(cp, ch) end
  return '"' .. table.concat(out) .. '"'
end

local encode

-- The entries of an object value in order: an sdk.object as given, a map by sorted keys.
local function entries(t)
  if getmetatable(t) == OBJECT then return t end
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local list = {}
  for i, k in ipairs(keys) do list[i] = { k, t[k] } end
  return list
end

encode = function(v, style)
  local spaced = style == "python"
  local t = type(v)
  if v == M.null then return "null" end
  if t == "string" then return quote(v, style) end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
    return string.format("%.15g", v)
  end
  assert(t == "table", "sdk_bodies: cannot encode a " .. t)
  if getmetatable(v) == ARRAY or (getmetatable(v) ~= OBJECT and v[1] ~= nil) then
    local parts = {}
    for i, item in ipairs(v) do parts[i] = encode(item, style) end
    return "[" .. table.concat(parts, spaced and ", " or ",") .. "]"
  end
  local parts = {}
  for i, kv in ipairs(entries(v)) do
    parts[i] = quote(kv[1], style) .. (spaced and ": " or ":") .. (kv[2] ~= nil and encode(kv[2], style) or "null")
  end
  return "{" .. table.concat(parts, spaced and ", " or ",") .. "}"
end

--- The JSON text of `value` in `style` ("js", "python", "go", "ios", "android").
function M.encode(value, style) return encode(value, style or "js") end

------------------------------------------------------------------------------------------------
-- Compression and framing
------------------------------------------------------------------------------------------------

-- Runs `command` with `input` on its stdin (through a file); returns its stdout.
local function filter(command, input)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(input)
  f:close()
  local pipe = assert(io.popen(command .. " < " .. path .. " 2>/dev/null"))
  local out = pipe:read("*a")
  pipe:close()
  os.remove(path)
  return out
end

local PY = "python3 -c 'import sys,zlib; d=sys.stdin.buffer.read(); sys.stdout.buffer.write(%s)'"
local COMPRESS = {
  gzip = "gzip -c -n",
  zlib = PY:format("zlib.compress(d)"),
  raw = PY:format("(lambda c: c.compress(d) + c.flush())(zlib.compressobj(6, zlib.DEFLATED, -15))"),
  zstd = "zstd -q -c",
  br = "brotli -c",
}
local DECOMPRESS = {
  gzip = "gzip -dc",
  zlib = PY:format("zlib.decompress(d)"),
  raw = PY:format("zlib.decompress(d, -15)"),
  zstd = "zstd -q -dc",
  br = "brotli -dc",
}

--- `data` compressed as `format` ("gzip", "zlib", "raw", "zstd", "br") by that format's own tool.
function M.compress(format, data) return filter(assert(COMPRESS[format], format), data) end
--- `data` decompressed as `format` by that format's own tool ("" when it is not that format).
function M.decompress(format, data) return filter(assert(DECOMPRESS[format], format), data) end

function M.base64(s) return (mime.b64(s)) or "" end

--- JavaScript's encodeURIComponent.
function M.uri_component(s)
  return (s:gsub("[^%w%-_%.!~%*'%(%)]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function copy(t)
  local c = {}
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

-- The request `frame` makes of JSON `text`. frame = {method, path, query (raw, or a function of
-- the encoded value: the data= is in the query), headers, base64 (the text is base64-encoded
-- first), compression, form = {before, after} (the value becomes a form field)}.
local function framed(frame, text)
  local value = text
  if frame.base64 then value = M.base64(value) end
  if frame.compression then value = M.compress(frame.compression, value) end
  if frame.form then value = frame.form.before .. M.uri_component(value) .. frame.form.after end
  local req = { method = frame.method, path = frame.path, headers = copy(frame.headers), text = text, frame = frame,
    compression = frame.compression }
  if type(frame.query) == "function" then
    req.query, req.body = frame.query(M.uri_component(value)), ""
  else
    req.query, req.body = frame.query, value
  end
  return req
end

local function uri_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- The JSON text inside `data` framed as `req` was: the forwarded body, or for a query-framed
-- request (a GET's data=) the forwarded query string. nil when `data` is not framed that way.
function M.unframe(req, data)
  local frame, value = req.frame, data
  if type(frame.query) == "function" or frame.form then
    value = value:match("^data=([^&]*)") or value:match("&data=([^&]*)")
    if not value then return nil end
    value = uri_decode(value)
  end
  if frame.compression then value = M.decompress(frame.compression, value) end
  if frame.base64 then value = mime.unb64(value) end
  return value
end

--- The request the same SDK would send for JSON `text` (as `req` was framed).
function M.rewrap(req, text) return framed(req.frame, text) end

------------------------------------------------------------------------------------------------
-- The SDKs
------------------------------------------------------------------------------------------------

local function uuid(i) return string.format("01956f3a-9b2c-7d4e-8f10-%012d", i) end
local function stamp(i) return string.format("2026-03-01T12:34:%02d.%03dZ", 50 + i % 6, i % 1000) end

-- Properties: the SDK's own first (in its order), then the event's (sorted, or as given), then
-- those the SDK adds last.
local function props(sdk_first, given, sdk_last)
  local list = {}
  for _, kv in ipairs(sdk_first) do list[#list + 1] = kv end
  for _, kv in ipairs(given and entries(given) or {}) do list[#list + 1] = kv end
  for _, kv in ipairs(sdk_last or {}) do list[#list + 1] = kv end
  return M.object(list)
end

-- The JSON text of `events` inside an envelope: `shape(event, i)` gives an event's object,
-- `envelope(items_text)` the whole text around the joined items.
local function batch_text(events, style, shape, envelope)
  local items = {}
  for i, e in ipairs(events) do items[i] = e.raw or encode(shape(e, i), style) end
  return envelope(items)
end

local function join(items, style) return "[" .. table.concat(items, style == "python" and ", " or ",") .. "]" end

local JS_VERSION, JS_OLD = "1.407.2", "1.398.0"

local function js_event(version)
  return function(e, i)
    local did = e.distinct_id or "0195-anon-" .. i
    return M.object {
      { "uuid", uuid(i) }, { "event", e.event },
      { "properties", props({ { "$os", "Mac OS X" }, { "$browser", "Chrome" },
        { "$current_url", "https://example.com/a?b=1&c=2" },
        { "$host", "example.com" }, { "$pathname", "/a" }, { "$lib", "web" }, { "$lib_version", version },
        { "$insert_id", "ins" .. i }, { "$time", 1772368496.789 }, { "distinct_id", did },
        { "$device_id", did }, { "token", M.TOKEN }, { "$session_id", "0195-sess" } }, e.properties) },
      { "timestamp", stamp(i) },
    }
  end
end

local SDKS = {}

-- posthog-js ≥ 1.407 (default): POST /i/v0/e/, no query, text/plain, gzip: only the magic says so.
SDKS.posthog_js = function(events)
  local text = batch_text(events, "js", js_event(JS_VERSION), function(items)
    return '{"api_key":' .. quote(M.TOKEN, "js") .. ',"batch":' .. join(items) .. ',"sent_at":"' .. M.SENT_AT .. '"}'
  end)
  return framed({ method = "POST", path = "/i/v0/e/", headers = { ["content-type"] = "text/plain" },
    compression = "gzip" }, text)
end

local function js_array(events, version) return batch_text(events, "js", js_event(version), join) end
local function js_query(extra) return "_=" .. M.MS .. "&ver=" .. JS_OLD .. extra end

-- posthog-js ≤ 1.398 (most deployed): ?_=&ver=&compression=gzip-js, gzip of an array.
SDKS.posthog_js_legacy = function(events)
  return framed({ method = "POST", path = "/e/", query = js_query("&compression=gzip-js"),
    headers = { ["content-type"] = "text/plain" }, compression = "gzip" }, js_array(events, JS_OLD))
end

-- Its beacon (sendBeacon of the gzip ArrayBuffer: no Content-Type), &beacon=1.
SDKS.posthog_js_beacon = function(events)
  return framed({ method = "POST", path = "/e/", query = js_query("&compression=gzip-js&beacon=1"),
    headers = {}, compression = "gzip" }, js_array(events, JS_OLD))
end

-- Uncompressed beacons: a base64 `data=` form.
SDKS.posthog_js_beacon_base64 = function(events)
  return framed({ method = "POST", path = "/e/", query = js_query("&compression=base64&beacon=1"),
    headers = { ["content-type"] = "application/x-www-form-urlencoded" }, base64 = true,
    form = { before = "data=", after = "" } }, js_array(events, JS_OLD))
end

-- Old posthog-js (before mid-2023): lz-string in a form. The edge does not decode lz64, so the
-- value here is only lz-string's alphabet, not a real lz-string stream (req.text is that value).
SDKS.posthog_js_lz64 = function()
  local value = "N4IgJghgLhIFwEYA0IDGALApgMzjA9g"
  local req = framed({ method = "POST", path = "/e/", query = "_=" .. M.MS .. "&ver=1.50.0",
    headers = { ["content-type"] = "application/x-www-form-urlencoded" },
    form = { before = "data=", after = "&compression=lz64" } }, value)
  req.lz64 = true
  return req
end

-- A GET with data= (old posthog-js's image fallback): base64, then encodeURIComponent.
SDKS.posthog_js_get = function(events)
  return framed({ method = "GET", path = "/e/", headers = {}, base64 = true,
    query = function(value) return "data=" .. value .. "&ip=1&_=" .. M.MS .. "&ver=1.30.0" end },
    js_array(events, "1.30.0"))
end

-- posthog-js's people.set to /engage/ (a nameless object: ingested as $identify), base64 form.
SDKS.posthog_js_engage = function(events)
  local set = events[1] and events[1].properties or { plan = "pro" }
  local text = encode(M.object { { "$set", set }, { "$token", M.TOKEN }, { "$distinct_id", "user-1" },
    { "$device_id", "0195-device" } }, "js")
  return framed({ method = "POST", path = "/engage/", query = "_=" .. M.MS .. "&ver=1.30.0",
    headers = { ["content-type"] = "application/x-www-form-urlencoded" }, base64 = true,
    form = { before = "data=", after = "" } }, text)
end

-- posthog-node: POST /batch/, JSON with Content-Encoding: gzip.
SDKS.posthog_node = function(events)
  local text = batch_text(events, "js", function(e, i)
    return M.object { { "distinct_id", e.distinct_id or "user-" .. i }, { "event", e.event },
      { "properties", props({ { "$lib", "posthog-node" }, { "$lib_version", "5.8.1" }, { "$geoip_disable", true } },
        e.properties) },
      { "type", "capture" }, { "library", "posthog-node" }, { "library_version", "5.8.1" },
      { "timestamp", stamp(i) }, { "uuid", uuid(i) } }
  end, function(items)
    return '{"api_key":' .. quote(M.TOKEN, "js") .. ',"batch":' .. join(items) .. ',"sent_at":"' .. M.SENT_AT .. '"}'
  end)
  return framed({ method = "POST", path = "/batch/", headers = { ["content-type"] = "application/json",
    ["content-encoding"] = "gzip", ["user-agent"] = "posthog-node/5.8.1" }, compression = "gzip" }, text)
end

-- posthog-python: json.dumps (", " and ": ", \u escapes), uncompressed by default.
SDKS.posthog_python = function(events)
  local text = batch_text(events, "python", function(e, i)
    local p = props({}, e.properties, { { "$lib", "posthog-python" }, { "$lib_version", "6.7.0" } })
    return M.object { { "properties", p }, { "timestamp", "2026-03-01T12:34:56.789000+00:00" },
      { "distinct_id", e.distinct_id or "user-" .. i }, { "event", e.event }, { "uuid", uuid(i) } }
  end, function(items)
    return '{"batch": ' .. join(items, "python") .. ', "sentAt": "2026-03-01T12:34:56.789000+00:00", "api_key": '
      .. quote(M.TOKEN, "python") .. "}"
  end)
  return framed({ method = "POST", path = "/batch/", headers = { ["content-type"] = "application/json",
    ["user-agent"] = "posthog-python/6.7.0" } }, text)
end

-- posthog-go: POST /batch/?compression=gzip with the header too, sorted property keys,
-- HTML-safe escapes (\u0026), no sent_at.
SDKS.posthog_go = function(events)
  local text = batch_text(events, "go", function(e, i)
    local p = {}
    for _, kv in ipairs(entries(e.properties or {})) do p[kv[1]] = kv[2] end
    p["$lib"], p["$lib_version"] = "posthog-go", "1.6.10"
    return M.object { { "uuid", uuid(i) }, { "timestamp", "2026-03-01T12:34:56.789Z" },
      { "distinct_id", e.distinct_id or "user-" .. i }, { "event", e.event }, { "properties", p } }
  end, function(items)
    return '{"api_key":' .. quote(M.TOKEN, "go") .. ',"batch":' .. join(items) .. "}"
  end)
  return framed({ method = "POST", path = "/batch/", query = "compression=gzip", headers = {
    ["content-type"] = "application/json", ["content-encoding"] = "gzip",
    ["user-agent"] = "posthog-go (version: 1.6.10)" },
    compression = "gzip" }, text)
end

local function mobile(style, lib, version, content_type)
  return function(events)
    local text = batch_text(events, style, function(e, i)
      return M.object { { "event", e.event }, { "distinct_id", e.distinct_id or "user-" .. i },
        { "properties", props({ { "$lib", lib }, { "$lib_version", version }, { "$app_name", "Shop's App" },
          { "$screen_name", "Home/Detail" } }, e.properties) },
        { "timestamp", stamp(i) }, { "uuid", uuid(i) } }
    end, function(items)
      return '{"api_key":' .. quote(M.TOKEN, style) .. ',"batch":' .. join(items) .. ',"sent_at":'
        .. quote(M.SENT_AT, style) .. "}"
    end)
    return framed({ method = "POST", path = "/batch", headers = { ["content-type"] = content_type,
      ["content-encoding"] = "gzip" }, compression = "gzip" }, text)
  end
end
-- posthog-ios / posthog-android: POST /batch (no slash), always gzip; `\/` (iOS), HTML-safe (Gson).
SDKS.posthog_ios = mobile("ios", "posthog-ios", "3.30.1", "application/json")
SDKS.posthog_android = mobile("android", "posthog-android", "3.21.0", "application/json; charset=utf-8")

-- Capture v1 (node, python, go opt-in): Bearer token, {"created_at", "batch"}, compressed.
local function v1(compression)
  return function(events)
    local text = batch_text(events, "js", function(e, i)
      return M.object { { "event", e.event }, { "uuid", uuid(i) }, { "distinct_id", e.distinct_id or "user-" .. i },
        { "timestamp", stamp(i) }, { "options", M.object {} }, { "properties", props({}, e.properties) } }
    end, function(items) return '{"created_at":"' .. M.SENT_AT .. '","batch":' .. join(items) .. "}" end)
    local names = { gzip = "gzip", zlib = "deflate", raw = "deflate", zstd = "zstd", br = "br" }
    return framed({ method = "POST", path = "/i/v1/analytics/events", headers = {
      authorization = "Bearer " .. M.TOKEN, ["content-type"] = "application/json",
      ["content-encoding"] = compression and names[compression], ["posthog-sdk-info"] = "posthog-python/7.0.0",
      ["posthog-attempt"] = "1", ["posthog-request-id"] = "01956f3a-9b2c-7d4e-8f10-aaaaaaaaaaaa",
      ["posthog-request-timestamp"] = M.SENT_AT, ["user-agent"] = "posthog-python/7.0.0" },
      compression = compression }, text)
  end
end
SDKS.v1_plain = v1(nil)
SDKS.v1_gzip = v1("gzip")
SDKS.v1_deflate = v1("zlib")
SDKS.v1_deflate_raw = v1("raw")
SDKS.v1_zstd = v1("zstd")
SDKS.v1_br = v1("br")

--- Every SDK name build knows, sorted.
M.SDKS = {}
for name in pairs(SDKS) do M.SDKS[#M.SDKS + 1] = name end
table.sort(M.SDKS)

--- The request SDK `name` sends for `events` (see the header).
function M.build(name, events)
  return assert(SDKS[name], "sdk_bodies: no SDK " .. tostring(name))(events)
end

return M
