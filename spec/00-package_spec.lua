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

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local function lines_of(command)
  local out = {}
  local pipe = assert(io.popen(command))
  for line in pipe:lines() do out[#out + 1] = line end
  pipe:close()
  return out
end

local CLIENT = "posthog-event-definitions"

-- The rockspecs of `version` ("scm-1", "0.1.0-1"): {path = spec table}.
local function rockspecs_of(version)
  local out = {}
  for _, path in ipairs(lines_of("ls rockspec/*-" .. version .. ".rockspec")) do out[path] = load_rockspec(path) end
  return out
end

-- The rocks built by a makefile (C++): the directory each one compiles.
local MADE = { ["rockspec/simdjson.mk"] = "src/simdjson", ["rockspec/edge-simdjson.mk"] = "edge/src/simdjson" }

describe("rockspecs", function()
  it("released rockspecs carry the facade's VERSION, and a companion rock needs its client's", function()
    local released = lines_of("ls rockspec/*.rockspec | grep -v scm")
    assert.is_true(#released >= 2)
    local matched = false
    for _, path in ipairs(released) do
      local spec = load_rockspec(path)
      assert.equal(CLIENT, spec.package:sub(1, #CLIENT), path)
      assert.equal(path, "rockspec/" .. spec.package .. "-" .. spec.version .. ".rockspec")
      if spec.package == CLIENT and spec.version == evdefs.VERSION .. "-1" then matched = true end
      if spec.package ~= CLIENT then
        assert.truthy(table.concat(spec.dependencies, ","):find(CLIENT .. " " .. spec.version:gsub("%-%d+$", ""), 1,
          true), path .. " needs its client's version")
      end
    end
    assert.is_true(matched, "no rockspec for VERSION " .. evdefs.VERSION)
  end)

  it("installs every Lua module and every C source of the tree, in each version's rocks", function()
    for _, version in ipairs { "scm-1", evdefs.VERSION .. "-1" } do
      local specs = rockspecs_of(version)
      local modules, sources = {}, {}
      for path, spec in pairs(specs) do
        if spec.build.type == "builtin" then
          for name, module in pairs(spec.build.modules) do
            assert.is_nil(modules[name], path .. " installs " .. name .. " again")
            modules[name] = module
            for _, source in ipairs(type(module) == "table" and module.sources or {}) do sources[source] = true end
          end
        else -- the simdjson rocks: each makefile compiles its directory
          local dir = MADE[spec.build.makefile]
          assert.truthy(dir, path .. " builds with " .. tostring(spec.build.makefile))
          for _, source in ipairs(lines_of("ls " .. dir .. "/*.c " .. dir .. "/*.cpp")) do
            assert.truthy(slurp(spec.build.makefile):find(source, 1, true), spec.build.makefile .. " lacks " .. source)
            sources[source] = true
          end
        end
      end
      for _, dir in ipairs { "lua", "edge/lua" } do -- the client's modules, the edge rock's
        for _, file in ipairs(lines_of("cd " .. dir .. " && find posthog -name '*.lua' | sort")) do
          local name = file:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
          assert.equal(dir .. "/" .. file, modules[name], version .. " lacks " .. name)
        end
      end
      local listed = {}
      for source in pairs(sources) do listed[#listed + 1] = source end
      table.sort(listed)
      assert.same(lines_of("find src edge/src -name '*.c' -o -name '*.cpp' | sort"), listed)
    end
  end)

  it("the client rock needs no C++ compiler nor simdjson; each C module links its one library", function()
    for _, path in ipairs { "rockspec/" .. CLIENT .. "-scm-1.rockspec", "rockspec/" .. CLIENT .. "-" .. evdefs.VERSION
      .. "-1.rockspec" } do
      local spec = load_rockspec(path)
      assert.is_nil(spec.external_dependencies.SIMDJSON, path)
      local modules = spec.build.modules
      -- only the libcurl driver compiles src/curl/, and it shares no more than the buffer and the
      -- header parser; only the hiredis module compiles src/redis/; none compiles src/simdjson/
      for name, module in pairs(modules) do
        for _, source in ipairs(type(module) == "table" and module.sources or {}) do
          assert.falsy(source:find("%.cpp$") or source:find("^src/simdjson/"),
            path .. ": " .. name .. " compiles " .. source)
        end
      end
      local core = modules["posthog.event_definitions.core"]
      local libcurl = modules["posthog.event_definitions.transport.libcurl"]
      local hiredis = modules["posthog.event_definitions.hiredis"]
      for _, source in ipairs(core.sources) do
        assert.falsy(source:find("^src/curl/") or source:find("^src/redis/"), path .. ": the core compiles " .. source)
      end
      for _, source in ipairs(hiredis.sources) do
        assert.truthy(source:find("^src/redis/"), path .. ": the hiredis module compiles " .. source)
      end
      for _, source in ipairs(libcurl.sources) do
        assert.truthy(source:find("^src/curl/") or source == "src/mem/buffer.c" or source == "src/http/head.c",
          path .. ": the libcurl driver compiles " .. source)
      end
      assert.same({ "yajl" }, core.libraries)
      assert.same({ "curl" }, libcurl.libraries)
      assert.same({ "hiredis" }, hiredis.libraries)
    end
  end)

  it("the edge rock is built on the client alone: its modules under edge/, its C module over yajl", function()
    for _, version in ipairs { "scm-1", evdefs.VERSION .. "-1" } do
      local path = "rockspec/" .. CLIENT .. "-edge-" .. version .. ".rockspec"
      local spec = load_rockspec(path)
      for name, module in pairs(spec.build.modules) do
        assert.truthy(name:find("^posthog%.event_definitions%.edge"), path .. " installs " .. name)
        for _, source in ipairs(type(module) == "table" and module.sources or { module }) do
          assert.truthy(source:find("^edge/"), path .. ": " .. name .. " from " .. source)
        end
      end
      assert.same({ "yajl" }, spec.build.modules["posthog.event_definitions.edge.core"].libraries)
      for _, file in ipairs(lines_of("find edge/lua -name '*.lua'")) do
        for required in slurp(file):gmatch('require%(?%s*"([^"]+)"') do
          assert.truthy(required == "posthog.event_definitions" or required:find("^posthog%.event_definitions%.edge")
            or not required:find("^posthog"), file .. " requires the client's private " .. required)
        end
      end
    end
  end)
end)

