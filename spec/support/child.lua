--- spec/support/child.lua: runs a Lua chunk in a child process of the interpreter that runs the
-- specs (same LUA_PATH and LUA_CPATH; under make sanitize the same sanitizer runtime and
-- package.cpath, which spec/run and spec/support/preload_shield.c keep from every other child),
-- killed after `limit` seconds (default 30) so that a hang fails the test instead of stopping
-- the suite. Returns the child's exit code.
return function(script, limit)
  local lua = rawget(_G, "jit") and "luajit" or _VERSION == "Lua 5.4" and "lua5.4" or "lua5.1"
  assert(not script:find("'", 1, true), "the script is passed in single quotes")
  local preload = os.getenv("SANITIZE_PRELOAD")
  if preload then
    lua = string.format("env LD_PRELOAD='%s' LUA_CPATH='%s' %s", preload, package.cpath, lua)
  end
  local ok, _, code = os.execute(string.format("timeout %d %s -e '%s'", limit or 30, lua, script))
  if type(ok) == "number" then code = ok / 256 end -- Lua 5.1: the raw wait status
  return code
end
