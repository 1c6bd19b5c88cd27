-- bench/memory.lua: what listing and decoding cost in memory (issue 11's footprint targets),
-- each figure from fresh processes, medians of several runs, side by side in one run.
--
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/5.4/?.so;;' lua5.4 bench/memory.lua [runs] [definitions]
--   (runs: 5 by default, definitions: 100,000; bench/run sets the paths; run from the repository's root)
--
-- The pages are those of bench/list.lua (support.start_pages: ~700 bytes per definition, 1,000
-- and 100 a page), served as static files by an nginx of its own on a free loopback port.
--   (a) The peak RSS (VmHWM) of a Lua 5.4 process that counts every definition with
--       client:each{limit = 1000} (libcurl driver), against the RSS of a process that holds one
--       page decoded by core.decode with the same modules loaded (the client, libcurl): target
--       <= 1.5x. Also against a process that holds the page with the core alone (no curl):
--       loading libcurl costs more than a decoded page, which no walk can win back. And the
--       same with client:each{} at the default page size (100) against one page of 100.
--   (b) A Lua 5.4 process that only decodes one page with core.decode and holds it (no curl
--       loaded), against lua5.4 + lua-cjson holding the same page: target <= 1.5x; with yajl
--       alone, and with the core's simdjson module loaded (as the facade does outside nginx).
--   (c) Inside nginx (LuaJIT, Debian's libnginx-mod-http-lua, one worker): the worker's VmRSS
--       before and after a location that requires the library (lua/ and build/jit/ of this
--       checkout), makes a client and holds one page decoded with core.decode, against the growth
--       of a worker that only holds the same page decoded by lua-cjson; /proc/<worker>/maps must
--       show no libcurl (nor simdjson's libstdc++: inside nginx the facade leaves it out).
--       Target: the library's own growth (the difference) at most one decoded
--       page (the cjson worker's growth).
-- Prints "target met/missed" lines; asserts no time; exits 1 only when a measurement fails.

local CHILD = arg and arg[1] == "--child"

-- The RSS figures of process `pid` (default: this one), in kB: rss (VmRSS) and hwm (VmHWM).
local function memory(pid)
  local f = assert(io.open("/proc/" .. (pid or "self") .. "/status", "r"))
  local text = f:read("*a")
  f:close()
  return { rss = tonumber(text:match("VmRSS:%s*(%d+)")), hwm = tonumber(text:match("VmHWM:%s*(%d+)")) }
end

-- Whether libcurl is mapped into process `pid` (default: this one).
local function maps_libcurl(pid)
  local f = assert(io.open("/proc/" .. (pid or "self") .. "/maps", "r"))
  local text = f:read("*a")
  f:close()
  return text:find("libcurl", 1, true) ~= nil
end

-- The measured processes ---------------------------------------------------------------------------
-- Each prints one line "<definitions> <VmHWM kB> <VmRSS kB> <libcurl mapped: 0|1>" and loads
-- nothing it does not need (this part of the file requires no module).

local function child(mode, where)
  local definitions, client
  if mode == "each" or mode == "each100" then
    local evdefs = require "posthog.event_definitions"
    client = assert(evdefs.new { host = where, personal_api_key = "phx_bench", project_id = 1,
      rate_limit = false })
    definitions = 0
    -- each100: the default page size (PostHog's, 100)
    for def, err in client:each(mode == "each" and { limit = 1000 } or nil) do
      assert(def, err)
      definitions = definitions + 1
    end
  elseif mode == "core" or mode == "simdjson" or mode == "client" or mode == "client100" or mode == "cjson"
    or mode == "bare" then
    local decode
    if mode == "core" or mode == "simdjson" or mode == "client" or mode == "client100" then
      local core = require "posthog.event_definitions.core"
      if mode == "simdjson" then require "posthog.event_definitions.simdjson" end
      decode = function(body) return assert(core.decode(body, "page")) end
      if mode == "client" or mode == "client100" then -- what each loads before its first page: the facade, libcurl
        require "posthog.event_definitions.transport.curl"
        client = assert(require("posthog.event_definitions").new { host = "http://127.0.0.1:9",
          personal_api_key = "phx_bench", project_id = 1, rate_limit = false })
      end
    elseif mode == "cjson" then
      decode = require("cjson").decode
    end
    local f = assert(io.open(where, "rb"))
    local body = f:read("*a")
    f:close()
    local page = decode and decode(body)
    body = nil -- luacheck: ignore 311 (dropped, so that only the decoded page is held)
    collectgarbage()
    collectgarbage()
    definitions = page and #page.results or 0
  else
    error("unknown mode " .. tostring(mode))
  end
  local m = memory()
  if client then client:close() end
  print(("%d %d %d %d"):format(definitions, m.hwm, m.rss, maps_libcurl() and 1 or 0))
end

if CHILD then
  child(arg[2], arg[3])
  return
end

-- The driver -----------------------------------------------------------------------------------------

local RUNS = tonumber(arg and arg[1]) or 5
local TOTAL = tonumber(arg and arg[2]) or 100000
local SIZE = 1000

local support = require "bench.support"
local quote, sh, median = support.quote, support.sh, support.median
local TEMP_PATHS = [[
    client_body_temp_path "@DIR@/tmp/body";
    proxy_temp_path "@DIR@/tmp/proxy";
    fastcgi_temp_path "@DIR@/tmp/fastcgi";
    uwsgi_temp_path "@DIR@/tmp/uwsgi";
    scgi_temp_path "@DIR@/tmp/scgi";
]]

-- The worker of (c): /rss answers "<pid> <VmRSS kB>"; /hold/library requires the library, makes
-- a client and holds PAGE decoded by core.decode; /hold/cjson holds it decoded by lua-cjson.
local WORKER_CONF = [[
@MODULES@
worker_processes 1;
daemon on;
pid "@DIR@/nginx.pid";
error_log "@DIR@/logs/error.log" warn;
events { worker_connections 64; }
http {
    access_log off;
@TEMP@
    lua_package_path "@LUA@/?.lua;@LUA@/?/init.lua;;";
    lua_package_cpath "@CPATH@/?.so;;";
    init_by_lua_block {
        bench = { page = "@PAGE@" }
        function bench.body()
            local f = assert(io.open(bench.page, "rb"))
            local body = f:read("*a")
            f:close()
            return body
        end
        function bench.settle()
            collectgarbage()
            collectgarbage()
            local f = assert(io.open("/proc/self/status", "r"))
            local rss = f:read("*a"):match("VmRSS:%s*(%d+)")
            f:close()
            return rss
        end
    }
    server {
        listen 127.0.0.1:@PORT@;
        location = /rss { content_by_lua_block { ngx.say(ngx.worker.pid(), " ", bench.settle()) } }
        location = /hold/library {
            content_by_lua_block {
                local evdefs = require "posthog.event_definitions"
                local core = require "posthog.event_definitions.core"
                bench.client = assert(evdefs.new { host = "http://127.0.0.1:@PORT@",
                    personal_api_key = "phx_bench", project_id = 1 })
                bench.held = assert(core.decode(bench.body(), "page"))
                ngx.say(#bench.held.results)
            }
        }
        location = /hold/cjson {
            content_by_lua_block {
                bench.held = require("cjson").decode(bench.body())
                ngx.say(#bench.held.results)
            }
        }
        location / { return 404; }
    }
}
]]

local function fill(template, values)
  return (template:gsub("@([%u_]+)@", function(k) return assert(values[k], k) end))
end

local function get(url)
  local out, ok = sh("curl -s -f --max-time 30 " .. quote(url))
  assert(ok, "GET " .. url .. " failed")
  return out
end

-- Runs one measured process: {definitions, hwm, rss, libcurl}.
local function measure(mode, where)
  local cmd = ("lua5.4 bench/memory.lua --child %s %s 2>&1"):format(mode, quote(where))
  local out, ok = sh(cmd)
  local n, hwm, rss, curl = out:match("^(%d+) (%d+) (%d+) ([01])\n$")
  if not (ok and n) then error(cmd .. " failed:\n" .. out, 0) end
  return { definitions = tonumber(n), hwm = tonumber(hwm), rss = tonumber(rss), libcurl = curl == "1" }
end

-- Whether nginx's workers (nobody, when started as root) can read the checkout's lua/ and build/jit/.
local function workers_can_read(root)
  if sh("id -u"):match("^0") == nil then return true end
  return select(2, sh(("runuser -u nobody -- test -r %s -a -r %s 2>/dev/null"):format(
    quote(root .. "/lua/posthog/event_definitions/init.lua"),
    quote(root .. "/build/jit/posthog/event_definitions/core.so"))))
end

-- One run of (c) in `mode`: {before, after, growth, libcurl, core_mapped} (kB).
local function nginx_worker(dir, mode, values)
  local ok, result = pcall(function()
    local base = support.start_nginx(dir, function(port)
      values.PORT, values.DIR, values.TEMP = tostring(port), dir, (TEMP_PATHS:gsub("@DIR@", dir))
      return fill(WORKER_CONF, values)
    end, function(base) return select(2, sh("curl -s -f -o /dev/null " .. quote(base .. "/rss"))) end)
    get(base .. "/rss")
    local pid, before = get(base .. "/rss"):match("^(%d+) (%d+)")
    local held = tonumber(get(base .. "/hold/" .. mode):match("^(%d+)"))
    assert(held == SIZE, "the worker holds " .. tostring(held) .. " definitions")
    get(base .. "/rss")
    local pid_after, after = get(base .. "/rss"):match("^(%d+) (%d+)")
    assert(pid_after == pid, "another worker answered")
    local f = assert(io.open("/proc/" .. pid .. "/maps", "r"))
    local maps = f:read("*a")
    f:close()
    return { before = tonumber(before), after = tonumber(after), growth = tonumber(after) - tonumber(before),
      libcurl = maps:find("libcurl", 1, true) ~= nil, core_mapped = maps:find("core.so", 1, true) ~= nil,
      cxx = maps:find("libstdc++", 1, true) ~= nil }
  end)
  support.stop_nginx(dir)
  sh("rm -rf " .. quote(dir .. "/logs") .. " " .. quote(dir .. "/nginx.conf"))
  if not ok then error(result, 0) end
  return result
end

local function mb(kb) return ("%.1f MB"):format(kb / 1024) end

local function bench(dir)
  local root = sh("pwd"):gsub("%s+$", "")
  local pages_dir = dir .. "/pages"
  local base = support.start_pages(pages_dir, TOTAL, { SIZE, 100 })
  local page, page100 = pages_dir .. "/www/pages/" .. SIZE .. "/0.json", pages_dir .. "/www/pages/100/0.json"
  local f = assert(io.open(page, "rb"))
  local page_bytes = #f:read("*a")
  f:close()
  print(("pages: %d definitions, %d a page (%.0f KB each), nginx static files on %s; %d runs, medians")
    :format(TOTAL, SIZE, page_bytes / 1024, base, RUNS))

  -- (a) and (b): fresh Lua 5.4 processes, the contestants' order rotating.
  local modes = { "each", "each100", "core", "simdjson", "client", "client100", "cjson", "bare" }
  local runs = {}
  for _, m in ipairs(modes) do runs[m] = { hwm = {}, rss = {} } end
  for round = 1, RUNS do
    for k = 1, #modes do
      local m = modes[(k + round - 2) % #modes + 1]
      local r = measure(m, (m == "each" or m == "each100") and base or m == "client100" and page100 or page)
      local want = (m == "each" or m == "each100") and TOTAL or m == "bare" and 0 or m == "client100" and 100
        or SIZE
      assert(r.definitions == want, ("%s: %d definitions, not %d"):format(m, r.definitions, want))
      assert(r.libcurl == (m:find("^each") or m:find("^client")) ~= nil, m .. ": libcurl mapped or not, unexpectedly")
      table.insert(runs[m].hwm, r.hwm)
      table.insert(runs[m].rss, r.rss)
    end
  end
  local med = {}
  for m, r in pairs(runs) do med[m] = { hwm = median(r.hwm), rss = median(r.rss) } end
  support.stop_nginx(pages_dir)

  print("| Lua 5.4 process | VmHWM (peak) | VmRSS (at the end) |")
  print("|---|---:|---:|")
  for _, row in ipairs {
    { "bare interpreter (lua5.4 -e '', reading the page file only)", "bare" },
    { "holds one page decoded by core.decode, yajl alone (no curl loaded)", "core" },
    { "holds one page decoded by core.decode with its simdjson module (no curl loaded)", "simdjson" },
    { "holds one page decoded by lua-cjson", "cjson" },
    { "the client and its libcurl driver loaded, holds one page decoded by core.decode", "client" },
    { ("client:each{limit = %d} over %d definitions, counted"):format(SIZE, TOTAL), "each" },
    { "the client and its libcurl driver loaded, holds one page of 100 decoded by core.decode", "client100" },
    { ("client:each{} (pages of 100, the default) over %d definitions, counted"):format(TOTAL), "each100" },
  } do
    print(("| %s | %s | %s |"):format(row[1], mb(med[row[2]].hwm), mb(med[row[2]].rss)))
  end
  local each_ratio = med.each.hwm / med.client.rss
  print(("target %s: (a) client:each's peak RSS over %d definitions at %.2fx the RSS of a process with the "
    .. "same modules loaded holding one decoded page (%s against %s: the walk's own %s; target <= 1.5x)")
    :format(each_ratio <= 1.5 and "met" or "missed", TOTAL, each_ratio, mb(med.each.hwm), mb(med.client.rss),
    mb(med.each.hwm - med.client.rss)))
  print(("      against a process holding one page decoded by the core alone (no curl loaded, %s): %.2fx")
    :format(mb(med.core.rss), med.each.hwm / med.core.rss))
  local each100_ratio = med.each100.hwm / med.client100.rss
  print(("target %s: (a) client:each{}'s peak RSS (pages of 100, the default) at %.2fx the RSS of a process "
    .. "with the same modules holding one page of 100 (%s against %s; target <= 1.5x)"):format(
    each100_ratio <= 1.5 and "met" or "missed", each100_ratio, mb(med.each100.hwm), mb(med.client100.rss)))
  local decode_ratio = med.core.rss / med.cjson.rss
  print(("target %s: (b) a process decoding one page with the core at %.2fx lua5.4 + lua-cjson holding the "
    .. "same page (%s against %s; peaks %.2fx; target <= 1.5x)"):format(decode_ratio <= 1.5 and "met" or "missed",
    decode_ratio, mb(med.core.rss), mb(med.cjson.rss), med.core.hwm / med.cjson.hwm))
  local simd_ratio = med.simdjson.rss / med.cjson.rss
  print(("target %s: (b) the same with the core's simdjson module loaded (libstdc++ mapped): %.2fx (%s; "
    .. "peaks %.2fx)"):format(simd_ratio <= 1.5 and "met" or "missed", simd_ratio, mb(med.simdjson.rss),
    med.simdjson.hwm / med.cjson.hwm))

  -- (c): one nginx per measurement, so that each worker starts fresh.
  local lua_dir, cpath_dir = root .. "/lua", root .. "/build/jit"
  if not workers_can_read(root) then
    -- a checkout under a private home directory: the workers (nobody) get a world-readable copy
    local copy = dir .. "/lib"
    assert(select(2, sh(("mkdir -p %s && cp -R %s %s/lua && cp -R %s %s/jit && chmod -R a+rX %s"):format(
      quote(copy), quote(lua_dir), quote(copy), quote(cpath_dir), quote(copy), quote(copy)))))
    lua_dir, cpath_dir = copy .. "/lua", copy .. "/jit"
    print("(the workers cannot read this checkout: they load a copy of lua/ and build/jit/ made for this run)")
  end
  local values = { MODULES = support.LUA_MODULES, LUA = lua_dir, CPATH = cpath_dir, PAGE = page }
  local growth = { library = {}, cjson = {} }
  local libcurl, cxx, core_mapped = false, false, true
  for round = 1, RUNS do
    for _, mode in ipairs(round % 2 == 1 and { "library", "cjson" } or { "cjson", "library" }) do
      local r = nginx_worker(dir .. "/worker", mode, values)
      table.insert(growth[mode], r.growth)
      if mode == "library" then
        libcurl = libcurl or r.libcurl
        cxx = cxx or r.cxx
        core_mapped = core_mapped and r.core_mapped
      end
    end
  end
  assert(core_mapped, "the library's core.so is not mapped in the worker that used it")
  local lib, cj = median(growth.library), median(growth.cjson)
  print(("nginx %s worker (LuaJIT): RSS growth holding one page decoded by lua-cjson %s; requiring the "
    .. "library, making a client and holding the page decoded by core.decode %s (%.2fx); the library's own "
    .. "growth %s"):format(sh("nginx -v 2>&1"):match("nginx/(%S+)") or "?", mb(cj), mb(lib), lib / cj, mb(lib - cj)))
  print(("target %s: (c) the worker grows by no more than the decoded page when the library is used "
    .. "(the library's own %s against the page's %s)"):format(lib - cj <= cj and "met" or "missed",
    mb(lib - cj), mb(cj)))
  print(("target %s: (c) no libcurl mapped in the worker that used the library")
    :format(libcurl and "missed" or "met"))
  print(("(c) simdjson's libstdc++ mapped in that worker: %s"):format(cxx and "yes" or "no"))
end

local dir = support.tmpdir()
local ok, err = pcall(bench, dir)
support.stop_nginx(dir .. "/pages")
support.stop_nginx(dir .. "/worker")
sh("rm -rf " .. quote(dir))
if not ok then
  io.stderr:write("bench/memory.lua: ", tostring(err), "\n")
  os.exit(1)
end
