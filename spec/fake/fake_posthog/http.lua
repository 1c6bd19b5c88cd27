-- HTTP plumbing of the fake server: the request object, DRF-style query strings and links,
-- response constructors (the four-key error body of §15) and the response writer (incl. the
-- transport faults cut / truncate / chunked / close).
local json = require "fake_posthog.json"

local floor, ceil, concat, sort = math.floor, math.ceil, table.concat, table.sort

local M = {}

-- unquote_plus(s) -> s with + as space and %XX decoded (Python's unquote_plus).
local function unquote_plus(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- quote_plus(s) -> s percent-encoded like Python's quote_plus (safe: letters, digits, _.-~).
local function quote_plus(s)
  s = s:gsub("[^%w_%.%-~ ]", function(c) return string.format("%%%02X", c:byte()) end)
  return (s:gsub(" ", "+"))
end

-- parse_query(qs) -> { list = {{key, value}, …} in order, last = {key = last value}, all = {key = {values}} },
-- with the rules of Python's parse_qsl(keep_blank_values=True): split on &, empty pieces dropped.
local function parse_query(qs)
  local list, last, all = {}, {}, {}
  for piece in qs:gmatch("[^&]+") do
    local k, v = piece:match("^([^=]*)=(.*)$")
    if not k then k, v = piece, "" end
    k, v = unquote_plus(k), unquote_plus(v)
    list[#list + 1] = { k, v }
    last[k] = v
    local values = all[k]
    if not values then values = {}; all[k] = values end
    values[#values + 1] = v
  end
  return { list = list, last = last, all = all }
end

-- link(req, changes) -> absolute URL of the request as seen (origin + raw path) with its query
-- rebuilt like DRF's replace_query_param: keys sorted, repeated keys kept, spaces as +.
-- changes: {key = "value" (replaces every value) | false (removes the key)}.
function M.link(req, changes)
  local values, keys = {}, {}
  for _, kv in ipairs(req.query.list) do
    local k = kv[1]
    if not values[k] then values[k] = {}; keys[#keys + 1] = k end
    local list = values[k]
    list[#list + 1] = kv[2]
  end
  for k, v in pairs(changes) do
    if not values[k] then keys[#keys + 1] = k end
    values[k] = v and { v } or false
  end
  sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    for _, v in ipairs(values[k] or {}) do parts[#parts + 1] = quote_plus(k) .. "=" .. quote_plus(v) end
  end
  local url = req.origin .. req.link_path
  if #parts > 0 then url = url .. "?" .. concat(parts, "&") end
  return url
end

-- response(status, body[, content_type]) -> response table {status, headers, body}.
function M.response(status, body, content_type)
  return { status = status, body = body, headers = { ["Content-Type"] = content_type or "application/json" } }
end

-- error(status, type, code, detail, attr) -> response with PostHog's four-key error body.
function M.error(status, typ, code, detail, attr)
  return M.response(status, '{"type":' .. json.str(typ) .. ',"code":' .. json.str(code)
    .. ',"detail":' .. json.str(detail) .. ',"attr":' .. json.str(attr) .. "}")
end

-- invalid(code, detail, attr) -> 400 validation_error response.
function M.invalid(code, detail, attr)
  return M.error(400, "validation_error", code, detail, attr)
end

-- not_found([detail]) -> 404 not_found response ("Not found." by default).
function M.not_found(detail)
  return M.error(404, "invalid_request", "not_found", detail or "Not found.", nil)
end

-- server_error() -> the generic 500 body.
function M.server_error()
  return M.error(500, "server_error", "error", "A server error occurred.", nil)
end

-- throttled(wait[, retry_after]) -> 429 with DRF's text; wait in seconds, rounded up. Retry-After
-- carries the same integer unless retry_after is false (PostHog may omit it, §16.2, §20.5).
function M.throttled(wait, retry_after)
  wait = ceil(wait)
  local res = M.error(429, "throttled_error", "throttled",
    "Request was throttled. Expected available in " .. wait .. (wait == 1 and " second." or " seconds."), nil)
  if retry_after ~= false then res.headers["Retry-After"] = tostring(wait) end
  return res
end

local Req = {}
Req.__index = Req

-- req:data() -> the parsed JSON body ({} when empty) | nil, error response (415 or 400 parse_error).
-- Parsed once; DRF parses lazily too, so the error surfaces wherever the body is first needed.
function Req:data()
  if not self.parsed then
    self.parsed = true
    local body = self.body
    if body == nil or body == "" then
      self.data_value = {}
    else
      local ctype = self.headers["content-type"]
      if type(ctype) == "table" then ctype = ctype[1] end
      local media = ctype and ctype:match("^%s*([^;%s]+)")
      if not media or media:lower() ~= "application/json" then
        self.data_error = M.error(415, "invalid_request", "unsupported_media_type",
          'Unsupported media type "' .. (ctype or "") .. '" in request.', nil)
      else
        local value, err = json.decode(body)
        if value == nil then
          self.data_error = M.error(400, "invalid_request", "parse_error", "JSON parse error - " .. tostring(err), nil)
        else
          self.data_value = value
        end
      end
    end
  end
  return self.data_value, self.data_error
end

-- header(req, name) -> the first value of a request header (lower-case name), or nil.
function M.header(req, name)
  local v = req.headers[name]
  if type(v) == "table" then v = v[1] end
  return v
end

-- read_body() -> the request body as a string, or nil when there is none.
local function read_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then return body end
  local file = ngx.req.get_body_file()
  if not file then return nil end
  local f = assert(io.open(file, "rb"))
  body = f:read("*a")
  f:close()
  return body
end

-- request(public_base) -> the current request: method, uri (decoded, for routing), raw_path (as
-- sent), args (raw query), query, headers (lower-case names), body, origin (public_base or
-- scheme://Host) and link_path (the path used in next/previous).
function M.request(public_base)
  local headers = ngx.req.get_headers(200)
  local raw_path = ngx.var.request_uri:match("^[^?]*")
  local args = ngx.var.args or ""
  local host = headers.host
  if type(host) == "table" then host = host[1] end
  host = host or (ngx.var.server_addr .. ":" .. ngx.var.server_port)
  return setmetatable({
    method = ngx.req.get_method(),
    uri = ngx.var.uri,
    raw_path = raw_path,
    link_path = raw_path,
    args = args,
    query = parse_query(args),
    headers = headers,
    body = read_body(),
    origin = public_base or (ngx.var.scheme .. "://" .. host),
  }, Req)
end

-- send(res[, mode]) -> writes the response. mode: nil (normal, with Content-Length), "cut"
-- (full Content-Length, half the body, then the connection is closed), "truncate" (half the body
-- with a matching Content-Length), "chunked" (chunked transfer encoding), "close" (no response).
function M.send(res, mode)
  if mode == "close" then return ngx.exit(444) end
  ngx.status = res.status
  for k, v in pairs(res.headers) do ngx.header[k] = v end
  local body = res.body or ""
  if mode == "truncate" then body = body:sub(1, floor(#body / 2)) end
  if mode == "chunked" then
    local piece = ceil(#body / 3)
    for i = 1, #body, piece do
      ngx.print(body:sub(i, i + piece - 1))
      ngx.flush(true)
    end
    return
  end
  if res.status == 204 then return end         -- nginx drops body, Content-Type and length
  ngx.header["Content-Length"] = #body
  if mode == "cut" then
    ngx.send_headers()
    ngx.print(body:sub(1, floor(#body / 2)))
    ngx.flush(true)
    return ngx.exit(444)
  end
  if #body > 0 then ngx.print(body) end
end

return M
