--- schema.snapshot: stable JSON text {"definitions": […], "version": 1} for diffs and re-import.
local util = require "posthog.event_definitions.schema.util"
local shape = require "posthog.event_definitions.schema.shape"
local json = require "posthog.event_definitions.schema.json"

--- Definitions sorted by name, keys sorted, tags sorted, one key per line, 2-space indent, a
-- trailing newline. Each definition keeps its id, its name and every writable field of the C
-- shape (a user field as its integer id), or with opts.full = true every field as given.
return function(defs, opts)
  opts = util.check_args("snapshot", defs, opts)
  local out = {}
  for i, def in ipairs(util.sorted_defs(defs)) do
    local copy = {}
    if opts.full then
      for k, v in pairs(def) do copy[k] = shape.exported(k, v) end
    else
      copy.id, copy.name = def.id, def.name
      for _, f in ipairs(shape.writable) do
        local v = def[f.name]
        if f.type == "user" then v = util.owner_id(v) end
        copy[f.name] = shape.exported(f.name, v)
      end
    end
    out[i] = copy
  end
  return json.pretty { version = 1, definitions = util.array(out) }
end
