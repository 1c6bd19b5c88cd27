-- bench/list.lua: listing every event definition of a project (20,000 by default) from a local
-- fake server, this project against its peers and against the limits, side by side in one run.
--
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/5.4/?.so;;' lua5.4 bench/list.lua [runs] [definitions]
--   lua5.4 bench/list.lua --serve [runs] [definitions]   (only the server, until Enter is pressed)
--   (runs: 7 by default; bench/run sets the paths; run from the repository's root)
--
-- The server is nginx serving pre-encoded pages (~700 bytes per definition, shaped like
-- bench/decode.lua's) as static files from its own prefix on a free loopback port:
-- GET /api/projects/1/event_definitions/?limit=N&offset=M[&ordering=name] answers
-- {"count":…,"next":…,"previous":null,"results":[…]} with `next` links on the same host. Each
-- contestant lists everything in its own process, at 100 and at 1,000 definitions a page; the
-- rounds alternate the contestants' order and the table shows medians. The limits: the transfer
-- floor (one curl process fetching every page on one connection, its transfers' time_total
-- summed) plus the decode floor (cjson.decode of every page body in one Lua 5.4 process); for
-- comparison, the same with this project's C decoder (core.decode, with its simdjson module).
-- Variants of client:all show what the pages in flight (1, 2, 8 against the default 4) and the
-- collector (generational, stopped) change.
-- Prints "target met/missed" lines; exits 1 only when a contestant fails or lists a wrong count.


local SERVE = arg and arg[1] == "--serve"
if SERVE then table.remove(arg, 1) end
local RUNS = tonumber(arg and arg[1]) or 7
local TOTAL = tonumber(arg and arg[2]) or 20000
local SIZES = { 100, 1000 }

local support = require "bench.support"
local quote, sh, write_file, median = support.quote, support.sh, support.write_file, support.median

local page_url = support.page_url

-- The server: nginx serving the pages as static files (bench/support.lua).
local definition_bytes
local function start_server(dir)
  local base
  base, definition_bytes = support.start_pages(dir, TOTAL, SIZES)
  return base
end
local stop_server = support.stop_nginx

-- wrk against the first page of `size`: requests/s and transfer/s.
local function server_rate(base, size)
  local out, ok = sh("wrk -t1 -c4 -d2s -H 'Authorization: Bearer phx_bench' " .. quote(page_url(base, size, 0)))
  if not ok then return nil end
  return tonumber(out:match("Requests/sec:%s*([%d.]+)")), out:match("Transfer/sec:%s*(%S+)")
end

-- The contestants ---------------------------------------------------------------------------------

local function project(interpreter, cpath, mode)
  return function(base, size)
    return ("LUA_CPATH=%s %s bench/list/project.lua %s %d %s"):format(quote(cpath), interpreter, quote(base), size,
      mode)
  end
end

local CONTESTANTS = {
  { name = "this project, client:all (Lua 5.4)", project = true, cmd = project("lua5.4", "build/5.4/?.so;;", "all") },
  { name = "this project, client:all (LuaJIT)", cmd = project("luajit", "build/jit/?.so;;", "all") },
  { name = "this project, client:each (Lua 5.4)", cmd = project("lua5.4", "build/5.4/?.so;;", "each") },
  { name = "LuaSocket socket.http + lua-cjson (Lua 5.4)", peer = true,
    cmd = function(base, size) return "lua5.4 bench/list/luasocket.lua " .. quote(page_url(base, size)) end },
  { name = "lua-curl easy + lua-cjson (LuaJIT)", peer = true,
    cmd = function(base, size) return "luajit bench/list/luacurl.lua " .. quote(page_url(base, size)) end },
  { name = "Python 3 http.client + json", peer = true,
    cmd = function(base, size)
      return "/usr/bin/python3 -B bench/list/http_client.py " .. quote(page_url(base, size))
    end },
  -- what the pages in flight and the collector change (client:all, Lua 5.4; the default is 4)
  { name = "variant: client:all (Lua 5.4), 1 page in flight", cmd = project("lua5.4", "build/5.4/?.so;;", "all 1") },
  { name = "variant: client:all (Lua 5.4), 2 pages in flight", cmd = project("lua5.4", "build/5.4/?.so;;", "all 2") },
  { name = "variant: client:all (Lua 5.4), 8 pages in flight", cmd = project("lua5.4", "build/5.4/?.so;;", "all 8") },
  { name = "variant: client:all (Lua 5.4), generational collector",
    cmd = project("lua5.4", "build/5.4/?.so;;", "all 4 generational") },
  { name = "variant: client:all (Lua 5.4), collector stopped",
    cmd = project("lua5.4", "build/5.4/?.so;;", "all 4 stopped") },
}

-- Runs one contestant once: seconds.
local function run_contestant(c, base, size)
  local cmd = c.cmd(base, size)
  local out, ok = sh("env LUA_PATH='lua/?.lua;lua/?/init.lua;;' " .. cmd .. " 2>&1")
  local seconds, count = out:match("^(%d+%.%d+) (%d+)\n$")
  if not (ok and seconds) then error(c.name .. " failed:\n" .. cmd .. "\n" .. out, 0) end
  if tonumber(count) ~= TOTAL then error(("%s listed %s definitions, not %d"):format(c.name, count, TOTAL), 0) end
  return tonumber(seconds)
end

-- The transfer floor: one curl process fetching every page of `size` on one connection; the sum
-- of its transfers' time_total.
local function transfer_floor(dir, base, size)
  local lines = { "silent", "fail", 'header = "Authorization: Bearer phx_bench"',
    'write-out = "%{time_total} %{num_connects}\\n"' }
  for offset = 0, TOTAL - 1, size do
    lines[#lines + 1] = ('url = "%s"'):format(page_url(base, size, offset > 0 and offset or nil))
    lines[#lines + 1] = 'output = "/dev/null"'
  end
  local config = dir .. "/curl-" .. size .. ".conf"
  write_file(config, table.concat(lines, "\n") .. "\n")
  local out, ok = sh("curl -K " .. quote(config))
  assert(ok, "curl failed: " .. out)
  local seconds, transfers, connects = 0, 0, 0
  for t, n in out:gmatch("([%d.]+) (%d+)\n") do
    seconds, transfers, connects = seconds + tonumber(t), transfers + 1, connects + tonumber(n)
  end
  assert(transfers == math.ceil(TOTAL / size), "curl made " .. transfers .. " transfers")
  assert(connects == 1, "curl opened " .. connects .. " connections")
  return seconds
end

-- The decode floor: every page body of `size` decoded in one Lua 5.4 process, by cjson.decode
-- (the floor) or by this project's core.decode (for comparison).
local function decode_floor(dir, size, decoder)
  return run_contestant({ name = "decode floor (" .. decoder .. ")", cmd = function()
    return ("LUA_CPATH='build/5.4/?.so;;' lua5.4 bench/list/decode_floor.lua %s %d %d %s"):format(
      quote(dir .. "/www/pages"), size, TOTAL, decoder)
  end }, nil, size)
end

-- The run -----------------------------------------------------------------------------------------

local function version(cmd, pattern)
  return (sh(cmd .. " 2>&1"):match(pattern)) or "?"
end

local function bench(dir)
  local base = start_server(dir)
  local sizes_text = {}
  for _, size in ipairs(SIZES) do
    local rate, transfer = server_rate(base, size)
    sizes_text[#sizes_text + 1] = rate and ("%d-definition pages %.0f req/s (%s)"):format(size, rate, transfer)
      or ("%d-definition pages: wrk not found"):format(size)
  end
  print(("server: nginx %s static pages on %s; wrk -t1 -c4 -d2s: %s"):format(
    version("nginx -v", "nginx/(%S+)"), base, table.concat(sizes_text, ", ")))
  print(("versions: %s, LuaJIT %s, libcurl %s, Python %s; %d runs, medians"):format(
    version("lua5.4 -v", "^(Lua %S+)"), version("luajit -v", "^LuaJIT (%S+)"),
    version("curl --version", "libcurl/(%S+)"), version("/usr/bin/python3 --version", "Python (%S+)"), RUNS))

  local times = {}  -- times[size][name] = {seconds…}
  for _, size in ipairs(SIZES) do
    times[size] = { transfer = {}, decode = {}, core_decode = {} }
    for _, c in ipairs(CONTESTANTS) do times[size][c.name] = {} end
  end
  -- One untimed round first (page cache, sockets), then RUNS rounds in rotating order.
  for round = 0, RUNS do
    for _, size in ipairs(SIZES) do
      for k = 1, #CONTESTANTS do
        local c = CONTESTANTS[(k + round - 1) % #CONTESTANTS + 1]
        local seconds = run_contestant(c, base, size)
        if round > 0 then table.insert(times[size][c.name], seconds) end
      end
      local transfer, decode = transfer_floor(dir, base, size), decode_floor(dir, size, "cjson")
      local core_decode = decode_floor(dir, size, "core")
      if round > 0 then
        table.insert(times[size].transfer, transfer)
        table.insert(times[size].decode, decode)
        table.insert(times[size].core_decode, core_decode)
      end
    end
  end

  local med = {}
  for _, size in ipairs(SIZES) do
    med[size] = {}
    for name, list in pairs(times[size]) do med[size][name] = median(list) end
    med[size].limit = med[size].transfer + med[size].decode
  end
  local ours
  for _, c in ipairs(CONTESTANTS) do if c.project then ours = c.name end end

  local header, rule = { "| contestant |" }, { "|---|" }
  for _, size in ipairs(SIZES) do
    local pages = math.ceil(TOTAL / size)
    header[#header + 1] = (" %d pages of %d | vs project | vs limit |"):format(pages, size)
    rule[#rule + 1] = "---:|---:|---:|"
  end
  print(("Listing %d definitions (%d bytes each on average), median of %d runs:"):format(
    TOTAL, math.floor(definition_bytes), RUNS))
  print(table.concat(header))
  print(table.concat(rule))
  local rows = {}
  for _, c in ipairs(CONTESTANTS) do rows[#rows + 1] = { c.name, c.name } end
  rows[#rows + 1] = { "limit: transfer floor (one curl process, one connection)", "transfer" }
  rows[#rows + 1] = { "limit: decode floor (cjson.decode of every page, Lua 5.4)", "decode" }
  rows[#rows + 1] = { "limit (transfer + decode)", "limit" }
  rows[#rows + 1] = { "for comparison: this project's core.decode of every page (Lua 5.4, simdjson)", "core_decode" }
  for _, row in ipairs(rows) do
    local cells = { "| " .. row[1] .. " |" }
    for _, size in ipairs(SIZES) do
      local t = med[size][row[2]]
      cells[#cells + 1] = (" %.1f ms | %.2fx | %.2fx |"):format(t * 1000, t / med[size][ours], t / med[size].limit)
    end
    print(table.concat(cells))
  end

  for _, size in ipairs(SIZES) do
    local fastest, fastest_name = math.huge, nil
    for _, c in ipairs(CONTESTANTS) do
      if c.peer and med[size][c.name] < fastest then fastest, fastest_name = med[size][c.name], c.name end
    end
    local speedup = fastest / med[size][ours]
    local pages = math.ceil(TOTAL / size)
    print(("target %s: this project's speed-up over the fastest peer (%s) at %d pages of %d: %.2fx "
      .. "(target >= 2x)"):format(speedup >= 2 and "met" or "missed", fastest_name, pages, size, speedup))
    local of_limit = med[size][ours] / med[size].limit
    print(("target %s: this project at %.2fx the limit at %d pages of %d (target <= 1.0x)")
      :format(of_limit <= 1.0 and "met" or "missed", of_limit, pages, size))
  end
end

local dir = support.tmpdir()
local function serve(d)
  local base = start_server(d)
  print(("serving %d definitions: %s (Enter stops the server)"):format(TOTAL, page_url(base, SIZES[1])))
  io.read("l")
end

local ok, err = pcall(SERVE and serve or bench, dir)
stop_server(dir)
sh("rm -rf " .. quote(dir))
if not ok then
  io.stderr:write("bench/list.lua: ", tostring(err), "\n")
  os.exit(1)
end
