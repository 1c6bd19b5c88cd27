--- Taxonomy helpers over the pipeline and the pager: stale definitions, and the properties of
-- events (from the schema property groups, or the property definitions when those are closed).
local core = require "posthog.event_definitions.core"
local pager = require "posthog.event_definitions.pager"
local TUNING = require("posthog.event_definitions.options").TUNING

local taxonomy = {}

local SECONDS_PER_DAY = 86400

-- Seconds since the Unix epoch of an ISO-8601 UTC timestamp ("2024-07-11T09:59:58.5Z"), or nil.
local function utc_seconds(iso)
  local y, m, d, hh, mm, ss = iso:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)")
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m <= 2 then y, m = y - 1, m + 12 end -- count years from March, so leap days come last
  local days = 365 * y + math.floor(y / 4) - math.floor(y / 100) + math.floor(y / 400)
    + math.floor((153 * (m - 3) + 2) / 5) + d - 719469
  return days * SECONDS_PER_DAY + tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss)
end

--- Splits the params of `stale` into `list` filters and its own settings
-- `{days, include_never_seen, now}` (defaults: TUNING.stale_days, false, the current time).
function taxonomy.stale_settings(params)
  local filters, settings = {}, { days = TUNING.stale_days, include_never_seen = false, now = os.time() }
  for k, v in pairs(params or {}) do
    if settings[k] ~= nil then settings[k] = v else filters[k] = v end
  end
  return filters, settings
end

--- Definitions matching `filters` whose `last_seen_at` is older than `settings.days`; never-seen
-- ones only with settings.include_never_seen (see stale_settings). Returns an array or nil, err.
function taxonomy.stale(p, filters, settings)
  local days, include_never, now = settings.days, settings.include_never_seen, settings.now
  if type(days) ~= "number" or not (days >= 0 and days < math.huge) then
    return nil, p:validation({ method = "GET" }, "days must be a non-negative finite number")
  end
  local defs, err = pager.all(p, filters)
  if not defs then return nil, err end
  local cutoff, out = now - days * SECONDS_PER_DAY, {}
  for _, def in ipairs(defs) do
    local seen = def.last_seen_at and utc_seconds(def.last_seen_at)
    if (seen and seen < cutoff) or (not def.last_seen_at and include_never) then out[#out + 1] = def end
  end
  return out
end

--- Every item of a project-level list endpoint (`path` under /api/projects/{id}/, e.g.
-- "schema_property_groups/"), page by page, through the pipeline `p`; an array or nil, err.
-- The walk ends as the pager's do: an item that comes twice (by id), an empty page that still
-- has a `next`, or more pages than the first page's count allows is a decode error.
function taxonomy.project_list(p, path, query)
  local full = p.list_path:gsub("event_definitions/$", "") .. path
  local out, ids, offset, pages, bound, beyond = {}, {}, 0, 0, nil, nil
  local function broken(detail)
    return p:error { kind = "decode", method = "GET", path = p:shown(full), detail = detail, attempts = 1 }
  end
  while true do
    query.limit, query.offset = TUNING.project_page_size, offset
    local page, err = p:send { method = "GET", path = full, query = query, shape = "object" }
    if not page then return nil, err end
    pages = pages + 1
    local results = page.results
    if type(results) ~= "table" then return nil, broken("expected a page with results") end
    if #results == 0 and page.next then return nil, broken("an empty page has a next link") end
    for _, item in ipairs(results) do
      local id = type(item) == "table" and item.id
      if id then
        if ids[id] then return nil, broken("the list changed while paging (an item came twice); try again") end
        ids[id] = true
      end
      out[#out + 1] = item
    end
    if not page.next then return out end
    if not bound then bound, beyond = pager.page_bound(page.count, #results) end
    if pages >= bound then return nil, broken(beyond) end
    offset = offset + #results
  end
end

-- One property as event_properties returns it.
local function property(name, ptype, required, description)
  return { name = name, type = ptype, required = required == true, description = description }
end

--- The properties of each named event, `{ [event] = { {name, type, required, description}, … } }`,
-- and the source used: "schema" (the schema property groups, which say what is required) when
-- the key may read them, else "property_definitions" (types only).
function taxonomy.event_properties(p, names)
  local defs, err = pager.all(p, { names = names })
  if not defs then return nil, err end
  local out, source = {}, "schema"
  for _, def in ipairs(defs) do
    local props = {}
    if source == "schema" then
      local schemas, serr = taxonomy.project_list(p, "event_schemas/", { event_definition = def.id })
      if schemas then
        for _, s in ipairs(schemas) do
          for _, prop in ipairs(s.property_group and s.property_group.properties or {}) do
            props[#props + 1] = property(prop.name, prop.property_type, prop.is_required, prop.description)
          end
        end
      elseif serr.status == 403 then
        source = "property_definitions"
      else
        return nil, serr
      end
    end
    if source == "property_definitions" then
      local found, perr = taxonomy.project_list(p, "property_definitions/", { type = "event",
        event_names = core.encode(setmetatable({ def.name }, core.array_mt)), filter_by_event_names = true })
      if not found then return nil, perr end
      for _, prop in ipairs(found) do
        props[#props + 1] = property(prop.name, prop.property_type, false, prop.description)
      end
    end
    out[def.name] = props
  end
  return out, source
end

return taxonomy
