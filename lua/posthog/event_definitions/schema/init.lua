--- posthog.event_definitions.schema: the taxonomy as files. Export (JSON Schema, CSV, Markdown,
-- snapshot), import (`load`) and `plan` (the batch ops that turn one state into another).
-- Pure Lua over the C codec: every scalar written goes through `core.encode`, every text read
-- through `core.decode`, and which fields are writable, arrays or nullable comes from the C shape
-- (`core.fields`). Names sort bytewise everywhere, whatever the process's locale.
--
-- Conventions: a wrong Lua argument raises (a programmer error); `load` and `plan` return nil and
-- the library's error table for bad input (kind "decode": text that is not an export this module
-- reads; "validation": a bad value), never a bare string.
--
-- One file per concern: `json_schema`, `csv` (and `csv_read`), `markdown` and `snapshot` (the
-- exports), `load`, `plan`, and behind them `shape` (core.fields as the schema uses it), `json`
-- (the pretty JSON writer) and `util`.
-- @module posthog.event_definitions.schema
local schema = {}

--- The taxonomy as a JSON Schema (draft-07) document that validates one captured event
-- (`{"event": name, "properties": {…}}`): one schema per event under `definitions`, PostHog's
-- metadata as `x-posthog-*` keywords, all of them in `oneOf`; pretty-printed, keys sorted.
-- @function json_schema
-- @tparam table defs definitions as the client returns them
-- @tparam[opt] table opts `properties = { [event name] = { {name, type, required, description}, … } }`
-- (as `client:event_properties` returns them) describes each event's properties; `title`
-- @treturn string the JSON text
schema.json_schema = require "posthog.event_definitions.schema.json_schema"

--- RFC 4180 CSV: a header row `id,name,description,tags,verified,hidden,owner,last_seen_at,
-- created_at,updated_at`, then one row per definition in input order, CRLF line ends; tags as a
-- JSON array, the owner as its email (else its id). The one CSV format of the project (the
-- CLI's `--format csv` too), and `load` reads it back.
-- @function csv
-- @tparam table defs definitions
-- @tparam[opt] table opts none yet
-- @treturn string the CSV text
schema.csv = require "posthog.event_definitions.schema.csv"

--- A tracking-plan document in Markdown, for people: counts, an index, one section per event.
-- @function markdown
-- @tparam table defs definitions
-- @tparam[opt] table opts `properties` as for `json_schema`; `title`
-- @treturn string the Markdown text
schema.markdown = require "posthog.event_definitions.schema.markdown"

--- Stable JSON text `{"definitions": […], "version": 1}` for diffs and re-import: sorted by
-- name, keys sorted, tags sorted, one key per line; id, name and the writable fields only.
-- @function snapshot
-- @tparam table defs definitions
-- @tparam[opt] table opts `full = true` keeps every field
-- @treturn string the JSON text
schema.snapshot = require "posthog.event_definitions.schema.snapshot"

--- Reads a snapshot, a JSON Schema export or a CSV export back into definitions, the desired
-- state that `plan` takes. JSON nulls stay as `evdefs.null` ("clear this field"); an empty CSV
-- cell means "not given". Raises only when text is not a string.
-- @function load
-- @tparam string text the file's content
-- @treturn[1] table an array of definitions
-- @return[2] nil
-- @return[2] the library's error table: kind "decode" (text that is none of these exports) or
-- "validation" (a definition without a name, a repeated name, a value of the wrong type)
schema.load = require "posthog.event_definitions.schema.load"

--- The batch ops that turn `current` into `desired`. Definitions match by name; only the
-- writable fields present in desired count (tags as normalised sets, a user by id, null
-- clears); read-only fields are ignored; `plan(x, x)` has no ops. Ops are creates, then updates,
-- then deletes, each sorted by name and carrying `name`; pass them to `client:batch`.
-- @function plan
-- @tparam table current definitions as the client returns them
-- @tparam table desired definitions as `load` returns them
-- @tparam[opt] table opts `delete_missing = true` also deletes what desired lacks;
-- `enterprise = false` (a deployment without PostHog's Enterprise package) leaves out the fields
-- it refuses (description, verified, hidden) or ignores (owner, `default_columns`)
-- @treturn[1] table `{ ops = { {op, name, id, fields}, … }, skipped = { {name, field, reason}, … } }`
-- @return[2] nil
-- @return[2] a "validation" error table (a definition without a name, a repeated name)
schema.plan = require "posthog.event_definitions.schema.plan"

return schema
