#!/usr/bin/env luajit
-- Smoke test of the fake PostHog server, over real HTTP with curl:
--   luajit spec/fake/smoke.lua        (or lua5.1; needs curl and lua-cjson)
-- Starts a 2-worker server, checks the behaviours the client specs rely on, stops it, and prints
-- "N passed, N failed" last (exit status 1 on any failure).
local cjson = require "cjson.safe"

local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
local passed, failed = 0, 0

-- sh(cmd) -> stdout text, exit code.
local function sh(cmd)
  local p = io.popen(cmd .. "; echo \"__rc=$?\"")
  local out = p:read("*a")
  p:close()
  local text, rc = out:match("^(.-)__rc=(%d+)%s*$")
  return text, tonumber(rc)
end

-- q(s) -> s quoted for the shell.
local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- check(name, ok[, detail]) -> ok; counts and reports one assertion.
local function check(name, ok, detail)
  if ok then
    passed = passed + 1
  else
    failed = failed + 1
    print("FAIL " .. name .. (detail ~= nil and (": " .. tostring(detail)) or ""))
  end
  return ok
end

-- eq(name, got, want) -> ok.
local function eq(name, got, want)
  return check(name, got == want, "got " .. tostring(got) .. ", want " .. tostring(want))
end

local dir = sh("mktemp -d"):gsub("%s+$", "")
local url, rc = sh(q(here .. "/start") .. " --workers 2 --dir " .. q(dir))
url = url:gsub("%s+$", "")
if not check("start prints the base URL", rc == 0 and url:match("^http://127%.0%.0%.1:%d+$"), url) then
  print(sh("cat " .. q(dir .. "/logs/error.log")))
  os.exit(1)
end
eq("start writes DIR/url", (sh("cat " .. q(dir .. "/url")):gsub("%s+$", "")), url)

local tmp = dir .. "/smoke"
sh("mkdir -p " .. q(tmp))

-- request(method, path, opts) -> {status, headers (lower-case), body, json, rc, time}.
-- opts: key (default phx_fake_all; false for none), body (table or text), headers, curl (extra flags).
local function request(method, path, opts)
  opts = opts or {}
  local args = { "curl -s -m 10 -X " .. method, "-D " .. q(tmp .. "/h"), "-o " .. q(tmp .. "/b"), "-w '%{time_total}'" }
  local key = opts.key == nil and "phx_fake_all" or opts.key
  if key then args[#args + 1] = "-H " .. q("Authorization: Bearer " .. key) end
  for _, h in ipairs(opts.headers or {}) do args[#args + 1] = "-H " .. q(h) end
  if opts.body ~= nil then
    local f = assert(io.open(tmp .. "/in", "wb"))
    f:write(type(opts.body) == "table" and cjson.encode(opts.body) or opts.body)
    f:close()
    args[#args + 1] = "--data-binary @" .. q(tmp .. "/in")
    local has_type = false
    for _, h in ipairs(opts.headers or {}) do if h:lower():find("^content%-type:") then has_type = true end end
    if not has_type then args[#args + 1] = "-H 'Content-Type: application/json'" end
  end
  args[#args + 1] = opts.curl or ""
  sh("rm -f " .. q(tmp .. "/h") .. " " .. q(tmp .. "/b"))
  local elapsed, code = sh(table.concat(args, " ") .. " " .. q(url .. path))
  local res = { rc = code, time = tonumber(elapsed), headers = {} }
  local hf = io.open(tmp .. "/h", "rb")
  if hf then
    for line in hf:lines() do
      local status = line:match("^HTTP/%S+ (%d+)")
      if status then res.status = tonumber(status) end
      local k, v = line:match("^([^:]+):%s*(.-)\r?$")
      if k then res.headers[k:lower()] = v end
    end
    hf:close()
  end
  local bf = io.open(tmp .. "/b", "rb")
  res.body = bf and bf:read("*a") or ""
  if bf then bf:close() end
  res.json = cjson.decode(res.body)
  return res
end

-- err(type, code, detail[, attr]) -> PostHog's four-key error body.
local function err(typ, code, detail, attr)
  return '{"type":"' .. typ .. '","code":"' .. code .. '","detail":' .. cjson.encode(detail)
    .. ',"attr":' .. (attr and ('"' .. attr .. '"') or "null") .. "}"
end

local function control(path, body)
  return request(body and "POST" or "GET", "/__fake/" .. path, { key = false, body = body })
end

local E = "/api/projects/1/event_definitions"

local function names(res)
  local out = {}
  for i, d in ipairs(res.json and res.json.results or {}) do out[i] = d.name end
  return table.concat(out, ",")
end

-- == pagination: 306 definitions page as 100, 100, 100, 6 ==
eq("reset seed 306", control("reset", { seed = 306 }).status, 200)
do
  local path, sizes, seen, n = E .. "/?limit=100", {}, {}, 0
  local expect_next = {
    url .. E .. "/?limit=100&offset=100", url .. E .. "/?limit=100&offset=200", url .. E .. "/?limit=100&offset=300",
  }
  local expect_prev = {
    nil, url .. E .. "/?limit=100", url .. E .. "/?limit=100&offset=100", url .. E .. "/?limit=100&offset=200",
  }
  for page = 1, 5 do
    local res = request("GET", path)
    if res.status ~= 200 then check("page " .. page, false, res.body); break end
    sizes[#sizes + 1] = #res.json.results
    for _, d in ipairs(res.json.results) do
      if not seen[d.name] then n = n + 1 end
      seen[d.name] = true
    end
    eq("page " .. page .. " count", res.json.count, 306)
    eq("page " .. page .. " count_is_capped", res.json.count_is_capped, false)
    eq("page " .. page .. " previous", res.json.previous ~= cjson.null and res.json.previous or nil, expect_prev[page])
    if res.json.next == cjson.null then break end
    eq("page " .. page .. " next", res.json.next, expect_next[page])
    path = res.json.next:sub(#url + 1)
  end
  eq("page sizes", table.concat(sizes, ","), "100,100,100,6")
  eq("every definition once", n, 306)
  local res = request("GET", E .. "?search=event_00&ordering=-name&limit=1&offset=3")
  eq("next keeps and sorts the query", res.json.next, url .. E .. "?limit=1&offset=4&ordering=-name&search=event_00")
  eq("previous keeps the query", res.json.previous, url .. E .. "?limit=1&offset=2&ordering=-name&search=event_00")
  res = request("GET", E .. "/?search=event%20&names=event_0001&names=event_0002&limit=1")
  eq("repeated keys kept", res.json.next,
    url .. E .. "/?limit=1&names=event_0001&names=event_0002&offset=1&search=event+")
  eq("offset past the end", request("GET", E .. "/?offset=400").body:match('"results":%[%]') ~= nil, true)
end

-- == the worked fixture of §7.4 ==
eq("reset worked fixture", control("reset", { fixture = "worked" }).status, 200)
for _, row in ipairs({
  { "?ordering=-last_seen_at::date&ordering=-name",
    "installed_app,entered_free_trial,$pageview,purchase,rated_app,watched_movie" },
  { "?ordering=-name", "watched_movie,rated_app,purchase,installed_app,entered_free_trial,$pageview" },
  { "?search=ed", "rated_app,installed_app,watched_movie,entered_free_trial" },
  { "?search=free%20tri%20", "entered_free_trial" },
  { "?event_type=event_posthog", "$pageview" },
  { "?names=installed_app,purchase,missing_event", "installed_app,purchase" },
  { "?excluded_properties=%5B%22installed_app%22,%22purchase%22%5D",
    "$pageview,entered_free_trial,rated_app,watched_movie" },
  { "?search=app", "rated_app,installed_app" },
  { "?search=app&ordering=name", "installed_app,rated_app" },
  { "?exclude_stale=true&ordering=name",
    "$pageview,entered_free_trial,installed_app,purchase,rated_app,watched_movie" },
  { "?verified=true", "$pageview" },
}) do
  eq("worked " .. row[1], names(request("GET", E .. "/" .. row[1])), row[2])
end
eq("worked search count", request("GET", E .. "/?search=free%20tri%20").json.count, 1)

-- == list validation ==
for _, row in ipairs({
  { "limit=0", err("validation_error", "min_value", "Ensure this value is greater than or equal to 1.", "limit") },
  { "limit=abc", err("validation_error", "invalid_input", "A valid integer is required.", "limit") },
  { "offset=-1", err("validation_error", "min_value", "Ensure this value is greater than or equal to 0.", "offset") },
  { "event_type=foo", err("validation_error", "invalid_input",
    "Not a valid event type. Use one of: event, event_custom, event_posthog.", "event_type") },
}) do
  local res = request("GET", E .. "/?" .. row[1])
  eq("400 " .. row[1], res.status, 400)
  eq("body " .. row[1], res.body, row[2])
end
eq("huge limit clamps", request("GET", E .. "/?limit=9223372036854775808").status, 200)

-- == authentication and scopes ==
do
  local res = request("GET", E .. "/", { key = false })
  eq("no key 401", res.status, 401)
  eq("no key body", res.body,
    err("authentication_error", "not_authenticated", "Authentication credentials were not provided."))
  check("WWW-Authenticate", (res.headers["www-authenticate"] or ""):find('^Bearer resource_metadata="') ~= nil)
  res = request("GET", E .. "/", { key = "phx_unknown" })
  eq("bad key body", res.json and res.json.detail, "Personal API key found in request Authorization header is invalid.")
  res = request("GET", E .. "/?personal_api_key=phx_unknown", { key = false })
  eq("bad query key", res.json and res.json.detail, "Personal API key found in request query string is invalid.")
  eq("query key ok", request("GET", E .. "/?personal_api_key=phx_fake_read", { key = false }).status, 200)
  eq("spaces around key", request("GET", E .. "/", { key = "  phx_fake_all  " }).status, 200)
  res = request("POST", E .. "/", { key = "phx_fake_read", body = { name = "x" } })
  eq("read key cannot write", res.body,
    err("authentication_error", "permission_denied", "API key missing required scope 'event_definition:write'"))
  eq("write key can read", request("GET", E .. "/", { key = "phx_fake_write" }).status, 200)
  eq("empty scopes refused", request("GET", E .. "/", { key = "phx_fake_none" }).status, 403)
  eq("project-scoped key", request("GET", E .. "/", { key = "phx_fake_project2" }).json.detail,
    "API key does not have access to the requested project: ID 1.")
  res = request("GET", "/api/projects/@current/event_definitions/", { key = "phx_fake_project2" })
  eq("@current of project2 key", res.json.count, 0)
  eq("unknown project", request("GET", "/api/projects/9/event_definitions/").json.detail, "Project not found.")
  eq("scoped key, unmapped method: 403", request("PUT", E .. "/").json.detail,
    "This action does not support personal API key access")
  res = request("PUT", E .. "/", { key = "phx_fake_legacy" })
  eq("legacy key, unmapped method: 405", res.body,
    err("invalid_request", "method_not_allowed", 'Method "PUT" not allowed.'))
  eq("write key, PATCH on list: 405", request("PATCH", E .. "/", { key = "phx_fake_write" }).status, 405)
  eq("unknown route", request("GET", "/api/projects/1/nothing/").json.detail, "Endpoint not found.")
  eq("406", request("GET", E .. "/", { headers = { "Accept: text/html" } }).status, 406)
end

-- == create, update, delete ==
do
  local res = request("POST", E .. "/",
    { body = { name = " signed_up ", tags = { " Core", "core", "PII" }, owner = 2, verified = true } })
  eq("create 201", res.status, 201)
  local d = res.json or {}
  eq("name trimmed", d.name, "signed_up")
  eq("tags normalised", table.concat(d.tags or {}, ","), "core,pii")
  eq("owner object", type(d.owner) == "table" and d.owner.email, "second@example.com")
  eq("verified_by caller", type(d.verified_by) == "table" and d.verified_by.id, 1)
  eq("created_at null", d.created_at, cjson.null)
  eq("fixed clock", d.updated_at, "2020-01-02T00:00:00Z")
  check("uuid v7 lowercase", (d.id or ""):match("^%x+%-%x+%-7%x+%-[89ab]%x+%-%x+$") and d.id == d.id:lower(), d.id)
  eq("duplicate name", request("POST", E .. "/", { body = { name = "signed_up" } }).json.detail,
    "Event definition with name 'signed_up' already exists")
  eq("missing name", request("POST", E .. "/", { body = {} }).body,
    '{"type":"validation_error","code":"required","detail":"This field is required.","attr":"name"}')
  res = request("POST", E .. "/", { body = { name = "x", hidden = true, verified = true } })
  eq("hidden and verified", res.json.detail, "An event cannot be both hidden and verified")
  eq("reject without flag", request("POST", E .. "/", { body = { name = "x", enforcement_mode = "reject" } }).status,
    400)
  eq("name over 400", request("POST", E .. "/", { body = { name = ("a"):rep(401) } }).json.code, "max_length")
  eq("415", request("POST", E .. "/", { body = "<x/>", headers = { "Content-Type: application/xml" } }).json.detail,
    'Unsupported media type "application/xml" in request.')
  eq("parse error", request("POST", E .. "/", { body = "{bad" }).json.code, "parse_error")
  res = request("PATCH", E .. "/" .. d.id .. "/", { body = { hidden = true, name = "renamed", description = "desc" } })
  eq("patch 200", res.status, 200)
  eq("name immutable", res.json.name, "signed_up")
  eq("hidden unverifies", res.json.verified, false)
  eq("verified_by cleared", res.json.verified_by, cjson.null)
  check("updated_at moves", res.json.updated_at ~= d.updated_at, res.json.updated_at)
  res = request("PUT", E .. "/" .. d.id, { body = { verified = true } })
  eq("put verifies and unhides", tostring(res.json.verified) .. tostring(res.json.hidden), "truefalse")
  eq("retrieve", request("GET", E .. "/" .. d.id .. "/").json.description, "desc")
  eq("by_name", request("GET", E .. "/by_name/?name=signed_up").json.id, d.id)
  eq("by_name missing", request("GET", E .. "/by_name/?name=nope").body,
    '{"detail":"Event definition with name \'nope\' not found"}')
  eq("by_name no name", request("GET", E .. "/by_name/").body, '{"detail":"Query parameter \'name\' is required"}')
  request("PATCH", E .. "/" .. d.id, { body = { primary_property = "user_id" } })
  eq("primary_properties", request("GET", E .. "/primary_properties/?names=signed_up&names=purchase").body,
    '{"primary_properties":{"signed_up":"user_id"}}')
  eq("metrics refused for keys", request("GET", E .. "/" .. d.id .. "/metrics/").json.detail,
    "This action does not support personal API key access")
  eq("metrics for legacy key", request("GET", E .. "/" .. d.id .. "/metrics/", { key = "phx_fake_legacy" }).body,
    '{"query_usage_30_day":0}')
  control("config", { metrics_for_keys = true })
  eq("metrics_for_keys", request("GET", E .. "/" .. d.id .. "/metrics/").status, 200)
  res = request("DELETE", E .. "/" .. d.id .. "/")
  eq("delete 204", res.status, 204)
  eq("204 empty", res.body, "")
  eq("204 no content type", res.headers["content-type"], nil)
  eq("deleted 404", request("GET", E .. "/" .. d.id).status, 404)
  eq("non-uuid 404", request("GET", E .. "/not-a-uuid/").json.detail, "Not found.")
  control("config", { missing_uuid_status = 500 })
  eq("missing uuid 500", request("GET", E .. "/" .. d.id).status, 500)
  eq("non-uuid still 404", request("GET", E .. "/not-a-uuid").status, 404)
end

-- == bulk endpoints ==
do
  control("reset", { seed = 3 })
  local ids = {}
  for _, d in ipairs(request("GET", E .. "/?ordering=name").json.results) do ids[#ids + 1] = d.id end
  local missing = "0190c6a2-8f4e-7000-9c1d-3f5b2a7e9d11"
  local B = E .. "/bulk_update_tags/"
  local res = request("POST", B,
    { body = { ids = { ids[1], ids[2], missing }, action = "add", tags = { "Zeta", "alpha" } } })
  eq("bulk tags", res.body, '{"updated":[{"id":"' .. ids[1] .. '","tags":["alpha","zeta"]},{"id":"' .. ids[2]
    .. '","tags":["alpha","zeta"]}],"skipped":[{"id":"' .. missing .. '","reason":"Not found"}]}')
  eq("bulk tags empty", request("POST", B, { body = { ids = { ids[1] }, action = "remove", tags = {} } }).json.detail,
    "tags must not be empty for action 'remove'.")
  local many = {}
  for i = 1, 501 do many[i] = missing end
  eq("bulk ids limit", request("POST", B, { body = { ids = many, action = "set", tags = {} } }).json.attr, "ids")
  res = request("POST", E .. "/bulk_update_verified/", { body = { ids = { ids[1], ids[1], ids[3] }, verified = true } })
  eq("bulk verified, duplicates collapsed", res.json and #res.json.updated, 2)
  res = request("POST", E .. "/bulk_update_verified/", { body = { ids = { ids[1] }, verified = true } })
  eq("already verified: neither list", res.body, '{"updated":[],"skipped":[]}')
end

-- == codegen and schema_hash (§14.3) ==
do
  control("reset", { property_groups = { { name = "file", events = { "downloaded_file" }, properties = {
    { name = "file_size", property_type = "Numeric" },
    { name = "file_name", property_type = "String", is_required = true } } } } })
  local res = request("GET", E .. "/typescript/")
  eq("typescript hash 1.1.0", res.json.schema_hash, "b57072ac6dafe5da1a94a431dbdff823")
  eq("typescript version", res.json.generator_version, "1.1.0")
  eq("event_count", res.json.event_count, 1)
  check("content has Generated at", res.json.content:find("Generated at: %d%d%d%d%-") ~= nil)
  check("content has the interface", res.json.content:find('"file_size"?: number', 1, true) ~= nil)
  eq("golang hash 1.0.0", request("GET", E .. "/golang/").json.schema_hash, "e202a453bb6a3f04cdf3b804af6372f9")
  eq("python hash 1.0.0", request("GET", E .. "/python").json.schema_hash, "e202a453bb6a3f04cdf3b804af6372f9")
  res = request("GET", "/api/projects/2/event_definitions/python/", { key = "phx_fake_project2" })
  eq("no events hash", res.json.schema_hash, "7f6eb2ba2b34e5070922546848c30362")
  local id = request("GET", E .. "/by_name/?name=downloaded_file").json.id
  res = request("GET", "/api/projects/1/event_schemas/?event_definition=" .. id)
  eq("event schemas", res.json.results[1].property_group.name, "file")
  eq("property groups", request("GET", "/api/projects/1/schema_property_groups/").json.count, 1)
  res = request("GET", "/api/projects/1/property_definitions/?type=event"
    .. "&event_names=%5B%22downloaded_file%22%5D&filter_by_event_names=true", { key = "phx_fake_legacy" })
  eq("property definitions", names(res), "file_name,file_size")
  eq("property definitions scope",
    request("GET", "/api/projects/1/property_definitions/", { key = "phx_fake_read" }).status, 403)
  control("config", { codegen_plain_text = true })
  res = request("GET", E .. "/typescript/")
  eq("plain text codegen", res.headers["content-type"], "text/plain; charset=utf-8")
end

-- == environments alias, large project, public_base ==
do
  control("reset",
    { seed = 306, config = { large_project = true, count_cap = 100, public_base = "https://other.example" } })
  local res = request("GET", "/api/environments/1/event_definitions/?limit=100&offset=200")
  eq("alias Deprecation", res.headers["deprecation"], "true")
  eq("alias Link", res.headers["link"],
    '</api/projects/1/event_definitions/?limit=100&offset=200>; rel="successor-version"')
  eq("capped count", res.json.count, 100)
  eq("count_is_capped", res.json.count_is_capped, true)
  eq("capped next while pages are full", res.json.next,
    "https://other.example/api/projects/1/event_definitions/?limit=100&offset=300")
  eq("large project orders by name", res.json.results[1].name, "event_0201")
  eq("alias without projects route", request("GET", "/api/environments/1/dashboards/").status, 404)
end

-- == throttling ==
do
  control("reset", { seed = 1, config = { throttle = { per_minute = 3 } } })
  local statuses = {}
  for i = 1, 4 do statuses[i] = request("GET", E .. "/").status end
  eq("throttle statuses", table.concat(statuses, ","), "200,200,200,429")
  local res = request("GET", E .. "/")
  local detail = res.json and res.json.detail or ""
  check("429 text", detail:match("^Request was throttled%. Expected available in %d+ seconds?%.$"), res.body)
  check("Retry-After", tonumber(res.headers["retry-after"]) ~= nil, res.headers["retry-after"])
  eq("other key not throttled", request("GET", E .. "/", { key = "phx_fake_legacy" }).status, 200)
  eq("stats throttled", control("stats").json.throttled, 2)
end

-- == faults ==
do
  control("reset", { seed = 20 })
  local res = control("faults", { faults = {
    { match = { method = "GET", path = "event_definitions" }, action = "cut" },
    { action = "truncate" }, { action = "malformed" }, { action = "html" }, { action = "close" },
    { action = "chunked" }, { action = "delay", seconds = 0.4 },
    { status = 503, headers = { ["Retry-After"] = "1" } }, { status = 500, body = "boom" },
    { match = { method = "POST" }, status = 502, times = 2 },
  } })
  eq("faults queued", res.json and res.json.queued, 10)
  res = request("GET", E .. "/")
  eq("cut: curl sees a partial body", res.rc, 18)
  check("cut: Content-Length larger than sent", tonumber(res.headers["content-length"]) > #res.body,
    res.headers["content-length"])
  res = request("GET", E .. "/")
  check("truncate: matching length, broken JSON",
    tonumber(res.headers["content-length"]) == #res.body and res.json == nil)
  res = request("GET", E .. "/")
  check("malformed: 200 with invalid JSON", res.status == 200 and res.json == nil)
  res = request("GET", E .. "/")
  check("html: 502 page",
    res.status == 502 and res.headers["content-type"] == "text/html" and res.body:find("<html>") ~= nil)
  eq("close: empty reply", request("GET", E .. "/").rc, 52)
  res = request("GET", E .. "/")
  check("chunked", res.headers["transfer-encoding"] == "chunked" and res.json and res.json.count == 20)
  res = request("GET", E .. "/")
  check("delay", res.status == 200 and res.time >= 0.4, res.time)
  res = request("GET", E .. "/")
  check("status fault",
    res.status == 503 and res.headers["retry-after"] == "1" and res.json.code == "event_definitions_timeout")
  res = request("GET", E .. "/")
  check("string body", res.status == 500 and res.body == "boom")
  eq("unmatched fault stays queued", request("GET", E .. "/").status, 200)
  eq("method match", request("POST", E .. "/", { body = { name = "a" } }).status, 502)
  eq("times", request("POST", E .. "/", { body = { name = "a" } }).status, 502)
  eq("queue drained", request("POST", E .. "/", { body = { name = "a" } }).status, 201)
  local log = control("requests").json.requests
  eq("log entries", #log, 13)
  eq("log key", log[1].key, "phx_fake_all")
  eq("log fault", log[1].fault, "cut")
  request("GET", E .. "/?limit=2&x=1")
  local entries = control("requests").json.requests
  eq("log args", entries[#entries].args, "limit=2&x=1")
  check("log connection", type(log[1].connection) == "number" and log[1].connection_requests == 1)
  eq("bad fault", control("faults", { faults = { { action = "explode" } } }).status, 400)
end

-- == two workers share state; in-flight counting ==
do
  control("reset", {})
  for i = 1, 12 do request("POST", E .. "/", { body = { name = "w" .. i } }) end
  local ok = 0
  for i = 1, 12 do
    if request("GET", E .. "/by_name/?name=w" .. i).status == 200 then ok = ok + 1 end
  end
  eq("every worker sees every create", ok, 12)
  local workers = {}
  local n = 0
  for _, r in ipairs(control("requests").json.requests) do
    if not workers[r.worker] then n = n + 1; workers[r.worker] = true end
  end
  check("requests reached both workers", n == 2, n)
  control("config", { latency = 0.5 })
  local cmd = {}
  for _ = 1, 4 do
    cmd[#cmd + 1] = "curl -s -o /dev/null -H 'Authorization: Bearer phx_fake_all' " .. q(url .. E .. "/") .. " &"
  end
  sh(table.concat(cmd, " ") .. " wait")
  local stats = control("stats").json
  check("inflight_high counts sleeping requests", stats.inflight_high >= 4 and stats.inflight == 0, cjson.encode(stats))
end

-- == a 1,000-definition page is quick ==
do
  control("reset", { seed = 1000 })
  local res = request("GET", E .. "/?limit=1000")
  eq("1000 results", res.json and #res.json.results, 1000)
  res = request("GET", E .. "/?limit=1000&offset=1")
  check("1000-page under 50 ms", res.time < 0.05, res.time)
end

local errors = sh("grep -E '\\[(error|crit|alert|emerg)\\]' " .. q(dir .. "/logs/error.log"))
eq("no errors in error.log", errors, "")
sh(q(here .. "/stop") .. " " .. q(dir))
eq("stopped", select(2, sh("curl -s -o /dev/null " .. q(url .. "/__fake/stats"))), 7)
sh("rm -rf " .. q(dir))
print(passed .. " passed, " .. failed .. " failed")
os.exit(failed == 0 and 0 or 1)
