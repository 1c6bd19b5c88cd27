-- Ingestion between page requests (§20.3): a queue of changes (POST /__fake/ingest) applied after
-- a given number of answered list requests, as PostHog's ingestion changes a live project while a
-- client pages through it. An entry: {after, project_id, insert, seen, delete}.
local json = require "fake_posthog.json"
local shm = require "fake_posthog.shm"
local clock = require "fake_posthog.clock"
local config = require "fake_posthog.config"
local store = require "fake_posthog.store"
local seed = require "fake_posthog.seed"
local auth = require "fake_posthog.auth"

local state = shm.state

local M = {}

local KEYS = { after = true, project_id = true, insert = true, seen = true, delete = true }

-- check(e) -> nil | message. Checks the shape of an entry (its contents are applied leniently).
local function check(e)
  if type(e) ~= "table" or json.is_array(e) and next(e) ~= nil then return "an entry must be an object" end
  for k in pairs(e) do
    if not KEYS[k] then return "unknown key '" .. tostring(k) .. "'" end
  end
  local after = e.after or 0
  if type(after) ~= "number" or after < 0 or after % 1 ~= 0 then return "after must be a non-negative integer" end
  if e.project_id ~= nil and not auth.PROJECTS[e.project_id] then return "unknown project_id" end
  for _, k in ipairs({ "insert", "seen", "delete" }) do
    if e[k] ~= nil and not json.is_array(e[k]) then return k .. " must be an array" end
  end
  for _, d in ipairs(e.insert or {}) do
    if type(d) ~= "table" or type(d.name) ~= "string" or d.name == "" then return "insert items need a name" end
    if d.project_id ~= nil then return "give project_id on the entry, not on insert items" end
  end
  for _, s in ipairs(e.seen or {}) do
    local name = type(s) == "table" and s.name or s
    if type(name) ~= "string" then return "seen items are names or {name, last_seen_at}" end
    if type(s) == "table" and s.last_seen_at ~= nil and not clock.parse(s.last_seen_at) then
      return "seen: not an ISO-8601 timestamp: " .. tostring(s.last_seen_at)
    end
  end
  for _, name in ipairs(e.delete or {}) do
    if type(name) ~= "string" then return "delete items are names" end
  end
  local changes = #(e.insert or {}) + #(e.seen or {}) + #(e.delete or {})
  if changes == 0 then return "an entry needs insert, seen or delete" end
  return nil
end

-- seen_at(value, now) -> microseconds for a seen item's last_seen_at (default now).
local function seen_at(value, now)
  if value == nil or value == json.null then return now end
  return clock.parse(value)
end

-- apply(e) -> nothing; one entry, in one transaction: deletes, then inserts, then seen. Lenient
-- like ingestion: deleting an unknown name does nothing, inserting an existing name marks it seen.
local function apply(e)
  local now = config.now_us()
  local project_id = e.project_id or 1
  store.write(function(tx)
    local function seen(name, us)
      local rec = tx:find(project_id, name)
      if not rec then return false end
      rec = tx:edit(rec.id)
      rec.last_seen_at = us
      rec.created_at = rec.created_at or us
      return true
    end
    for _, name in ipairs(e.delete or {}) do
      local rec = tx:find(project_id, name)
      if rec then tx:delete(rec.id) end
    end
    for _, d in ipairs(e.insert or {}) do
      local given = {}
      for k, v in pairs(d) do given[k] = v end
      given.project_id = project_id
      if given.created_at == nil then given.created_at = clock.format(now) end
      if given.last_seen_at == nil then given.last_seen_at = clock.format(now) end
      local last_seen = given.last_seen_at ~= json.null and clock.parse(given.last_seen_at) or nil
      if not seen(d.name, last_seen or now) then
        local ok, rec = pcall(seed.given, tx, given, now)
        if ok then
          tx:insert(rec)
        else
          local why = type(rec) == "table" and rec.fake_error or tostring(rec)
          ngx.log(ngx.WARN, "fake posthog: ingest skipped ", d.name, ": ", why)
        end
      end
    end
    for _, s in ipairs(e.seen or {}) do
      if type(s) == "table" then seen(s.name, seen_at(s.last_seen_at, now)) else seen(s, now) end
    end
  end)
end

-- add(list) -> queued, applied | nil, message. Entries with after = 0 are applied at once, the
-- others queued.
function M.add(list)
  if not json.is_array(list) then return nil, "entries must be an array" end
  for i, e in ipairs(list) do
    local err = check(e)
    if err then return nil, "entry " .. i .. ": " .. err end
  end
  local queued, applied = 0, 0
  for _, e in ipairs(list) do
    if (e.after or 0) == 0 then
      apply(e)
      applied = applied + 1
    else
      shm.with_lock("ingest", function()
        local queue = json.decode(state:get("ingest") or "[]") or {}
        queue[#queue + 1] = e
        shm.set(state, "ingest", json.encode(queue))
        state:set("ingest_n", #queue)
      end)
      queued = queued + 1
    end
  end
  return queued, applied
end

-- pending() -> JSON text of the queue (each entry's `after` is what remains).
function M.pending()
  local queue = state:get("ingest")
  if not queue or queue == "{}" then return "[]" end
  return queue
end

-- clear() -> nothing; empties the queue.
function M.clear()
  shm.with_lock("ingest", function()
    state:delete("ingest")
    state:set("ingest_n", 0)
  end)
end

-- list_answered() -> nothing; called once per event-definitions list request answered with a
-- page (after the page is built, before it is sent): counts down every queued entry and applies
-- those that reach 0, in queue order, so the next request sees the change.
function M.list_answered()
  if (state:get("ingest_n") or 0) == 0 then return end
  local due = shm.with_lock("ingest", function()
    local queue = json.decode(state:get("ingest") or "[]") or {}
    local now_due, rest = {}, {}
    for _, e in ipairs(queue) do
      e.after = e.after - 1
      if e.after <= 0 then now_due[#now_due + 1] = e else rest[#rest + 1] = e end
    end
    shm.set(state, "ingest", #rest > 0 and json.encode(rest) or "[]")
    state:set("ingest_n", #rest)
    return now_due
  end)
  for _, e in ipairs(due) do apply(e) end
end

return M
