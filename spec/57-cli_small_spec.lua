-- Smaller things a new user of posthog-evdefs hit (issue 19): real processes of bin/posthog-evdefs
-- against the fake PostHog (seeded with event_0001 … event_0012), a real redis-server on a free
-- loopback port, and bash running the completion script.
local helpers = require "helpers"
local T = require "support.cli"
local redis_server = require "support.redis_server"

local run, json, quote = T.run, T.json, T.quote

-- What the bash completion offers for the words typed so far (`words`, the last one being
-- completed), the program named as `program`.
local function completions(program, words)
  local typed = {}
  for i, w in ipairs(words) do typed[i] = quote(w) end
  local status, out, err = T.sh("bash -c " .. quote("source <(" .. T.command { "completion", "bash" } .. ") && "
    .. "COMP_WORDS=(" .. program .. " " .. table.concat(typed, " ") .. ") && COMP_CWORD=" .. #words
    .. ' && _posthog-evdefs && echo "${COMPREPLY[*]}"'))
  assert.are.equal(0, status, err)
  return (out:gsub("\n$", ""))
end

describe("posthog-evdefs, smaller things", function()
  before_each(function()
    helpers.reset { seed = 12 }
  end)

  it("list --name selects definitions by their exact name (repeat for more)", function()
    local status, out = run { "list", "--name", "event_0003", "--name", "event_0011", "--name", "event_001" }
    assert.are.equal(0, status)
    local names = {}
    for i, d in ipairs(json(out)) do names[i] = d.name end
    table.sort(names)
    assert.are.same({ "event_0003", "event_0011" }, names)
    local _, _, err = run { "list", "--name", "" }
    assert.matches("a name must not be empty", err)
    assert.are.equal(2, (run { "list", "--name", "" }))
  end)

  it("a snapshot that is not valid JSON is one line naming the file, the line and the column", function()
    local dir = T.tmpdir()
    local file = dir .. "/taxonomy.json"
    T.spit(file, '{\n  "version": 1,\n  "definitions": [\n    {"name": "x",}\n  ]\n}\n')
    local status, out, err = run { "plan", file }
    assert.are.equal("", out)
    assert.are_not.equal(0, status)
    assert.matches("^posthog%-evdefs: [^\n]*at line 4, column 18[^\n]*\n$", err)
    assert.truthy(err:find(file, 1, true), err)
    os.execute("rm -rf " .. quote(dir))
  end)

  it("completes export formats, bulk tag actions and completion shells in bash, also as bin/posthog-evdefs",
    function()
      for _, program in ipairs { "posthog-evdefs", "bin/posthog-evdefs", "./bin/posthog-evdefs" } do
        assert.are.equal("json-schema csv markdown snapshot", completions(program, { "export", "" }))
        assert.are.equal("csv", completions(program, { "export", "--out", "x.csv", "c" }))
        assert.are.equal("", completions(program, { "export", "csv", "" })) -- one format only
        assert.are.equal("add remove set", completions(program, { "--format", "json", "bulk", "tag", "--id", "x", "" }))
        assert.are.equal("", completions(program, { "bulk", "tag", "add", "" })) -- tags are free words
        assert.are.equal("bash zsh fish", completions(program, { "completion", "" }))
        assert.are.equal("tag", completions(program, { "bulk", "t" }))
      end
      local _, zsh = run { "completion", "zsh" }
      assert.matches("^#compdef posthog%-evdefs %-p %*/posthog%-evdefs\n", zsh) -- zsh matches bin/posthog-evdefs
      local _, fish = run { "completion", "fish" }
      assert.matches("\ncomplete %-c posthog%-evdefs %-n '__fish_posthog%-evdefs_using_command export' "
        .. "%-xa 'json%-schema csv markdown snapshot'\n", fish)
      assert.matches("\ncomplete %-c posthog%-evdefs %-n '__fish_posthog%-evdefs_using_command bulk tag' "
        .. "%-xa 'add remove set'\n", fish)
    end)

  describe("POSTHOG_REDIS_URL: the program's pacing shared through Redis", function()
    local server
    before_each(function() server = redis_server.start() end)
    after_each(function() server:stop() end)

    it("paces every request in that Redis, under the key's digest", function()
      local url = "redis://:" .. server.password .. "@127.0.0.1:" .. server.port .. "/0"
      local status, out, err = run({ "list", "--name", "event_0003" }, { POSTHOG_REDIS_URL = url })
      assert.are.equal(0, status, err)
      assert.are.equal("event_0003", json(out)[1].name)
      local key = server:cli("KEYS", "posthog-evdefs:*")
      assert.matches("^posthog%-evdefs:%x+$", key)
      assert.are.equal("1", server:cli("LLEN", key))
      assert.is_nil(key:find(helpers.KEY, 1, true))
    end)

    it("a URL it cannot use is one line naming the variable, never the password", function()
      local status, out, err = run({ "list" }, { POSTHOG_REDIS_URL = "redis://:hunter2secret@" })
      assert.are.equal(1, status)
      assert.are.equal("", out)
      assert.are.equal("posthog-evdefs: POSTHOG_REDIS_URL must look like redis://[:password@]host[:port][/db]\n", err)
      -- a wrong password: host-local pacing, said once on stderr, the password never shown
      status, out, err = run({ "list", "--name", "event_0003" },
        { POSTHOG_REDIS_URL = "redis://:hunter2secret@127.0.0.1:" .. server.port })
      assert.are.equal(0, status, err)
      assert.are.equal("event_0003", json(out)[1].name)
      assert.matches("Redis at 127%.0%.0%.1:" .. server.port, err)
      assert.is_nil(err:find("hunter2secret", 1, true))
    end)
  end)
end)
