--- The batch engine behind `client:batch`: many operations, at most `concurrency` at a time,
-- each with the client's retries and pacing, reported in input order with every input exactly
-- once. One loop serves every runtime: `concurrency` workers take the next operation until none
-- is left; a runner makes the workers concurrent (coroutines over the libcurl multi driver
-- outside nginx, light threads inside nginx).
local core = require "posthog.event_definitions.core"
local endpoints = require "posthog.event_definitions.endpoints"
local options = require "posthog.event_definitions.options"
local pager = require "posthog.event_definitions.pager"

local TUNING = options.TUNING

local batch = {}

-- The report of a finished batch: counts over `results` (failed counts those not started too),
-- and `interrupted`, the signal that stopped it (or stopped the process before it).
local function report_of(results, interrupted)
  local report = { ok = 0, failed = 0, not_started = 0, results = results, interrupted = interrupted }
  for _, r in ipairs(results) do
    if r.ok then report.ok = report.ok + 1 else report.failed = report.failed + 1 end
    if r.err and r.err.kind == "interrupted" then report.not_started = report.not_started + 1 end
  end
  return report
end

-- The result of a dry run of one prepared operation: what would be sent.
local function dry_result(p, spec)
  local req, err = p:build(spec)
  if not req then return { ok = false, err = err } end
  return { ok = true, dry_run = true,
    request = { method = spec.method, path = p.prefix .. spec.path, body = req.body } }
end

-- Runs prepared call specs (a false entry is already failed: results[i] is set) with at most
-- `opts.concurrency` in flight; fills `results` and returns the report. Once a worker raises
-- (on_progress, say), no worker takes another spec. Outside nginx SIGINT and SIGTERM are held
-- meanwhile: once one comes, no spec is started (each is reported kind "interrupted"), those
-- in flight finish, and the report names the signal.
local function run_specs(p, specs, results, opts)
  local total = #specs
  local done, progress = 0, opts.on_progress
  local function finished(i, result)
    results[i] = result
    done = done + 1
    if progress then progress(done, total) end
  end
  local pending = {}
  for i = 1, total do
    if not specs[i] then
      finished(i, results[i])
    elseif opts.dry_run then
      finished(i, dry_result(p, specs[i]))
    else
      pending[#pending + 1] = i
    end
  end
  local taken = 0
  local function worker(ctx)
    while not ctx.cancelled and not (ctx.interrupted and ctx.interrupted()) and taken < #pending do
      taken = taken + 1
      local i = pending[taken]
      local value, err = p:send(specs[i], ctx)
      if value ~= nil then finished(i, { ok = true, value = value })
      elseif err.kind == "interrupted" then results[i] = { ok = false, err = err }
      else finished(i, { ok = false, err = err }) end
    end
  end
  if #pending == 0 then return report_of(results) end
  local workers = {}
  for w = 1, math.min(opts.concurrency, #pending) do workers[w] = worker end
  p:holding(nil, p.concurrently, p, workers)
  local signal = p:interrupted()
  for t = taken + 1, #pending do
    local i = pending[t]
    results[i] = { ok = false, err = p:not_started(specs[i], signal or "an interrupt") }
  end
  return report_of(results, signal)
end

-- Runs checked `opts` over `ops`: the report, or nil and a validation error for no ops.
local function run_ops(p, ops, opts)
  if #ops == 0 then
    return nil, p:validation({ method = "POST" }, "empty selection: no operations to run")
  end
  local specs, results = {}, {}
  for i = 1, #ops do
    local spec, err = endpoints.operation(p, ops[i])
    specs[i] = spec or false
    if not spec then results[i] = { ok = false, err = err } end
  end
  return run_specs(p, specs, results, opts)
end

--- Runs `ops` (array of {op = "create"|"update"|"replace"|"delete", id, fields}) through the
-- pipeline `p`. Returns the report {ok, failed, results}, or nil and a validation error for an
-- empty batch. Raises on arguments of the wrong type.
function batch.run(p, ops, opts)
  options.expect(ops, "table", "batch: ops", 3)
  return run_ops(p, ops, options.batch(opts, 3))
end

------------------------------------------------------------------------------------------------
-- Bulk helpers: a selection (ids, or a list filter) fanned out into single or chunked requests
------------------------------------------------------------------------------------------------


-- Why `filter` may not be acted on, or false: it selects every definition of the project
-- (PostHog ignores filters such as event_type = "all" or empty names, so such a filter is no
-- filter), judged by comparing the counts PostHog gives for the filter and for no filter.
-- nil, err when a count cannot be read.
local function selects_everything(p, filter)
  local whole, err = pager.list(p, { limit = 1 })
  if not whole then return nil, err end
  local query = { limit = 1 }
  for k, v in pairs(filter) do if k ~= "limit" and k ~= "offset" then query[k] = v end end
  local selected
  selected, err = pager.list(p, query)
  if not selected then return nil, err end
  if selected.count >= whole.count then
    return string.format("the filter selects every definition of the project (%d); PostHog ignores "
      .. "filters such as event_type = \"all\" or empty names: narrow it, or pass opts.all = true",
      whole.count)
  end
  return false
end

-- The ids a helper works on: `ids_or_filter` is an array of ids, or `list` params selecting
-- them. Returns ids (possibly empty when a filter matched nothing) and, for a filter, the names
-- of the definitions selected (names[i] of ids[i]); or nil, err. An empty table, or a filter that
-- selects every definition, is refused unless opts.all is true.
local function select(p, ids_or_filter, opts)
  if ids_or_filter[1] ~= nil then
    local ids, why = endpoints.checked_ids(ids_or_filter)
    if not ids then return nil, p:validation({ method = "POST" }, why) end
    return ids, {}
  end
  if not opts.all then
    if next(ids_or_filter) == nil then
      return nil, p:validation({ method = "POST" }, "empty selection: give ids, or a filter "
        .. "(or opts.all = true to act on every definition)")
    end
    local why, err = selects_everything(p, ids_or_filter)
    if why == nil then return nil, err end
    if why then return nil, p:validation({ method = "POST" }, why) end
  end
  local defs, err = pager.all(p, ids_or_filter)
  if not defs then return nil, err end
  local ids, names = {}, {}
  for i, def in ipairs(defs) do ids[i], names[i] = def.id, def.name end
  return ids, names
end

-- The report of a helper over `ids`: each result names its definition (result.id, and
-- result.name when the selection gave it). A result shared by the ids of one request is copied.
local function named(report, ids, names)
  for i, r in ipairs(report.results) do
    local own = {}
    for k, v in pairs(r) do own[k] = v end
    own.id, own.name = ids[i], names[i]
    report.results[i] = own
  end
  return report
end

-- The report of a helper whose filter matched nothing.
local function empty_report() return report_of({}) end

-- Raises unless the selection of helper `what` is a table (an ids array, or `list` params with
-- known keys and values of the right types) and its opts are valid; returns the checked opts.
local function checked(what, ids_or_filter, opts)
  options.expect(ids_or_filter, "table", what .. ": ids_or_filter", 4)
  if ids_or_filter[1] == nil then options.params(ids_or_filter, what .. ": filter", 4) end
  return options.batch(opts, 4)
end

--- Runs one write operation per selected id (an ids array, or `list` params): `make(id)`
-- returns the op. Returns a batch report, or nil, err.
function batch.each_id(p, ids_or_filter, opts, what, make)
  opts = checked(what, ids_or_filter, opts)
  local ids, names = select(p, ids_or_filter, opts)
  if not ids then return nil, names end
  if #ids == 0 then return empty_report() end
  local ops = {}
  for i, id in ipairs(ids) do ops[i] = make(id) end
  return named(run_ops(p, ops, opts), ids, names)
end

-- Splits `list` into arrays of at most `size` items.
local function chunks(list, size)
  local out = {}
  for i = 1, #list, size do
    local chunk = {}
    for j = i, math.min(i + size - 1, #list) do chunk[#chunk + 1] = list[j] end
    out[#out + 1] = chunk
  end
  return out
end

-- Runs bulk endpoint requests over id chunks and turns the answers into one result per id, in
-- selection order: updated ids are ok with their item, skipped ids fail with PostHog's
-- reason, ids in neither list (already in the requested state) are ok and unchanged.
local function run_bulk(p, ids, size, path, body_of, opts)
  local id_chunks = chunks(ids, size)
  local specs, chunk_results = {}, {}
  for c, chunk in ipairs(id_chunks) do specs[c] = endpoints.bulk(p, path, body_of(chunk)) end
  local progress = opts.on_progress
  local sub = { concurrency = opts.concurrency, dry_run = opts.dry_run, on_progress = progress and
    function(done, total) progress(math.floor(#ids * done / total), #ids) end }
  local run = run_specs(p, specs, chunk_results, sub)
  local results = {}
  local index = 0
  for c, chunk in ipairs(id_chunks) do
    local r = chunk_results[c]
    local by_id = {}
    if r.ok and not r.dry_run then
      for _, item in ipairs(r.value.updated or {}) do by_id[item.id] = { ok = true, value = item } end
      for _, item in ipairs(r.value.skipped or {}) do
        by_id[item.id] = { ok = false, err = p:error { kind = "http", status = 200, code = "skipped",
          detail = tostring(item.reason or "skipped"), method = "POST", path = p:shown(specs[c].path),
          attempts = 1 } }
      end
    end
    for _, id in ipairs(chunk) do
      index = index + 1
      if not r.ok or r.dry_run then results[index] = r
      else results[index] = by_id[id] or { ok = true, value = { id = id }, unchanged = true } end
    end
  end
  return report_of(results, run.interrupted)
end

--- bulk_update_verified over the selection, 500 ids a request.
function batch.verify(p, ids_or_filter, opts)
  opts = checked("bulk_verify", ids_or_filter, opts)
  local verified = opts.verified ~= false
  local ids, names = select(p, ids_or_filter, opts)
  if not ids then return nil, names end
  if #ids == 0 then return empty_report() end
  return named(run_bulk(p, ids, TUNING.bulk_max_ids, "bulk_update_verified/",
    function(chunk) return { ids = chunk, verified = verified } end, opts), ids, names)
end

-- Tags trimmed, lower-cased and de-duplicated, as PostHog stores them.
local function distinct_tags(tags)
  local seen, out = {}, {}
  for _, tag in ipairs(tags) do
    local t = core.normalize_tag(tag)
    if not seen[t] then seen[t] = true; out[#out + 1] = t end
  end
  return out
end

--- bulk_update_tags over the selection: at most 500 ids a request and ids x tags <= 10,000;
-- more than 100 tags to add or remove go in groups, one group after the other.
function batch.tag(p, ids_or_filter, action, tags, opts)
  options.expect(action, "string", "bulk_tag: action", 3)
  options.expect(tags, "table", "bulk_tag: tags", 3)
  opts = checked("bulk_tag", ids_or_filter, opts)
  local bad = endpoints.tags_problem(action, tags)
  if bad then return nil, p:validation({ method = "POST" }, bad) end
  tags = distinct_tags(tags)
  if action ~= "set" and #tags == 0 then
    return nil, p:validation({ method = "POST" }, "tags must not be empty for action '" .. action .. "'")
  end
  if action == "set" and #tags > TUNING.bulk_max_tags then
    return nil, p:validation({ method = "POST" },
      "set with more than " .. TUNING.bulk_max_tags .. " tags cannot be split into requests")
  end
  local ids, names = select(p, ids_or_filter, opts)
  if not ids then return nil, names end
  if #ids == 0 then return empty_report() end
  local groups = #tags == 0 and { {} } or chunks(tags, TUNING.bulk_max_tags)
  local function run_groups()
    local results, interrupted
    for g, group in ipairs(groups) do
      local size = math.min(TUNING.bulk_max_ids, math.floor(TUNING.bulk_max_changes / math.max(1, #group)))
      local group_opts = { concurrency = opts.concurrency, dry_run = opts.dry_run }
      if opts.on_progress then -- one count over every group: group g covers ids (g-1)*n+1 .. g*n
        local before, total = (g - 1) * #ids, #groups * #ids
        group_opts.on_progress = function(done) opts.on_progress(before + done, total) end
      end
      local r = run_bulk(p, ids, size, "bulk_update_tags/",
        function(chunk) return { ids = chunk, action = action, tags = group } end, group_opts)
      interrupted = interrupted or r.interrupted
      if not results then results = r.results
      else
        for i, result in ipairs(r.results) do
          if results[i].ok then results[i] = result end
        end
      end
    end
    return results, interrupted
  end
  local results, interrupted
  if opts.dry_run then
    results, interrupted = run_groups()
  else
    results, interrupted = p:holding(nil, run_groups) -- between groups too
  end
  return named(report_of(results, interrupted), ids, names)
end

return batch
