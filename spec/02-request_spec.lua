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
    assert.equal("names: expected a string or an array of strings", select(2, query({ names = { 1 } }, "list")))
  end)

  it("sends tags and excluded_properties as one JSON array each", function()
    assert.equal("tags=%5B%22a%22%5D", query({ tags = { "a" } }, "list"))
    assert.equal("excluded_properties=%5B%22x%22%2C%22y%20%5C%22z%5C%22%22%5D",
      query({ excluded_properties = { "x", 'y "z"' } }, "list"))
    assert.equal("tags=%5B%5D", query({ tags = {} }, "list"))
    assert.equal("tags: expected an array of strings", select(2, query({ tags = "a" }, "list")))
    assert.equal("tags: expected an array of strings", select(2, query({ tags = { 1 } }, "list")))
    -- without the list shape, tags are generic
    assert.equal("tags=a&tags=b", query({ tags = { "a", "b" } }))
  end)

  it("takes ordering as a string or an array", function()
    assert.equal("ordering=-name", query({ ordering = "-name" }, "list"))
    assert.equal("ordering=-last_seen_at%3A%3Adate&ordering=name",
      query({ ordering = { "-last_seen_at::date", "name" } }, "list"))
    assert.is_nil((query({ ordering = 1 }, "list")))
  end)

  it("requires booleans for the boolean filters", function()
    assert.equal("exclude_hidden=false&exclude_stale=true&verified=true",
      query({ exclude_stale = true, exclude_hidden = false, verified = true }, "list"))
    assert.same({ nil, "verified: expected a boolean" }, { query({ verified = "true" }, "list") })
    assert.same({ nil, "exclude_stale: expected a boolean" }, { query({ exclude_stale = 1 }, "list") })
  end)

  it("validates limit and offset", function()
    assert.equal("limit=100&offset=0", query({ limit = 100, offset = 0 }, "list"))
    assert.equal("limit=5", query({ limit = 5.0 }, "list"))
    assert.same({ nil, "limit: expected an integer >= 1" }, { query({ limit = 0 }, "list") })
    assert.same({ nil, "limit: expected an integer >= 1" }, { query({ limit = 1.5 }, "list") })
    assert.same({ nil, "limit: expected an integer >= 1" }, { query({ limit = "10" }, "list") })
    assert.same({ nil, "offset: expected an integer >= 0" }, { query({ offset = -1 }, "list") })
  end)

  it("requires strings for search and event_type, and encodes unknown keys generically", function()
    assert.equal("event_type=event_custom&search=sign%20up&zz=1",
      query({ search = "sign up", event_type = "event_custom", zz = 1 }, "list"))
    assert.same({ nil, "search: expected a string" }, { query({ search = 1 }, "list") })
    assert.same({ nil, "event_type: expected a string" }, { query({ event_type = true }, "list") })
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
