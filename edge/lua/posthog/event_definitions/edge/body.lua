--- The request body of a capture request inside nginx: read it (memory or the temporary file),
-- unwrap it to JSON text (plain, gzip, deflate, posthog-js's base64 form `data=`), and wrap a
-- changed text the same way it came (so Content-Encoding and the `compression` query argument
-- stay true; only Content-Length changes, which ngx.req.set_body_data sets).
local zlib = require "posthog.event_definitions.edge.zlib"

local body = {}

local FORM = "application/x-www-form-urlencoded"

--- The raw request body ("" when there is none), or nil and why it cannot be read.
function body.read()
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

-- The byte range of the value of `data` in a form body, or nil; and whether the form names a
-- compression the edge cannot read (lz64).
local function form_data(raw)
  local pos, first, last, other = 1, nil, nil, nil
  while pos <= #raw + 1 do
    local amp = raw:find("&", pos, true) or (#raw + 1)
    local eq = raw:find("=", pos, true)
    if eq and eq < amp then
      local key = raw:sub(pos, eq - 1)
      if key == "data" then first, last = eq + 1, amp - 1
      elseif key == "compression" then other = raw:sub(eq + 1, amp - 1) end
    end
    pos = amp + 1
  end
  return first, last, other
end

--- Unwraps `raw` to JSON text. `encoding`: the Content-Encoding header (or nil), `ctype`: the
-- Content-Type, `compression`: the `compression` query argument. Returns text and a wrapping
-- {how = "plain"|"gzip"|"deflate"|"form", …} for body.wrap; or nil, a reason for the metrics
-- ("gzip", "deflate", "too_large", "encoding" or "form") and a detail.
function body.unwrap(raw, encoding, ctype, compression, limit)
  encoding = encoding and encoding:lower() or ""
  compression = compression and compression:lower() or ""
  if encoding == "gzip" or encoding == "x-gzip" or (encoding == "" and (compression == "gzip-js"
      or compression == "gzip" or raw:sub(1, 2) == "\31\139")) then
    local text, err = zlib.inflate(raw, "gzip", limit)
    if not text then return nil, err:find("more than", 1, true) and "too_large" or "gzip", "gzip: " .. err end
    return text, { how = "gzip" }
  end
  if encoding == "deflate" then
    for _, wrapping in ipairs { "zlib", "raw" } do
      local text, err = zlib.inflate(raw, wrapping, limit)
      if text then return text, { how = "deflate", wrapping = wrapping } end
      if err:find("more than", 1, true) then return nil, "too_large", "deflate: " .. err end
    end
    return nil, "deflate", "deflate: not a complete deflate stream"
  end
  if encoding ~= "" and encoding ~= "identity" then return nil, "encoding", "content-encoding " .. encoding end
  if compression ~= "" and compression ~= "base64" then return nil, "encoding", "compression " .. compression end
  local json_like = raw:find("^%s*[%[{]")
  if not json_like and ((ctype or ""):lower():find(FORM, 1, true) or raw:sub(1, 5) == "data=") then
    local first, last, inner = form_data(raw)
    if not first then return nil, "form", "form without data" end
    if inner and inner ~= "base64" then return nil, "encoding", "compression " .. inner end
    local value = ngx.unescape_uri(raw:sub(first, last)):gsub(" ", "+")
    local text = ngx.decode_base64(value)
    if not text then return nil, "form", "form data is not base64" end
    return text, { how = "form", first = first, last = last }
  end
  return raw, { how = "plain" }
end

--- The raw body for the changed JSON `text`, wrapped as `w` (from unwrap) around `raw`.
function body.wrap(text, w, raw)
  if w.how == "gzip" then return zlib.deflate(text, "gzip") end
  if w.how == "deflate" then return zlib.deflate(text, w.wrapping) end
  if w.how == "form" then
    return raw:sub(1, w.first - 1) .. ngx.escape_uri(ngx.encode_base64(text)) .. raw:sub(w.last + 1)
  end
  return text
end

return body
