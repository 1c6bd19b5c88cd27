package = "posthog-event-definitions-simdjson"
version = "scm-1"
source = {
  url = "git+https://github.com/posthog-event-definitions/posthog-event-definitions.git",
}
description = {
  summary = "simdjson as the JSON parser of posthog-event-definitions (optional, faster)",
  detailed = [[
Makes Debian's simdjson the parser that posthog-event-definitions decodes answers with first,
outside nginx (a 1,000-definition page in about half the time of cjson.decode); what simdjson
refuses, yajl reads, so every answer and message is the same. Needs libsimdjson and a C++
compiler; without this rock the client decodes with yajl alone.
]],
  homepage = "https://github.com/posthog-event-definitions/posthog-event-definitions",
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5",
  "posthog-event-definitions scm", -- the same version: the parser interface of its core
}
external_dependencies = {
  SIMDJSON = { header = "simdjson.h", library = "simdjson" },
}
build = {
  type = "make",
  makefile = "rockspec/simdjson.mk",
  build_variables = {
    CC = "$(CC)", CFLAGS = "$(CFLAGS)", LIBFLAG = "$(LIBFLAG)", LUA_INCDIR = "$(LUA_INCDIR)",
    SIMDJSON_INCDIR = "$(SIMDJSON_INCDIR)", SIMDJSON_LIBDIR = "$(SIMDJSON_LIBDIR)",
  },
  install_variables = { INST_LIBDIR = "$(LIBDIR)", LUA_INCDIR = "$(LUA_INCDIR)" },
}
