-- The edge's counters (posthog.event_definitions.edge.metrics) over a stand-in for a
-- lua_shared_dict, on every interpreter: offenders by project, class and name, bounded by
-- max_offenders distinct names, the rest counted under "_other".
local metrics = require "posthog.event_definitions.edge.metrics"

-- The part of ngx.shared.DICT's interface the counters use.
local function dict()
  local values = {}
  return {
    values = values,
    incr = function(_, k, n, init)
      if values[k] == nil then
        if init == nil then return nil, "not found" end
        values[k] = init
      end
      values[k] = values[k] + n
      return values[k]
    end,
    add = function(_, k, v)
      if values[k] ~= nil then return false, "exists" end
      values[k] = v
      return true
    end,
  }
end

-- The offender counters of `d` as {["class/name"] = n}.
local function offenders(d)
  local out = {}
  for k, v in pairs(d.values) do
    local class, name = k:match("^m\31offender\31[^\31]*\31([^\31]*)\31(.*)$")
    if class then out[class .. "/" .. name] = v end
  end
  return out
end

describe("edge metrics", function()
  it("counts offenders by name up to max_offenders names, the rest under _other, with the same totals", function()
    local d = dict()
    metrics.add_events(d, "p", 6, { ["unknown/drop"] = 3, ["hidden/tag"] = 3 }, {
      { "unknown", "a" }, { "unknown", "a" }, { "unknown", "b" }, { "hidden", "c" }, { "hidden", "c" },
      { "hidden", "a" },
    }, 3)
    assert.same({ ["unknown/a"] = 2, ["unknown/b"] = 1, ["hidden/c"] = 2, ["hidden/_other"] = 1 }, offenders(d))
    assert.equal(3, d.values.offender_slots)
    metrics.add_events(d, "p", 3, {}, { { "unknown", "a" }, { "unknown", "z" }, { "unknown", "z" } }, 3)
    assert.same({ ["unknown/a"] = 3, ["unknown/b"] = 1, ["hidden/c"] = 2, ["hidden/_other"] = 1,
      ["unknown/_other"] = 2 }, offenders(d))
    assert.equal(3, d.values.offender_slots)
    assert.equal(9, d.values["m\31events\31p\31\31"])
    assert.equal(3, d.values["m\31violations\31p\31unknown\31drop"])
  end)
end)
