-- edge/inflate.lua outside nginx (LuaJIT: it is FFI), with libdeflate and with zlib alone (a host
-- without libdeflate), each in a child process: the same answers for every gzip, zlib and raw
-- deflate body the SDKs' tools make (several gzip members, bytes after the stream ignored,
-- corrupt and truncated ones refused), bodies larger than the buffer the worker keeps, the
-- limit held to the byte, and what it compresses inflates back.
if not rawget(_G, "jit") then return end

local run_child = require "spec.support.child"

-- The checks, run in a child; LIBRARY is the deflate library it must use.
local CHECKS = [==[
local inflate = require "posthog.event_definitions.edge.inflate"
local sdk = require "support.sdk_bodies"
assert(inflate.deflate_library == LIBRARY, inflate.deflate_library)
local function fails(reason, ok, err)
  assert(ok == nil and (reason == "too_large") == (err == "too_large"), tostring(err))
end
local small = [=[[{"event":"a","properties":{"x":"caf\u00e9 é"}}]]=]
local large = "[" .. string.rep([=[{"event":"e","properties":{"n":12345,"s":"abcdefghij"}},]=], 12000) .. "{}]"
assert(#large > 512 * 1024)
for _, text in ipairs { small, large, "" } do
  for _, format in ipairs { "gzip", "zlib", "raw" } do
    local data = sdk.compress(format, text)
    assert(inflate.decode(format, data, #text) == text, format)
    assert(inflate.decode(format, inflate.encode(format, text), #text) == text, format)
    if #text > 0 then
      fails("too_large", inflate.decode(format, data, #text - 1))
      fails("corrupt", inflate.decode(format, data:sub(1, -9), 1e9))
      fails("corrupt", inflate.decode(format, "not " .. format .. " at all", 1e9))
    end
  end
end
local a, b = sdk.compress("gzip", small), sdk.compress("gzip", large)
assert(inflate.decode("gzip", a .. b, 1e9) == small .. large)
assert(inflate.decode("gzip", a .. "\0trailing", 1e9) == small)
fails("corrupt", inflate.decode("gzip", a .. "\31\139\8", 1e9))
local bomb = sdk.compress("gzip", string.rep("{},", 20 * 1024 * 1024 / 3))
fails("too_large", inflate.decode("gzip", bomb, 100 * #bomb))
os.exit(0)
]==]

describe("edge inflate", function()
  it("inflates and deflates alike with libdeflate and with zlib alone", function()
    assert.equal(0, run_child('LIBRARY = "libdeflate"\n' .. CHECKS, 120))
    assert.equal(0, run_child('LIBRARY = "zlib"\n' .. [[
      local ffi = require "ffi"
      local load = ffi.load
      ffi.load = function(name, ...) -- a host without libdeflate
        if name:find("libdeflate", 1, true) then error("cannot open " .. name) end
        return load(name, ...)
      end
    ]] .. CHECKS, 120))
  end)
end)
