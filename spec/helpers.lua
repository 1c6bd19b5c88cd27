--- Test helpers: the fake PostHog server (reachability check, control API) and client factories.
-- The server comes from $FAKE_POSTHOG_URL (spec/run starts one); when unset, one is started
-- here for the whole busted process.
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson.safe"
local evdefs = require "posthog.event_definitions"

local helpers = {}

-- Seed keys of the fake server (spec/fake/README.md).
helpers.KEY = "phx_fake_all"
helpers.READ_KEY = "phx_fake_read"
helpers.LEGACY_KEY = "phx_fake_legacy"

--- Starts a fake server of our own; returns its base URL and its directory.
function helpers.start_fake()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir .. " && chmod 755 " .. dir))
  local pipe = assert(io.popen("spec/fake/start --dir " .. dir))
  local url = pipe:read("*l")
  pipe:close()
  assert(url and url:match("^http://127%.0%.0%.1:%d+$"), "the fake server did not start in " .. dir)
  return url, dir
end

--- Stops a server started by start_fake.
function helpers.stop_fake(dir)
  os.execute("spec/fake/stop " .. dir .. " >/dev/null 2>&1; rm -rf " .. dir)
end

--- The base URL of the shared fake server, checked to be reachable.
function helpers.fake_url()
  if not helpers.url then
    helpers.url = os.getenv("FAKE_POSTHOG_URL") or helpers.start_fake()
    local _, code = http.request(helpers.url .. "/__fake/stats")
    assert(code == 200, "the fake PostHog server at " .. helpers.url
      .. " is not reachable (start it with `make fake-server` or run the specs with `make test`)")
  end
  return helpers.url
end

--- Calls the fake's control API at `url` (default: the shared fake); returns the decoded JSON.
function helpers.control(method, path, body, url)
  local chunks = {}
  local payload = body and cjson.encode(body) or nil
  local _, code = http.request {
    url = (url or helpers.fake_url()) .. "/__fake/" .. path,
    method = method,
    source = payload and ltn12.source.string(payload) or nil,
    headers = payload and { ["content-type"] = "application/json",
      ["content-length"] = tostring(#payload) } or nil,
    sink = ltn12.sink.table(chunks),
  }
  local text = table.concat(chunks)
  assert(code == 200, "fake control " .. method .. " " .. path .. " answered " .. tostring(code)
    .. ": " .. text)
  return cjson.decode(text)
end

--- Resets the fake (definitions, config, faults, logs) with `seed` options, once requests of
-- earlier tests (a delay a client gave up on) have left the server, so counters start clean.
function helpers.reset(seed, url)
  for _ = 1, 200 do
    if helpers.control("GET", "stats", nil, url).inflight == 0 then break end
    socket.sleep(0.05)
  end
  return helpers.control("POST", "reset", seed or {}, url)
end
--- Merges switches into the fake's config.
function helpers.config(switches, url) return helpers.control("POST", "config", switches, url) end
--- Queues faults on the fake.
function helpers.faults(list, url) return helpers.control("POST", "faults", { faults = list }, url) end
--- The fake's request log.
function helpers.requests(url) return helpers.control("GET", "requests", nil, url).requests end
--- The fake's definitions (API objects plus project_id), as stored.
function helpers.state(url) return helpers.control("GET", "state", nil, url).definitions end
--- The fake's counters (requests, connections, inflight, inflight_high, throttled).
function helpers.stats(url) return helpers.control("GET", "stats", nil, url) end

--- A client for the shared fake with instant sleeps recorded in `client.slept`.
function helpers.client(options)
  local slept = {}
  local o = {
    host = helpers.fake_url(),
    personal_api_key = helpers.KEY,
    project_id = 1,
    rate_limit = false,
    sleep = function(s) slept[#slept + 1] = s end,
    random = function() return 0.5 end,
  }
  for k, v in pairs(options or {}) do o[k] = v end
  local client = assert(evdefs.new(o))
  client.slept = slept
  return client
end

--- A transport function answering each request with `responses[i]` in turn (the last one
-- repeats); returns the function and the array of requests it saw.
function helpers.scripted(responses)
  local seen = {}
  local function transport(req)
    seen[#seen + 1] = req
    local r = responses[#seen] or responses[#responses]
    if type(r) == "function" then return r(req) end
    if r.err then return nil, r.err end
    return { status = r.status or 200, body = r.body or "",
      headers = r.headers or { ["content-type"] = "application/json" } }
  end
  return transport, seen
end

--- Parses RFC 4180 CSV into rows of fields (quoted fields may hold commas, doubled quotes and
-- line breaks; rows end with CRLF); raises on anything else.
function helpers.parse_csv(text)
  local rows, row, pos = {}, {}, 1
  while pos <= #text do
    local value
    if text:sub(pos, pos) == '"' then
      local parts = {}
      pos = pos + 1
      while true do
        local q = assert(text:find('"', pos, true), "unterminated quoted field")
        parts[#parts + 1] = text:sub(pos, q - 1)
        if text:sub(q + 1, q + 1) == '"' then
          parts[#parts + 1] = '"'
          pos = q + 2
        else
          pos = q + 1
          break
        end
      end
      value = table.concat(parts)
    else
      local stop = text:find("[,\r]", pos) or #text + 1
      value = text:sub(pos, stop - 1)
      assert(not value:find('["\n]'), "quote or line feed in an unquoted field: " .. value)
      pos = stop
    end
    row[#row + 1] = value
    if text:sub(pos, pos) == "," then
      pos = pos + 1
    elseif text:sub(pos, pos + 1) == "\r\n" then
      rows[#rows + 1], row, pos = row, {}, pos + 2
    else
      error("expected a comma or CRLF at byte " .. pos)
    end
  end
  assert(#row == 0, "the last row does not end with CRLF")
  return rows
end

--- The API requests (not control calls) the fake at `url` logged, oldest first.
function helpers.api_requests(url)
  local out = {}
  for _, r in ipairs(helpers.requests(url)) do
    if r.path:find("^/api/") then out[#out + 1] = r end
  end
  return out
end

--- Asserts that neither the one-line form of `err` nor any of its string fields contains `key`.
function helpers.assert_no_key(err, key)
  assert(not tostring(err):find(key, 1, true), "the key appears in tostring(err)")
  for name, v in pairs(err) do
    if type(v) == "string" then assert(not v:find(key, 1, true), "the key appears in err." .. name) end
  end
end

return helpers
