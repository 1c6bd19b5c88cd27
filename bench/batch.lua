-- bench/batch.lua: 1,000 updates (PATCH) through client:batch against a server with 20 ms of
-- latency per request, at concurrency 8 (and 200 of them one at a time, for the speed-up), each
-- against the ideal: requests × latency / concurrency; side by side with the peers: Python 3
-- urllib + json from a thread pool of 8 (bench/batch/python_pool.py), and LuaSocket + lua-cjson
-- one at a time (bench/batch/luasocket.lua: it has no concurrency).
--
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/5.4/?.so;;' lua5.4 bench/batch.lua [ops]
--
-- The server is an nginx of its own whose Lua handler waits 20 ms (ngx.sleep) and answers a
-- definition; it counts the requests in flight in a shared dict and reports the most it saw,
-- so the run also shows that the batch never goes over its concurrency. It is not the fake
-- PostHog server, whose own work per request (validation, the store, the request log) would be
-- what is measured. Prints "target met/missed" lines; exits 1 only when an operation fails or
-- the concurrency is exceeded.
local evdefs = require "posthog.event_definitions"
local core = require "posthog.event_definitions.core"
local support = require "bench.support"

local OPS = tonumber(arg and arg[1]) or 1000
local SERIAL_OPS, LATENCY, CONCURRENCY = 200, 0.02, 8

local NGINX_CONF = support.LUA_MODULES .. [[
worker_processes 2;
daemon on;
pid "@DIR@/nginx.pid";
error_log "@DIR@/logs/error.log" warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path "@DIR@/tmp";
    keepalive_requests 100000;
    lua_shared_dict flight 1m;
    server {
        listen 127.0.0.1:@PORT@;
        location = /__flight {
            content_by_lua_block {
                local d = ngx.shared.flight
                ngx.say(d:get("max") or 0)
                if ngx.req.get_method() == "DELETE" then d:set("max", 0) end
            }
        }
        location /api/projects/1/event_definitions/ {
            content_by_lua_block {
                local d = ngx.shared.flight
                local now = d:incr("now", 1, 0)
                if now > (d:get("max") or 0) then d:set("max", now) end
                ngx.req.read_body()
                ngx.sleep(@LATENCY@)
                d:incr("now", -1)
                local id = ngx.var.uri:match("event_definitions/([%x-]+)/$") or "none"
                ngx.header.content_type = "application/json"
                ngx.print('{"id":"', id, '","name":"event_', id:sub(-6), '","description":"bench",',
                  '"tags":[],"verified":false,"hidden":false,"enforcement_mode":"allow"}')
            }
        }
    }
}
]]

local function uuid(i) return string.format("0190c6a2-8f4e-7000-9c1d-%012d", i) end

local function ops_of(n)
  local ops = {}
  for i = 1, n do ops[i] = { op = "update", id = uuid(i), fields = { description = "bench " .. i } } end
  return ops
end

-- Seconds for the batch of `ops` at `concurrency`, and the most requests the server had at once.
local function run(client, base, ops, concurrency)
  support.sh("curl -s -X DELETE " .. support.quote(base .. "/__flight"))
  local t0 = core.monotonic()
  local report = assert(client:batch(ops, { concurrency = concurrency }))
  local seconds = core.monotonic() - t0
  assert(report.ok == #ops, "failed operations: " .. report.failed)
  return seconds, tonumber((support.sh("curl -s " .. support.quote(base .. "/__flight"))))
end

-- Seconds for a peer's run of `cmd` (it prints "<seconds> <ok>"), and the most requests the
-- server had at once.
local function peer(base, cmd, n)
  support.sh("curl -s -X DELETE " .. support.quote(base .. "/__flight"))
  local out, ok = support.sh(cmd .. " 2>&1")
  local seconds, done = out:match("^(%d+%.%d+) (%d+)\n$")
  assert(ok and seconds and tonumber(done) == n, cmd .. " failed:\n" .. out)
  return tonumber(seconds), tonumber((support.sh("curl -s " .. support.quote(base .. "/__flight"))))
end

local function bench(dir)
  local base = support.start_nginx(dir, function(port)
    return (NGINX_CONF:gsub("@(%u+)@", { DIR = dir, PORT = tostring(port), LATENCY = tostring(LATENCY) }))
  end, function(b) return support.sh("curl -s " .. support.quote(b .. "/__flight")):match("^%d") ~= nil end)
  local client = assert(evdefs.new { host = base, personal_api_key = "phx_bench", project_id = 1,
    rate_limit = false })
  local serial, serial_max = run(client, base, ops_of(SERIAL_OPS), 1)
  local parallel, parallel_max = run(client, base, ops_of(OPS), CONCURRENCY)
  client:close()
  local python, python_max = peer(base, ("/usr/bin/python3 -B bench/batch/python_pool.py %s %d %d"):format(
    support.quote(base), OPS, CONCURRENCY), OPS)
  local luasocket, luasocket_max = peer(base, ("lua5.4 bench/batch/luasocket.lua %s %d"):format(
    support.quote(base), SERIAL_OPS), SERIAL_OPS)
  local ideal_serial, ideal = SERIAL_OPS * LATENCY, OPS * LATENCY / CONCURRENCY
  print(("%d updates one at a time: %.3f s (ideal %.3f s, %.3fx; at most %d in flight)"):format(
    SERIAL_OPS, serial, ideal_serial, serial / ideal_serial, serial_max))
  print(("%d updates at concurrency %d: %.3f s (ideal %.3f s, %.3fx; at most %d in flight); speed-up per "
    .. "request over one at a time %.1fx"):format(OPS, CONCURRENCY, parallel, ideal, parallel / ideal,
    parallel_max, (serial / SERIAL_OPS) / (parallel / OPS)))
  print(("peer: Python 3 urllib + json, thread pool of %d, %d updates: %.3f s (%.3fx the ideal, %.2fx this "
    .. "project's time; at most %d in flight)"):format(CONCURRENCY, OPS, python, python / ideal, python / parallel,
    python_max))
  print(("peer: LuaSocket + lua-cjson, one at a time, %d updates: %.3f s (%.3fx the ideal, %.2fx this project's "
    .. "one at a time; at most %d in flight)"):format(SERIAL_OPS, luasocket, luasocket / ideal_serial,
    luasocket / serial, luasocket_max))
  print(("target %s: the batch at %.3fx the ideal (target <= 1.05x)"):format(
    parallel / ideal <= 1.05 and "met" or "missed", parallel / ideal))
  assert(serial_max == 1 and parallel_max <= CONCURRENCY, "more requests in flight than the concurrency")
end

local dir = support.tmpdir()
local ok, err = pcall(bench, dir)
support.stop_nginx(dir)
support.sh("rm -rf " .. support.quote(dir))
if not ok then
  io.stderr:write("bench/batch.lua: ", tostring(err), "\n")
  os.exit(1)
end
