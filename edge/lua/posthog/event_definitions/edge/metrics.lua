--- Counters of the edge enforcement in the lua_shared_dict (every worker adds to the same ones),
-- their Prometheus text, and the summary for the error log.
--
-- Keys: "m|<name>|<label>|<label>" → count. Offenders (events tagged, dropped or rejected, by class
-- and name) are bounded: at most `max_offenders` distinct names get their own counter; the rest add to the
-- name "_other" of their class.
local metrics = {}

local concat, sort, format = table.concat, table.sort, string.format

local K_OFFENDER_SLOTS = "offender_slots"

--- Adds n to counter `name` with labels a, b (strings or nil).
function metrics.add(dict, n, name, a, b)
  if n == 0 then return end
  dict:incr("m|" .. name .. "|" .. (a or "") .. "|" .. (b or ""), n, 0)
end

--- Adds the counts of one checked body: counts = {["class/action"] = n}, offenders = {{class, name}…}.
function metrics.add_events(dict, events, counts, offenders, max_offenders)
  metrics.add(dict, events, "events")
  for key, n in pairs(counts) do
    local class, action = key:match("^(.-)/(.*)$")
    metrics.add(dict, n, "violations", class, action)
  end
  for _, o in ipairs(offenders) do
    local class, name = o[1], o[2]
    local key = "m|offender|" .. class .. "|" .. name
    if not dict:incr(key, 1) then
      local slots = dict:incr(K_OFFENDER_SLOTS, 1, 0)
      if slots <= max_offenders then
        if not dict:add(key, 1) then dict:incr(K_OFFENDER_SLOTS, -1); dict:incr(key, 1) end -- another worker's
      else dict:incr(K_OFFENDER_SLOTS, -1); metrics.add(dict, 1, "offender", class, "_other") end
    end
  end
end

-- Every counter: {name, a, b, value}, sorted by name and labels.
local function all(dict)
  local out = {}
  for _, key in ipairs(dict:get_keys(0)) do
    local name, a, b = key:match("^m|([^|]*)|([^|]*)|(.*)$")
    if name then out[#out + 1] = { name, a, b, dict:get(key) or 0 } end
  end
  sort(out, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    if x[2] ~= y[2] then return x[2] < y[2] end
    return x[3] < y[3]
  end)
  return out
end

-- A Prometheus label value.
local function label(v)
  return '"' .. v:gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }) .. '"'
end

local HELP = {
  requests = { "counter", "Capture requests seen, by outcome", "outcome" },
  uninspected = { "counter", "Capture bodies passed or rejected unread, by reason", "reason" },
  events = { "counter", "Events checked" },
  violations = { "counter", "Events with a taxonomy violation, by class and action taken", "class", "action" },
  offender = { "counter", "Events tagged, dropped or rejected by class and event name (bounded; rest: _other)",
    "class", "event" },
  refresh = { "counter", "Taxonomy refreshes, by result", "result" },
}

--- The Prometheus text exposition of every counter, plus the index gauges `definitions` and
-- `age` (seconds since the last good refresh, or nil) and this worker's Lua heap.
function metrics.prometheus(dict, definitions, age)
  local lines, seen = {}, {}
  for _, c in ipairs(all(dict)) do
    local name, a, b, value = c[1], c[2], c[3], c[4]
    local h = HELP[name]
    if h then
      local full = "posthog_edge_" .. name .. "_total"
      if not seen[name] then
        seen[name] = true
        lines[#lines + 1] = "# HELP " .. full .. " " .. h[2]
        lines[#lines + 1] = "# TYPE " .. full .. " counter"
      end
      local labels = {}
      if h[3] then labels[1] = h[3] .. "=" .. label(a) end
      if h[4] then labels[2] = h[4] .. "=" .. label(b) end
      local shown = #labels > 0 and "{" .. concat(labels, ",") .. "}" or ""
      lines[#lines + 1] = full .. shown .. " " .. format("%d", value)
    end
  end
  lines[#lines + 1] = "# HELP posthog_edge_index_definitions Event definitions in the taxonomy index"
  lines[#lines + 1] = "# TYPE posthog_edge_index_definitions gauge"
  lines[#lines + 1] = "posthog_edge_index_definitions " .. format("%d", definitions)
  lines[#lines + 1] = "# HELP posthog_edge_index_age_seconds Seconds since the last good refresh (-1: none yet)"
  lines[#lines + 1] = "# TYPE posthog_edge_index_age_seconds gauge"
  lines[#lines + 1] = "posthog_edge_index_age_seconds " .. format("%.3f", age or -1)
  lines[#lines + 1] = "# HELP posthog_edge_worker_lua_kilobytes Lua heap of the worker that served this scrape"
  lines[#lines + 1] = "# TYPE posthog_edge_worker_lua_kilobytes gauge"
  lines[#lines + 1] = "posthog_edge_worker_lua_kilobytes " .. format("%.0f", collectgarbage("count"))
  return concat(lines, "\n") .. "\n"
end

--- One line for the error log summing the counters that moved since the last summary (nil when
-- none did); the previous values are kept in the dict under "s|…".
function metrics.summary(dict)
  local moved = {}
  for _, c in ipairs(all(dict)) do
    local name, a, b, value = c[1], c[2], c[3], c[4]
    if name ~= "offender" then
      local key = "s|" .. name .. "|" .. a .. "|" .. b
      local delta = value - (dict:get(key) or 0)
      if delta > 0 then
        dict:set(key, value)
        local labels = a ~= "" and ("{" .. a .. (b ~= "" and "," .. b or "") .. "}") or ""
        moved[#moved + 1] = name .. labels .. " +" .. delta
      end
    end
  end
  if #moved == 0 then return nil end
  return concat(moved, ", ")
end

return metrics
