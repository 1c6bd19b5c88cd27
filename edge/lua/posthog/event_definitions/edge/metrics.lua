--- Counters of the edge in its lua_shared_dict (every worker adds to the same ones), their
-- Prometheus text, and the summary line for the error log.
--
-- Keys: "m" then the counter's name and its label values, separated by \31 → count. Offenders
-- (events tagged, dropped or rejected, by project, class and name) are bounded: at most
-- `max_offenders` distinct names get their own counter; the rest add to the name "_other".
local metrics = {}

local concat, sort, format, gsub, find = table.concat, table.sort, string.format, string.gsub, string.find

local SEP = "\31"
local K_OFFENDER_SLOTS = "offender_slots"

-- Each counter: its help text and its label names, in key order.
local COUNTERS = {
  requests = { "Capture requests seen, by project and outcome", "project", "outcome" },
  uninspected = { "Capture requests passed or rejected unread, by reason", "reason" },
  events = { "Events checked, by project", "project" },
  violations = { "Events with a taxonomy violation, by project, class and action taken", "project", "class",
    "action" },
  offender = { "Events tagged, dropped or rejected, by project, class and event name (bounded; rest: _other)",
    "project", "class", "event" },
  removed = { "Events taken out of forwarded requests, by project and where they went (quarantine or log)",
    "project", "destination" },
  refresh = { "Taxonomy refreshes, by project and result", "project", "result" },
  quarantine = { "Events taken out on their way to the quarantine, by result (queued, sent, retried, recovered, "
    .. "lost) and project", "result", "project" },
  quarantine_lost = { "Quarantine events given up, by reason (full: queue_bytes; refused: 400/413 for the event "
    .. "alone; no_memory: the dict) and project", "reason", "project" },
  quarantine_posts = { "POSTs to the quarantine's /batch/, by outcome (HTTP status, transport, timeout)", "outcome" },
}

-- A label value as a key part: no separator, no control character.
local function part(v)
  if v == nil then return "" end
  if not find(v, "%c") then return v end
  return (gsub(v, "%c", "?"))
end

--- Adds n to counter `name` with label values a, b, c (strings or nil).
function metrics.add(dict, n, name, a, b, c)
  if n == 0 then return end
  dict:incr("m" .. SEP .. name .. SEP .. part(a) .. SEP .. part(b) .. SEP .. part(c), n, 0)
end

--- Adds the counts of one decided payload of `project`: counts = {["class/action"] = n},
-- offenders = {{class, name}…}.
function metrics.add_events(dict, project, events, counts, offenders, max_offenders)
  metrics.add(dict, events, "events", project)
  for k, n in pairs(counts) do
    local class, action = k:match("^(.-)/(.*)$")
    metrics.add(dict, n, "violations", project, class, action)
  end
  if not offenders[1] then return end
  local by_key, classes, keys = {}, {}, {} -- one write per distinct offender, not per event
  local prefix = "m" .. SEP .. "offender" .. SEP .. part(project) .. SEP
  for _, o in ipairs(offenders) do
    local k = prefix .. o[1] .. SEP .. part(o[2])
    if not by_key[k] then keys[#keys + 1], classes[k] = k, o[1] end
    by_key[k] = (by_key[k] or 0) + 1
  end
  for _, k in ipairs(keys) do
    local n = by_key[k]
    if not dict:incr(k, n) then
      local slots = dict:incr(K_OFFENDER_SLOTS, 1, 0)
      if slots <= max_offenders then
        if not dict:add(k, n) then dict:incr(K_OFFENDER_SLOTS, -1); dict:incr(k, n) end -- another worker's
      else dict:incr(K_OFFENDER_SLOTS, -1); metrics.add(dict, n, "offender", project, classes[k], "_other") end
    end
  end
end

-- Every counter: {name, labels = {a, b, c}, value}, sorted by name and labels.
local function all(dict)
  local out = {}
  for _, k in ipairs(dict:get_keys(0)) do
    local name, a, b, c = k:match("^m\31([^\31]*)\31([^\31]*)\31([^\31]*)\31(.*)$")
    if name then out[#out + 1] = { name, { a, b, c }, dict:get(k) or 0 } end
  end
  sort(out, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    for i = 1, 3 do
      if x[2][i] ~= y[2][i] then return x[2][i] < y[2][i] end
    end
    return false
  end)
  return out
end

-- A Prometheus label value.
local function label(v)
  return '"' .. v:gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }) .. '"'
end

-- The Prometheus lines of one gauge with help text and rows {labels text, value}.
local function gauge(lines, name, help, rows)
  lines[#lines + 1] = "# HELP posthog_edge_" .. name .. " " .. help
  lines[#lines + 1] = "# TYPE posthog_edge_" .. name .. " gauge"
  for _, r in ipairs(rows) do lines[#lines + 1] = "posthog_edge_" .. name .. r[1] .. " " .. r[2] end
end

--- The Prometheus text exposition of every counter, plus the gauges of each project's index
-- (`projects` = {{key, definitions, age (nil: none yet), held_back (nil: none)}, …}), the
-- quarantine's queue (`queue` = {events, bytes} or nil), this worker's Lua heap and the
-- libraries that read bodies in it (`libraries` = {scanner = "simdjson"|"yajl", deflate =
-- "libdeflate"|"zlib"} or nil).
function metrics.prometheus(dict, projects, queue, libraries)
  local lines, seen = {}, {}
  for _, counter in ipairs(all(dict)) do
    local name, values, value = counter[1], counter[2], counter[3]
    local h = COUNTERS[name]
    if h then
      local full = "posthog_edge_" .. name .. "_total"
      if not seen[name] then
        seen[name] = true
        lines[#lines + 1] = "# HELP " .. full .. " " .. h[1]
        lines[#lines + 1] = "# TYPE " .. full .. " counter"
      end
      local labels = {}
      for i = 2, #h do labels[#labels + 1] = h[i] .. "=" .. label(values[i - 1]) end
      local shown = #labels > 0 and "{" .. concat(labels, ",") .. "}" or ""
      lines[#lines + 1] = full .. shown .. " " .. format("%d", value)
    end
  end
  local defs, ages, held = {}, {}, {}
  for _, p in ipairs(projects) do
    local l = "{project=" .. label(p[1]) .. "}"
    defs[#defs + 1] = { l, format("%d", p[2]) }
    ages[#ages + 1] = { l, format("%.3f", p[3] or -1) }
    held[#held + 1] = { l, format("%d", p[4] or 0) }
  end
  gauge(lines, "index_definitions", "Event definitions in the project's taxonomy index", defs)
  gauge(lines, "index_age_seconds", "Seconds since the project's last good refresh (-1: none yet)", ages)
  gauge(lines, "index_held_back", "Definitions of a far smaller download held back until confirmed (0: none)", held)
  if queue then
    gauge(lines, "quarantine_queued_events", "Events waiting to be sent to the quarantine project",
      { { "", format("%d", queue.queued or 0) } })
    gauge(lines, "quarantine_in_flight_events", "Events being sent to the quarantine project",
      { { "", format("%d", queue.in_flight or 0) } })
    gauge(lines, "quarantine_bytes", "Dict memory reserved by the quarantine's events",
      { { "", format("%d", queue.bytes or 0) } })
  end
  gauge(lines, "worker_lua_kilobytes", "Lua heap of the worker that served this scrape",
    { { "", format("%.0f", collectgarbage("count")) } })
  if libraries then
    gauge(lines, "worker_libraries", "The libraries that scan and inflate bodies in the worker that served this scrape",
      { { "{scanner=" .. label(libraries.scanner) .. ",deflate=" .. label(libraries.deflate) .. "}", "1" } })
  end
  return concat(lines, "\n") .. "\n"
end

--- One line for the error log summing the counters that moved since the last summary (nil when
-- none did), with the names of the offending events; the previous values are kept in the dict
-- under "s" keys.
function metrics.summary(dict)
  local moved = {}
  for _, counter in ipairs(all(dict)) do
    local name, values, value = counter[1], counter[2], counter[3]
    local k = "s" .. SEP .. name .. SEP .. concat(values, SEP)
    local delta = value - (dict:get(k) or 0)
    if delta > 0 then
      dict:set(k, value)
      local shown = {}
      for _, v in ipairs(values) do if v ~= "" then shown[#shown + 1] = v end end
      moved[#moved + 1] = name .. (#shown > 0 and ("{" .. concat(shown, ",") .. "}") or "") .. " +" .. delta
    end
  end
  if #moved == 0 then return nil end
  return concat(moved, ", ")
end

return metrics
