-- The one header normalisation of the C core (src/http/head.c): core.parse_head for the nginx
-- transport, core.normalize_headers for user transports; the libcurl driver uses the same
-- parser (spec/03).
local core = require "posthog.event_definitions.core"

local function refused(detail) return { nil, { kind = "transport", detail = detail } } end

describe("core.parse_head", function()
  it("returns the status, the headers with lower-cased names, and the minor version", function()
    local status, headers, minor = core.parse_head("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n" ..
      "X-Mixed-CASE:v\r\nContent-Length:  12 \r\n\r\n")
    assert.equal(201, status)
    assert.equal(1, minor)
    assert.same({ ["content-type"] = "application/json", ["x-mixed-case"] = "v", ["content-length"] = "12" }, headers)
    if math.type then assert.equal("integer", math.type(status)) end
  end)

  it("joins repeated headers with a comma, whatever the case of their names", function()
    local _, headers = core.parse_head("HTTP/1.1 200 OK\r\nX-Dup: a\r\nx-dup: b\r\nX-DUP: c\r\n\r\n")
    assert.same({ ["x-dup"] = "a, b, c" }, headers)
  end)

  -- found by make fuzz: "1, " made a Retry-After of 1 unreadable
  it("adds nothing to a joined header for an empty field line", function()
    local _, headers = core.parse_head("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nretry-after:\r\n" ..
      "X-B:\r\nX-B: 2\r\nX-C:\r\nX-C: \r\n\r\n")
    assert.same({ ["retry-after"] = "1", ["x-b"] = "2", ["x-c"] = "" }, headers)
    assert.same({ ["x-a"] = "1", ["x-b"] = "2, 3", ["x-c"] = "" },
      core.normalize_headers({ ["X-A"] = "1", ["x-a"] = "", ["X-B"] = { "", "2", "", "3" }, ["X-C"] = { "", "" } }))
  end)

  it("appends obsolete folded continuation lines with a space", function()
    local _, headers = core.parse_head("HTTP/1.1 200 OK\r\nX-Folded: one\r\n  two\r\n\tthree \r\nX-Next: n\r\n\r\n")
    assert.same({ ["x-folded"] = "one two three", ["x-next"] = "n" }, headers)
    _, headers = core.parse_head("HTTP/1.1 200 OK\r\nX-Dup: a\r\nX-Dup: b\r\n c\r\n\r\n")
    assert.equal("a, b c", headers["x-dup"])
  end)

  it("takes LF line ends, a head without its empty line, and ignores what follows the empty line", function()
    assert.same({ 200, { a = "1" }, 0 }, { core.parse_head("HTTP/1.0 200 OK\na: 1\n") })
    assert.same({ 204, {}, 1 }, { core.parse_head("HTTP/1.1 204") })
    assert.same({ 200, { a = "1" }, 1 }, { core.parse_head("HTTP/1.1 200 OK\r\na: 1\r\n\r\nb: 2\r\nbody") })
    assert.same({ 100, {}, 1 }, { core.parse_head("HTTP/1.1 100 Continue\r\n\r\n") }) -- the caller skips 1xx
  end)

  it("refuses a malformed status line", function()
    for _, text in ipairs({ "", "\r\n", "HTTP/2 200 OK", "HTTP/1.1 20 OK", "HTTP/1.1 200OK", "HTTP/1.x 200 OK",
      "http/1.1 200 OK", "ICY 200 OK", "HTTP/1.1  200 OK" }) do
      assert.same(refused("malformed status line"), { core.parse_head(text) })
    end
  end)

  it("refuses malformed header lines", function()
    for _, line in ipairs({ "no colon", ": no name", "Bad Name: x", "Name : x", " folded first", "A: \0b",
      "\vA: b" }) do
      assert.same(refused("malformed header line"), { core.parse_head("HTTP/1.1 200 OK\r\n" .. line .. "\r\n\r\n") })
    end
  end)

  it("raises on a non-string (a programmer error)", function()
    assert.has_error(function() core.parse_head() end)
    assert.has_error(function() core.parse_head({}) end)
  end)
end)

describe("core.normalize_headers", function()
  it("returns a new table with lower-cased names", function()
    local map = { ["Content-Type"] = "application/json", ["Retry-After"] = "5" }
    local headers = core.normalize_headers(map)
    assert.same({ ["content-type"] = "application/json", ["retry-after"] = "5" }, headers)
    assert.equal("application/json", map["Content-Type"]) -- the argument is left alone
  end)

  it("joins names that differ only in case, in the bytewise order of the names", function()
    assert.same({ ["x-dup"] = "1, 2, 3" },
      core.normalize_headers({ ["x-dup"] = "3", ["X-Dup"] = "2", ["X-DUP"] = "1" }))
  end)

  it("takes numbers and arrays of values (a header repeated), joined with a comma", function()
    assert.same({ ["content-length"] = "12", ["set-cookie"] = "a=1, b=2" },
      core.normalize_headers({ ["Content-Length"] = 12, ["Set-Cookie"] = { "a=1", "b=2" } }))
  end)

  it("refuses what is no header map, as a transport error", function()
    assert.same(refused("headers: names must be strings"), { core.normalize_headers({ "x" }) })
    for _, value in ipairs({ true, {}, { {} }, { "a", false }, print }) do
      assert.same(refused("headers: values must be strings, numbers or arrays of them"),
        { core.normalize_headers({ X = value }) })
    end
    assert.has_error(function() core.normalize_headers("x") end)
  end)
end)
