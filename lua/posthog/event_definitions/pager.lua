--- Walking the list endpoint: one page, every page lazily (`each`), every page at once (`all`).
-- `next` links are followed on the configured host only, and a walk never loops.
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
  local path, query = url:match("^[hH][tT][tT][pP][sS]?://[^/?#]*(/[^?#]*)(%??[^#]*)$")
  if not path then return nil, "next link is not an absolute http(s) URL" end
  local prefix = p.prefix
  if prefix ~= "" and path:sub(1, #prefix + 1) == prefix .. "/" then path = path:sub(#prefix + 1) end
  if path ~= p.list_path and path .. "/" ~= p.list_path then
    return nil, "next link points outside this project's event definitions"
  end
  return path .. query
end

-- The page after `page`, or nil (no more pages), or nil, err. `seen` holds the targets already
-- followed, so that a `next` that comes round again ends the walk instead of looping.
local function next_page(p, page, seen)
  if not page.next then return nil end
  local target, why = next_target(p, page.next)
  if target and seen[target] then why, target = "next link repeats an earlier page", nil end
  if not target then
    return nil, p:error { kind = "decode", detail = why, method = "GET", path = p:shown(), attempts = 0 }
  end
  seen[target] = true
  return fetch(p, { method = "GET", path = target, shape = "page" })
end

--- Iterator over every definition matching `params`, one page in memory at a time; a failure
-- yields `false, err` once and ends the loop.
function pager.each(p, params)
  local page, index, finished, seen = nil, 0, false, {}
  return function()
    while not finished do
      if page and index < #page.results then
        index = index + 1
        return page.results[index]
      end
      local err
      if page then page, err = next_page(p, page, seen) else page, err = pager.list(p, params) end
      index = 0
      if not page then
        finished = true
        if err then return false, err end
      end
    end
    return nil
  end
end

-- Appends the results of `page` to `out`.
local function append_results(out, page)
  for _, def in ipairs(page.results) do out[#out + 1] = def end
end

-- The pages after `first`, fetched by offset at most TUNING.page_fetchers at a time; nil, err
-- if any fails. `size` is the page size, `offset` the first page's offset.
local function remaining_pages(p, params, first, size, offset)
  local specs = {}
  for o = offset + size, first.count - 1, size do
    local query = {}
    for k, v in pairs(params or {}) do query[k] = v end
    query.limit, query.offset = size, o
    specs[#specs + 1] = endpoints.list(p, query)
  end
  local pages, taken, failure = {}, 0, nil
  local function fetcher(ctx)
    while not failure and not ctx.cancelled and taken < #specs do
      taken = taken + 1
      local i = taken
      local page, err = fetch(p, specs[i], ctx)
      if not page then failure = failure or err else pages[i] = page end
    end
  end
  local fetchers = {}
  for w = 1, math.min(TUNING.page_fetchers, #specs) do fetchers[w] = fetcher end
  p:concurrently(fetchers)
  if failure then return nil, failure end
  return pages
end

--- Every definition matching `params` as one array, or nil, err (never a partial array). When
-- the first page is full and its count exact, the other pages are fetched by offset, a few at a
-- time, and the total must match the count; otherwise `next` is followed page by page.
function pager.all(p, params)
  local page, err = pager.list(p, params)
  if not page then return nil, err end
  local out = {}
  append_results(out, page)
  local size = (params and params.limit) or TUNING.page_size
  local offset = (params and params.offset) or 0
  if not page.next then return out end
  if page.count_is_capped or type(page.count) ~= "number" or #page.results ~= size then
    local seen = {}
    while page.next do
      page, err = next_page(p, page, seen)
      if not page then return nil, err end
      append_results(out, page)
    end
    return out
  end
  local pages
  pages, err = remaining_pages(p, params, page, size, offset)
  if not pages then return nil, err end
  for _, more in ipairs(pages) do append_results(out, more) end
  if #out ~= page.count - offset then
    return nil, p:error { kind = "decode", method = "GET", path = p:shown(),
      attempts = 1 + #pages, detail = string.format("the definitions changed while paging (count %d, "
        .. "received %d); try again", page.count - offset, #out) }
  end
  return out
end

return pager
