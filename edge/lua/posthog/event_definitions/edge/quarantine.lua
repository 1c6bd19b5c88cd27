--- The edge's quarantine (inside nginx): the events that drop or reject removes, tagged by the
-- edge, go to another PostHog project as POST <host>/batch/ {"api_key": token, "batch": [...]}
-- after the client's request is answered, from a bounded queue in the edge's lua_shared_dict.
--
-- Keys of the dict (all "q|…"; every worker shares them; each dict operation is atomic):
-- * "q|list": the queue, a dict list: push adds at the left (lpush), senders take the oldest from
--   the right (rpop), so two senders never take the same event. An item is
--   "<#name>,<#project>:<name><project><event text>".
-- * "q|bytes": the dict memory reserved by queued and in-flight items (an item's slab size, see
--   `cost`): added before an item is pushed (over queue_bytes: not queued, counted lost "full"),
--   released once it is sent or lost.
-- * In flight: a sender records the batch it took as "q|f|<id>" (the items) and "q|f|<id>|o"
--   ("<pid> <deadline>") until it settles; "q|fseq" numbers batches, "q|flow" is the lowest number
--   that may still be live. Every worker's periodic check puts back a batch whose worker died
--   (kill(pid, 0) fails) or whose deadline passed a timeout ago; the sender settling and a worker
--   recovering both claim "q|f|<id>|c" (safe_add), so the items are handled once.
-- * "q|fails", "q|retry_at": the backoff shared by every worker; "q|flying": events in flight.
--
-- Delivery is at least once: exactly once unless a worker dies after PostHog took its POST and
-- before it settled. A 2xx is success. 400 and 413 say PostHog refuses the batch for its content:
-- it is split in halves, down to single events, and an event refused alone is counted lost
-- "refused" and logged by name. Anything else (other statuses, timeouts, transport failures) is
-- retried from the queue with exponential backoff and jitter (Retry-After honoured): 401, 403 or
-- 404 are configuration problems, and their events wait for the fix (a reload keeps the queue).
-- The dict survives a reload (HUP) but not a stop or restart of nginx: what is queued then is gone.
local ffi = require "ffi"
local evdefs = require "posthog.event_definitions"

local ngx = ngx
local concat, remove, floor, min, max = table.concat, table.remove, math.floor, math.min, math.max
local random, tonumber, tostring, type, pairs, ipairs = math.random, tonumber, tostring, type, pairs, ipairs

pcall(ffi.cdef, "int kill(int pid, int sig);") -- already declared by another module: fine
local ESRCH = 3

local K_LIST, K_BYTES, K_FAILS, K_RETRY_AT = "q|list", "q|bytes", "q|fails", "q|retry_at"
local K_FSEQ, K_FLOW, K_FLYING = "q|fseq", "q|flow", "q|flying"
local NODE_BYTES = 21      -- a dict list node's header (queue links, length, type)
local CLAIM_SECONDS = 10   -- how long a claim outlives the settling it guards
local NAME_BYTES = 100     -- the longest event name a log line shows
local HTTP_OPTIONS = { max_response_bytes = 65536 }
local HEADERS = { ["Content-Type"] = "application/json", ["User-Agent"] = "posthog-event-definitions-edge" }

local quarantine = {}

--- The knobs of `cfg` besides host and token, with their defaults; queue_bytes defaults to a
-- quarter of the dict's capacity, at most this, and may not exceed half of it.
quarantine.DEFAULTS = {
  queue_bytes = 8 * 1024 * 1024, -- dict memory for queued and in-flight events
  batch_events = 1000,           -- events per POST, at most
  batch_bytes = 1024 * 1024,     -- event bytes per POST, at most (a larger event goes alone)
  timeout = 10,                  -- seconds for one POST
  retry_min = 1,                 -- seconds before the first retry (then doubling, with jitter)
  retry_max = 60,                -- seconds between retries, at most
  interval = 1,                  -- seconds between each worker's checks for leftovers and retries
}

local Q = {}
Q.__index = Q

-- The slab size of an item of n bytes in a dict list: nginx's slab allocator rounds a node up to
-- a power of two (8 bytes at least) up to half a page, and to whole pages above.
local function cost(n)
  n = n + NODE_BYTES
  if n > 2048 then return 4096 * math.ceil(n / 4096) end
  local size = 8
  while size < n do size = size * 2 end
  return size
end

local function pack(name, project, text)
  return #name .. "," .. #project .. ":" .. name .. project .. text
end

-- The name, the project and the first byte of the event text of an item.
local function unpack_item(item)
  local nl, pl, at = item:match("^(%d+),(%d+):()")
  nl, pl = tonumber(nl), tonumber(pl)
  return item:sub(at, at + nl - 1), item:sub(at + nl, at + nl + pl - 1), at + nl + pl
end

-- A name or project as a log line shows it: control bytes, quotes and backslashes escaped, cut.
local function shown(text)
  if #text > NAME_BYTES then text = text:sub(1, NAME_BYTES) .. "..." end
  return (text:gsub('[%c"\\]', function(c) return ("\\x%02x"):format(c:byte()) end))
end

-- Counts `items` under counter `name` with label `label`, per project.
local function count(self, items, name, label)
  local per = {}
  for _, item in ipairs(items) do
    local _, project = unpack_item(item)
    per[project] = (per[project] or 0) + 1
  end
  for project, n in pairs(per) do self.hooks.count(n, name, label, project) end
end

-- Counts `items` lost for `reason` and logs their names (never their properties), per project.
local function lose(self, items, reason, why)
  if #items == 0 then return end
  count(self, items, "quarantine", "lost")
  count(self, items, "quarantine_lost", reason)
  local names = {}
  for _, item in ipairs(items) do
    local name, project = unpack_item(item)
    names[project] = names[project] or {}
    local list = names[project]
    list[#list + 1] = '"' .. shown(name) .. '"'
  end
  for project, list in pairs(names) do
    local of = project ~= "" and " of project " .. shown(project) or ""
    self.hooks.log(ngx.WARN, "quarantine: ", #list, " event(s)", of, " lost (", reason, ": ", why, "): ",
      concat(list, ", "))
  end
end

-- Puts `items` back at the front of the queue, oldest first (their bytes stay reserved).
local function requeue(self, items)
  local dict, failed = self.dict, {}
  for i = #items, 1, -1 do
    if not dict:rpush(K_LIST, items[i]) then failed[#failed + 1] = items[i] end
  end
  self:release(failed)
  lose(self, failed, "no_memory", "the dict is full")
end

-- Whether process `pid` still exists.
local function alive(pid)
  return pid == ngx.worker.pid() or ffi.C.kill(pid, 0) == 0 or ffi.errno() ~= ESRCH
end

--- Makes the quarantine of the edge: cfg = {host, token, and the knobs of quarantine.DEFAULTS},
-- dict = the edge's ngx.shared dict, hooks = {count = function(n, name, a, b), log =
-- function(level, ...)}. Returns it, or nil and a message naming the bad field.
function quarantine.new(cfg, dict, hooks)
  if type(cfg) ~= "table" then return nil, "quarantine must be a table {host = …, token = …}" end
  if type(cfg.host) ~= "string" or not cfg.host:match("^[Hh][Tt][Tt][Pp][Ss]?://[^/]") then
    return nil, "quarantine.host must be an http(s) URL"
  end
  if type(cfg.token) ~= "string" or cfg.token == "" then return nil, "quarantine.token must be a project token" end
  if type(dict) ~= "table" or not dict.capacity then return nil, "quarantine: dict must be an ngx.shared dict" end
  if type(hooks) ~= "table" or type(hooks.count) ~= "function" or type(hooks.log) ~= "function" then
    return nil, "quarantine: hooks must be {count = function, log = function}"
  end
  for k in pairs(cfg) do
    if k ~= "host" and k ~= "token" and not quarantine.DEFAULTS[k] then
      return nil, "quarantine." .. tostring(k) .. ": unknown option"
    end
  end
  local capacity = dict:capacity()
  local q = setmetatable({ dict = dict, hooks = hooks, url = cfg.host:gsub("/+$", "") .. "/batch/",
    token_hint = cfg.token:sub(1, 8) .. "…", prefix = '{"api_key":' .. evdefs.encode(cfg.token) .. ',"batch":[',
    sending = false, scheduled = false, seen_fseq = 0 }, Q)
  for k, default in pairs(quarantine.DEFAULTS) do
    local v = cfg[k]
    if k == "queue_bytes" and v == nil then v = min(default, floor(capacity / 4)) end
    if v == nil then v = default end
    if type(v) ~= "number" or v <= 0 or v ~= v or v == math.huge then
      return nil, "quarantine." .. k .. " must be a positive number"
    end
    q[k] = v
  end
  if q.queue_bytes > capacity / 2 then
    return nil, "quarantine.queue_bytes (" .. q.queue_bytes .. ") may not exceed half of the dict's capacity ("
      .. capacity .. " bytes): the edge keeps its indexes and counters there too"
  end
  if q.batch_events % 1 ~= 0 then return nil, "quarantine.batch_events must be a whole number" end
  return q
end

-- Releases the reserved bytes of `items`.
function Q:release(items)
  local total = 0
  for _, item in ipairs(items) do total = total + cost(#item) end
  if total > 0 then self.dict:incr(K_BYTES, -total, 0) end
end

local flush_now

--- Queues `events` ({{text = JSON object text, name = event name}, …}) of `project` (a label
-- for counters and logs, may be nil) and schedules a flush (ngx.timer.at(0)) unless the backoff
-- waits. What does not fit in queue_bytes is counted lost "full" and logged by name.
function Q:push(events, project)
  project = project or ""
  local dict, queued, full, no_memory = self.dict, 0, {}, {}
  for _, ev in ipairs(events) do
    local item = pack(type(ev.name) == "string" and ev.name or "", project, ev.text)
    local size = cost(#item)
    local total = size <= self.queue_bytes and dict:incr(K_BYTES, size, 0)
    if total and total <= self.queue_bytes then
      if dict:lpush(K_LIST, item) then
        queued = queued + 1
      else
        dict:incr(K_BYTES, -size, 0)
        no_memory[#no_memory + 1] = item
      end
    else
      if total then dict:incr(K_BYTES, -size, 0) end
      full[#full + 1] = item
    end
  end
  if queued > 0 then self.hooks.count(queued, "quarantine", "queued", project) end
  lose(self, full, "full", "queue_bytes " .. self.queue_bytes .. " reached")
  lose(self, no_memory, "no_memory", "the dict is full")
  if queued > 0 and not self.scheduled and not self.sending and (dict:get(K_RETRY_AT) or 0) <= ngx.now() then
    self.scheduled = ngx.timer.at(0, flush_now, self) and true or false -- else the next check sends them
  end
end

-- The items of the next batch, oldest first (at most batch_events and about batch_bytes), or nil.
local function take(self)
  local dict, items, size = self.dict, {}, 0
  while #items < self.batch_events do
    local item = dict:rpop(K_LIST)
    if not item then break end
    if #items > 0 and size + #item > self.batch_bytes and dict:rpush(K_LIST, item) then break end
    items[#items + 1] = item
    size = size + #item
  end
  if #items == 0 then return nil end
  return items
end

-- Records `items` as in flight until `deadline`; returns the record's key (nil when the dict has
-- no room: the batch is then lost if this worker dies before it settles).
local function record(self, items, deadline)
  local dict, parts = self.dict, {}
  dict:incr(K_FLYING, #items, 0)
  local id = dict:incr(K_FSEQ, 1, 0)
  for i, item in ipairs(items) do parts[i] = #item .. "\n" .. item end
  local key = id and "q|f|" .. id
  if key and dict:safe_set(key, concat(parts)) and dict:safe_set(key .. "|o", ngx.worker.pid() .. " " .. deadline) then
    return key
  end
  if key then dict:delete(key) end
  self.hooks.log(ngx.WARN, "quarantine: no room in the dict to record a batch in flight")
  return nil
end

-- The items of a flight record's text.
local function recorded_items(text)
  local items, pos = {}, 1
  while pos <= #text do
    local nl = text:find("\n", pos, true)
    local n = tonumber(text:sub(pos, nl - 1))
    items[#items + 1] = text:sub(nl + 1, nl + n)
    pos = nl + n + 1
  end
  return items
end

-- Whether this worker may handle the items of flight record `key` (nil: none); true once, for the
-- sender settling or for the worker recovering, whoever comes first.
local function claim(self, key)
  if not key then return true end
  local ok, err = self.dict:safe_add(key .. "|c", true, CLAIM_SECONDS)
  return ok or err ~= "exists"
end

-- Ends the flight of `n` items: `done` (sent or lost) release their bytes, `retry` goes back to the
-- queue. Unless a worker recovered the batch meanwhile (it has put every item back).
local function settle(self, key, n, done, retry)
  if not claim(self, key) then return end
  local dict = self.dict
  if key then
    dict:delete(key)
    dict:delete(key .. "|o")
  end
  dict:incr(K_FLYING, -n, 0)
  self:release(done)
  requeue(self, retry)
end

-- Waits before the next try: exponential from retry_min to retry_max, with jitter (half to all
-- of it), at least `retry_after` (seconds, PostHog's Retry-After) within retry_max.
local function back_off(self, retry_after)
  local fails = self.dict:incr(K_FAILS, 1, 0) or 1
  local delay = min(self.retry_max, self.retry_min * 2 ^ min(fails - 1, 40)) * (0.5 + random() * 0.5)
  if retry_after then delay = max(delay, min(retry_after, self.retry_max)) end
  self.dict:safe_set(K_RETRY_AT, ngx.now() + delay)
  return delay
end

-- POSTs `items`; returns "sent", "refused" (400, 413) or "retry" with a Retry-After in seconds,
-- and a description of a failure.
local function post(self, items)
  local texts = {}
  for i, item in ipairs(items) do
    local _, _, at = unpack_item(item)
    texts[i] = item:sub(at)
  end
  local res, err = evdefs.http({ method = "POST", url = self.url, headers = HEADERS, timeout = self.timeout,
    body = self.prefix .. concat(texts, ",") .. "]}" }, HTTP_OPTIONS)
  ngx.update_time()
  if not res then
    self.hooks.count(1, "quarantine_posts", err.kind == "timeout" and "timeout" or "transport")
    return "retry", nil, tostring(err.detail or err.kind)
  end
  local status = res.status
  self.hooks.count(1, "quarantine_posts", tostring(status))
  if status >= 200 and status < 300 then return "sent" end
  local code = type(res.body) == "string" and res.body:match('"code"%s*:%s*"([%w_]+)"')
  local why = "HTTP " .. status .. (code and " " .. code or "")
  if status == 400 or status == 413 then return "refused", nil, why end
  local wait = tonumber((res.headers or {})["retry-after"] or "")
  return "retry", wait, why
end

-- Items i to j of `items`, as a new list.
local function slice(items, i, j)
  local out = {}
  for k = i, j do out[#out + 1] = items[k] end
  return out
end

-- Sends one batch taken from the queue, splitting what PostHog refuses; returns false when a
-- POST failed (what is not settled went back to the queue and the backoff started).
local function deliver(self, items)
  local key = record(self, items, ngx.now() + self.timeout)
  local stack, done = { items }, {}
  while #stack > 0 do
    local part = remove(stack)
    if key and part ~= items then
      self.dict:safe_set(key .. "|o", ngx.worker.pid() .. " " .. (ngx.now() + self.timeout))
    end
    local outcome, wait, why = post(self, part)
    if outcome == "sent" then
      count(self, part, "quarantine", "sent")
      if (self.dict:get(K_FAILS) or 0) > 0 then self.dict:safe_set(K_FAILS, 0) end
    elseif outcome == "refused" and #part > 1 then
      local half = floor(#part / 2)
      stack[#stack + 1] = slice(part, half + 1, #part)
      stack[#stack + 1] = slice(part, 1, half)
    elseif outcome == "refused" then
      lose(self, part, "refused", why .. " from " .. self.url .. " for this event alone")
    else
      local retry = slice(part, 1, #part)
      for _, rest in ipairs(stack) do
        for _, item in ipairs(rest) do retry[#retry + 1] = item end
      end
      local delay = back_off(self, wait)
      count(self, retry, "quarantine", "retried")
      self.hooks.log(ngx.WARN, "quarantine: POST ", self.url, " (token ", self.token_hint, ") failed: ", why,
        "; ", #retry, " event(s) kept, next try in ", ("%.1f"):format(delay), " s")
      settle(self, key, #items, done, retry)
      return false
    end
    if outcome ~= "refused" or #part == 1 then
      for _, item in ipairs(part) do done[#done + 1] = item end
    end
  end
  settle(self, key, #items, done, {})
  return true
end

--- Sends what is queued (call from a timer or another phase with cosockets): batch after batch
-- until the queue is empty or a POST failed, unless the backoff is waiting or this worker is
-- sending already.
function Q:flush()
  if self.sending then return end
  self.sending = true
  local ok, err = pcall(function()
    local dict = self.dict
    while (dict:get(K_RETRY_AT) or 0) <= ngx.now() do
      local items = take(self)
      if not items or not deliver(self, items) then return end
    end
  end)
  self.sending = false
  if not ok then self.hooks.log(ngx.ERR, "quarantine: ", tostring(err)) end
end

flush_now = function(_, self)
  self.scheduled = false
  self:flush()
end

-- Puts back the batches of senders that died (or passed their deadline a timeout ago). Records
-- below the batch number this worker saw at its previous check exist unless settled, so "q|flow"
-- moves up to the first live one among them.
local function recover(self)
  local dict, now = self.dict, ngx.now()
  local low, last = dict:get(K_FLOW) or 1, dict:get(K_FSEQ) or 0
  local settled_below = low
  for id = low, last do
    local key = "q|f|" .. id
    local owner = dict:get(key .. "|o")
    if owner then
      local pid, deadline = owner:match("^(%d+) (%S+)$")
      if (not alive(tonumber(pid)) or now > tonumber(deadline) + self.timeout) and claim(self, key) then
        local items = recorded_items(dict:get(key) or "")
        dict:delete(key)
        dict:delete(key .. "|o")
        dict:incr(K_FLYING, -#items, 0)
        count(self, items, "quarantine", "recovered")
        self.hooks.log(ngx.WARN, "quarantine: ", #items, " event(s) of a batch whose worker (pid ", pid,
          ") ended before settling it put back in the queue")
        requeue(self, items)
      end
    end
    if settled_below == id and id <= self.seen_fseq and not dict:get(key .. "|o") then settled_below = id + 1 end
  end
  if settled_below > low then dict:safe_set(K_FLOW, settled_below) end
  self.seen_fseq = last
end

-- The periodic check of one worker: recovery, then a flush when events wait. When the worker is
-- exiting: a last flush (unless the backoff waits); what is left stays in the dict.
local function check(premature, self)
  ngx.update_time()
  if not premature then recover(self) end
  if self.dict:llen(K_LIST) > 0 then self:flush() end
  local left = premature and self.dict:llen(K_LIST) or 0
  if left > 0 then
    self.hooks.log(ngx.WARN, "quarantine: worker exiting with ", left, " event(s) queued: a reload keeps "
      .. "them for the next workers, a stop or restart of nginx loses them")
  end
end

--- Starts this worker's periodic check (from init_worker_by_lua*): retries after the backoff,
-- sends events other workers left, puts back batches of workers that died. Returns true or nil, err.
function Q:start()
  return ngx.timer.every(self.interval, check, self)
end

--- {queued = events waiting, in_flight = events being sent, bytes = dict memory reserved}.
function Q:status()
  local dict = self.dict
  return { queued = dict:llen(K_LIST) or 0, in_flight = dict:get(K_FLYING) or 0, bytes = dict:get(K_BYTES) or 0 }
end

return quarantine
