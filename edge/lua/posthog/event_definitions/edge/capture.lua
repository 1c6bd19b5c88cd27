--- Every input PostHog's capture reads, read in PostHog's own order (reference §21.1, §21.2;
-- rust/capture: extract_payload_bytes, decompress_payload, the v1 handler), and a changed JSON
-- text written back the way the original came, inside nginx (LuaJIT).
--
-- v0 (/e, /i/v0/e, /capture, /track, /batch, /engage, GET and POST): the query's `data` first
-- (keys and values percent-decoded), else the body; a payload that is entirely base64 is decoded
-- (not when it looks like a form); a form body (Content-Type exactly
-- application/x-www-form-urlencoded, keys percent-decoded) gives `data` and `compression`; the
-- compression hint is the query's, else the form's, else Content-Encoding; gzip by that hint or
-- by its magic bytes; lz64 is not decoded; a text that is still base64 is decoded once more.
-- v1 (/i/v1/analytics/events): the body, Content-Encoding gzip, deflate (zlib or raw), zstd, br;
-- the token from `Authorization: Bearer`.
local inflate = require "posthog.event_definitions.edge.inflate"

local capture = {}

local byte, find, sub = string.byte, string.find, string.sub
local FORM = "application/x-www-form-urlencoded"
local LOOK = 128 -- PostHog looks at this many leading bytes to guess base64 and forms

-- Capture paths by kind, longest first; any prefix (a proxy's /ph/…), trailing slash optional.
local PATHS = {
  { "/i/v1/analytics/events", "v1" }, { "/i/v1/ai/events", "v1" },
  { "/i/v0/ai/batch", "events" }, { "/i/v0/ai", "events" }, { "/i/v0/e", "events" },
  { "/capture", "events" }, { "/engage", "engage" }, { "/track", "events" }, { "/batch", "events" },
  { "/e", "events" }, { "/s", "recording" },
}
local POST_ONLY = { ["/i/v1/analytics/events"] = true, ["/i/v1/ai/events"] = true, ["/i/v0/ai"] = true }

--- The kind of capture request `uri` (the path, without query) and `method` make: "events",
-- "engage", "v1", "recording" (session recordings: $snapshot only, not inspected), or nil.
function capture.kind(uri, method)
  if method ~= "POST" and method ~= "GET" then return nil end
  local last = #uri
  if byte(uri, last) == 47 then last = last - 1 end -- "/"
  for _, entry in ipairs(PATHS) do
    local path = entry[1]
    local at = last - #path + 1
    if at >= 1 and find(uri, path, at, true) == at then
      if method == "GET" and POST_ONLY[path] then return nil end
      return entry[2]
    end
  end
  return nil
end

-- The byte of two hex digits, and the "%XX" of a byte: made at first use and kept (at most 484
-- and 256 entries), so that decoding and encoding make no function per call.
local function memo(make)
  return setmetatable({}, { __index = function(t, k)
    local v = make(k)
    t[k] = v
    return v
  end })
end
local BYTE_OF_HEX = memo(function(h) return string.char(tonumber(h, 16)) end)
local PERCENT_OF_BYTE = memo(function(c) return string.format("%%%02X", c:byte()) end)

-- What an application/x-www-form-urlencoded parser makes of a key or value.
local function form_decode(s)
  s = s:gsub("%+", " ")
  return (s:gsub("%%(%x%x)", BYTE_OF_HEX))
end

-- JavaScript's encodeURIComponent (what posthog-js writes into `data=`).
local function uri_component(s)
  return (s:gsub("[^%w%-_%.!~%*'%(%)]", PERCENT_OF_BYTE))
end

-- PostHog's guess that a payload is base64: length a multiple of 4 and its first LOOK bytes in
-- the alphabet (with `loose`, spaces too: a form decoder turned its '+' into spaces).
local function likely_base64(s, loose)
  if #s == 0 or #s % 4 ~= 0 then return false end
  return not sub(s, 1, LOOK):find(loose and "[^%w%+/= ]" or "[^%w%+/=]")
end

local FORM_KEYS = { "data=", "_=", "ip=", "compression=" }
local FORM_KEYS_AFTER = { "&data=", "&_=", "&ip=", "&compression=" }

-- PostHog's guess that a payload is a form: a data, _, ip or compression field in its first LOOK bytes.
local function likely_form(s)
  local head = sub(s, 1, LOOK)
  for i, key in ipairs(FORM_KEYS) do
    if find(head, key, 1, true) == 1 or find(head, FORM_KEYS_AFTER[i], 1, true) then return true end
  end
  return false
end

-- The `data` and `compression` fields of a query string or form: {data = {value, first, last},
-- compression = value} (first..last: the bytes of data's encoded value), or nil and why (a field
-- given twice, which PostHog refuses).
local function fields(text)
  local found = {}
  local pos, n = 1, #text
  while pos <= n do
    local amp = text:find("&", pos, true) or n + 1
    if amp > pos then
      local eq = text:find("=", pos, true)
      if not eq or eq > amp then eq = amp end
      local key = form_decode(text:sub(pos, eq - 1))
      if key == "data" or key == "compression" then
        if found[key] then return nil, key .. " given twice" end
        local first = math.min(eq + 1, amp)
        found[key] = { value = form_decode(text:sub(first, amp - 1)), first = first, last = amp - 1 }
      end
    end
    pos = amp + 1
  end
  return { data = found.data, compression = found.compression and found.compression.value }
end

local NO_FIELDS = {} -- of an empty query string

-- PostHog's compression hint in a value: "gzip", "lz64", "base64" (no decompression, but it
-- settles the hint: later places are not looked at) or nil (none, or one PostHog does not know).
local HINTS = { gzip = "gzip", ["gzip-js"] = "gzip", lz64 = "lz64", ["lz-string"] = "lz64", base64 = "base64",
  b64 = "base64" }

-- The request body ("" when there is none; a large one comes from nginx's temporary file).
local function read_body()
  ngx.req.read_body()
  local data = ngx.req.get_body_data()
  if data then return data end
  local path = ngx.req.get_body_file()
  if not path then return "" end
  local f, err = io.open(path, "rb")
  if not f then return nil, "body file: " .. tostring(err) end
  data = f:read("*a")
  f:close()
  return data or ""
end

-- Decompresses `data` in `format` within the limits; nil, reason, detail on failure.
local function decoded(format, data, limits, reason)
  local limit = math.min(limits.max_body, math.floor((limits.max_ratio or math.huge) * #data))
  local text, err = inflate.decode(format, data, limit)
  if text then return text end
  if err == "too_large" then
    return nil, "too_large", reason .. ": inflates past " .. limit .. " bytes (" .. #data .. " compressed)"
  end
  return nil, reason, reason .. ": " .. err
end

-- s without white space around it, in linear time ("^%s*(.-)%s*$" is quadratic in inner white space).
local function trimmed(s)
  local first = find(s, "%S")
  return first and sub(s, first, (find(s, "%S%s*$", first))) or ""
end

local V1_ENCODINGS = { gzip = "gzip", zstd = "zstd", br = "br", deflate = true }

local function read_v1(limits)
  local body, err = read_body()
  if not body then return nil, "read", err end
  if body == "" then return nil end
  local auth = ngx.var.http_authorization
  local bearer = auth and #auth > 7 and auth:sub(1, 7):lower() == "bearer " and trimmed(auth:sub(8)) or nil
  local payload = { kind = "v1", bearer = bearer, layers = {}, source = "body" }
  local encoding = ngx.var.http_content_encoding
  if not encoding then
    if #body > limits.max_body then return nil, "too_large", "body of " .. #body .. " bytes" end
    payload.text = body
    return payload
  end
  local name = encoding:lower()
  local format = V1_ENCODINGS[name]
  if not format then return nil, "encoding", "content-encoding " .. encoding end
  if format == true then format = body:byte(1) == 0x78 and "zlib" or "raw" end
  if not inflate.available(format) then return nil, name, name .. ": no library on this host" end
  local text, reason, detail = decoded(format, body, limits, name)
  if not text then return nil, reason, detail end
  payload.layers[1] = { format = format }
  payload.text = text
  return payload
end

-- Decodes base64 the way PostHog's optimistic pass does: only what looks like base64, and
-- keeping the text when it does not decode.
local function unbase64(text, layers)
  local plain = ngx.decode_base64(text)
  if not plain then return text end
  layers[#layers + 1] = { base64 = true }
  return plain
end

--- Reads the capture request of `kind` (capture.kind) in PostHog's precedence; limits =
-- {max_body = bytes a body may inflate to, max_ratio = inflated / compressed}. Returns payload =
-- {text = the JSON text, kind, bearer = v1's token or nil, …what capture.write needs}; nil when
-- there is nothing to inspect (no data, an empty body, a recording); or nil, reason ("query",
-- "form", "gzip", "deflate", "zstd", "br", "lz64", "encoding", "multipart", "too_large", "read")
-- and a detail.
function capture.read(kind, limits)
  if kind == nil or kind == "recording" then return nil end
  if kind == "v1" then return read_v1(limits) end
  local content_type = ngx.var.content_type
  if content_type and find(content_type, "^multipart/") then
    return nil, "multipart", "multipart body (the AI endpoint's $ai_ events)"
  end
  local args = ngx.var.args or ""
  local query, err = NO_FIELDS, nil
  if args ~= "" then query, err = fields(args) end
  if not query then return nil, "query", "query string: " .. err end
  local payload = { kind = kind, layers = {} }
  local layers = payload.layers
  local raw
  if query.data and query.data.value ~= "" then
    raw = query.data.value
    payload.source, payload.before, payload.after = "query", args:sub(1, query.data.first - 1),
      args:sub(query.data.last + 1)
  else
    raw, err = read_body()
    if not raw then return nil, "read", err end
    if raw == "" then return nil end
    payload.source = "body"
  end
  local is_form = likely_form(raw)
  if not is_form and likely_base64(raw) then
    raw = unbase64(raw, layers)
    is_form = likely_form(raw)
  end
  local form
  if content_type == FORM then
    if not is_form then return nil, "form", "form content type without a form" end
    form, err = fields(raw)
    if not form then return nil, "form", "form: " .. err end
    if not form.data then return nil, "form", "form without data" end
    layers[#layers + 1] = { before = raw:sub(1, form.data.first - 1), after = raw:sub(form.data.last + 1) }
    raw = form.data.value
    if likely_base64(raw, true) then raw = raw:gsub(" ", "+") end
  end
  -- the query's hint, else the form's (both in any case), else Content-Encoding (exactly)
  local compression = HINTS[(query.compression or ""):lower()] or HINTS[(form and form.compression or ""):lower()]
    or HINTS[ngx.var.http_content_encoding or ""]
  if compression == "gzip" or (byte(raw, 1) == 31 and byte(raw, 2) == 139 and byte(raw, 3) == 8) then -- magic
    local reason, detail
    raw, reason, detail = decoded("gzip", raw, limits, "gzip")
    if not raw then return nil, reason, detail end
    layers[#layers + 1] = { format = "gzip" }
  elseif compression == "lz64" then
    return nil, "lz64", "lz64 (lz-string) payload"
  elseif #raw > limits.max_body then
    return nil, "too_large", "payload of " .. #raw .. " bytes"
  end
  if likely_base64(raw) then raw = unbase64(raw, layers) end
  payload.text = raw
  return payload
end

--- Makes the upstream receive `text` instead of what `payload` (from capture.read) held,
-- wrapped as it came: re-compressed the same way (Content-Encoding and the compression hint stay
-- true), base64 again where it was, a form's data field re-encoded with its other fields kept
-- byte for byte, a query's data rewritten with the other arguments kept byte for byte.
function capture.write(payload, text)
  local value = text
  local layers = payload.layers
  for i = #layers, 1, -1 do
    local layer = layers[i]
    if layer.base64 then value = ngx.encode_base64(value)
    elseif layer.format then value = inflate.encode(layer.format, value)
    else value = layer.before .. uri_component(value) .. layer.after end
  end
  if payload.source == "query" then
    ngx.req.set_uri_args(payload.before .. uri_component(value) .. payload.after)
  else
    ngx.req.set_body_data(value)
  end
end

return capture
