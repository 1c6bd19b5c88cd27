-- A transport function wrapping another HTTP client: the LuaSocket example of README.md,
-- loaded from the document itself, against the fake server; and the choice of transport outside
-- nginx.
local evdefs = require "posthog.event_definitions"
local helpers = require "spec.helpers"

-- The Lua block of README.md that starts with `first_line`, as a loaded chunk's result.
local function documented(first_line)
  local doc = assert(io.open("README.md")):read("*a")
  local code = doc:match("```lua\n(" .. first_line:gsub("%p", "%%%0") .. "\n.-)```")
  assert(code, "no lua block starting with " .. first_line .. " in README.md")
  local loader = rawget(_G, "loadstring") or load
  return assert(loader(code, "=" .. first_line))()
end

local MISSING = "01900000-0000-7000-8000-000000000000"

describe("the documented LuaSocket transport", function()
  local transport = documented("-- luasocket_transport.lua")
  local client

  before_each(function()
    helpers.reset { seed = 10 }
    client = helpers.client { transport = transport }
  end)

  it("runs the life cycle of a definition", function()
    local def = assert(client:create { name = "over_luasocket", tags = { "Socket" } })
    assert.same({ "socket" }, def.tags)
    assert.equal(def.id, assert(client:get(def.id)).id)
    assert.equal("described", assert(client:update(def.id, { description = "described" })).description)
    assert.equal(11, #assert(client:all { limit = 4 }))
    assert.is_true(client:delete(def.id))
    local log = helpers.api_requests()
    assert.equal("application/json", log[1].headers["content-type"])
    assert.matches("^posthog%-event%-definitions/", log[1].headers["user-agent"])
  end)

  it("gives the client lower-cased headers: errors, Retry-After and retries work as with curl", function()
    local _, err = client:get(MISSING)
    assert.equal(404, err.status)
    assert.equal("not_found", err.code)
    helpers.faults { { status = 429, headers = { ["Retry-After"] = 3 } }, { match = { method = "GET" }, status = 503 } }
    assert.equal(10, assert(client:list { limit = 1 }).count)
    assert.same({ 3, 0.75 }, client.slept) -- Retry-After, then the backoff of a second retry
  end)

  it("maps a refused connection to a transport error that was not sent", function()
    local refused = helpers.client { transport = transport, host = "http://127.0.0.1:1", max_retries = 1 }
    local _, err = refused:create { name = "never_sent" }
    assert.equal("transport", err.kind)
    assert.equal(2, err.attempts) -- a POST is retried only because nothing was sent
  end)

  it("maps LuaSocket's timeout to kind timeout #timing", function()
    helpers.faults { { action = "delay", seconds = 1 } }
    local slow = helpers.client { transport = transport, timeout = 0.2, max_retries = 0 }
    local _, err = slow:list { limit = 1 }
    assert.equal("timeout", err.kind)
  end)
end)

describe("the transport option outside nginx", function()
  local base = { host = "http://127.0.0.1:1", personal_api_key = helpers.KEY }
  local function new(extra)
    local o = {}
    for k, v in pairs(base) do o[k] = v end
    for k, v in pairs(extra) do o[k] = v end
    return evdefs.new(o)
  end

  it("refuses \"ngx\" and unknown names with a config error", function()
    local client, err = new { transport = "ngx" }
    assert.is_nil(client)
    assert.equal("config", err.kind)
    assert.matches("nginx", err.detail)
    client, err = new { transport = "resty" }
    assert.is_nil(client)
    assert.equal("config", err.kind)
  end)

  it("accepts ca_file with the automatic choice (curl) and ignores rate_limit.shared_dict", function()
    assert.is_table(new { ca_file = "/etc/ssl/certs/ca-certificates.crt" })
    assert.is_table(new { rate_limit = { shared_dict = "posthog_pacing", per_second = 2 } })
  end)

  it("raises when rate_limit.shared_dict is not a string", function()
    assert.has_error(function() new { rate_limit = { shared_dict = 1 } } end,
      "posthog.event_definitions: rate_limit.shared_dict must be a string")
  end)
end)
