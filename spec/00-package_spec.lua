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
    local released = lines_of("ls rockspec/posthog-event-definitions-[0-9]*.rockspec")
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

  it("the client's rockspecs install every Lua module and every C source of the client's tree", function()
    for _, path in ipairs(lines_of("ls rockspec/posthog-event-definitions-scm-1.rockspec "
        .. "rockspec/posthog-event-definitions-[0-9]*.rockspec")) do
      local modules = load_rockspec(path).build.modules
      for _, file in ipairs(lines_of("cd lua && find posthog -name '*.lua' | sort")) do
        local name = file:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
        assert.equal("lua/" .. file, modules[name], path .. " lacks " .. name)
      end
      -- the four C modules compile every C and C++ source of the tree between them; only the
      -- libcurl driver compiles src/curl/, and it shares no more than the buffer and the header
      -- parser; only the hiredis module compiles src/redis/, only the simdjson module
      -- src/simdjson/ (the one C++ file), and nothing else
      local core = modules["posthog.event_definitions.core"]
      local libcurl = modules["posthog.event_definitions.transport.libcurl"]
      local hiredis = modules["posthog.event_definitions.hiredis"]
      local simdjson = modules["posthog.event_definitions.simdjson"]
      local all = {}
      for _, source in ipairs(core.sources) do
        assert.falsy(source:find("^src/curl/") or source:find("^src/redis/") or source:find("^src/simdjson/"),
          path .. ": the core compiles " .. source)
        all[source] = true
      end
      for _, source in ipairs(simdjson.sources) do
        assert.truthy(source:find("^src/simdjson/"), path .. ": the simdjson module compiles " .. source)
        all[source] = true
      end
      for _, source in ipairs(hiredis.sources) do
        assert.truthy(source:find("^src/redis/"), path .. ": the hiredis module compiles " .. source)
        all[source] = true
      end
      for _, source in ipairs(libcurl.sources) do
        assert.truthy(source:find("^src/curl/") or source == "src/mem/buffer.c" or source == "src/http/head.c",
          path .. ": the libcurl driver compiles " .. source)
        all[source] = true
      end
      local listed = {}
      for source in pairs(all) do listed[#listed + 1] = source end
      table.sort(listed)
      assert.same(lines_of("find src -name '*.c' -o -name '*.cpp' | sort"), listed)
      assert.same({ "yajl" }, core.libraries)
      assert.same({ "simdjson", "stdc++" }, simdjson.libraries)
      assert.same({ "curl" }, libcurl.libraries)
      assert.same({ "hiredis" }, hiredis.libraries)
    end
  end)

  it("the edge's rockspec installs every module of edge/ and its C module, and depends on the client", function()
    local spec = load_rockspec("rockspec/posthog-event-definitions-edge-scm-1.rockspec")
    assert.equal("posthog-event-definitions-edge", spec.package)
    assert.same({ "lua >= 5.1, < 5.5", "posthog-event-definitions" }, spec.dependencies)
    local modules, lua_modules = spec.build.modules, 0
    for _, file in ipairs(lines_of("cd edge/lua && find posthog -name '*.lua' | sort")) do
      local name = file:gsub("%.lua$", ""):gsub("/", ".")
      assert.equal("edge/lua/" .. file, modules[name], "the edge rockspec lacks " .. name)
      lua_modules = lua_modules + 1
    end
    local c = modules["posthog.event_definitions.edge.core"]
    local sources = {}
    for _, source in ipairs(c.sources) do sources[#sources + 1] = source end
    table.sort(sources)
    assert.same(lines_of("find edge/src -name '*.c' | sort"), sources)
    local count = 0
    for _ in pairs(modules) do count = count + 1 end
    assert.equal(lua_modules + 1, count, "the edge rockspec installs something that is not in edge/")
  end)
end)
