-- A short tour of the client against the fake PostHog server that `make demo` starts:
-- list, create, update, bulk-tag, export (CSV, snapshot, TypeScript) and delete event
-- definitions, printing each step.
local evdefs = require "posthog.event_definitions"
local schema = require "posthog.event_definitions.schema"

local client = assert(evdefs.new {
  host = os.getenv("POSTHOG_HOST"),
  personal_api_key = os.getenv("POSTHOG_PERSONAL_API_KEY"),
  project_id = os.getenv("POSTHOG_PROJECT_ID"),
})

local function check(value, err)
  if value == nil then
    io.stderr:write("demo failed: ", tostring(err), "\n")
    os.exit(1)
  end
  return value
end

local page = check(client:list { limit = 5, ordering = "name" })
print(("list: %d definitions in the project; the first %d by name:"):format(page.count, #page.results))
for _, def in ipairs(page.results) do
  print(("  %-28s verified=%-5s tags=%s"):format(def.name, tostring(def.verified), table.concat(def.tags or {}, ",")))
end

local created = check(client:create { name = "demo_signed_up", description = "A user finished sign-up",
  tags = { "Demo", " onboarding " } })
print(("create: %s (id %s), tags normalised by PostHog to {%s}"):format(created.name, created.id,
  table.concat(created.tags, ",")))

local updated = check(client:update(created.id, { verified = true, description = "Sign-up completed (verified)" }))
print(("update: verified=%s, verified_by=%s, description=%q"):format(tostring(updated.verified),
  updated.verified_by and updated.verified_by.email or "?", updated.description))

local seen = 0
for def, err in client:each { search = "event_00", limit = 100 } do
  check(def ~= false or nil, err)
  seen = seen + 1
end
print(("each: walked %d definitions matching 'event_00', page by page"):format(seen))

local tagged = check(client:bulk_tag({ search = "event_01" }, "add", { "legacy" }))
print(("bulk_tag: tagged %d definitions matching 'event_01' as legacy (%d failed)"):format(tagged.ok, tagged.failed))

local verified = {}
for _, def in ipairs(check(client:all { verified = true, ordering = "name" })) do
  if def.name:sub(1, 1) ~= "$" then verified[#verified + 1] = def end
end
local csv = schema.csv(verified)
print(("export: %d verified definitions as CSV (%d bytes); the first lines:"):format(#verified, #csv))
local shown = 0
for line in csv:gmatch("[^\r\n]+") do
  print("  " .. line:sub(1, 100))
  shown = shown + 1
  if shown == 3 then break end
end
local snapshot = schema.snapshot(check(client:all()))
local plan = check(schema.plan(check(client:all()), check(schema.load(snapshot))))
print(("export: a snapshot of the taxonomy (%d bytes); planning it against the project finds %d changes"):format(
  #snapshot, #plan.ops))

local ts = check(client:typescript())
print(("export: TypeScript types for %d events, schema_hash %s, %d bytes"):format(ts.event_count,
  ts.schema_hash, #ts.content))

check(client:delete(created.id))
local _, gone = client:get(created.id)
print(("delete: %s removed; fetching it again gives %s"):format(created.name, tostring(gone)))
client:close()
