package = "posthog-event-definitions-edge-simdjson"
version = "scm-1"
source = {
  url = "git+https://github.com/posthog-event-definitions/posthog-event-definitions.git",
}
description = {
  summary = "simdjson as the capture body scanner of posthog-event-definitions-edge (optional, faster)",
  detailed = [[
Makes Debian's simdjson the scanner that posthog-event-definitions-edge reads capture bodies with
first (a posthog-js batch of 50 events in about a quarter of yajl's time); what it refuses, yajl
reads, so every answer is the same. Needs libsimdjson and a C++ compiler, and maps libstdc++
into every nginx worker; without this rock the edge scans with yajl alone.
]],
  homepage = "https://github.com/posthog-event-definitions/posthog-event-definitions",
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "posthog-event-definitions scm",
  "posthog-event-definitions-edge scm", -- the same version: the scanner interface of its core
}
external_dependencies = {
  SIMDJSON = { header = "simdjson.h", library = "simdjson" },
}
build = {
  type = "make",
  makefile = "rockspec/edge-simdjson.mk",
  build_variables = {
    CC = "$(CC)", CFLAGS = "$(CFLAGS)", LIBFLAG = "$(LIBFLAG)", LUA_INCDIR = "$(LUA_INCDIR)",
    SIMDJSON_INCDIR = "$(SIMDJSON_INCDIR)", SIMDJSON_LIBDIR = "$(SIMDJSON_LIBDIR)",
  },
  install_variables = { INST_LIBDIR = "$(LIBDIR)", LUA_INCDIR = "$(LUA_INCDIR)" },
}
