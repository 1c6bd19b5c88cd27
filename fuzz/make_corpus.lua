--- fuzz/make_corpus.lua: writes the seed corpora of fuzz/corpus/<harness>/ from the answers of
-- the fake PostHog (spec/fake), each in its harness's input format (see fuzz/<harness>.lua).
--   lua5.4 fuzz/make_corpus.lua        (from the repository root; starts and stops a fake)
local socket = require "socket"

local KEY = "phx_fake_all"
local NOW = 1445412470 -- 10 s before Wed, 21 Oct 2015 07:28:00 GMT

-- ===== The fake =====

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir .. " && chmod 755 " .. dir))
local pipe = assert(io.popen("spec/fake/start --dir " .. dir))
local url = assert(pipe:read("*l"), "the fake did not start")
pipe:close()
local port = assert(tonumber(url:match(":(%d+)$")))

-- The raw answer (head and body) to one HTTP/1.0 request (so nginx sends no chunks).
local function raw(method, path, body, headers)
  local c = assert(socket.connect("127.0.0.1", port))
  c:settimeout(5)
  local lines = { method .. " " .. path .. " HTTP/1.0", "Host: 127.0.0.1", "Authorization: Bearer " .. KEY,
    "Accept: application/json" }
  for _, h in ipairs(headers or {}) do lines[#lines + 1] = h end
  if body then
    lines[#lines + 1] = "Content-Type: application/json"
    lines[#lines + 1] = "Content-Length: " .. #body
  end
  assert(c:send(table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")))
  local answer = c:receive("*a")
  c:close()
  local head, rest = answer:match("^(.-\r\n)\r\n(.*)$")
  local status = tonumber(head:match("^HTTP/1%.%d (%d%d%d)"))
  return { head = head, body = rest, status = status }
end

local API = "/api/projects/1/event_definitions/"
raw("POST", "/__fake/reset", '{"seed": 12}')
local page = raw("GET", API .. "?limit=2&ordering=name")
local id = page.body:match('"id":"([^"]+)"')
local definition = raw("GET", API .. id .. "/")
local created = raw("POST", API, '{"name":"signed_up","tags":["Core "," billing"],"description":"é ✓"}')
local missing = raw("GET", API .. "by_name/?name=nope")
local invalid = raw("POST", API, '{"name":"x","tags":["ok","  "]}')
local bulk = raw("POST", API .. "bulk_update_tags/", '{"ids":["' .. id .. '"],"action":"add","tags":["pii"]}')
local primary = raw("GET", API .. "primary_properties/?names=event_0008")
local codegen = raw("GET", API .. "typescript/")
local deleted = raw("DELETE", API .. id .. "/")
raw("POST", "/__fake/config", '{"throttle": {"per_minute": 1}}')
raw("GET", API .. "?limit=1")
local throttled = raw("GET", API .. "?limit=1")
raw("POST", "/__fake/config", '{"retry_after_header": false}')
local bare_429 = raw("GET", API .. "?limit=1")
os.execute("spec/fake/stop " .. dir .. " >/dev/null 2>&1; rm -rf " .. dir)
assert(page.status == 200 and definition.status == 200 and created.status == 201 and missing.status == 404 and
  invalid.status == 400 and bulk.status == 200 and primary.status == 200 and codegen.status == 200 and
  deleted.status == 204 and throttled.status == 429 and bare_429.status == 429, "an answer of the fake changed")

-- ===== Writing =====

local function write(harness, name, bytes)
  os.execute("mkdir -p fuzz/corpus/" .. harness)
  local f = assert(io.open("fuzz/corpus/" .. harness .. "/" .. name, "wb"))
  f:write(bytes)
  f:close()
end

local function u16(n) return string.char(n // 256 % 256, n % 256) end
local function u32(n) return u16(n // 65536 % 65536) .. u16(n % 65536) end

-- decode: shape byte (0 any, 1 definition, 2 page, 3 bulk, 4 primary_properties, 5 object; +128
-- keep nulls), the text
write("decode", "page", "\2" .. page.body)
write("decode", "definition", "\1" .. definition.body)
write("decode", "created-keep-nulls", "\129" .. created.body)
write("decode", "bulk", "\3" .. bulk.body)
write("decode", "primary-properties", "\4" .. primary.body)
write("decode", "error", "\0" .. invalid.body)
write("decode", "codegen", "\5" .. codegen.body:sub(1, 600))

-- response: shape byte (0 any, 1 none, 2 definition, 3 page, 4 bulk, 5 primary_properties,
-- 6 object, 7 codegen), status - 100 (2 bytes), now (4 bytes), header lines, empty line, body
local function response(shape, answer)
  local head = answer.head:gsub("^[^\r\n]*\r\n", ""):gsub("\r\n", "\n")
  return string.char(shape) .. u16(answer.status - 100) .. u32(NOW) .. head .. "\n" .. answer.body
end
write("response", "page", response(3, page))
write("response", "definition", response(2, created))
write("response", "deleted", response(1, deleted))
write("response", "not-found", response(0, missing))
write("response", "invalid", response(2, invalid))
write("response", "bulk", response(4, bulk))
write("response", "throttled", response(3, throttled))
write("response", "throttled-bare", response(3, bare_429))
write("response", "codegen", response(7, { head = codegen.head, status = 200, body = codegen.body:sub(1, 600) }))
write("response", "gateway", string.char(0) .. u16(402) .. u32(NOW) .. "content-type: text/html\n\n" ..
  "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")

-- encode: byte 0 (a value) and the value as lib.value reads it; byte 1 and a definition
local function str(s) s = s:sub(1, 31) return string.char(#s) .. s end
local function value(v)
  local t = type(v)
  if t == "string" then return "\0" .. str(v)
  elseif t == "boolean" then return "\4" .. (v and "\0" or "\1")
  elseif math.type(v) == "integer" and v >= -2147483648 and v < 2147483648 then
    return "\2" .. u32(v + 2147483648) .. "\0"
  elseif t == "number" then return "\3" .. string.pack("<d", v)
  elseif t == "table" then
    if v[1] ~= nil or next(v) == nil then
      local out = { "\8", string.char(math.min(#v, 5)) }
      for i = 1, math.min(#v, 5) do out[#out + 1] = value(v[i]) end
      return table.concat(out)
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    local out = { "\10", string.char(math.min(#keys, 5)) }
    for i = 1, math.min(#keys, 5) do out[#out + 1] = str(keys[i]) .. value(v[keys[i]]) end
    return table.concat(out)
  end
  return "\5"
end
local cjson = require "cjson"
local def = cjson.decode(created.body)
write("encode", "definition-value", "\0" .. value({ name = def.name, tags = def.tags, description = def.description,
  owner = 1, verified = false }))
write("encode", "bulk-value", "\0" .. value({ ids = { id }, action = "add", tags = { "pii", "Core" } }))
write("encode", "nested-value", "\0" .. value({ a = { 1, 2.5, { x = true } }, b = "é" }))
-- definition: field count, then (name index - 1, kind, value): kind 0 strings, 1 string, 2 boolean
write("encode", "definition", "\1\4" .. "\1\1" .. str(def.name) .. "\4\0\2" .. str("core") .. str(" Billing ") ..
  "\5\2\0" .. "\3\1" .. str("Seeded event 1"))

-- request: flags, odds, method, base, path, then what they ask for (see fuzz/request.lua)
local function word(i) return string.char(0xC0 + i - 1) end -- lib.NAMES[i]
write("request", "list", string.char(1 + 2 + 32) .. "\1\0\1\0" .. str("event_definitions/") ..
  "\3" .. word(21) .. "\1" .. str("sign up") .. word(23) .. "\3" .. "\13" .. word(17) .. "\0\2" .. str("name") ..
  str("-last_seen_at") .. "\1\0" .. str("1"))
write("request", "create", string.char(4 + 16 + 32) .. "\1\1\1\0" .. str("event_definitions/") ..
  value({ name = "signed_up", tags = { "core" } }) .. "\1\0" .. str("1"))
write("request", "bulk", string.char(4) .. "\1\1\1\1" .. str("event_definitions/bulk_update_tags/") ..
  value({ ids = { id }, action = "add", tags = { "pii" } }))
write("request", "delete", string.char(32 + 64) .. "\1\4\1\0" .. str(id .. "/") .. "\1\0" .. str("7") ..
  u16(300))

-- retry_after: now (4 bytes), status byte (even: 429, odd: 503), the value
local retry = throttled.head:match("\r\n[Rr]etry%-[Aa]fter: *([^\r\n]*)")
for name, v in pairs({ fake = assert(retry), seconds = "120", imf = "Wed, 21 Oct 2015 07:28:00 GMT",
  rfc850 = "Wednesday, 21-Oct-15 07:28:00 GMT", asctime = "Wed Oct 21 07:28:00 2015", padded = "  5 ",
  negative = "-1", garbage = "soon", leap = "Thu, 31 Dec 2015 23:59:60 GMT" }) do
  write("retry_after", name, u32(NOW) .. (name == "negative" and "\0" or "\1") .. v)
end

-- tags: the bytes of one tag
for name, tag in pairs({ fake = "billing", spaced = "  Core ", nbsp = "\194\160pii\194\160", blank = " \t ",
  ideographic = "\227\128\128", accented = "\195\137cole", long = ("\195\169"):rep(256),
  sigma = "\206\163\206\163" }) do
  write("tags", name, tag)
end

-- parse_head: a response head as received
write("parse_head", "page", page.head .. "\r\n")
write("parse_head", "created", created.head .. "\r\n")
write("parse_head", "throttled", throttled.head .. "\r\n")
write("parse_head", "folded", "HTTP/1.1 200 OK\r\nX-Folded: one\r\n  two\r\nX-A: 1\r\nx-a: 2\r\nX-E:\r\n\r\n")
print("fuzz/make_corpus.lua: corpora written from " .. url)
