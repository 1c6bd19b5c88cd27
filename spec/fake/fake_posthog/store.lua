-- Event-definition state shared by all workers.
--
-- Layout in fake_state: "def:<uuid>" -> record JSON, "ids" -> JSON array of uuids in creation
-- order, "taxonomy" -> JSON of property groups / event schemas / property definitions, "gen" -> a
-- seqlock counter (odd while a writer is publishing). Writers serialise on the "state" lock; readers
-- never lock: each worker keeps a decoded view and reloads only the records whose text changed.
--
-- A record is the definition as stored: API field names, user references as integer ids,
-- timestamps as integer microseconds, plus project_id and query_usage_30_day.
local json = require "fake_posthog.json"
local shm = require "fake_posthog.shm"
local config = require "fake_posthog.config"

local state = shm.state
local floor, random = math.floor, math.random

local M = {}

local EMPTY_TAXONOMY = { groups = {}, schemas = {}, properties = {} }

-- Timestamps are stored as decimal text: cjson writes at most 14 significant digits, and epoch
-- microseconds have 16.
local TIME_FIELDS = { "created_at", "updated_at", "last_seen_at", "verified_at" }

-- encode_record(rec) -> stored JSON text of a record.
local function encode_record(rec)
  local out = {}
  for k, v in pairs(rec) do out[k] = v end
  for _, f in ipairs(TIME_FIELDS) do
    if out[f] then out[f] = string.format("%.0f", out[f]) end
  end
  return json.encode(out)
end

-- decode_record(text) -> record.
local function decode_record(text)
  local rec = json.decode(text)
  for _, f in ipairs(TIME_FIELDS) do
    if rec[f] then rec[f] = tonumber(rec[f]) end
  end
  return rec
end

local view = { gen = -1, order = {}, raw = {}, recs = {}, enc = {}, enc_oss = {}, taxonomy = EMPTY_TAXONOMY,
  by_name = {} }

-- index(order, recs) -> by_name[project_id][name] = record.
local function index(order, recs)
  local by_name = {}
  for i = 1, #order do
    local rec = recs[order[i]]
    local names = by_name[rec.project_id]
    if not names then names = {}; by_name[rec.project_id] = names end
    names[rec.name] = rec
  end
  return by_name
end

-- load(gen) -> a fresh view, or nil when a writer got in the way (the caller retries).
local function load(gen)
  local ids_raw = state:get("ids") or "[]"
  local order = ids_raw == view.ids_raw and view.order or json.decode(ids_raw)
  local raw, recs, enc, enc_oss = {}, {}, {}, {}
  for i = 1, #order do
    local id = order[i]
    local text = state:get("def:" .. id)
    if not text then return nil end
    raw[id] = text
    if text == view.raw[id] then
      recs[id], enc[id], enc_oss[id] = view.recs[id], view.enc[id], view.enc_oss[id]
    else
      recs[id] = decode_record(text)
    end
  end
  local tax_raw = state:get("taxonomy")
  local taxonomy = view.taxonomy
  if tax_raw ~= view.tax_raw then taxonomy = tax_raw and json.decode(tax_raw) or EMPTY_TAXONOMY end
  return {
    gen = gen, ids_raw = ids_raw, order = order, raw = raw, recs = recs, enc = enc, enc_oss = enc_oss,
    tax_raw = tax_raw, taxonomy = taxonomy, by_name = index(order, recs), memo = {},
  }
end

-- current() -> the consistent view of the latest state. Fields: order (ids), recs (id -> record),
-- by_name, taxonomy, enc / enc_oss (per-record encoded API JSON with / without the ee package,
-- filled by users), memo (per-view cache).
function M.current()
  while true do
    local gen = state:get("gen") or 0
    if gen == view.gen then return view end
    if gen % 2 == 0 then
      local fresh = load(gen)
      if fresh and (state:get("gen") or 0) == gen then
        view = fresh
        return view
      end
    end
    ngx.sleep(0.001)
  end
end

-- copy(value) -> a deep copy of a record (tables of plain values).
local function copy(value)
  if type(value) ~= "table" then return value end
  local out = {}
  for k, v in pairs(value) do out[k] = copy(v) end
  return out
end

local Tx = {}
Tx.__index = Tx

-- tx:get(id) -> the record as this transaction sees it, or nil.
function Tx:get(id)
  local pending = self.pending[id]
  if pending ~= nil then return pending or nil end
  return self.view.recs[id]
end

-- tx:edit(id) -> a private, writable copy of the record (saved on commit), or nil when absent.
function Tx:edit(id)
  local rec = self:get(id)
  if rec and self.pending[id] == nil then
    rec = copy(rec)
    self.pending[id] = rec
  end
  return rec
end

-- tx:find(project_id, name) -> the record of that project with that name, or nil.
function Tx:find(project_id, name)
  local key = project_id .. "\0" .. name
  local added = self.added_names[key]
  if added then return added end
  local names = self.view.by_name[project_id]
  local rec = names and names[name]
  if rec and self.pending[rec.id] ~= false then return rec end
  return nil
end

-- tx:insert(rec) -> rec; adds a new record (rec.id must be fresh).
function Tx:insert(rec)
  self.pending[rec.id] = rec
  self.added[#self.added + 1] = rec.id
  self.added_names[rec.project_id .. "\0" .. rec.name] = rec
  return rec
end

-- tx:delete(id) -> nothing.
function Tx:delete(id)
  local rec = self:get(id)
  if rec then
    self.pending[id] = false
    self.added_names[rec.project_id .. "\0" .. rec.name] = nil
    self.removed = true
  end
end

-- tx:clear() -> nothing; deletes every record and the taxonomy (reset).
function Tx:clear()
  for _, id in ipairs(self.view.order) do self.pending[id] = false end
  self.removed = true
  self.taxonomy = EMPTY_TAXONOMY
end

-- tx:set_taxonomy(t) -> nothing; replaces property groups, event schemas and property definitions.
function Tx:set_taxonomy(t)
  self.taxonomy = t
end

-- tx:stamp() -> the transaction's timestamp for updated_at/verified_at: the fake's clock, moved
-- forward by 1 µs when it has not advanced since the previous transaction's, so updated_at always
-- moves (§10).
function Tx:stamp()
  if not self.stamp_us then
    local now = config.now_us()
    local last = state:get("stamp") or -math.huge
    if now <= last then now = last + 1 end
    shm.set(state, "stamp", now)
    self.stamp_us = now
  end
  return self.stamp_us
end

local HEX = "0123456789abcdef"

-- hex(n, digits) -> n as lowercase hex, zero-padded.
local function hex(n, digits)
  local out = {}
  for i = digits, 1, -1 do
    local d = n % 16
    out[i] = HEX:sub(d + 1, d + 1)
    n = floor(n / 16)
  end
  return table.concat(out)
end

-- tx:new_id() -> a fresh UUIDv7 (wall-clock milliseconds, a 12-bit sequence, random bits):
-- strictly increasing across workers because ids are only made under the state lock.
function Tx:new_id() -- luacheck: no unused args
  local ms = floor(ngx.now() * 1000)
  local last_ms, seq = state:get("uuid_ms") or 0, (state:get("uuid_seq") or 0) + 1
  if ms <= last_ms then
    ms = last_ms
    if seq > 4095 then ms, seq = ms + 1, 0 end
  else
    seq = 0
  end
  shm.set(state, "uuid_ms", ms)
  shm.set(state, "uuid_seq", seq)
  local t = hex(ms, 12)
  return t:sub(1, 8) .. "-" .. t:sub(9, 12) .. "-7" .. hex(seq, 3) .. "-"
    .. hex(8 + random(0, 3), 1) .. hex(random(0, 4095), 3) .. "-"
    .. hex(random(0, 16777215), 6) .. hex(random(0, 16777215), 6)
end

-- publish(tx) -> nothing; writes the transaction's changes between two seqlock bumps.
local function publish(tx)
  local changed = tx.taxonomy ~= nil or #tx.added > 0 or tx.removed
  if next(tx.pending) ~= nil then changed = true end
  if not changed then return end
  state:incr("gen", 1, 0)
  local ok, err = pcall(function()
    for id, rec in pairs(tx.pending) do
      if rec then shm.set(state, "def:" .. id, encode_record(rec)) else state:delete("def:" .. id) end
    end
    if #tx.added > 0 or tx.removed then
      local order = {}
      for _, id in ipairs(tx.view.order) do
        if tx.pending[id] ~= false then order[#order + 1] = id end
      end
      for _, id in ipairs(tx.added) do
        if tx.pending[id] then order[#order + 1] = id end
      end
      shm.set(state, "ids", #order > 0 and json.encode(order) or "[]")
    end
    if tx.taxonomy then shm.set(state, "taxonomy", json.encode(tx.taxonomy)) end
  end)
  state:incr("gen", 1, 0)
  if not ok then error(err, 0) end
end

-- write(fn) -> the results of fn(tx) (up to three). fn runs under the state lock on the latest
-- view; its changes are published when it returns, and dropped when it raises.
function M.write(fn)
  return shm.with_lock("state", function()
    local tx = setmetatable({ view = M.current(), pending = {}, added = {}, added_names = {} }, Tx)
    local a, b, c = fn(tx)
    publish(tx)
    return a, b, c
  end)
end

return M
