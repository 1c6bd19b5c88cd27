--- spec/support/fault_runner.lua: runs one case of the fault matrix (spec/80-fault_matrix_spec.lua)
-- and describes its outcome as plain data. Used in the busted process (curl transport) and,
-- sent as source in the body of /run, inside nginx (ngx transport), so it requires nothing:
-- the caller passes the facade and a clock.
local runner = {}

runner.ID = "01900000-0000-7000-8000-0000000000aa"

-- The five calls of the matrix, by name.
local CALLS = {
  list = function(c) return c:list { limit = 2 } end,
  get = function(c) return c:get(runner.ID) end,
  update = function(c) return c:update(runner.ID, { description = "matrix" }) end,
  create = function(c, name) return c:create { name = name } end,
  delete = function(c) return c:delete(runner.ID) end,
}
runner.METHODS = { "list", "get", "update", "create", "delete" }

-- A number as data: non-finite numbers become strings, so any JSON encoder takes them.
local function number(v)
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  return v
end

-- A value as text, for fields that are tables (so that a key hidden in one is still found).
local function dump(v, depth)
  if type(v) ~= "table" then return tostring(v) end
  if depth > 4 then return "{...}" end
  local parts = {}
  for k, x in pairs(v) do parts[#parts + 1] = tostring(k) .. "=" .. dump(x, depth + 1) end
  table.sort(parts)
  return "{" .. table.concat(parts, ",") .. "}"
end

--- Runs call `method` with client options `options` (sleep and random are set here: every sleep
-- is recorded, not slept). `evdefs` is the facade, `clock` a function giving seconds; with
-- `prime`, the client first lists once (its answer keeps the connection open).
-- Returns {ok, value_ok, err = {field = value}, line = tostring(err), slept, elapsed, raised}.
function runner.run(evdefs, options, method, name, clock, prime)
  local slept = {}
  options.sleep = function(s) slept[#slept + 1] = number(s) end
  options.random = function() return 0.5 end
  local out = { slept = slept }
  local made, client, cerr = pcall(evdefs.new, options)
  if not made or not client then
    out.raised = "new: " .. tostring(made and cerr or client)
    return out
  end
  if prime then -- one call first, leaving its connection open for the case's call to reuse
    local primed, page = pcall(CALLS.list, client)
    out.primed = primed and page ~= nil
  end
  local t0 = clock()
  local ran, value, err = pcall(CALLS[method], client, name)
  out.elapsed = clock() - t0
  pcall(client.close, client)
  if not ran then
    out.raised = tostring(value)
    return out
  end
  if value ~= nil then
    out.ok = true
    if method == "delete" then out.value_ok = value == true
    elseif method == "list" then out.value_ok = type(value) == "table" and type(value.results) == "table"
    else out.value_ok = type(value) == "table" and type(value.id) == "string" end
    return out
  end
  out.ok = false
  out.err_type = type(err)
  if type(err) ~= "table" then
    out.line = tostring(err)
    return out
  end
  local ok_line, line = pcall(tostring, err)
  out.line = ok_line and line or ("tostring raised: " .. tostring(line))
  local fields = {}
  for k, v in pairs(err) do
    if type(v) == "number" then fields[tostring(k)] = number(v)
    elseif type(v) == "string" or type(v) == "boolean" then fields[tostring(k)] = v
    else fields[tostring(k)] = dump(v, 1) end
  end
  out.err = fields
  return out
end

return runner
