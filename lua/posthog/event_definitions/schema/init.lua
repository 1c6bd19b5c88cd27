--- posthog.event_definitions.schema: the taxonomy as files. Export (JSON Schema, CSV, Markdown,
-- snapshot), import (`load`) and `plan` (the batch ops that turn one state into another).
-- Pure Lua over the C codec: every scalar written goes through core.encode, every text read
-- through core.decode, and which fields are writable, arrays or nullable comes from the C shape
-- (core.fields). Names sort bytewise everywhere, whatever the process's locale.
--
-- Conventions: a wrong Lua argument raises (a programmer error); `load` and `plan` return nil and
-- the library's error table for bad input (kind "decode": text that is not an export this module
-- reads; "validation": a bad value), never a bare string.
--
-- One file per concern: json_schema, csv, markdown and snapshot (the exports), load, plan, and
-- behind them shape (core.fields as the schema uses it), json (the pretty JSON writer) and util.
local schema = {}

schema.json_schema = require "posthog.event_definitions.schema.json_schema"
schema.csv = require "posthog.event_definitions.schema.csv"
schema.markdown = require "posthog.event_definitions.schema.markdown"
schema.snapshot = require "posthog.event_definitions.schema.snapshot"
schema.load = require "posthog.event_definitions.schema.load"
schema.plan = require "posthog.event_definitions.schema.plan"

return schema
