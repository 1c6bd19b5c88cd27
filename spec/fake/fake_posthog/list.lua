-- GET …/event_definitions/: filters, ordering, validation and the pagination envelope (§7).
local json = require "fake_posthog.json"
local http = require "fake_posthog.http"
local clock = require "fake_posthog.clock"
local config = require "fake_posthog.config"
local defs = require "fake_posthog.defs"

local concat, sort = table.concat, table.sort
local day = clock.day

local M = {}

local EVENT_TYPES = { event = true, event_custom = true, event_posthog = true, all = true, action_event = true }

local ORDER_KEYS = {
  name = { field = "name" },
  last_seen_at = { field = "last_seen_at" },
  ["last_seen_at::date"] = { field = "last_seen_at", date = true },
  created_at = { field = "created_at" },
  ["created_at::date"] = { field = "created_at", date = true },
}

local DEFAULT_ORDER = { { field = "last_seen_at", date = true, desc = true }, { field = "name" } }
local NAME_ORDER = { { field = "name" } }

local STALE_US = 30 * clock.DAY
local SCAN_MAX_DEFINITIONS = 50000      -- PROJECT_SCAN_MAX_DEFINITIONS
local NAME_ORDER_MIN_DEFINITIONS = 100000
local MAX_INT = "9223372036854775807"
local MEMO_MAX = 64                -- cached list bodies per view and worker
local MIN_VALUE = "Ensure this value is greater than or equal to "

-- parse_int(text) -> number, canonical decimal text | nil. DRF IntegerField ("5.0" and " 5 "
-- accepted), values above 2^63-1 clamped (§7.1).
local function parse_int(text)
  text = text:gsub("%.0*%s*$", "")
  local sign, digits = text:match("^%s*([+-]?)(%d+)%s*$")
  if not digits then return nil end
  digits = digits:gsub("^0+(%d)", "%1")
  if sign == "-" and digits ~= "0" then return -tonumber(digits), "-" .. digits end
  if #digits > 19 or (#digits == 19 and digits > MAX_INT) then digits = MAX_INT end
  return tonumber(digits), digits
end

-- fmt(n) -> an integer-valued number as decimal text.
local function fmt(n)
  return string.format("%.0f", n)
end

-- like(term) -> Lua pattern for ILIKE '%term%' (% and _ act as wildcards, unescaped, §7.1).
local function like(term)
  return (term:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?_]", function(c)
    if c == "%" then return ".-" end
    if c == "_" then return "." end
    return "%" .. c
  end))
end

-- search_terms(search) -> list of patterns, or nil for no search (absent or whitespace-only).
local function search_terms(search)
  if not search then return nil end
  search = search:gsub("%z", "")
  if not search:find("%S") then return nil end
  local terms = {}
  for term in search:gmatch("[^ ]+") do terms[#terms + 1] = like(term:lower()) end
  return terms
end

-- string_set(list) -> set of the strings in list, or nil when it has none.
local function string_set(list)
  local set
  for _, v in ipairs(list) do
    if type(v) == "string" then
      set = set or {}
      set[v] = true
    end
  end
  return set
end

-- excluded_names(text) -> set of names | nil, exclude_all (bool), error response | nil. PostHog
-- runs list(set(orjson.loads(text))) and binds it to `NOT name = ANY(%s)`: a JSON array of
-- strings names the definitions to drop; a JSON string drops its single characters and an object
-- its keys (Python iterates them); a null item makes the condition NULL for every row, which then
-- all drop; invalid JSON, a number, true/false/null, or items that are numbers, booleans, arrays
-- or objects (unhashable, or not text for Postgres) end in the generic 500 (§7.1, §20.1).
local function excluded_names(text)
  local value = json.decode(text)
  local set, all = {}, false
  if type(value) == "string" then
    for ch in value:gmatch("[%z\1-\127\194-\244][\128-\191]*") do set[ch] = true end
  elseif type(value) == "table" and json.is_array(value) then
    for _, item in ipairs(value) do
      if item == json.null then all = true
      elseif type(item) == "string" then set[item] = true
      else return nil, nil, http.server_error() end
    end
  elseif type(value) == "table" then
    for k in pairs(value) do set[k] = true end
  else
    return nil, nil, http.server_error()
  end
  return set, all, nil
end

-- ordering(q) -> list of sort keys from every `ordering` value (repeated and/or comma-joined), or
-- nil. Like PostHog, a piece names a key once every "-" is removed from it, and any "-" in it
-- means descending ("--name" and "na-me" are name descending).
local function ordering(q)
  local keys
  for _, value in ipairs(q.all.ordering or {}) do
    for piece in value:gmatch("[^,]+") do
      local bare = piece:gsub("%-", "")
      local desc = bare ~= piece
      local spec = ORDER_KEYS[bare]
      if spec then
        keys = keys or {}
        keys[#keys + 1] = { field = spec.field, date = spec.date, desc = desc }
      end
    end
  end
  if not keys then return nil end
  for _, k in ipairs(keys) do
    if k.field == "name" then return keys end
  end
  keys[#keys + 1] = { field = "name" }
  return keys
end

-- comparator(keys, by_length) -> "less than" function for table.sort; non-name keys sort NULLS
-- LAST when descending and NULLS FIRST when ascending; names compare bytewise (§7.2).
local function comparator(keys, by_length)
  local lengths = {}
  local function length(rec)
    local n = lengths[rec]
    if not n then n = defs.chars(rec.name); lengths[rec] = n end
    return n
  end
  return function(a, b)
    if by_length then
      local la, lb = length(a), length(b)
      if la ~= lb then return la < lb end
    end
    for i = 1, #keys do
      local k = keys[i]
      local va, vb = a[k.field], b[k.field]
      if k.date then va, vb = va and day(va), vb and day(vb) end
      if va ~= vb then
        if va == nil then return not k.desc end
        if vb == nil then return k.desc end
        if k.desc then return va > vb end
        return va < vb
      end
    end
    return false
  end
end

-- project_records(view, project_id) -> the project's records in creation order (memoised per view).
local function project_records(view, project_id)
  local key = "project:" .. project_id
  local list = view.memo[key]
  if not list then
    list = {}
    for _, id in ipairs(view.order) do
      local rec = view.recs[id]
      if rec.project_id == project_id then list[#list + 1] = rec end
    end
    view.memo[key] = list
  end
  return list
end

-- matching(view, project_id, q, cfg) -> matching records, sparse (bool), searching (bool) | nil, response.
local function matching(view, project_id, q, cfg)
  local last = q.last
  local event_type = last.event_type or "event"
  if not EVENT_TYPES[event_type] then
    return nil, http.invalid("invalid_input", "Not a valid event type. Use one of: event, event_custom, event_posthog.",
      "event_type")
  end
  local terms = search_terms(last.search)
  local names
  for _, value in ipairs(q.all.names or {}) do
    for piece in value:gmatch("[^,]+") do
      names = names or {}
      names[piece] = true
    end
  end
  local excluded, exclude_all
  if last.excluded_properties and last.excluded_properties ~= "" then
    local err
    excluded, exclude_all, err = excluded_names(last.excluded_properties)
    if err then return nil, err end
  end
  local tags
  if last.tags then
    local list = json.decode(last.tags)
    if type(list) == "table" and json.is_array(list) then tags = string_set(list) end
  end
  local stale_before = (last.exclude_stale or ""):lower() == "true" and config.now_us(cfg) - STALE_US
  -- exclude_hidden and verified exist only with the ee package (§7.1, §20.4).
  local exclude_hidden = cfg.enterprise and (last.exclude_hidden or ""):lower() == "true"
  local verified_param = cfg.enterprise and last.verified or nil
  local verified = verified_param and verified_param:lower() == "true"
  local core = defs.CORE

  local out = {}
  for _, rec in ipairs(project_records(view, project_id)) do
    local name = rec.name
    local keep = true
    if event_type == "event_custom" then keep = name:sub(1, 1) ~= "$"
    elseif event_type == "event_posthog" then keep = name:sub(1, 1) == "$" end
    if keep and terms then
      local lower = name:lower()
      for i = 1, #terms do
        if not lower:find(terms[i]) then keep = false; break end
      end
    end
    if keep and names then keep = names[name] == true end
    if keep and exclude_all then keep = false end
    if keep and excluded then keep = not excluded[name] end
    if keep and tags then
      keep = false
      for _, tag in ipairs(rec.tags) do
        if tags[tag] then keep = true; break end
      end
    end
    if keep and stale_before then keep = rec.last_seen_at == nil or rec.last_seen_at > stale_before end
    if keep and exclude_hidden then keep = rec.hidden ~= true end
    if keep and verified_param then
      if verified then keep = rec.verified or core[name] or false
      else keep = not rec.verified and not core[name] end
    end
    if keep then out[#out + 1] = rec end
  end
  local sparse = terms ~= nil or stale_before ~= false or verified_param ~= nil or names ~= nil
    or tags ~= nil or event_type == "event_posthog"
  return out, sparse, terms ~= nil
end

-- limits(q) -> limit, limit text, offset | nil, 400 response (defaults 100 and 0; §7.6).
function M.limits(q)
  local limit, limit_text = 100, "100"
  if q.last.limit then
    limit, limit_text = parse_int(q.last.limit)
    if not limit then return nil, http.invalid("invalid_input", "A valid integer is required.", "limit") end
    if limit < 1 then return nil, http.invalid("min_value", MIN_VALUE .. "1.", "limit") end
  end
  local offset = 0
  if q.last.offset then
    offset = parse_int(q.last.offset)
    if not offset then return nil, http.invalid("invalid_input", "A valid integer is required.", "offset") end
    if offset < 0 then return nil, http.invalid("min_value", MIN_VALUE .. "0.", "offset") end
  end
  return limit, limit_text, offset
end

-- links(req, limit, limit_text, offset, has_next) -> next URL or nil, previous URL or nil (§7.3):
-- both carry the effective limit; previous drops offset when offset - limit <= 0.
function M.links(req, limit, limit_text, offset, has_next)
  local next_link = has_next and http.link(req, { limit = limit_text, offset = fmt(offset + limit) }) or nil
  local previous
  if offset > 0 then
    previous = http.link(req, { limit = limit_text, offset = offset - limit > 0 and fmt(offset - limit) or false })
  end
  return next_link, previous
end

-- page(view, req, project_id, cfg) -> the list response (uncached).
local function page(view, req, project_id, cfg)
  local q = req.query
  local matched, sparse, searching = matching(view, project_id, q, cfg)
  if not matched then return sparse end      -- on failure the second value is the error response
  local limit, limit_text, offset = M.limits(q)
  if not limit then return limit_text end

  local large = cfg.pretend_count > SCAN_MAX_DEFINITIONS and not sparse
  local keys = ordering(q)
  local by_length = searching and not keys
  if not keys then
    keys = (cfg.pretend_count > NAME_ORDER_MIN_DEFINITIONS and not sparse) and NAME_ORDER or DEFAULT_ORDER
  end
  sort(matched, comparator(keys, by_length))

  local count, capped = #matched, false
  if large and count >= cfg.count_cap then count, capped = cfg.count_cap, true end
  local items = {}
  for i = offset + 1, math.min(offset + limit, #matched) do
    items[#items + 1] = defs.json(view, matched[i], cfg.enterprise)
  end

  local has_next
  if capped then has_next = #items >= limit else has_next = offset + limit < count end
  local next_link, previous = M.links(req, limit, limit_text, offset, has_next)
  return http.response(200, '{"count":' .. count .. ',"next":' .. json.str(next_link) .. ',"previous":'
    .. json.str(previous) .. ',"results":[' .. concat(items, ",") .. '],"count_is_capped":' .. tostring(capped) .. "}")
end

-- list(ctx) -> the list response; identical requests against an unchanged state are answered
-- from a per-view memo (not when exclude_stale depends on the moving wall clock).
function M.list(ctx)
  local req, cfg, view = ctx.req, ctx.cfg, ctx.view
  local memo_key
  if not (req.query.last.exclude_stale and not cfg.now_us) then
    memo_key = "list:" .. ctx.project_id .. "\0" .. req.args .. "\0" .. req.origin .. req.link_path
    local hit = view.memo[memo_key]
    if hit and hit.cfg == cfg then return http.response(200, hit.body) end
  end
  local res = page(view, req, ctx.project_id, cfg)
  if memo_key and res.status == 200 then
    view.memo_n = (view.memo_n or 0) + 1
    if view.memo_n > MEMO_MAX then view.memo, view.memo_n = {}, 1 end
    view.memo[memo_key] = { cfg = cfg, body = res.body }
  end
  return res
end

return M
