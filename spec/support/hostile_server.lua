-- spec/support/hostile_server.lua: a scripted, hostile HTTP server for the fault matrix
-- (spec/80-fault_matrix_spec.lua). Plain LuaSocket, one process, no threads.
--
--   lua5.4 spec/support/hostile_server.lua [lifetime-seconds]     (default 1200)
--
-- Listens on two free loopback ports and prints "port <main> <other>" once ready:
--
-- * main: requests to /b/<behaviour>/<case>/<rest> are answered as <behaviour> says (the
--   client under test gets `http://127.0.0.1:<main>/b/<behaviour>/<case>` as its host, so the
--   API path follows). /__ctl/log?case=C answers {"requests": [...], "other": n, "followed": n}
--   (the requests of case C; how many requests ever reached the other port; how many followed a
--   redirect to /followed/); /__ctl/behaviours lists the behaviours; /__ctl/quit ends the server.
-- * other: "another host". Nothing should ever arrive there; whatever does is logged and
--   answered 404.
--
-- Every request is logged (case, behaviour, n = its index within the case, method, path, query,
-- body sample, connection id, accept-encoding, whether it carried Authorization, t0 = when the
-- request was read, t1 = when its connection ended, how it ended). Every loop is bounded: the
-- server ends after its lifetime, a connection after CONN_LIFETIME, a generated body at its cap.
local socket = require "socket"
local cjson = require "cjson"

local LIFETIME = tonumber(arg[1]) or 1200
local CONN_LIFETIME = 15      -- seconds any one connection may live
local HOLD = 8                -- seconds a stall holds the connection (the client gives up first)
local MAX_HEAD = 65536        -- bytes of a request head
local MAX_BODY = 1048576      -- bytes of a request body
local BIG = 1048576           -- bytes of an oversized body (the matrix sets max_response_bytes 64 KiB)
local ENDLESS_CAP = 8 * 1048576

local started = socket.gettime()
local main = assert(socket.bind("127.0.0.1", 0))
local other = assert(socket.bind("127.0.0.1", 0))
main:settimeout(0)
other:settimeout(0)
local MAIN_PORT = select(2, main:getsockname())
local OTHER_PORT = select(2, other:getsockname())
io.stdout:write("port ", MAIN_PORT, " ", OTHER_PORT, "\n")
io.stdout:flush()

local log = {}            -- every request, in arrival order
local by_case = {}        -- case -> array of log entries
local other_count, followed_count = 0, 0
local conns = {}          -- socket -> connection state
local next_conn = 0
local quit = false

------------------------------------------------------------------------------------------------
-- Answers
------------------------------------------------------------------------------------------------

local function def_json(id, name)
  return string.format('{"id":"%s","name":%s,"owner":null,"description":"","tags":[],'
    .. '"created_at":"2024-01-02T03:04:05Z","updated_at":"2024-01-02T03:04:05Z","updated_by":null,'
    .. '"last_seen_at":null,"verified":false,"verified_at":null,"verified_by":null,"hidden":false,'
    .. '"enforcement_mode":"allow","primary_property":null,"is_action":false,"post_to_slack":false,'
    .. '"default_columns":[],"media_preview_urls":[]}', id, cjson.encode(name))
end

local CREATED_ID = "01900000-0000-7000-8000-00000000c0de"

local function unescape(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The JSON an honest server would answer `req` with, and its status (DELETE: a definition with
-- 200, for behaviours that need a body; the plain answer of a DELETE is 204, see `normal`).
local function json_answer(req)
  local rest, method = req.rest, req.method
  if rest:find("/event_definitions/by_name/?$") then
    local name = unescape(req.query:match("name=([^&]*)") or "")
    return 200, def_json("01900000-0000-7000-8000-00000000b1a0", name)
  end
  local id = rest:match("/event_definitions/(%x+%-%x+%-%x+%-%x+%-%x+)/?$")
  if id then return 200, def_json(id, "matrix_event") end
  if rest:find("/event_definitions/?$") then
    if method == "POST" then
      local ok, fields = pcall(cjson.decode, req.body)
      local name = ok and type(fields) == "table" and type(fields.name) == "string" and fields.name or "unnamed"
      return 201, def_json(CREATED_ID, name)
    end
    return 200, '{"count":1,"next":null,"previous":null,"results":[' .. def_json(CREATED_ID, "listed") .. "]}"
  end
  return 404, '{"type":"invalid_request","code":"not_found","detail":"Not found.","attr":null}'
end

local REASONS = { [100] = "Continue", [200] = "OK", [201] = "Created", [204] = "No Content",
  [301] = "Moved Permanently", [302] = "Found", [307] = "Temporary Redirect", [308] = "Permanent Redirect",
  [400] = "Bad Request", [401] = "Unauthorized", [404] = "Not Found", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout" }

-- A response head: status line and headers (array of "Name: value"), ending with the blank line.
local function head(status, headers, version)
  local lines = { string.format("HTTP/%s %d %s", version or "1.1", status, REASONS[status] or "Status") }
  for _, h in ipairs(headers or {}) do lines[#lines + 1] = h end
  return table.concat(lines, "\r\n") .. "\r\n\r\n"
end

-- A complete response with Content-Length and Connection: close.
local function response(status, body, ctype, extra)
  local headers = {}
  if ctype then headers[#headers + 1] = "Content-Type: " .. ctype end
  for _, h in ipairs(extra or {}) do headers[#headers + 1] = h end
  headers[#headers + 1] = "Content-Length: " .. #body
  headers[#headers + 1] = "Connection: close"
  return head(status, headers) .. body
end

local function json_response(status, body, extra)
  return response(status, body, "application/json", extra)
end

-- What an honest server answers.
local function normal(req)
  if req.method == "DELETE" then return head(204, { "Connection: close" }) end
  local status, body = json_answer(req)
  return json_response(status, body)
end

local function error_json(kind, code, detail, attr)
  return cjson.encode({ type = kind, code = code, detail = detail, attr = attr or cjson.null })
end

local function gateway_html(status)
  local title = status .. " " .. REASONS[status]
  return "<html>\r\n<head><title>" .. title .. "</title></head>\r\n<body>\r\n<center><h1>" .. title
    .. "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
end

local function chunked(parts, finish)
  local out = {}
  for _, p in ipairs(parts) do out[#out + 1] = string.format("%x\r\n%s\r\n", #p, p) end
  if finish then out[#out + 1] = "0\r\n\r\n" end
  return table.concat(out)
end

local function http_date(t) return os.date("!%a, %d %b %Y %H:%M:%S GMT", t) end

-- A generator step: `make(i)` gives the i-th piece (nil: done); at most `cap` bytes in all.
local function gen(make, cap) return { "gen", make, cap or ENDLESS_CAP } end
local function filler(total, byte)
  local piece = string.rep(byte or "x", 65536)
  return gen(function(i)
    local left = total - (i - 1) * #piece
    if left <= 0 then return nil end
    return piece:sub(1, math.min(left, #piece))
  end, total)
end

local gzip_bomb
-- 16 MiB of zeros, gzip-compressed (about 16 KiB), made once with Debian's gzip.
local function bomb()
  if not gzip_bomb then
    local p = assert(io.popen("head -c 16777216 /dev/zero | gzip -9 -c", "r"))
    gzip_bomb = p:read("a")
    p:close()
  end
  return gzip_bomb
end

-- The body of behaviours that mangle a JSON answer: the honest JSON (a DELETE gets a
-- definition with 200), and its status.
local function mangled(req, f)
  local status, body = json_answer(req)
  return { { "send", json_response(status, f(body)) } }
end

local function key_of(req)
  return (req.headers.authorization or ""):match("^Bearer%s+(.-)%s*$") or ""
end

-- Behaviours: name -> function(req, ctx) returning a script, an array of steps:
-- {"send", bytes}, {"sleep", seconds}, {"trickle", bytes, seconds per byte}, gen(...),
-- {"close"} (FIN), {"reset"} (RST), {"keep"} (read the next request on this connection). The
-- connection is closed when the script ends.
local B = {}

B.ok = function(req) return { { "send", normal(req) } } end
B.close_before = function() return { { "close" } } end
B.reset_before = function() return { { "reset" } } end
B.close_in_status = function() return { { "send", "HTTP/1.1 20" }, { "close" } } end
B.close_in_headers = function() return { { "send", "HTTP/1.1 200 OK\r\nContent-Ty" }, { "close" } } end
B.reset_in_headers = function() return { { "send", "HTTP/1.1 200 OK\r\nContent-Type: appl" }, { "sleep", 0.05 },
  { "reset" } } end
B.close_after_headers = function(req)
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json", "Content-Length: " .. #body }) }, { "close" } }
end
B.close_in_body = function(req)
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json", "Content-Length: " .. #body })
    .. body:sub(1, #body // 2) }, { "close" } }
end
B.reset_in_body = function(req)
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json", "Content-Length: " .. #body })
    .. body:sub(1, #body // 2) }, { "sleep", 0.05 }, { "reset" } }
end
B.close_in_chunk = function(req)
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json", "Transfer-Encoding: chunked" })
    .. string.format("%x\r\n", #body) .. body:sub(1, #body // 2) }, { "close" } }
end
B.chunked_no_end = function(req)
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json", "Transfer-Encoding: chunked" })
    .. chunked({ body }, false) }, { "close" } }
end
-- The first request of the case is lost (closed unanswered), the others answered honestly / 404.
B.close_once = function(req) if req.n == 1 then return { { "close" } } end return B.ok(req) end
B.close_then_404 = function(req)
  if req.n == 1 then return { { "close" } } end
  return { { "send", json_response(404, error_json("invalid_request", "not_found", "Not found.")) } }
end
-- A stale keep-alive connection: the first request (the client's priming list) is answered with
-- the connection kept open; the second, on that connection, is read (and, as far as the client
-- can tell, applied) and the connection closed unanswered; later ones are answered as if it had
-- been applied: a DELETE 404, a POST "already exists", anything else honestly.
B.stale_keepalive = function(req)
  if req.n == 1 then
    local status, body = json_answer(req)
    return { { "send", head(status, { "Content-Type: application/json", "Content-Length: " .. #body }) .. body },
      { "keep" } }
  elseif req.n == 2 then
    return { { "close" } }
  elseif req.method == "DELETE" then
    return { { "send", json_response(404, error_json("invalid_request", "not_found", "Not found.")) } }
  elseif req.method == "POST" then
    return { { "send", json_response(400, error_json("validation_error", "invalid_input",
      "Event definition with name 'x' already exists", "name")) } }
  end
  return B.ok(req)
end
B.s503_once = function(req)
  if req.n == 1 then
    return { { "send", json_response(503, error_json("server_error", "error", "Unavailable.")) } }
  end
  return B.ok(req)
end

-- Status answers.
for _, status in ipairs { 500, 502, 503, 504 } do
  B["s" .. status .. "_json"] = function()
    return { { "send", json_response(status, error_json("server_error", "error", "A server error occurred.")) } }
  end
end
for _, status in ipairs { 502, 503, 504 } do
  B["s" .. status .. "_html"] = function()
    return { { "send", response(status, gateway_html(status), "text/html") } }
  end
end
B.s404_json = function()
  return { { "send", json_response(404, error_json("invalid_request", "not_found", "Not found.")) } }
end
B.s400_json = function()
  return { { "send", json_response(400, error_json("validation_error", "invalid_input", "Bad value.", "name")) } }
end

-- 429 with every kind of Retry-After.
local THROTTLED = error_json("throttled_error", "throttled", "Request was throttled.")
local function throttled(value)
  return function()
    local extra = {}
    if value then extra[1] = "Retry-After: " .. (type(value) == "function" and value() or value) end
    return { { "send", json_response(429, THROTTLED, extra) } }
  end
end
B.r429_seconds = throttled("2")
B.r429_date = throttled(function() return http_date(os.time() + 3) end)
B.r429_past = throttled(function() return http_date(os.time() - 3600) end)
B.r429_zero = throttled("0")
B.r429_padded = throttled(" 3 ")
B.r429_huge = throttled("99999999999999999999")
B.r429_day = throttled("86400")
B.r429_negative = throttled("-5")
B.r429_garbage = throttled("soon")
B.r429_absent = throttled(nil)

-- Stalls and trickles (the client's deadline must end them).
B.stall_before_headers = function() return { { "sleep", HOLD } } end
B.stall_after_headers = function(req)
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json", "Content-Length: " .. #body }) },
    { "sleep", HOLD } }
end
B.stall_in_body = function(req)
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json", "Content-Length: " .. #body })
    .. body:sub(1, 10) }, { "sleep", HOLD } }
end
B.trickle_body = function(req)
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json", "Content-Length: " .. #body }) },
    { "trickle", body, 1 } }
end
B.trickle_headers = function(req)
  local status, body = json_answer(req)
  return { { "send", "HTTP/1.1 " .. status .. " " .. REASONS[status] .. "\r\n" },
    { "trickle", "Content-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body, 1 } }
end

-- Oversized answers (max_response_bytes is 64 KiB in the matrix).
B.big_length = function()
  return { { "send", head(200, { "Content-Type: application/json", "Content-Length: " .. BIG }) }, filler(BIG, " ") }
end
B.big_chunked = function()
  local piece = string.rep(" ", 16384)
  return { { "send", head(200, { "Content-Type: application/json", "Transfer-Encoding: chunked" }) },
    gen(function(i)
      if i > BIG // #piece then return i == BIG // #piece + 1 and "0\r\n\r\n" or nil end
      return string.format("%x\r\n%s\r\n", #piece, piece)
    end, BIG + 65536) }
end
B.big_close = function()
  return { { "send", head(200, { "Content-Type: application/json", "Connection: close" }) }, filler(BIG, " ") }
end
B.big_http10 = function()
  return { { "send", head(200, { "Content-Type: application/json" }, "1.0") }, filler(BIG, " ") }
end
-- A gzip bomb: 16 MiB of zeros in about 16 KiB. A client that asked for gzip must stop at
-- max_response_bytes while inflating; one that did not must not inflate it (bytes, not JSON).
B.gzip_bomb = function()
  local z = bomb()
  return { { "send", response(200, z, "application/json", { "Content-Encoding: gzip" }) } }
end
B.huge_header = function(req)
  local status, body = json_answer(req)
  return { { "send", "HTTP/1.1 " .. status .. " OK\r\nX-Huge: " }, filler(BIG, "h"),
    { "send", "\r\nContent-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body } }
end
B.endless_headers = function()
  local line = "X-Endless: " .. string.rep("e", 1000) .. "\r\n"
  return { { "send", "HTTP/1.1 200 OK\r\n" }, gen(function() return line end, ENDLESS_CAP) }
end

-- Bodies that are not the JSON expected (complete answers, 2xx).
B.invalid_json = function(req) return mangled(req, function(b) return b:sub(1, #b // 2) .. '"' end) end
B.shape_array = function(req) return mangled(req, function() return "[1,2,3]" end) end
B.shape_scalar = function(req) return mangled(req, function() return '"just a string"' end) end
B.shape_null = function(req) return mangled(req, function() return "null" end) end
B.shape_wrong_types = function(req)
  return mangled(req, function() return '{"id":5,"name":[],"results":7,"count":"x","tags":"t","verified":"yes"}' end)
end
B.deep_nesting = function(req)
  return mangled(req, function() return string.rep("[", 10000) .. string.rep("]", 10000) end)
end
B.invalid_utf8 = function(req)
  return mangled(req, function(b) return (b:gsub('"name":"[^"]*"', '"name":"bad \255\254 name"', 1)) end)
end
B.nul_byte = function(req)
  return mangled(req, function(b) return (b:gsub('"name":"[^"]*"', '"name":"nul\0inside"', 1)) end)
end
B.trailing_garbage = function(req) return mangled(req, function(b) return b .. " xyz" end) end
B.number_overflow = function(req)
  return mangled(req, function(b) return '{"overflow":1e400,' .. b:sub(2) end)
end
B.big_integer = function(req)
  return mangled(req, function(b)
    local big = "123456789012345678901234567890"
    if b:find('"count":1,', 1, true) then return (b:gsub('"count":1,', '"count":' .. big .. ",", 1)) end
    return '{"action_id":' .. big .. "," .. b:sub(2)
  end)
end
B.empty_200 = function() return { { "send", json_response(200, "") } } end
B.s204 = function() return { { "send", head(204, { "Connection: close" }) } } end
B.html_200 = function() return { { "send", response(200, "<html><body>Welcome</body></html>", "text/html") } } end
B.cl_too_small = function(req)
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json", "Content-Length: 10", "Connection: close" })
    .. body } }
end

-- Framings that succeed.
B.continue_then_ok = function(req) return { { "send", head(100) .. normal(req) } } end
B.http10_close = function(req)
  if req.method == "DELETE" then return { { "send", head(204, {}, "1.0") } } end
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json" }, "1.0") .. body } }
end
B.http11_close = function(req)
  if req.method == "DELETE" then return { { "send", head(204, { "Connection: close" }) } } end
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json", "Connection: close" }) .. body } }
end
B.chunked_ok = function(req)
  if req.method == "DELETE" then return { { "send", head(204, { "Connection: close" }) } } end
  local status, body = json_answer(req)
  local half = #body // 2
  return { { "send", head(status, { "Content-Type: application/json", "Transfer-Encoding: chunked",
    "Connection: close" }) .. chunked({ body:sub(1, half), body:sub(half + 1) }, true) } }
end

-- Broken framings.
local function chunk_head(req)
  local status = json_answer(req)
  return head(status, { "Content-Type: application/json", "Transfer-Encoding: chunked" })
end
B.chunk_bad_hex = function(req) return { { "send", chunk_head(req) .. "zz\r\n{}\r\n0\r\n\r\n" }, { "close" } } end
B.chunk_huge_size = function(req)
  return { { "send", chunk_head(req) .. "7fffffff\r\n" }, filler(131072, " "), { "close" } }
end
B.chunk_overflow_hex = function(req)
  return { { "send", chunk_head(req) .. "ffffffffffffffffffffffff\r\n{}\r\n0\r\n\r\n" }, { "close" } }
end
B.chunk_negative = function(req) return { { "send", chunk_head(req) .. "-10\r\n{}\r\n0\r\n\r\n" }, { "close" } } end
B.chunk_short = function(req)
  return { { "send", chunk_head(req) .. "40\r\n{\"id\":1}\r\n0\r\n\r\n" }, { "close" } }
end
B.cl_conflict = function(req)
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json", "Content-Length: 10",
    "Content-Length: " .. #body }) .. body }, { "close" } }
end
B.cl_list = function(req)
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json", "Content-Length: 10, " .. #body }) .. body },
    { "close" } }
end
B.cl_negative = function(req)
  local status, body = json_answer(req)
  return { { "send", head(status, { "Content-Type: application/json", "Content-Length: -1" }) .. body },
    { "close" } }
end

-- Answers that are not HTTP/1.x.
B.not_http_ssh = function() return { { "send", "SSH-2.0-OpenSSH_9.2\r\n" }, { "close" } } end
B.not_http_status = function(req)
  local _, body = json_answer(req)
  return { { "send", "HTTP/1.1 abc OK\r\nContent-Type: application/json\r\nContent-Length: " .. #body
    .. "\r\n\r\n" .. body }, { "close" } }
end
B.not_http_v2 = function(req)
  local _, body = json_answer(req)
  return { { "send", "HTTP/2.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: " .. #body
    .. "\r\n\r\n" .. body }, { "close" } }
end
B.not_http_bare = function(req)
  local _, body = json_answer(req)
  return { { "send", body }, { "close" } }
end

-- Redirects: the client must follow none, and so send nothing (and never the key) elsewhere.
local function redirect(status, location)
  return function(req)
    return { { "send", json_response(status, "{}", { "Location: " .. location(req) }) } }
  end
end
B.redirect_301_other = redirect(301, function(req)
  return "http://127.0.0.1:" .. OTHER_PORT .. "/steal/" .. req.case
end)
B.redirect_302_relative = redirect(302, function(req) return "/followed/" .. req.case end)
B.redirect_307_other = redirect(307, function(req)
  return "http://127.0.0.1:" .. OTHER_PORT .. "/steal/" .. req.case .. "?key=" .. key_of(req)
end)
B.redirect_308_localhost = redirect(308, function(req)
  return "http://localhost:" .. MAIN_PORT .. "/followed/" .. req.case
end)

-- Servers that echo the key (and control characters) back.
B.echo_detail_400 = function(req)
  local key = key_of(req)
  return { { "send", json_response(400, error_json("validation_error", "invalid_input",
    "Invalid key " .. key .. " (Bearer " .. key .. ")", key)) } }
end
B.echo_attr_401 = function(req)
  return { { "send", json_response(401, error_json("authentication_error", "authentication_failed",
    "Incorrect authentication credentials.", "personal_api_key=" .. key_of(req))) } }
end
B.echo_html_502 = function(req)
  local key = key_of(req)
  return { { "send", response(502, "<html><head><title>Bad key " .. key .. "</title></head><body>Authorization: Bearer "
    .. key .. "</body></html>", "text/html") } }
end
B.echo_text_500 = function(req)
  return { { "send", response(500, "Traceback: key=" .. key_of(req) .. "\nError", "text/plain") } }
end
B.echo_200_garbage = function(req)
  return { { "send", response(200, "not json, your key is " .. key_of(req), "application/json") } }
end
B.echo_header_500 = function(req)
  return { { "send", json_response(500, error_json("server_error", "error", "A server error occurred."),
    { "X-Echo-Key: " .. key_of(req), "WWW-Authenticate: Bearer realm=\"" .. key_of(req) .. "\"" }) } }
end
B.detail_crlf = function()
  return { { "send", json_response(400, error_json("validation_error", "in\rvalid",
    "first line\r\nposthog.event_definitions: 200 forged line\n\tand a tab\0nul", "na\nme")) } }
end
B.html_crlf_502 = function()
  return { { "send", response(502, "<html>\r\n<title>Bad\r\nGateway</title>\n\n\r\n</html>", "text/html") } }
end

------------------------------------------------------------------------------------------------
-- Connections
------------------------------------------------------------------------------------------------

local function now() return socket.gettime() end

local function finish(c, how)
  if not conns[c.sock] then return end
  if how == "reset" then
    pcall(c.sock.setoption, c.sock, "linger", { on = true, timeout = 0 })
  end
  c.sock:close()
  conns[c.sock] = nil
  if c.entry then
    c.entry.t1 = now()
    c.entry.ended = c.entry.ended or how
  end
end

-- Sends what is pending without blocking; false when the connection is gone.
local function flush(c)
  while c.off <= #c.out do
    local last, err, partial = c.sock:send(c.out, c.off)
    if last then
      c.off = last + 1
    elseif err == "timeout" then
      c.off = (partial or c.off - 1) + 1
      return true
    else
      finish(c, "client closed")
      return false
    end
  end
  c.out, c.off = "", 1
  return true
end

-- Runs the connection's script as far as it can go now.
local function advance(c, t)
  for _ = 1, 100000 do
    if not conns[c.sock] then return end
    if c.off <= #c.out then return end
    if c.due then
      if t < c.due then return end
      c.due = nil
    end
    local step = c.script[c.i]
    if not step then return finish(c, "done") end
    local kind = step[1]
    if kind == "send" then
      c.i = c.i + 1
      c.out, c.off = step[2], 1
      if not flush(c) then return end
    elseif kind == "sleep" then
      c.i = c.i + 1
      c.due = t + step[2]
    elseif kind == "trickle" then
      step.pos = (step.pos or 0) + 1
      if step.pos > #step[2] then
        c.i = c.i + 1
      else
        c.out, c.off = step[2]:sub(step.pos, step.pos), 1
        c.due = t + step[3]
        if not flush(c) then return end
      end
    elseif kind == "gen" then
      step.i = (step.i or 0) + 1
      local piece
      if (step.sent or 0) < step[3] then piece = step[2](step.i) end
      if not piece then
        c.i = c.i + 1
      else
        step.sent = (step.sent or 0) + #piece
        c.out, c.off = piece, 1
        if not flush(c) then return end
      end
    elseif kind == "keep" then -- answered: read the next request on this connection
      c.script, c.i = nil, nil
      c.entry.ended = "kept open"
      return
    elseif kind == "close" then
      return finish(c, "closed")
    elseif kind == "reset" then
      return finish(c, "reset")
    end
  end
end

local function respond_now(c, bytes)
  c.script, c.i = { { "send", bytes } }, 1
  advance(c, now())
end

local function log_json(case)
  local requests = by_case[case] or {}
  local out = {}
  for i, e in ipairs(requests) do
    out[i] = { n = e.n, method = e.method, path = e.path, query = e.query, rest = e.rest,
      body = e.body, conn = e.conn, accept_encoding = e.accept_encoding or "", auth = e.auth,
      t0 = e.t0, t1 = e.t1 or cjson.null, ended = e.ended or cjson.null }
  end
  return cjson.encode({ requests = setmetatable(out, cjson.empty_array_mt), other = other_count,
    followed = followed_count })
end

local function behaviour_names()
  local names = {}
  for name in pairs(B) do names[#names + 1] = name end
  table.sort(names)
  return names
end

-- Parses the request in c.inbuf when complete: returns it, false (need more) or nil (bad).
local function parse_request(c)
  local stop = c.inbuf:find("\r\n\r\n", 1, true)
  if not stop then
    if #c.inbuf > MAX_HEAD then return nil end
    return false
  end
  local lines = {}
  for line in (c.inbuf:sub(1, stop + 1)):gmatch("(.-)\r\n") do lines[#lines + 1] = line end
  local method, target = (lines[1] or ""):match("^(%u+) (%S+) HTTP/1%.%d$")
  if not method then return nil end
  local headers = {}
  for i = 2, #lines do
    local name, value = lines[i]:match("^([^:]+):%s*(.-)%s*$")
    if name then headers[name:lower()] = value end
  end
  local len = tonumber(headers["content-length"] or "0") or 0
  if len > MAX_BODY then return nil end
  if #c.inbuf < stop + 3 + len then return false end
  local body = c.inbuf:sub(stop + 4, stop + 3 + len)
  c.inbuf = c.inbuf:sub(stop + 4 + len)
  local path, query = target:match("^([^?]*)%??(.*)$")
  return { method = method, target = target, path = path, query = query, headers = headers, body = body }
end

local function handle(c, req)
  local t = now()
  local entry = { method = req.method, path = req.path, query = req.query, body = req.body:sub(1, 200),
    conn = c.id, accept_encoding = req.headers["accept-encoding"], auth = req.headers.authorization ~= nil,
    t0 = t }
  c.entry = entry
  if c.other then
    other_count = other_count + 1
    log[#log + 1] = entry
    return respond_now(c, json_response(404, "{}"))
  end
  if req.path:find("^/followed/") then
    followed_count = followed_count + 1
    log[#log + 1] = entry
    return respond_now(c, json_response(404, "{}"))
  end
  if req.path == "/__ctl/log" then
    return respond_now(c, json_response(200, log_json(req.query:match("case=([^&]+)") or "")))
  elseif req.path == "/__ctl/behaviours" then
    return respond_now(c, json_response(200, cjson.encode(behaviour_names())))
  elseif req.path == "/__ctl/quit" then
    quit = true
    return respond_now(c, json_response(200, "{}"))
  end
  local name, case, rest = req.path:match("^/b/([%w_]+)/([%w_.-]+)(/.*)$")
  if not name or not B[name] then
    return respond_now(c, json_response(404, error_json("invalid_request", "not_found", "No such behaviour.")))
  end
  by_case[case] = by_case[case] or {}
  local list = by_case[case]
  req.case, req.rest, req.n = case, rest, #list + 1
  entry.n, entry.rest, entry.behaviour = req.n, rest, name
  list[#list + 1] = entry
  log[#log + 1] = entry
  c.script, c.i = B[name](req), 1
  advance(c, t)
end

local function accept(listener, is_other)
  for _ = 1, 64 do
    local s = listener:accept()
    if not s then return end
    s:settimeout(0)
    next_conn = next_conn + 1
    conns[s] = { sock = s, id = next_conn, other = is_other, inbuf = "", out = "", off = 1,
      born = now() }
  end
end

-- Reads what the client sent: the request while there is no script yet; afterwards only to
-- notice that the client went away.
local function readable(c)
  local data, err, partial = c.sock:receive(65536)
  local got = data or partial
  if got and got ~= "" and not c.script then c.inbuf = c.inbuf .. got end
  if err == "closed" then return finish(c, "client closed") end
  if not c.script then
    local req = parse_request(c)
    if req == nil then return finish(c, "bad request") end
    if req then handle(c, req) end
  end
end

while not quit and now() - started < LIFETIME do
  local t = now()
  local readers, writers, wait = { main, other }, {}, 0.05
  for s, c in pairs(conns) do
    if t - c.born > CONN_LIFETIME then
      finish(c, "lifetime")
    else
      readers[#readers + 1] = s
      if c.off <= #c.out then writers[#writers + 1] = s end
      if c.due then wait = math.max(0, math.min(wait, c.due - t)) end
    end
  end
  local r, w = socket.select(readers, writers, wait)
  for _, s in ipairs(w) do
    local c = conns[s]
    if c and flush(c) then advance(c, now()) end
  end
  for _, s in ipairs(r) do
    if s == main then accept(main, false)
    elseif s == other then accept(other, true)
    elseif conns[s] then readable(conns[s]) end
  end
  t = now()
  for _, c in pairs(conns) do if c.script then advance(c, t) end end
end
for _, c in pairs(conns) do finish(c, "server end") end
main:close()
other:close()
