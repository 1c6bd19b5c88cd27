--- The batch engine behind `client:batch`: many operations, at most `concurrency` at a time,
-- each with the client's retries and pacing, reported in input order with every input exactly
-- once. One loop serves every runtime: `concurrency` workers take the next operation until none
-- is left; a runner makes the workers concurrent (coroutines over the libcurl multi driver
-- outside nginx, light threads inside nginx).
local batch = {}

local DEFAULT_CONCURRENCY = 8

-- Checks the `opts` table of batch and the bulk helpers; raises on wrong types.
local function check_options(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error("posthog.event_definitions: batch: opts must be a table", 4) end
  local c = opts.concurrency
  if c ~= nil and (type(c) ~= "number" or c < 1 or c % 1 ~= 0) then
    error("posthog.event_definitions: batch: concurrency must be a positive integer", 4)
  end
  if opts.on_progress ~= nil and type(opts.on_progress) ~= "function" then
    error("posthog.event_definitions: batch: on_progress must be a function", 4)
  end
  return opts
end
batch.check_options = check_options

-- The result of a dry run of one prepared operation: what would be sent.
local function dry_result(client, spec)
  local req, msg = client:_build(spec)
  if not req then return { ok = false, err = client:_validation(spec, msg) } end
  return { ok = true, dry_run = true,
    request = { method = spec.method, path = client.prefix .. spec.path, body = req.body } }
end

--- Runs `ops` (array of {op = "create"|"update"|"replace"|"delete", id, fields}) on `client`.
-- Returns the report {ok, failed, results}, or nil and a validation error for an empty batch.
function batch.run(client, ops, opts)
  if type(ops) ~= "table" then error("posthog.event_definitions: batch: ops must be a table", 3) end
  opts = check_options(opts)
  local total = #ops
  if total == 0 then
    return nil, client:_validation({ method = "POST", path = client.list_path },
      "empty selection: no operations to run")
  end
  local results = {}
  local specs = {}
  for i = 1, total do
    local spec, err = client:_op_spec(ops[i])
    if spec then specs[i] = spec else results[i] = { ok = false, err = err } end
  end

  local done, progress = 0, opts.on_progress
  local function finished(i, result)
    results[i] = result
    done = done + 1
    if progress then progress(done, total) end
  end
  for i = 1, total do
    if results[i] then
      done = done + 1
      if progress then progress(done, total) end
    elseif opts.dry_run then
      finished(i, dry_result(client, specs[i]))
    end
  end

  local next_index = 0
  local function take()
    repeat next_index = next_index + 1 until next_index > total or not results[next_index]
    if next_index <= total then return next_index end
  end
  local function worker(ctx)
    for i in take do
      results[i] = true -- taken
      local value, err = client:_send(specs[i], ctx)
      if value ~= nil then finished(i, { ok = true, value = value })
      else finished(i, { ok = false, err = err }) end
    end
  end
  if not opts.dry_run then
    local workers = {}
    for w = 1, math.min(opts.concurrency or DEFAULT_CONCURRENCY, total) do workers[w] = worker end
    client:_run_concurrently(workers)
  end

  local report = { ok = 0, failed = 0, results = results }
  for i = 1, total do
    if results[i].ok then report.ok = report.ok + 1 else report.failed = report.failed + 1 end
  end
  return report
end

return batch
