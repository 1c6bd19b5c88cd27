package = "posthog-event-definitions-edge"
version = "scm-1"
source = {
  url = "git+https://github.com/posthog-event-definitions/posthog-event-definitions.git",
}
description = {
  summary = "PostHog's tracking plan enforced in nginx: a capture proxy that loses no event",
  detailed = [[
An OpenResty / nginx Lua module in front of PostHog's capture endpoints: it reads every capture
request as PostHog does, judges its events against each project's taxonomy as PostHog's
ingestion would (unknown, hidden, unverified, schema), and passes, tags, drops or rejects them;
what it takes out goes to a quarantine project. Built on the posthog-event-definitions client's
public API, with its own C module (the capture body scanner, over yajl).
]],
  homepage = "https://github.com/posthog-event-definitions/posthog-event-definitions",
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "posthog-event-definitions scm", -- the public API it is built on
}
external_dependencies = {
  YAJL = { header = "yajl/yajl_parse.h", library = "yajl" },
}
build = {
  type = "builtin",
  modules = {
    ["posthog.event_definitions.edge"] = "edge/lua/posthog/event_definitions/edge.lua",
    ["posthog.event_definitions.edge.capture"] = "edge/lua/posthog/event_definitions/edge/capture.lua",
    ["posthog.event_definitions.edge.datetime"] = "edge/lua/posthog/event_definitions/edge/datetime.lua",
    ["posthog.event_definitions.edge.decide"] = "edge/lua/posthog/event_definitions/edge/decide.lua",
    ["posthog.event_definitions.edge.fleet"] = "edge/lua/posthog/event_definitions/edge/fleet.lua",
    ["posthog.event_definitions.edge.index"] = "edge/lua/posthog/event_definitions/edge/index.lua",
    ["posthog.event_definitions.edge.inflate"] = "edge/lua/posthog/event_definitions/edge/inflate.lua",
    ["posthog.event_definitions.edge.js"] = "edge/lua/posthog/event_definitions/edge/js.lua",
    ["posthog.event_definitions.edge.judge"] = "edge/lua/posthog/event_definitions/edge/judge.lua",
    ["posthog.event_definitions.edge.metrics"] = "edge/lua/posthog/event_definitions/edge/metrics.lua",
    ["posthog.event_definitions.edge.quarantine"] = "edge/lua/posthog/event_definitions/edge/quarantine.lua",
    ["posthog.event_definitions.edge.refresh"] = "edge/lua/posthog/event_definitions/edge/refresh.lua",
    ["posthog.event_definitions.edge.rewrite"] = "edge/lua/posthog/event_definitions/edge/rewrite.lua",
    ["posthog.event_definitions.edge.schema"] = "edge/lua/posthog/event_definitions/edge/schema.lua",
    ["posthog.event_definitions.edge.settings"] = "edge/lua/posthog/event_definitions/edge/settings.lua",
    -- The capture body scanner: links yajl only; exports luaopen_* alone whatever the flags.
    ["posthog.event_definitions.edge.core"] = {
      sources = { "edge/src/bytes.c", "edge/src/module.c", "edge/src/props.c", "edge/src/registered.c",
        "edge/src/scan.c" },
      incdirs = { "edge/src", "src", "$(YAJL_INCDIR)" }, -- src: header-only parts of the client (text checks, compat.h)
      libdirs = { "$(YAJL_LIBDIR)" },
      libraries = { "yajl" },
    },
  },
}
