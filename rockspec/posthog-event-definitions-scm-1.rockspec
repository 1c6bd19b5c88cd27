package = "posthog-event-definitions"
version = "scm-1"
source = {
  url = "git+https://github.com/posthog-event-definitions/posthog-event-definitions.git",
}
description = {
  summary = "A client for PostHog's event-definitions API: C core, Lua facade, nginx-ready",
  detailed = [[
Manage a PostHog project's event definitions (the taxonomy of tracked events) from Lua:
list, create, update, delete, bulk tag and verify, codegen, with retries, pacing and
pagination done right. A C core (libcurl, yajl) builds requests and decodes answers.
]],
  homepage = "https://github.com/posthog-event-definitions/posthog-event-definitions",
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "argparse", -- the command-line program only
}
external_dependencies = {
  CURL = { header = "curl/curl.h", library = "curl" },
  YAJL = { header = "yajl/yajl_parse.h", library = "yajl" },
}
build = {
  type = "builtin",
  modules = {
    ["posthog.event_definitions"] = "lua/posthog/event_definitions/init.lua",
    ["posthog.event_definitions.cli"] = "lua/posthog/event_definitions/cli.lua",
    ["posthog.event_definitions.batch"] = "lua/posthog/event_definitions/batch.lua",
    ["posthog.event_definitions.errors"] = "lua/posthog/event_definitions/errors.lua",
    ["posthog.event_definitions.pacing"] = "lua/posthog/event_definitions/pacing.lua",
    ["posthog.event_definitions.retry"] = "lua/posthog/event_definitions/retry.lua",
    ["posthog.event_definitions.schema"] = "lua/posthog/event_definitions/schema.lua",
    ["posthog.event_definitions.transport.curl"] = "lua/posthog/event_definitions/transport/curl.lua",
    ["posthog.event_definitions.transport.ngx"] = "lua/posthog/event_definitions/transport/ngx.lua",
    ["posthog.event_definitions.core"] = {
      sources = {
        "src/buffer.c",
        "src/clock.c",
        "src/core.c",
        "src/curl_multi.c",
        "src/json_decode.c",
        "src/json_encode.c",
        "src/request.c",
        "src/response.c",
        "src/shape.c",
        "src/tags.c",
      },
      incdirs = { "$(CURL_INCDIR)", "$(YAJL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(YAJL_LIBDIR)" },
      libraries = { "curl", "yajl" },
    },
  },
  install = {
    bin = { ["posthog-evdefs"] = "bin/posthog-evdefs" },
  },
}
