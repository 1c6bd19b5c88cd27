-- README.md as a new user follows it: every Lua block that is a complete program runs as written
-- (against the fake PostHog server, environment as `make fake-server` prints it); every console
-- block shows the real output of its commands, run on a pseudo-terminal against a fake seeded as
-- `make fake-server` seeds it (ids aside, which differ on every run); the nginx configurations are
-- examples/nginx/posthog-admin.conf and examples/nginx/edge.conf word for word. Also: CHANGELOG.md's
-- entries are dated and name what users can do, and `make doc` builds the reference without an LDoc warning.
local helpers = require "helpers"
local core = require "posthog.event_definitions.core"
local T = require "support.cli"

local quote, slurp, spit = T.quote, T.slurp, T.spit

local ROOT = (function()
  local pipe = assert(io.popen("pwd"))
  local dir = pipe:read("*l")
  pipe:close()
  return dir
end)()

local BUILD = rawget(_G, "jit") and "jit" or _VERSION:match("%d+%.%d+")
-- the fake's clock for the console blocks, so that the dates they show stay as shown
local NOW = "2026-12-01T12:00:00Z"

-- The fenced code blocks of a Markdown text: { lang, text, line }.
local function code_blocks(text)
  local blocks, current, n = {}, nil, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if current then
      if line == "```" then
        current.text = table.concat(current.lines, "\n") .. "\n"
        blocks[#blocks + 1], current = current, nil
      else
        current.lines[#current.lines + 1] = line
      end
    else
      local lang = line:match("^```(%S*)$")
      if lang then current = { lang = lang, lines = {}, line = n + 1 } end
    end
  end
  return blocks
end

local README = slurp("README.md")
local BLOCKS = code_blocks(README)

-- The environment of a README program or command: the fake, the tree's modules (absolute paths).
local function env_prefix(extra_path)
  local vars = T.environment { NO_COLOR = "1",
    LUA_PATH = (extra_path and extra_path .. "/?.lua;" or "") .. ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;",
    LUA_CPATH = ROOT .. "/build/" .. BUILD .. "/?.so;;" }
  local words = { "env -u POSTHOG_HOST -u POSTHOG_PROJECT_ID -u POSTHOG_PERSONAL_API_KEY -u NO_COLOR" }
  for k, v in pairs(vars) do words[#words + 1] = k .. "=" .. quote(v) end
  return table.concat(words, " ")
end

local UUID = ("%x"):rep(8) .. "%-" .. ("%x"):rep(4) .. "%-" .. ("%x"):rep(4) .. "%-" .. ("%x"):rep(4) .. "%-"
  .. ("%x"):rep(12)

-- README_ACTUAL=FILE writes what the console blocks' commands show to FILE instead of comparing
-- (to update the README after a change of output).
local ACTUAL = os.getenv("README_ACTUAL") and assert(io.open(os.getenv("README_ACTUAL"), "w"))

-- A screen as compared: ids masked (they differ on every run), what carriage returns left.
local function comparable(screen)
  return (T.rendered(screen):gsub(UUID, "<id>"))
end

describe("README.md", function()
  it("shows examples/nginx/posthog-admin.conf and examples/nginx/edge.conf word for word", function()
    local shown = {}
    for _, b in ipairs(BLOCKS) do
      if b.lang == "nginx" then shown[#shown + 1] = b.text end
    end
    assert.are.same({ slurp("examples/nginx/posthog-admin.conf"), slurp("examples/nginx/edge.conf") }, shown)
  end)

  it("runs every Lua block that is a complete program, as written", function()
    local dir = T.tmpdir()
    local programs = 0
    for _, b in ipairs(BLOCKS) do
      local module = b.text:match("^%-%- ([%w_]+)%.lua\n")
      if b.lang == "lua" and module and not b.text:find('require "posthog.event_definitions"', 1, true) then
        spit(dir .. "/" .. module .. ".lua", b.text) -- a module a later program requires
      elseif b.lang == "lua" and b.text:find('require "posthog.event_definitions"', 1, true) then
        programs = programs + 1
        local where = "README.md:" .. b.line
        helpers.reset { seed = 20 }
        local file = dir .. "/program" .. programs .. ".lua"
        spit(file, b.text)
        local status, out, err = T.sh("luacheck --no-color -q --std min " .. quote(file))
        assert.are.equal(0, status, where .. ": luacheck:\n" .. out .. err)
        status, out, err = T.sh("cd " .. quote(dir) .. " && " .. env_prefix(dir) .. " " .. quote(T.LUA) .. " "
          .. quote(file))
        assert.are.equal(0, status, where .. ":\n" .. out .. err)
      end
    end
    assert.is_true(programs >= 3, "the README has " .. programs .. " complete programs")
  end)

  it("shows the real output of posthog-evdefs in its console blocks", function()
    helpers.reset { seed = 200, config = { now = NOW } }
    local dir = T.tmpdir()
    local program = quote(T.LUA) .. " " .. quote(ROOT .. "/bin/posthog-evdefs")
    local commands = 0
    for _, b in ipairs(BLOCKS) do
      if b.lang == "console" then
        local steps = {}
        for line in b.text:gmatch("([^\n]*)\n") do
          local command = line:match("^%$ (.*)$")
          if command then
            steps[#steps + 1] = { command = command, shown = {} }
          else
            local shown = assert(steps[#steps], "README.md:" .. b.line .. ": output before a command").shown
            shown[#shown + 1] = line
          end
        end
        for _, step in ipairs(steps) do
          commands = commands + 1
          local assignments, command = "", step.command -- VAR=value words first, as a shell takes them
          while command:find("^%u[%w_]*=%S*%s") do
            local assignment, rest = command:match("^(%S+%s+)(.*)$")
            assignments, command = assignments .. assignment, rest
          end
          local shell = assignments .. command:gsub("^bin/posthog%-evdefs", program):gsub("^posthog%-evdefs", program)
          local expected = table.concat(step.shown, "\n") .. "\n"
          local prompt = expected:match("(Type yes to [^\n]-: )yes\n")
          local _, screen = T.tty("cd " .. quote(dir) .. " && " .. env_prefix() .. " " .. shell,
            prompt and "yes\n", prompt)
          if ACTUAL then
            ACTUAL:write("$ ", step.command, "\n", T.rendered(screen))
          else
            assert.are.equal(comparable(expected), comparable(screen), "README.md:" .. b.line .. ": $ "
              .. step.command .. "\nshows:\n" .. T.rendered(screen))
          end
          if step.command:find("export snapshot --out taxonomy.json", 1, true) then
            -- the edit the README asks for
            local doc = assert(core.decode(slurp(dir .. "/taxonomy.json")))
            local kept = {}
            for _, d in ipairs(doc.definitions) do
              if d.name == "event_0002" then d.description = "Sign-up started" end
              if d.name ~= "event_0200" then kept[#kept + 1] = d end
            end
            kept[#kept + 1] = { name = "signed_up", description = "Sign-up finished" }
            doc.definitions = setmetatable(kept, core.array_mt)
            spit(dir .. "/taxonomy.json", core.encode(doc))
          end
        end
      end
    end
    assert.is_true(commands >= 4, "the README shows " .. commands .. " commands with their output")
  end)

  it("prints the export lines of make fake-server as the Makefile does", function()
    for _, line in ipairs { "export POSTHOG_HOST=http://127.0.0.1:", "export POSTHOG_PERSONAL_API_KEY=" .. helpers.KEY,
      "export POSTHOG_PROJECT_ID=1" } do
      assert.truthy(README:find("\n" .. line, 1, true), line)
    end
  end)
end)

describe("CHANGELOG.md", function()
  it("dates every entry and names what users can do", function()
    local changelog = slurp("CHANGELOG.md")
    local entries = 0
    for heading in changelog:gmatch("\n## ([^\n]*)") do
      entries = entries + 1
      assert.matches("%d%d%d%d%-%d%d%-%d%d", heading)
    end
    assert.is_true(entries >= 2)
    for _, capability in ipairs { "transport = \"ngx\"", "shared_dict", "custom transport", "posthog-evdefs",
      "completion", "--exit-code", "--all-definitions", "make fake-server", "make doc", "examples/",
      "schema.load", "REF" } do
      assert.truthy(changelog:find(capability, 1, true), capability)
    end
  end)
end)

-- The reference is built once (by the Lua 5.4 run): LDoc is one program whatever runs the specs.
if _VERSION == "Lua 5.4" and not rawget(_G, "jit") then
  describe("make doc", function()
    it("builds the reference of the public modules with no LDoc warning", function()
      local status, out, err = T.sh("make -s doc")
      assert.are.equal(0, status, out .. err)
      assert.are.equal("make doc: build/doc/index.html\n", out)
      for _, module in ipairs { "posthog.event_definitions", "posthog.event_definitions.schema" } do
        assert.truthy(slurp("build/doc/modules/" .. module .. ".html"):find("Client:list", 1, true)
          or module:find("schema", 1, true), module)
      end
      assert.truthy(slurp("build/doc/modules/posthog.event_definitions.schema.html"):find("load", 1, true))
      -- the edge's module (its own rock) and the Redis options of rate_limit, each with its options
      local edge = slurp("build/doc/modules/posthog.event_definitions.edge.html")
      for _, word in ipairs { "edge.init", "edge.enforce", "quarantine", "unknown_token", "schema_scope" } do
        assert.truthy(edge:find(word, 1, true), word)
      end
      local redis = slurp("build/doc/modules/posthog.event_definitions.pacing_redis.html")
      for _, word in ipairs { "redis_required", "margin" } do assert.truthy(redis:find(word, 1, true), word) end
    end)
  end)
end
