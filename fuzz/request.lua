--- fuzz/request.lua: core.build_request with any fields. Promises: it raises only on a
-- programmer error (a field of the wrong Lua type; with query_shape "list", an unknown list
-- parameter or one of the wrong type), and otherwise returns the request or {kind =
-- "validation", detail} without the key in it; a request has its url as base .. path, at most
-- 64 KiB, no framing header, no CR, LF or NUL in a header, a body that is valid UTF-8 and JSON
-- when it was a table.
local core = require "posthog.event_definitions.core"
local lib = dofile("fuzz/lib.lua")
local check = lib.check

local KEY = "phx_FUZZSECRETKEY0123"
local METHODS = { "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "get", "" }
local BASES = { "https://us.posthog.com", "http://127.0.0.1:8080/prefix", "https://x", "http://a b" }
local HEADERS = { "X-Trace", "Content-Length", "content-type", "Accept", "HOST", "Transfer-Encoding",
  "connection", "Authorization", "User-Agent", "Bad Name", "X:Y", "" }
local FRAMING = { host = true, ["content-length"] = true, ["transfer-encoding"] = true, connection = true }

local function query(r, list)
  local q = {}
  for _ = 1, r:byte() % 5 do
    local name = r:string(lib.NAMES)
    local kind = r:byte() % 5
    if kind == 0 then q[name] = lib.strings(r)
    elseif kind == 1 then q[name] = r:string()
    elseif kind == 2 then q[name] = r:byte() % 2 == 0
    elseif kind == 3 then q[name] = r:byte() - 8
    else q[name] = lib.value(r, 2) end
  end
  return q, list and "list" or nil
end

-- Input: flags (1 query, 2 list shape, 4 body, 8 a string body, 16 the definition shape, 32
-- headers, 64 a long path), odds (% 16 == 0 another key, % 3 == 0 a user agent, % 5 == 0 a
-- timeout), method, base, path, then what the flags and odds ask for, in that order.
return function(data)
  local r = lib.reader(data)
  local flags, odds = r:byte(), r:byte()
  local t = { method = METHODS[r:byte() % #METHODS + 1] }
  if r:byte() % 8 == 0 then t.base = r:string() else t.base = BASES[r:byte() % #BASES + 1] end
  t.path = "/" .. r:string()
  t.key = odds % 16 == 0 and r:string() or KEY
  if odds % 3 == 0 then t.user_agent = r:string() end
  t.timeout = odds % 5 == 0 and (r:byte() - 8) / 4 or 30
  if flags & 1 == 1 then t.query, t.query_shape = query(r, flags & 2 == 2) end
  if flags & 4 == 4 then
    if flags & 8 == 8 then t.body = r:string() else t.body = lib.value(r, 4) end
    if type(t.body) ~= "table" and type(t.body) ~= "string" then t.body = nil end
    t.body_shape = flags & 16 == 16 and type(t.body) == "table" and "definition" or nil
  end
  if flags & 32 == 32 then
    t.headers = {}
    for _ = 1, r:byte() % 4 do
      local name = HEADERS[r:byte() % #HEADERS + 1]
      t.headers[name] = r:string()
    end
  end
  if flags & 64 == 64 then t.path = t.path .. ("a"):rep(r:u16() * 2) end
  local ok, req, err = pcall(core.build_request, t)
  if not ok then
    check(t.query_shape == "list" and tostring(req):find("^posthog%.event_definitions: "),
      "build_request raises only on list parameters here: " .. tostring(req))
    return
  end
  if req == nil then
    check(type(err) == "table" and err.kind == "validation" and type(err.detail) == "string",
      "a refusal is kind validation")
    check(not err.detail:find(KEY, 1, true), "the key is in no message")
    return
  end
  check(req.method == t.method and req.url == t.base .. req.path, "url = base .. path")
  check(#req.url <= 65536, "a url is at most 64 KiB")
  for name, value in pairs(req.headers) do
    check(not FRAMING[name:lower()], "no framing header")
    check(not value:find("[\r\n%z]"), "no CR, LF or NUL in a header")
  end
  if req.body ~= nil then
    check(lib.utf8(req.body), "a body is valid UTF-8")
    if type(t.body) == "table" then check(core.decode(req.body) ~= nil, "a table body is JSON") end
  end
end
