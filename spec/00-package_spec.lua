-- Packaging: the rockspecs agree with the tree and with VERSION, kept in one place (the facade).
local evdefs = require "posthog.event_definitions"

-- Evaluates a rockspec file into a table.
local function load_rockspec(path)
  local env = {}
  local chunk
  local setfenv = rawget(_G, "setfenv") -- Lua 5.1 and LuaJIT
  if setfenv then
    chunk = assert(loadfile(path))
    setfenv(chunk, env)
  else
    chunk = assert(loadfile(path, "t", env))
  end
  chunk()
  return env
end

local function lines_of(command)
  local out = {}
  local pipe = assert(io.popen(command))
  for line in pipe:lines() do out[#out + 1] = line end
  pipe:close()
  return out
end

describe("rockspecs", function()
  it("released rockspecs carry the facade's VERSION", function()
    local released = lines_of("ls rockspec/*.rockspec | grep -v scm")
    assert.is_true(#released >= 1)
    local matched = false
    for _, path in ipairs(released) do
      local spec = load_rockspec(path)
      assert.equal("posthog-event-definitions", spec.package)
      assert.equal(path, "rockspec/posthog-event-definitions-" .. spec.version .. ".rockspec")
      if spec.version == evdefs.VERSION .. "-1" then matched = true end
    end
    assert.is_true(matched, "no rockspec for VERSION " .. evdefs.VERSION)
  end)

  it("the scm rockspec installs every Lua module and every C source of the tree", function()
    for _, path in ipairs(lines_of("ls rockspec/*.rockspec")) do
      local modules = load_rockspec(path).build.modules
      for _, file in ipairs(lines_of("cd lua && find posthog -name '*.lua' | sort")) do
        local name = file:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
        assert.equal("lua/" .. file, modules[name], path .. " lacks " .. name)
      end
      local sources = modules["posthog.event_definitions.core"].sources
      assert.same(lines_of("ls src/*.c | sort"), sources)
    end
  end)
end)
