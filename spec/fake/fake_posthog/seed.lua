-- Seed data for /__fake/reset: generated definitions, the worked fixture of §7.4 and full
-- definition objects given by a test.
local json = require "fake_posthog.json"
local clock = require "fake_posthog.clock"
local auth = require "fake_posthog.auth"
local defs = require "fake_posthog.defs"

local DAY = clock.DAY

local M = {}

-- The worked fixture's clock and definitions (§7.4).
M.WORKED_NOW = "2020-01-02T00:00:00Z"
local WORKED = {
  { name = "installed_app", last_seen_at = "2020-01-01T00:00:00Z" },
  { name = "rated_app", last_seen_at = "2019-12-21T00:00:00Z" },
  { name = "purchase", last_seen_at = "2019-12-30T00:00:00Z" },
  { name = "entered_free_trial", last_seen_at = "2020-01-01T23:00:00Z" },
  { name = "watched_movie" },
  { name = "$pageview", last_seen_at = "2020-01-01T22:56:00Z" },
}

-- fail(message) -> raises a reset error (answered with 400 by the control API).
local function fail(message)
  error({ fake_error = message }, 0)
end

-- generated(tx, i, n, now) -> seeded definition number i of n, named event_0001… Deterministic spread:
-- last_seen_at null when i%5==0, else now - ((i*7)%60) days - i seconds (about half are stale);
-- verified when i%7==0 (by user 1); hidden when i%11==0 and not verified; tags "core" (i%3==0),
-- "billing" (i%4==0), "pii" (i%10==0); owner 1 when i%6==0; primary_property "order_id" when i%8==0;
-- created_at = updated_at = now - 90 days + i minutes; query_usage_30_day = i.
function M.generated(tx, i, n, now)
  local width = math.max(4, #tostring(n))
  local rec = defs.new_record(tx:new_id(), 1, string.format("event_%0" .. width .. "d", i))
  rec.description = "Seeded event " .. i
  rec.created_at = now - 90 * DAY + i * 60e6
  rec.updated_at = rec.created_at
  if i % 5 ~= 0 then rec.last_seen_at = now - ((i * 7) % 60) * DAY - i * 1e6 end
  if i % 7 == 0 then
    rec.verified, rec.verified_by, rec.verified_at = true, 1, rec.created_at
  elseif i % 11 == 0 then
    rec.hidden = true
  end
  if i % 3 == 0 then rec.tags[#rec.tags + 1] = "core" end
  if i % 4 == 0 then rec.tags[#rec.tags + 1] = "billing" end
  if i % 10 == 0 then rec.tags[#rec.tags + 1] = "pii" end
  if i % 6 == 0 then rec.owner = 1 end
  if i % 8 == 0 then rec.primary_property = "order_id" end
  rec.query_usage_30_day = i
  return rec
end

-- worked(tx) -> list of the §7.4 fixture's records (ingested: created_at set, updated_at = created_at).
function M.worked(tx)
  local out = {}
  for i, spec in ipairs(WORKED) do
    local rec = defs.new_record(tx:new_id(), 1, spec.name)
    rec.created_at = clock.parse("2019-12-01T00:00:00Z") + i * DAY
    rec.updated_at = rec.created_at
    rec.last_seen_at = spec.last_seen_at and clock.parse(spec.last_seen_at)
    out[i] = rec
  end
  return out
end

-- user_id(v, field) -> a user id from an integer or a UserBasic object, nil for null/absent.
local function user_id(v, field)
  if v == nil or v == json.null then return nil end
  local id = type(v) == "table" and v.id or v
  if not auth.user_exists(id) then fail(field .. ": unknown user " .. tostring(id)) end
  return id
end

-- time(v, field) -> microseconds from an ISO-8601 text, nil for null/absent.
local function time(v, field)
  if v == nil or v == json.null then return nil end
  local us = clock.parse(v)
  if not us then fail(field .. ": not an ISO-8601 timestamp: " .. tostring(v)) end
  return us
end

-- strings(v, field) -> list of strings ({} for absent).
local function strings(v, field)
  if v == nil or v == json.null then return {} end
  if not json.is_array(v) then fail(field .. " must be an array") end
  for _, s in ipairs(v) do
    if type(s) ~= "string" then fail(field .. " must hold strings") end
  end
  return v
end

-- given(tx, d, now) -> a record from a full definition object of a test (API fields plus
-- project_id and query_usage_30_day; missing fields take the defaults of an API-created definition).
function M.given(tx, d, now)
  if type(d) ~= "table" or type(d.name) ~= "string" or d.name == "" then fail("definitions need a name") end
  local id = tx:new_id()
  if d.id ~= nil then
    id = defs.parse_uuid(d.id)
    if not id then fail("not a UUID: " .. tostring(d.id)) end
    if tx:get(id) then fail("duplicate id " .. id) end
  end
  local project_id = d.project_id or 1
  if not auth.PROJECTS[project_id] then fail("unknown project_id " .. tostring(project_id)) end
  if tx:find(project_id, d.name) then fail("duplicate name " .. d.name) end
  local rec = defs.new_record(id, project_id, d.name)
  rec.owner = user_id(d.owner, "owner")
  if d.description ~= nil then rec.description = d.description ~= json.null and d.description or nil end
  rec.created_at = time(d.created_at, "created_at")
  rec.updated_at = time(d.updated_at, "updated_at") or rec.created_at or now
  rec.updated_by = user_id(d.updated_by, "updated_by")
  rec.last_seen_at = time(d.last_seen_at, "last_seen_at")
  rec.verified = d.verified == true
  rec.verified_at = time(d.verified_at, "verified_at")
  rec.verified_by = user_id(d.verified_by, "verified_by")
  if d.hidden ~= nil then rec.hidden = d.hidden ~= json.null and d.hidden or nil end
  if d.enforcement_mode ~= nil then rec.enforcement_mode = d.enforcement_mode end
  if d.primary_property ~= json.null then rec.primary_property = d.primary_property end
  rec.default_columns = strings(d.default_columns, "default_columns")
  rec.media_preview_urls = strings(d.media_preview_urls, "media_preview_urls")
  rec.tags = defs.normalize_tags(strings(d.tags, "tags"))
  for _, tag in ipairs(rec.tags) do
    if tag == "" then fail("tags must not be blank (PostHog refuses them, §20.2)") end
  end
  rec.query_usage_30_day = d.query_usage_30_day or 0
  return rec
end

return M
