--- Walking the list endpoint: one page, every page lazily (`each`), every page at once (`all`).
-- `next` links are followed on the configured host only, and a walk never loops.
local core = require "posthog.event_definitions.core"
local endpoints = require "posthog.event_definitions.endpoints"
local TUNING = require("posthog.event_definitions.options").TUNING

local pager = {}

-- One list page of `spec` with count_is_capped a boolean; or nil, err.
local function fetch(p, spec, ctx)
  local page, err = p:send(spec, ctx)
  if page then page.count_is_capped = page.count_is_capped == true end
  return page, err
end

--- One page `{count, next, previous, results, count_is_capped}` for `params`, or nil, err.
function pager.list(p, params)
  return fetch(p, endpoints.list(p, params))
end

-- The path and query of a `next` link, to be requested from the configured host; or nil and
-- the reason when it does not point at this pipeline's list endpoint.
local function next_target(p, url)
  if url:find("[%c%s]") then return nil, "next link holds a space or a control character" end
  local path, query = url:match("^[hH][tT][tT][pP][sS]?://[^/?#]*(/[^?#]*)(%??[^#]*)$")
  if not path then return nil, "next link is not an absolute http(s) URL" end
  local prefix = p.prefix
  if prefix ~= "" and path:sub(1, #prefix + 1) == prefix .. "/" then path = path:sub(#prefix + 1) end
  if path ~= p.list_path and path .. "/" ~= p.list_path then
    return nil, "next link points outside this project's event definitions"
  end
  return path .. query
end

-- The params of a walk: `ordering=name` unless the caller chose an order, since PostHog's
-- default order moves definitions between pages while events are ingested.
local function walk_params(params)
  local out = { ordering = "name" }
  for k, v in pairs(params or {}) do out[k] = v end
  return out
end

-- A decode error of a walk that cannot go on.
local function broken(p, detail, attempts)
  return p:error { kind = "decode", detail = detail, method = "GET", path = p:shown(), attempts = attempts }
end

--- The most pages a walk may take, judged by its first page (`size` items, of `count` in all;
-- `capped`: the count is only a lower bound), and the detail of the error of a walk that would
-- go beyond them. An exact count allows what it takes at this page size and one more page for
-- an item inserted meanwhile; a count that is capped or absent says nothing, and no walk goes
-- beyond TUNING.max_walk_pages. The walks of project-level lists (taxonomy) are bound alike.
function pager.page_bound(count, size, capped)
  local pages = type(count) == "number" and size > 0 and math.floor(count / size) + 2
  if capped or not pages or pages > TUNING.max_walk_pages then
    return TUNING.max_walk_pages, "more than " .. TUNING.max_walk_pages .. " pages, the most a walk takes"
  end
  return pages, "more pages than the count allows (" .. count .. ")"
end
local page_bound = pager.page_bound

local NOTHING_NEW = "a page brought no definition that earlier pages had not"

-- The page after a page of `size` results whose `next` link is `link`, in walk `w`, or nil (no
-- more pages), or nil, err. It takes the link and size rather than the page, so that a caller
-- done with the page does not keep it while the next one arrives. A `next` that comes round
-- again, an empty page that still has a `next`, or more pages than the walk's bound end the
-- walk with a decode error, and so does a page that brought `nothing_new`.
local function next_page(p, w, link, size, nothing_new)
  if not link then return nil end
  if size == 0 then return nil, broken(p, "an empty page has a next link", w.pages) end
  if w.pages >= w.bound then return nil, broken(p, w.beyond, w.pages) end
  local target, why = next_target(p, link)
  if target and w.targets[target] then why, target = "next link repeats an earlier page", nil end
  if target and nothing_new then why, target = NOTHING_NEW, nil end
  if not target then return nil, broken(p, why, w.pages) end
  w.targets[target] = true
  w.pages = w.pages + 1
  return fetch(p, { method = "GET", path = target, shape = "page" })
end

-- The ids a walk has met: string ids in a compact C set (core.id_set: 16 bytes a UUID, where a
-- Lua table would keep a string and a slot), any other value in a plain table.
local function new_ids()
  return { strings = core.id_set(), others = {} }
end

-- Records `id` in `ids`; true when it was there already. A non-string id is a key of a plain
-- table as before (nil raises, as indexing with nil does).
local function seen_before(ids, id)
  if type(id) == "string" then return not ids.strings:add(id) end
  if ids.others[id] then return true end
  ids.others[id] = true
  return false
end

-- A new walk from its first page.
local function walk(first)
  local bound, beyond = page_bound(first.count, #first.results, first.count_is_capped)
  return { targets = {}, ids = new_ids(), pages = 1, bound = bound, beyond = beyond }
end

--- Iterator over every definition matching `params` (in name order unless `params.ordering`
-- says otherwise), one page in memory at a time, never the same id twice; a failure yields
-- `false, err` once and ends the loop. A page whose definitions all came before, and that
-- still has a `next`, ends the walk with a decode error (a pager going round).
function pager.each(p, params)
  local page, index, fresh, finished, w = nil, 0, 0, false, nil
  return function()
    while not finished do
      while page and index < #page.results do
        index = index + 1
        local def = page.results[index]
        local id = type(def) == "table" and def.id
        if not (id and seen_before(w.ids, id)) then
          fresh = fresh + 1
          return def
        end
      end
      local err
      if page then
        local link, size = page.next, #page.results
        page = nil -- one page in memory: the last is garbage while the next one arrives
        page, err = next_page(p, w, link, size, fresh == 0)
      else
        page, err = pager.list(p, walk_params(params))
        if page then w = walk(page) end
      end
      index, fresh = 0, 0
      if not page then
        finished = true
        if err then return false, err end
      end
    end
    return nil
  end
end

-- Appends the results of `page` to `out`; false when one of them was seen before (by id).
local function append_results(out, ids, page)
  for _, def in ipairs(page.results) do
    if seen_before(ids, def.id) then return false end
    out[#out + 1] = def
  end
  return true
end

-- A copy of `params` asking for `limit` definitions from `offset`.
local function page_query(params, limit, offset)
  local query = {}
  for k, v in pairs(params) do query[k] = v end
  query.limit, query.offset = limit, offset
  return query
end

-- The pages after `first`, fetched by offset, at most TUNING.page_fetchers at a time, each
-- offset taken only when a fetcher is free (so a huge count plans nothing ahead); nil, err if
-- any fails. `size` is the page size, `offset` the first page's offset.
local function remaining_pages(p, params, first, size, offset, progress)
  local pages, next_offset, failure, read = {}, offset + size, nil, #first.results
  local function fetcher(ctx)
    while not failure and not ctx.cancelled and next_offset < first.count do
      local at = next_offset
      next_offset = next_offset + size
      local page, err = fetch(p, endpoints.list(p, page_query(params, size, at)), ctx)
      if not page then
        failure = failure or err
      elseif #page.results == 0 then
        failure = failure or broken(p, "an empty page at offset " .. at .. " before the count ("
          .. first.count .. ")", 1)
      else
        pages[math.floor((at - offset) / size)] = page
        read = read + #page.results
        progress(read)
      end
    end
  end
  local fetchers = {}
  for w = 1, TUNING.page_fetchers do fetchers[w] = fetcher end
  p:concurrently(fetchers)
  if failure then return nil, failure end
  return pages
end

local CHANGED = "the definitions changed while paging (a definition came twice); try again"

-- Appends to `out` (whose first definition is at `offset`) the pages after the first of a
-- walk whose count is capped: a lower bound, so no count can say that the walk is whole.
-- They are fetched one by one by offset, each starting with the last definition of the one
-- before: a definition inserted or deleted ahead of the walk's position shifts what follows,
-- and that definition then comes back moved, so the walk fails rather than repeat or drop one.
-- Pages come while they have a `next`, up to TUNING.max_walk_pages. Returns true, or nil, err.
local function overlapping_pages(p, params, first, out, ids, offset, progress)
  local size, pages, page = math.max(#first.results, 2), 1, first
  local bound, beyond = page_bound(first.count, #first.results, true)
  while page.next do
    if pages >= bound then return nil, broken(p, beyond, pages) end
    local err
    page, err = fetch(p, endpoints.list(p, page_query(params, size, offset + #out - 1)))
    pages = pages + 1
    if not page then return nil, err end
    local results = page.results
    if not results[1] or results[1].id ~= out[#out].id then
      return nil, broken(p, "the definitions changed while paging (the page after "
        .. tostring(out[#out].name) .. " did not start with it); try again", pages)
    end
    if #results == 1 and page.next then return nil, broken(p, NOTHING_NEW, pages) end
    for i = 2, #results do
      if seen_before(ids, results[i].id) then return nil, broken(p, CHANGED, pages) end
      out[#out + 1] = results[i]
    end
    progress(#out)
  end
  return true
end

--- Every definition matching `params` (in name order unless `params.ordering` says otherwise)
-- as one array, or nil, err: never an array with a definition missing or repeated. When the
-- first page is full and its count exact, the other pages are fetched by offset, a few at a
-- time, and the total must match the count; when the count is capped, pages overlapping by
-- one definition are fetched one by one (overlapping_pages); otherwise `next` is followed page
-- by page, and an exact count must match the total. `on_progress(read, total)` (optional) is
-- called as pages arrive: the definitions read so far, and the count when it is exact.
function pager.all(p, params, on_progress)
  params = walk_params(params)
  local page, err = pager.list(p, params)
  if not page then return nil, err end
  local total = not page.count_is_capped and type(page.count) == "number" and page.count or nil
  local function progress(read) if on_progress then on_progress(read, total) end end
  local out, ids = {}, new_ids()
  if not append_results(out, ids, page) then return nil, broken(p, CHANGED, 1) end
  progress(#out)
  local size = params.limit or TUNING.page_size
  local offset = params.offset or 0
  if not page.next then return out end
  if page.count_is_capped and #page.results > 0 then
    local whole, failure = overlapping_pages(p, params, page, out, ids, offset, progress)
    if not whole then return nil, failure end
    return out
  end
  local first, pages = page
  if type(page.count) ~= "number" or #page.results ~= size then
    local w = walk(page)
    while page.next do
      page, err = next_page(p, w, page.next, #page.results)
      if not page then return nil, err end
      if not append_results(out, ids, page) then return nil, broken(p, CHANGED, w.pages) end
      progress(#out)
    end
    pages = w.pages
  else
    local rest
    rest, err = remaining_pages(p, params, page, size, offset, progress)
    if not rest then return nil, err end
    for i = 1, #rest do
      if not append_results(out, ids, rest[i]) then return nil, broken(p, CHANGED, 1 + #rest) end
    end
    pages = 1 + #rest
  end
  if type(first.count) == "number" and #out ~= first.count - offset then
    return nil, broken(p, string.format("the definitions changed while paging (count %d, "
      .. "received %d); try again", first.count - offset, #out), pages)
  end
  return out
end

return pager
