-- The C core's request builder: core.build_request.
local core = require "posthog.event_definitions.core"

local KEY = "phx_SECRET_personal_api_key_0123456789"

local function build(t)
  local base = {
    method = "GET",
    base = "https://us.posthog.com",
    path = "/api/projects/1/event_definitions/",
    key = KEY,
    user_agent = "posthog-event-definitions/0.1.0",
    timeout = 30,
  }
  for k, v in pairs(t or {}) do base[k] = v end
  return core.build_request(base)
end

-- The validation error of a refused request: nil and {kind = "validation", detail}.
local function refused(detail) return { nil, { kind = "validation", detail = detail } } end

-- The query string of a request, or nil and the detail of its validation error.
local function query(q, shape)
  local req, err = build({ query = q, query_shape = shape })
  if not req then
    assert.equal("validation", err.kind)
    return nil, err.detail
  end
  return req.url:match("%?(.*)$") or ""
end

describe("core.build_request", function()
  it("builds the URL from base and path, keeping a path prefix", function()
    local req = assert(build({ base = "http://127.0.0.1:8080/prefix",
      path = "/api/projects/1/event_definitions/abc/" }))
    assert.equal("http://127.0.0.1:8080/prefix/api/projects/1/event_definitions/abc/", req.url)
    assert.equal("/api/projects/1/event_definitions/abc/", req.path)
    assert.equal("GET", req.method)
    assert.equal(30, req.timeout)
    assert.is_nil(req.body)
  end)

  it("appends the query to a path that already has one (pagination's next)", function()
    local req = assert(build({ path = "/api/x/?limit=100&offset=100", query = { search = "a" } }))
    assert.equal("https://us.posthog.com/api/x/?limit=100&offset=100&search=a", req.url)
    assert.equal("https://us.posthog.com/api/x/", assert(build({ path = "/api/x/", query = {} })).url)
  end)

  it("sets the default headers", function()
    local req = assert(build())
    assert.same({
      Authorization = "Bearer " .. KEY,
      ["User-Agent"] = "posthog-event-definitions/0.1.0",
      Accept = "application/json",
    }, req.headers)
  end)

  it("adds Content-Type only with a body", function()
    local req = assert(build({ method = "POST", body = '{"name":"x"}' }))
    assert.equal("application/json", req.headers["Content-Type"])
    assert.equal('{"name":"x"}', req.body)
    assert.is_nil(assert(build({ method = "DELETE" })).headers["Content-Type"])
  end)

  it("encodes a table body, with the definition shape when asked", function()
    local req = assert(build({ method = "PATCH", body = { tags = {}, verified = true, id = "x", updated_at = "t" },
      body_shape = "definition" }))
    assert.equal('{"tags":[],"verified":true}', req.body)
    req = assert(build({ method = "POST", body = { ids = {}, action = "add", tags = { "a" } } }))
    assert.equal('{"action":"add","ids":[],"tags":["a"]}', req.body)
  end)

  it("returns body validation errors", function()
    assert.same(refused("verified: expected a boolean"),
      { build({ method = "POST", body = { verified = "yes" }, body_shape = "definition" }) })
    assert.same(refused("cannot encode NaN or infinity"), { build({ method = "POST", body = { x = 0 / 0 } }) })
  end)

  it("adds extra headers, which replace defaults of the same name", function()
    local req = assert(build({ headers = { ["X-Trace"] = "1", accept = "text/plain" } }))
    assert.equal("1", req.headers["X-Trace"])
    assert.equal("text/plain", req.headers.accept)
    assert.is_nil(req.headers.Accept)
  end)

  it("validates the method, path and timeout", function()
    assert.same(refused("method: expected GET, POST, PUT, PATCH or DELETE"), { build({ method = "HEAD" }) })
    assert.same(refused("path: expected an absolute path (starting with '/')"), { build({ path = "api/x/" }) })
    assert.same(refused("url: contains a space or a control character"), { build({ path = "/api/x y/" }) })
    assert.same(refused("timeout: expected a positive number of seconds"), { build({ timeout = 0 }) })
    assert.same(refused("timeout: expected a positive number of seconds"), { build({ timeout = -1 }) })
  end)

  -- issue 9: libcurl refuses URLs over 8 MB only after a retry loop has paid for them
  it("refuses a URL longer than 64 KiB, query included", function()
    local base = "https://us.posthog.com"
    local fits = "/" .. ("a"):rep(65536 - #base - 1)
    assert.equal(65536, #assert(build({ base = base, path = fits })).url)
    assert.same(refused("url: longer than 65536 bytes"), { build({ base = base, path = fits .. "b" }) })
    assert.same(refused("url: longer than 65536 bytes"), { build({ query = { search = ("x"):rep(70000) } }) })
    assert.same(refused("url: longer than 65536 bytes"),
      { build({ query = { names = { ("é"):rep(6000), ("é"):rep(6000) } }, query_shape = "list" }) })
  end)

  -- issue 8: the server answers such a body 400, after it has cost an attempt and pacing
  it("refuses a body that is not valid UTF-8", function()
    assert.same(refused("cannot encode a string that is not valid UTF-8"),
      { build({ method = "POST", body = { ids = { "a" }, nested = { deep = { "ok", "\255" } } } }) })
    assert.same(refused("cannot encode a key that is not valid UTF-8"),
      { build({ method = "POST", body = { x = { ["k\192\128"] = 1 } } }) })
    assert.same(refused("name: not valid UTF-8"),
      { build({ method = "POST", body = { name = "x\237\160\128" }, body_shape = "definition" }) })
    assert.same(refused("body: not valid UTF-8"), { build({ method = "POST", body = '{"name":"\255"}' }) })
    assert.equal('{"name":"é"}', assert(build({ method = "POST", body = '{"name":"é"}' })).body)
  end)

  -- issue 8: bulk_update_tags (a body without a shape) and the definition's tags
  it("refuses blank and over-long tags in a body, naming the index", function()
    local ids = { "0190c6a2-8f4e-0000-9c1d-3f5b2a7e9d11" }
    for _, case in ipairs({ { { "ok", "" }, "tags[2] is blank" }, { { " \194\160 " }, "tags[1] is blank" },
      { { ("t"):rep(256) }, "tags[1] is longer than 255 characters" },
      { { "\255" }, "tags[1] is not valid UTF-8" } }) do
      assert.same(refused(case[2]),
        { build({ method = "POST", body = { ids = ids, action = "add", tags = case[1] } }) })
      assert.same(refused(case[2]),
        { build({ method = "PATCH", body = { tags = case[1] }, body_shape = "definition" }) })
    end
    assert.is_table(build({ method = "POST", body = { ids = ids, action = "set", tags = { " A ", ("é"):rep(255) } } }))
    -- only a body's own tags are tags
    assert.is_table(build({ method = "POST", body = { x = { tags = { "" } } } }))
  end)

  it("raises on fields of the wrong Lua type", function()
    assert.has_error(function() core.build_request("x") end)
    assert.has_error(function() build({ method = 1 }) end)
    assert.has_error(function() build({ base = false }) end)
    assert.has_error(function() build({ query = "a=1" }) end)
    assert.has_error(function() build({ body = 12 }) end)
    assert.has_error(function() build({ headers = "x" }) end)
    assert.has_error(function() build({ timeout = "30" }) end)
    assert.has_error(function() build({ query_shape = "other" }) end)
    assert.has_error(function() build({ body_shape = "other", body = {} }) end)
    local ok, msg = pcall(build, { key = 42 })
    assert.is_false(ok)
    assert.matches("key", msg)
  end)
end)

describe("core.build_request query encoding", function()
  it("sorts keys bytewise and percent-encodes per RFC 3986", function()
    assert.equal("A=1&B=2&a=3&b=4", query({ b = 4, a = 3, B = 2, A = 1 }))
    assert.equal("q=a%20b%2Bc%26d%3De%2Ff%3F%C3%A9~-._", query({ q = "a b+c&d=e/f?é~-._" }))
    assert.equal("a%20b=1", query({ ["a b"] = 1 }))
  end)

  it("writes generic values", function()
    assert.equal("f=false&i=10&n=1.5&t=true&w=2", query({ i = 10, w = 2.0, n = 1.5, t = true, f = false }))
    assert.equal("x=1&x=b&x=true", query({ x = { 1, "b", true } }))
    assert.equal("", query({ x = {} }))
    local s, err = query({ x = { y = 1 } })
    assert.is_nil(s)
    assert.equal("query 'x': expected a string, number, boolean or an array of them", err)
    assert.is_nil((query({ x = { { 1 } } })))
    assert.is_nil((query({ x = 0 / 0 })))
    assert.is_nil((query({ x = core.null })))
    assert.equal("query: parameter names must be strings", select(2, query({ "a" })))
  end)

  it("repeats names and checks them for commas", function()
    assert.equal("names=a&names=b%20c&names=%24pageview", query({ names = { "a", "b c", "$pageview" } }, "list"))
    assert.equal("names=one", query({ names = "one" }, "list"))
    local s, err = query({ names = { "a", "b,c" } }, "list")
    assert.is_nil(s)
    assert.equal("names[2]: contains a comma, which PostHog splits on", err)
    assert.equal("names: contains a comma, which PostHog splits on", select(2, query({ names = "a,b" }, "list")))
  end)

  it("sends tags and excluded_properties as one JSON array each", function()
    assert.equal("tags=%5B%22a%22%5D", query({ tags = { "a" } }, "list"))
    assert.equal("excluded_properties=%5B%22x%22%2C%22y%20%5C%22z%5C%22%22%5D",
      query({ excluded_properties = { "x", 'y "z"' } }, "list"))
    assert.equal("tags=%5B%5D", query({ tags = {} }, "list"))
    -- without the list shape, tags are generic
    assert.equal("tags=a&tags=b", query({ tags = { "a", "b" } }))
  end)

  it("takes ordering as a string or an array", function()
    assert.equal("ordering=-name", query({ ordering = "-name" }, "list"))
    assert.equal("ordering=-last_seen_at%3A%3Adate&ordering=name",
      query({ ordering = { "-last_seen_at::date", "name" } }, "list"))
  end)

  it("writes the boolean filters as true and false", function()
    assert.equal("exclude_hidden=false&exclude_stale=true&verified=true",
      query({ exclude_stale = true, exclude_hidden = false, verified = true }, "list"))
  end)

  it("validates limit and offset", function()
    assert.equal("limit=100&offset=0", query({ limit = 100, offset = 0 }, "list"))
    assert.equal("limit=5", query({ limit = 5.0 }, "list"))
    assert.same({ nil, "limit: expected an integer >= 1" }, { query({ limit = 0 }, "list") })
    assert.same({ nil, "limit: expected an integer >= 1" }, { query({ limit = 1.5 }, "list") })
    assert.same({ nil, "limit: expected an integer >= 1" }, { query({ limit = 0 / 0 }, "list") })
    assert.same({ nil, "offset: expected an integer >= 0" }, { query({ offset = -1 }, "list") })
  end)

  it("writes search and event_type as they are", function()
    assert.equal("event_type=event_custom&search=sign%20up",
      query({ search = "sign up", event_type = "event_custom" }, "list"))
  end)
end)

-- issue 8: a misspelt `serach` must never widen a selection
describe("list parameters (core.check_params, and build_request with query_shape 'list')", function()
  local ALL = { search = "s", event_type = "event_custom", ordering = { "name" }, names = { "a" }, tags = {},
    excluded_properties = { "p" }, exclude_stale = false, exclude_hidden = true, verified = false, limit = 5,
    offset = 0 }

  -- Both checks raise the same message for params; returns it (or nil when neither raises).
  local function raised(params)
    local ok, msg = pcall(core.check_params, params)
    local ok2, msg2 = pcall(build, { query = params, query_shape = "list" })
    assert.equal(ok, ok2)
    if ok then return nil end
    assert.equal(msg, msg2)
    return msg
  end

  it("take every parameter of the list endpoint with its Lua type, and nil", function()
    assert.is_nil(raised(ALL))
    assert.is_nil(raised({}))
    assert.is_nil(raised({ ordering = "-name", names = "one", limit = 5.0 }))
    assert.is_nil(core.check_params(nil))
    assert.equal(0, select("#", core.check_params(ALL))) -- returns nothing
  end)

  it("raise on an unknown key, naming it", function()
    for _, key in ipairs({ "serach", "tag", "ids", "Search", "days", "all", "event-type", "" }) do
      assert.equal("posthog.event_definitions: unknown list parameter '" .. key .. "'", raised({ [key] = "x" }))
    end
    assert.equal("posthog.event_definitions: unknown list parameter 'a?b'", raised({ ["a\nb"] = 1 }))
    assert.equal("posthog.event_definitions: list parameter names must be strings, got number", raised({ "x" }))
  end)

  it("raise on a value of the wrong Lua type, naming the key", function()
    local function message(key, expected, got)
      return "posthog.event_definitions: list parameter '" .. key .. "' must be " .. expected .. ", got " .. got
    end
    for _, case in ipairs({
      { "limit", "10", "a number", "string" }, { "offset", true, "a number", "boolean" },
      { "verified", "true", "a boolean", "string" }, { "exclude_stale", 1, "a boolean", "number" },
      { "exclude_hidden", core.null, "a boolean", "userdata" },
      { "search", 1, "a string", "number" }, { "event_type", true, "a string", "boolean" },
      { "ordering", 1, "a string or an array of strings", "number" },
      { "ordering", { "a", 1 }, "a string or an array of strings", "table" },
      { "names", { 1 }, "a string or an array of strings", "number" },
      { "names", { a = "b" }, "a string or an array of strings", "table" },
      { "tags", "a", "an array of strings", "string" }, { "tags", { "a", { "b" } }, "an array of strings", "table" },
      { "excluded_properties", { [2] = "x" }, "an array of strings", "table" },
    }) do
      local got = raised({ [case[1]] = case[2] })
      assert.equal(message(case[1], case[3], case[4]:gsub("^number$", type(case[2]))), got)
    end
  end)

  it("raise on a table that is not a table", function()
    assert.has_error(function() core.check_params("search=x") end)
    assert.has_error(function() build({ query = "search=x", query_shape = "list" }) end)
  end)

  it("are not checked without the list shape (the escape hatch's query)", function()
    assert.equal("serach=x&zz=1", query({ serach = "x", zz = 1 }))
  end)
end)

describe("core.build_request header safety", function()
  it("refuses CR, LF and NUL in header values", function()
    assert.same(refused("personal_api_key contains CR or LF"), { build({ key = "phx_abc\r\nX-Evil: 1" }) })
    assert.same(refused("personal_api_key contains CR or LF"), { build({ key = "phx_abc\n" }) })
    assert.same(refused("personal_api_key contains NUL"), { build({ key = "phx_abc\0" }) })
    assert.same(refused("header 'User-Agent' contains CR or LF"), { build({ user_agent = "ua\r\nX: 1" }) })
    assert.same(refused("header 'X-Trace' contains CR or LF"), { build({ headers = { ["X-Trace"] = "a\nb" } }) })
    assert.same(refused("header 'X-Trace' contains NUL"), { build({ headers = { ["X-Trace"] = "a\0b" } }) })
    assert.same(refused("headers: a header name is not a valid HTTP token"),
      { build({ headers = { ["Bad Name"] = "x" } }) })
    assert.same(refused("headers: names and values must be strings"), { build({ headers = { ["X-A"] = 1 } }) })
    assert.same(refused("personal_api_key is empty"), { build({ key = "" }) })
  end)

  -- issue 8: a caller's Content-Length: 7 with a longer body made the server read the rest of
  -- the body as a second request on a kept-alive connection that carries the key
  it("refuses the framing headers, in any case", function()
    for _, name in ipairs({ "Host", "host", "Content-Length", "CONTENT-LENGTH", "Transfer-Encoding",
      "transfer-encoding", "Connection", "cOnNeCtIoN" }) do
      assert.same(refused("header '" .. name .. "' is the transport's to set"),
        { build({ method = "POST", body = '{"name":"x"}', headers = { [name] = "7" } }) })
    end
    assert.is_table(build({ headers = { ["Content-Language"] = "en", ["X-Host"] = "h", ["Keep-Alive"] = "1" } }))
  end)

  it("never puts the key in a message", function()
    local secret = "phx_TOPSECRET_value"
    local attempts = {
      { key = secret .. "\r\n" },
      { key = secret .. "\0" },
      { key = secret, user_agent = "x\n" },
      { key = secret, headers = { ["X-Y"] = "\r" } },
      { key = secret, query = { limit = 0 }, query_shape = "list" },
      { key = secret, query = { names = { "a,b" } }, query_shape = "list" },
      { key = secret, method = "TRACE" },
      { key = secret, body = { verified = 1 }, body_shape = "definition", method = "POST" },
    }
    for _, t in ipairs(attempts) do
      local req, err = build(t)
      assert.is_nil(req)
      assert.equal("validation", err.kind)
      assert.is_string(err.detail)
      for _, v in pairs(err) do assert.falsy(v:find("TOPSECRET", 1, true), v) end
    end
    for _, t in ipairs({ { key = secret, method = 1 }, { key = secret, headers = 5 } }) do
      local ok, msg = pcall(build, t)
      assert.is_false(ok)
      assert.falsy(tostring(msg):find("TOPSECRET", 1, true))
    end
  end)
end)
