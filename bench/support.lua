-- bench/support.lua: what the benchmarks share: shell helpers, medians, the fields of the
-- definitions they build, and an nginx of their own on a free loopback port (its own prefix,
-- stopped by its pid; never the system's). Loads on Lua 5.4, 5.1 and LuaJIT.
local socket = require "socket"

local support = {}

--- `s` quoted for the shell.
function support.quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local quote = support.quote

--- The output of `cmd` and whether it exited 0.
function support.sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok == true
end
local sh = support.sh

--- Writes `text` to `path`, raising on failure.
function support.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
end

--- The median of a list of numbers.
function support.median(list)
  local sorted = {}
  for i, v in ipairs(list) do sorted[i] = v end
  table.sort(sorted)
  local n = #sorted
  local mid = math.floor(n / 2)
  if n % 2 == 1 then return sorted[mid + 1] end
  return (sorted[mid] + sorted[mid + 1]) / 2
end

-- Fields of the definitions the benchmarks build, deterministic and shaped like PostHog Cloud's
-- (reference §6.4, §7.3).

--- A UUID for number n.
function support.uuid(n)
  return string.format("0190c6a2-%04x-7000-9c1d-%012x", n % 65536, n * 7919)
end

--- The JSON of a UserBasic object for number n.
function support.user(n)
  local first = ({ "Ada", "Grace", "Linus", "Barbara", "Ken" })[n % 5 + 1]
  return string.format(
    '{"id":%d,"uuid":"%s","distinct_id":"%s","first_name":"%s","last_name":"Example",' ..
    '"email":"%s.%d@example.com","is_email_verified":%s,"hedgehog_config":null,' ..
    '"role_at_organization":"engineering"}',
    n, support.uuid(n + 100000), string.format("x%015d", n * 31), first, first:lower(), n,
    n % 3 == 0 and "true" or "false")
end

--- An ISO-8601 timestamp with microseconds for number n.
function support.stamp(n)
  return string.format("2024-%02d-%02dT%02d:%02d:%02d.%06dZ",
    n % 12 + 1, n % 28 + 1, n % 24, n % 60, (n * 7) % 60, n * 997 % 1000000)
end

--- A new temporary directory, world-readable (nginx's workers run as nobody).
function support.tmpdir()
  local dir = sh("mktemp -d"):gsub("%s+$", "")
  assert(dir ~= "", "mktemp -d failed")
  assert(select(2, sh("chmod 755 " .. quote(dir))))
  return dir
end

-- A port nothing listens on (the kernel's choice, released at once).
local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

local function nginx_pid(dir)
  local f = io.open(dir .. "/nginx.pid", "r")
  if not f then return nil end
  local pid = tonumber(f:read("l"))
  f:close()
  return pid
end

--- Stops the nginx of `dir` by its pid (QUIT, then TERM, then KILL) and waits for it.
function support.stop_nginx(dir)
  local pid = nginx_pid(dir)
  if not pid then return end
  for _, signal in ipairs { "QUIT", "TERM", "KILL" } do
    sh(("kill -%s %d 2>/dev/null"):format(signal, pid))
    for _ = 1, 50 do
      if not select(2, sh(("kill -0 %d 2>/dev/null"):format(pid))) then return end
      socket.sleep(0.1)
    end
  end
end

--- The load_module lines of Debian's Lua module for nginx (NDK first), absolute.
support.LUA_MODULES = "load_module /usr/lib/nginx/modules/ndk_http_module.so;\n"
  .. "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\n"

--- Starts nginx with prefix `dir` on a free loopback port: `conf(port)` gives the text of
-- nginx.conf (which must write its pid to dir/nginx.pid and its error log under dir/logs);
-- `probe(base)` is true once the server answers as it should. Returns the base URL.
function support.start_nginx(dir, conf, probe)
  local nginx = sh("command -v nginx || echo /usr/sbin/nginx"):gsub("%s+$", "")
  assert(select(2, sh("mkdir -p " .. quote(dir .. "/logs") .. " " .. quote(dir .. "/tmp"))))
  for _ = 1, 5 do
    local port = free_port()
    local base = "http://127.0.0.1:" .. port
    support.write_file(dir .. "/nginx.conf", conf(port))
    assert(select(2, sh("chmod -R a+rX " .. quote(dir))))
    local out, ok = sh(("%s -p %s -c %s -e %s 2>&1"):format(quote(nginx), quote(dir .. "/"),
      quote(dir .. "/nginx.conf"), quote(dir .. "/logs/error.log")))
    if ok then
      for _ = 1, 50 do
        if probe(base) then return base end
        socket.sleep(0.1)
      end
      support.stop_nginx(dir)
      error("nginx started but does not answer; see " .. dir .. "/logs/error.log")
    elseif not out:find("Address already in use", 1, true) then
      error("nginx did not start: " .. out)
    end
  end
  error("nginx: no free port")
end

--- A definition shaped like PostHog Cloud's, deterministic in i: about 700 bytes for the
-- listing benchmarks (bench/list.lua, bench/memory.lua); with `rich`, about 1 KB (a longer name
-- and description, an owner more often, an updated_by user) for bench/decode.lua.
function support.definition(i, rich)
  local verified = i % 4 == 0
  return table.concat {
    '{"id":"', support.uuid(i), '","name":"event_', string.format("%05d", i),
    rich and '_signed_up_for_newsletter"' or '_signed_up"',
    ',"owner":', i % (rich and 3 or 2) == 0 and "null" or support.user(i % 50 + 1),
    ',"description":"Fired when a visitor completes the newsletter form ', rich and "on the marketing site " or "",
    '(variant ', i % 7, ')."',
    ',"created_at":"', support.stamp(i), '","updated_at":"', support.stamp(i + 1), '"',
    ',"updated_by":', rich and support.user(i % 40 + 2) or "null",
    ',"last_seen_at":', i % 5 == 0 and "null" or ('"' .. support.stamp(i + 2) .. '"'),
    ',"verified":', verified and "true" or "false",
    ',"verified_at":', verified and ('"' .. support.stamp(i + 3) .. '"') or "null",
    ',"verified_by":null,"hidden":', i % 9 == 0 and "true" or "false",
    ',"enforcement_mode":"allow","primary_property":', i % 2 == 0 and '"$current_url"' or "null",
    ',"is_action":false,"post_to_slack":false',
    ',"default_columns":', i % 6 == 0 and '["event","person","timestamp"]' or "[]",
    ',"media_preview_urls":[]',
    ',"tags":["marketing","newsletter"', i % 2 == 0 and ',"web"' or "", "]}",
  }
end

support.LIST_PATH = "/api/projects/1/event_definitions/"

--- The URL of the list page of `size` at `offset` on `base` (the first page has no offset, as
-- clients ask it).
function support.page_url(base, size, offset)
  local query = offset and ("limit=%d&offset=%d&ordering=name"):format(size, offset) or
    ("limit=%d&ordering=name"):format(size)
  return base .. support.LIST_PATH .. "?" .. query
end

-- The static server of the list pages: pre-encoded files, the limit and offset from the query
-- (no limit: PostHog's 100).
local PAGES_CONF = [[
worker_processes 1;
daemon on;
pid "@DIR@/nginx.pid";
error_log "@DIR@/logs/error.log" warn;
events { worker_connections 1024; }
http {
    access_log off;
    server_tokens off;
    types { }
    default_type application/json;
    etag off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 75s;
    client_body_temp_path "@DIR@/tmp/body";
    proxy_temp_path "@DIR@/tmp/proxy";
    fastcgi_temp_path "@DIR@/tmp/fastcgi";
    uwsgi_temp_path "@DIR@/tmp/uwsgi";
    scgi_temp_path "@DIR@/tmp/scgi";
    map $arg_limit $page_limit { "" 100; "~^[0-9]+$" $arg_limit; default none; }
    map $arg_offset $page_offset { "" 0; "~^[0-9]+$" $arg_offset; default none; }
    server {
        listen 127.0.0.1:@PORT@;
        root "@DIR@/www";
        location = @LIST_PATH@ { try_files /pages/$page_limit/$page_offset.json =404; }
        location / { return 404; }
    }
}
]]

--- Starts an nginx in `dir` on a free loopback port serving `total` definitions
-- (support.definition) as list pages of each size in `sizes`, pre-encoded in
-- DIR/www/pages/SIZE/OFFSET.json with `next` links on the same host; returns its base URL and
-- the definitions' average size in bytes. Stop it with support.stop_nginx(dir).
function support.start_pages(dir, total, sizes)
  local defs, bytes = {}, 0
  for i = 1, total do
    defs[i] = support.definition(i)
    bytes = bytes + #defs[i]
  end
  local base = support.start_nginx(dir, function(port)
    local b = "http://127.0.0.1:" .. port
    for _, size in ipairs(sizes) do
      local folder = dir .. "/www/pages/" .. size
      assert(select(2, support.sh("mkdir -p " .. support.quote(folder))), "mkdir " .. folder)
      for offset = 0, total - 1, size do
        local last = math.min(offset + size, total)
        local nxt = last < total and '"' .. support.page_url(b, size, last) .. '"' or "null"
        support.write_file(folder .. "/" .. offset .. ".json", table.concat { '{"count":', total, ',"next":', nxt,
          ',"previous":null,"results":[', table.concat(defs, ",", offset + 1, last), "]}" })
      end
    end
    -- nginx's workers run as nobody: everything must be world-readable.
    assert(select(2, support.sh("chmod -R a+rX " .. support.quote(dir))), "chmod " .. dir)
    return (PAGES_CONF:gsub("@(%u+_?%u*)@", { DIR = dir, PORT = tostring(port), LIST_PATH = support.LIST_PATH }))
  end, function(b)
    return support.sh("curl -s -o /dev/null -w '%{http_code}' " .. support.quote(support.page_url(b, sizes[1])))
      == "200"
  end)
  return base, bytes / total
end

return support
