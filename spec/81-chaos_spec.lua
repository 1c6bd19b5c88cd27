-- The chaos batch: 1,000 mixed creates, updates and deletes through client:batch at concurrency 8
-- against the fake (spec/fake), about 10 % of them hit by faults of mixed kinds (status codes,
-- cut connections, truncated and malformed bodies, connections closed before or after the
-- request was processed, delays beyond the timeout), for several seeds. Afterwards the fake's
-- state is compared with the report (the contract, ../shared/design/lua-api.md):
--   * every op reported ok is applied (no lost write);
--   * every op reported failed and not err.ambiguous is not applied;
--   * no definition is created twice; every input is reported exactly once.
-- Counts per seed go to stderr. Retries sleep through the client's recorder (helpers.client).
-- Tagged #timing: the delays race the client's deadline (make valgrind skips it).
local socket = require "socket"
local helpers = require "spec.helpers"

local SEEDS = { 1, 2, 3 }
local OPS, CREATES, UPDATES, DELETES = 1000, 400, 350, 250
local FAULT_RATE = 0.1
local TIMEOUT = 0.5
local DELAY = 1.5 -- seconds a "delay" fault holds a request: beyond TIMEOUT

-- Park-Miller: the same numbers on every interpreter, for a seed.
local function rng(seed)
  local x = (seed * 7919) % 2147483647
  if x == 0 then x = 1 end
  return function()
    x = (x * 16807) % 2147483647
    return x / 2147483647
  end
end

-- The kinds of fault, as the fake plays them (spec/fake/README.md). The status faults and
-- `close` answer before the request is processed; cut, truncate, chunked and close+process
-- process it first; delay processes it after the client has given up.
local FAULTS = {
  { status = 500 }, { status = 502 }, { status = 503 }, { status = 504 },
  { status = 429, headers = { ["Retry-After"] = 1 } },
  { action = "cut" }, { action = "truncate" }, { action = "malformed" }, { action = "html" },
  { action = "close" }, { action = "close", process = true },
  { action = "delay", seconds = DELAY }, { action = "chunked" },
}

local function fault(random, match)
  local f = {}
  for k, v in pairs(FAULTS[math.floor(random() * #FAULTS) + 1]) do f[k] = v end
  f.match = match
  f.times = random() < 0.2 and 2 or 1 -- now and then the retry fails too
  return f
end

-- Waits until the fake has no request in flight (a delayed one the client gave up on).
local function settle()
  for _ = 1, 200 do
    if helpers.stats().inflight == 0 then return end
    socket.sleep(0.05)
  end
  error("the fake still has requests in flight")
end

-- Runs one seed; returns the counts and the list of violations.
local function run_seed(seed)
  local random = rng(seed)
  helpers.reset { seed = UPDATES + DELETES }
  local defs = helpers.state()
  table.sort(defs, function(a, b) return a.name < b.name end)
  assert(#defs == UPDATES + DELETES, "seeded " .. #defs)

  local ops = {}
  for i = 1, CREATES do
    ops[#ops + 1] = { op = "create", fields = { name = string.format("chaos_%d_%04d", seed, i), tags = { "chaos" } } }
  end
  for i = 1, UPDATES do
    ops[#ops + 1] = { op = "update", id = defs[i].id, fields = { description = string.format("chaos %d %d", seed, i) } }
  end
  for i = UPDATES + 1, UPDATES + DELETES do ops[#ops + 1] = { op = "delete", id = defs[i].id } end
  for i = #ops, 2, -1 do
    local j = math.floor(random() * i) + 1
    ops[i], ops[j] = ops[j], ops[i]
  end
  assert(#ops == OPS)

  -- Faults for updates and deletes match their id; creates all share one path, so POST faults
  -- are queued while the batch runs (from on_progress), each taken by the next POST.
  local faults = {}
  for _, op in ipairs(ops) do
    if op.op ~= "create" and random() < FAULT_RATE then
      faults[#faults + 1] = fault(random, { method = op.op == "update" and "PATCH" or "DELETE", path = op.id })
    end
  end
  helpers.faults(faults)
  local create_faults = 0
  local client = helpers.client { timeout = TIMEOUT, max_retries = 2 }
  local report = client:batch(ops, { concurrency = 8, on_progress = function()
    if random() < FAULT_RATE * CREATES / OPS then
      create_faults = create_faults + 1
      helpers.faults { fault(random, { method = "POST", path = "event_definitions/$" }) }
    end
  end })
  client:close()
  settle()

  local by_name, by_id, names = {}, {}, {}
  for _, d in ipairs(helpers.state()) do
    by_name[d.name], by_id[d.id] = d, d
    names[d.name] = (names[d.name] or 0) + 1
  end
  local injected, created, seen = 0, {}, {}
  for _, r in ipairs(helpers.api_requests()) do
    if r.fault then injected = injected + 1 end
    -- What the server did with each op's requests, for the messages: "POST fault=cut 201".
    local subject = r.method == "POST" and r.body and r.body:match('"name"%s*:%s*"([^"]*)"')
      or r.path:match("(%x+%-%x+%-%x+%-%x+%-%x+)/?$") or (r.args or ""):match("name=([%w_]+)")
    if subject then
      seen[subject] = seen[subject] or {}
      table.insert(seen[subject], r.method .. (r.path:find("by_name", 1, true) and " by_name" or "")
        .. (r.fault and (" fault=" .. tostring(r.fault)) or "") .. " "
        .. (r.status and string.format("%d", r.status) or "closed")
        .. (r.connection_requests and r.connection_requests > 1 and " (reused conn)" or ""))
    end
    if r.method == "POST" and r.status == 201 then
      local name = r.body and r.body:match('"name"%s*:%s*"([^"]*)"')
      if name then created[name] = (created[name] or 0) + 1 end
    end
  end

  local n = { ok = 0, failed = 0, ambiguous = 0, applied_failed = 0, applied_failed_clean = 0, lost = 0,
    duplicates = 0, injected = injected, queued = #faults + create_faults }
  local violations = {}
  local function violation(i, what)
    if #violations < 20 then
      local r = report.results[i]
      local subject = ops[i].id or ops[i].fields.name
      violations[#violations + 1] = string.format("op %d (%s %s): %s%s; server: %s", i, ops[i].op,
        subject, what, r and r.err and (" — " .. tostring(r.err)) or "", table.concat(seen[subject] or {}, ", "))
    end
  end
  assert(type(report) == "table" and #report.results == OPS, "every input is reported exactly once")
  for i, op in ipairs(ops) do
    local r = report.results[i]
    local applied
    if op.op == "create" then
      applied = by_name[op.fields.name] ~= nil
      if (names[op.fields.name] or 0) > 1 or (created[op.fields.name] or 0) > 1 then
        n.duplicates = n.duplicates + 1
        violation(i, "created twice")
      end
    elseif op.op == "update" then
      applied = by_id[op.id] ~= nil and by_id[op.id].description == op.fields.description
    else
      applied = by_id[op.id] == nil
    end
    if r.ok == true then
      n.ok = n.ok + 1
      if not applied then
        n.lost = n.lost + 1
        violation(i, "reported ok, not applied (lost write)")
      end
    else
      n.failed = n.failed + 1
      local ambiguous = type(r.err) == "table" and r.err.ambiguous == true
      if ambiguous then n.ambiguous = n.ambiguous + 1 end
      if applied then
        n.applied_failed = n.applied_failed + 1
        if not ambiguous then
          n.applied_failed_clean = n.applied_failed_clean + 1
          violation(i, "reported failed and not ambiguous, but applied")
        end
      end
    end
  end
  if report.ok ~= n.ok or report.failed ~= n.failed then
    violations[#violations + 1] = string.format("report.ok/failed %s/%s, results say %d/%d",
      tostring(report.ok), tostring(report.failed), n.ok, n.failed)
  end
  return n, violations
end

describe("the chaos batch", function()
  for _, seed in ipairs(SEEDS) do
    it("seed " .. seed .. ": the report agrees with the server's state #timing", function()
      local n, violations = run_seed(seed)
      io.stderr:write(string.format("chaos seed %d: %d ops, ok %d, failed %d (ambiguous %d), "
        .. "applied-but-reported-failed %d (not ambiguous: %d), lost writes %d, created twice %d; "
        .. "faults queued %d, hit %d\n", seed, OPS, n.ok, n.failed, n.ambiguous, n.applied_failed,
        n.applied_failed_clean, n.lost, n.duplicates, n.queued, n.injected))
      assert(#violations == 0, "seed " .. seed .. ": " .. table.concat(violations, "\n"))
    end)
  end
end)
