--- The batch engine behind `client:batch`: many operations, at most `concurrency` at a time,
-- each with the client's retries and pacing, reported in input order with every input exactly
-- once. One loop serves every runtime: `concurrency` workers take the next operation until none
-- is left; a runner makes the workers concurrent (coroutines over the libcurl multi driver
-- outside nginx, light threads inside nginx).
local core = require "posthog.event_definitions.core"

local batch = {}

local DEFAULT_CONCURRENCY = 8

-- The report of a finished batch: counts over `results`.
local function report_of(results)
  local report = { ok = 0, failed = 0, results = results }
  for _, r in ipairs(results) do
    if r.ok then report.ok = report.ok + 1 else report.failed = report.failed + 1 end
  end
  return report
end

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

-- Runs prepared call specs (a false entry is already failed: results[i] is set) with at most
-- `opts.concurrency` in flight; fills `results` and returns the report.
local function run_specs(client, specs, results, opts)
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
      finished(i, dry_result(client, specs[i]))
    else
      pending[#pending + 1] = i
    end
  end
  local taken = 0
  local function take()
    taken = taken + 1
    return pending[taken]
  end
  local function worker(ctx)
    for i in take do
      local value, err = client:_send(specs[i], ctx)
      if value ~= nil then finished(i, { ok = true, value = value })
      else finished(i, { ok = false, err = err }) end
    end
  end
  if #pending > 0 then
    local workers = {}
    for w = 1, math.min(opts.concurrency or DEFAULT_CONCURRENCY, #pending) do workers[w] = worker end
    client:_run_concurrently(workers)
  end
  return report_of(results)
end

--- Runs `ops` (array of {op = "create"|"update"|"replace"|"delete", id, fields}) on `client`.
-- Returns the report {ok, failed, results}, or nil and a validation error for an empty batch.
function batch.run(client, ops, opts)
  if type(ops) ~= "table" then error("posthog.event_definitions: batch: ops must be a table", 3) end
  opts = check_options(opts)
  if #ops == 0 then
    return nil, client:_validation({ method = "POST" }, "empty selection: no operations to run")
  end
  local specs, results = {}, {}
  for i = 1, #ops do
    local spec, err = client:_op_spec(ops[i])
    specs[i] = spec or false
    if not spec then results[i] = { ok = false, err = err } end
  end
  return run_specs(client, specs, results, opts)
end

------------------------------------------------------------------------------------------------
-- Bulk helpers: a selection (ids, or a list filter) fanned out into single or chunked requests
------------------------------------------------------------------------------------------------

local MAX_BULK_IDS = 500        -- PostHog's BULK_UPDATE_TAGS_MAX_IDS, also for bulk verify
local MAX_BULK_TAGS = 100       -- tags in one bulk_update_tags request
local MAX_BULK_CHANGES = 10000  -- ids x distinct tags in one bulk_update_tags request

-- Whether `filter` (list params) selects fewer than every definition: a non-blank search,
-- names or tags, an event_type other than "event", a verified filter or exclude_stale. Paging,
-- ordering, exclude_hidden and excluded_properties alone still select nearly everything.
local function narrows(filter)
  local function nonempty(list) return type(list) == "table" and next(list) ~= nil or type(list) == "string" end
  return (type(filter.search) == "string" and filter.search:find("%S") ~= nil)
    or nonempty(filter.names) or nonempty(filter.tags)
    or (filter.event_type ~= nil and filter.event_type ~= "event")
    or filter.verified ~= nil or filter.exclude_stale == true
end

--- The ids a helper works on: `ids_or_filter` is an array of ids, or `list` params selecting
-- them. Returns ids (possibly empty when a filter matched nothing) or nil, err; an empty table
-- is refused (never "everything").
function batch.select(client, ids_or_filter, what)
  if type(ids_or_filter) ~= "table" then
    error("posthog.event_definitions: " .. what .. ": ids_or_filter must be a table", 4)
  end
  if ids_or_filter[1] ~= nil then
    local ids, why = client:_checked_ids(ids_or_filter)
    if not ids then return nil, client:_validation({ method = "POST" }, why) end
    return ids
  end
  if not narrows(ids_or_filter) then
    return nil, client:_validation({ method = "POST" }, "empty selection: give ids, or a filter that "
      .. "narrows the list (search, names, tags, event_type, verified or exclude_stale)")
  end
  local defs, err = client:all(ids_or_filter)
  if not defs then return nil, err end
  local ids = {}
  for i, def in ipairs(defs) do ids[i] = def.id end
  return ids
end

-- The report of a helper whose filter matched nothing.
local function empty_report() return report_of({}) end

--- Runs one write operation per selected id: `make(id)` returns the op.
function batch.each_id(client, ids_or_filter, opts, what, make)
  opts = check_options(opts)
  local ids, err = batch.select(client, ids_or_filter, what)
  if not ids then return nil, err end
  if #ids == 0 then return empty_report() end
  local ops = {}
  for i, id in ipairs(ids) do ops[i] = make(id) end
  return batch.run(client, ops, opts)
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
local function run_bulk(client, ids, size, path, body_of, opts)
  local id_chunks = chunks(ids, size)
  local specs, chunk_results = {}, {}
  for c, chunk in ipairs(id_chunks) do specs[c] = client:_bulk_spec(path, body_of(chunk)) end
  local progress = opts.on_progress
  local sub = { concurrency = opts.concurrency, dry_run = opts.dry_run, on_progress = progress and
    function(done, total) progress(math.floor(#ids * done / total), #ids) end }
  run_specs(client, specs, chunk_results, sub)
  local results = {}
  local index = 0
  for c, chunk in ipairs(id_chunks) do
    local r = chunk_results[c]
    local by_id = {}
    if r.ok and not r.dry_run then
      for _, item in ipairs(r.value.updated or {}) do by_id[item.id] = { ok = true, value = item } end
      for _, item in ipairs(r.value.skipped or {}) do
        by_id[item.id] = { ok = false, err = client:_error { kind = "http", status = 200, code = "skipped",
          detail = tostring(item.reason or "skipped"), method = "POST", path = client.prefix .. specs[c].path,
          attempts = 1 } }
      end
    end
    for _, id in ipairs(chunk) do
      index = index + 1
      if not r.ok or r.dry_run then results[index] = r
      else results[index] = by_id[id] or { ok = true, value = { id = id }, unchanged = true } end
    end
  end
  return report_of(results)
end

--- bulk_update_verified over the selection, 500 ids a request.
function batch.verify(client, ids_or_filter, opts)
  opts = check_options(opts)
  local verified = opts.verified ~= false
  local ids, err = batch.select(client, ids_or_filter, "bulk_verify")
  if not ids then return nil, err end
  if #ids == 0 then return empty_report() end
  return run_bulk(client, ids, MAX_BULK_IDS, "bulk_update_verified/",
    function(chunk) return { ids = chunk, verified = verified } end, opts)
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
function batch.tag(client, ids_or_filter, action, tags, opts)
  if type(action) ~= "string" then error("posthog.event_definitions: bulk_tag: action must be a string", 3) end
  if type(tags) ~= "table" then error("posthog.event_definitions: bulk_tag: tags must be a table", 3) end
  opts = check_options(opts)
  local bad = client:_tags_problem(action, tags)
  if bad then return nil, client:_validation({ method = "POST" }, bad) end
  tags = distinct_tags(tags)
  if action ~= "set" and #tags == 0 then
    return nil, client:_validation({ method = "POST" }, "tags must not be empty for action '" .. action .. "'")
  end
  if action == "set" and #tags > MAX_BULK_TAGS then
    return nil, client:_validation({ method = "POST" },
      "set with more than " .. MAX_BULK_TAGS .. " tags cannot be split into requests")
  end
  local ids, err = batch.select(client, ids_or_filter, "bulk_tag")
  if not ids then return nil, err end
  if #ids == 0 then return empty_report() end
  local results
  local groups = #tags == 0 and { {} } or chunks(tags, MAX_BULK_TAGS)
  for g, group in ipairs(groups) do
    local size = math.min(MAX_BULK_IDS, math.floor(MAX_BULK_CHANGES / math.max(1, #group)))
    local group_opts = { concurrency = opts.concurrency, dry_run = opts.dry_run }
    if opts.on_progress then -- one count over every group: group g covers ids (g-1)*n+1 .. g*n
      local before, total = (g - 1) * #ids, #groups * #ids
      group_opts.on_progress = function(done) opts.on_progress(before + done, total) end
    end
    local r = run_bulk(client, ids, size, "bulk_update_tags/",
      function(chunk) return { ids = chunk, action = action, tags = group } end, group_opts)
    if not results then results = r.results
    else
      for i, result in ipairs(r.results) do
        if results[i].ok then results[i] = result end
      end
    end
  end
  return report_of(results)
end

return batch
