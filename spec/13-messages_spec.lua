-- Messages that say what happened and never echo a secret: a password typed into a host URL,
-- and the hint for a TLS URL whose server speaks plain HTTP. posthog-evdefs runs as a real
-- process against the fake PostHog server.
local helpers = require "helpers"
local evdefs = require "posthog.event_definitions"
local messages = require "posthog.event_definitions.cli.messages"
local T = require "spec.support.cli"

describe("a password in a host URL", function()
  local host = T.URL:gsub("^http://", "http://ada:s3cr3t-pw@")

  it("is refused and never echoed, from --host or POSTHOG_HOST", function()
    for _, run in ipairs {
      function() return T.run({ "--host", host, "list" }) end,
      function() return T.run({ "list" }, { POSTHOG_HOST = host }) end,
      function() return T.run({ "list" }, { POSTHOG_HOST = "ada:s3cr3t-pw@" .. T.URL:gsub("^http://", "") }) end,
      function() return T.run({ "--host", host .. " x", "list" }) end,
    } do
      local status, out, err = run()
      assert.equal(1, status)
      assert.equal("", out)
      assert.is_nil(err:find("s3cr3t", 1, true), err)
      assert.truthy(err:find("***@", 1, true), err)
    end
  end)

  it("is refused by the library without being echoed; the program hides any URL's user info", function()
    local client, err = evdefs.new { host = host, personal_api_key = "phx_messages_spec" }
    assert.is_nil(client)
    assert.equal("config", err.kind)
    assert.is_nil(tostring(err):find("s3cr3t", 1, true))
    assert.equal("could not reach http://***@127.0.0.1:1/api/ (\"***@h\")",
      messages.hide_userinfo("could not reach http://ada:s3cr3t@127.0.0.1:1/api/ (\"ada:s3cr3t@h\")"))
    assert.equal("owner@example.com 'a:b@c'", messages.hide_userinfo("owner@example.com 'a:b@c'"))
  end)
end)

describe("an event name shaped like user info (\"signup:done@web\")", function()
  before_each(function() helpers.reset() end)

  it("is printed as it is in a diagnostic: only a URL's user info is hidden there", function()
    local status, out, err = T.run { "get", "signup:done@web" }
    assert.equal(1, status)
    assert.equal("", out)
    assert.equal('posthog-evdefs: no definition named "signup:done@web" in project 1\n', err)
    local named = 'no definition named "a:b@c" in project 1'
    assert.equal(named, messages.diagnostic(named))
    assert.equal("a:b@c", messages.diagnostic("a:b@c"))
    assert.equal("could not reach http://***@h/", messages.diagnostic("could not reach http://ada:s3cr3t@h/"))
  end)
end)

describe("an https:// URL whose server speaks plain HTTP", function()
  it("gets the hint that the server speaks plain HTTP, not one about certificates", function()
    local status, _, err = T.run({ "list" }, { POSTHOG_HOST = T.URL:gsub("^http://", "https://") })
    assert.equal(1, status)
    assert.truthy(err:find("wrong version number", 1, true), err)
    assert.truthy(err:find("speaks plain HTTP, not TLS: use http://", 1, true), err)
    assert.is_nil(err:find("certificate", 1, true), err)
  end)
end)
