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
  -- CURL is checked by its library alone: Debian keeps curl.h under /usr/include/<multiarch>/curl,
  -- which the compiler searches but LuaRocks' header check does not (its library check does
  -- search lib/<multiarch>), so a plain `luarocks make` needs no CURL_INCDIR there.
  CURL = { library = "curl" },
  YAJL = { header = "yajl/yajl_parse.h", library = "yajl" },
  HIREDIS = { header = "hiredis/hiredis.h", library = "hiredis" },
}
build = {
  type = "builtin",
  modules = {
    ["posthog.event_definitions"] = "lua/posthog/event_definitions/init.lua",
    ["posthog.event_definitions.batch"] = "lua/posthog/event_definitions/batch.lua",
    ["posthog.event_definitions.call"] = "lua/posthog/event_definitions/call.lua",
    ["posthog.event_definitions.cli"] = "lua/posthog/event_definitions/cli/init.lua",
    ["posthog.event_definitions.cli.bulk"] = "lua/posthog/event_definitions/cli/bulk.lua",
    ["posthog.event_definitions.cli.changes"] = "lua/posthog/event_definitions/cli/changes.lua",
    ["posthog.event_definitions.cli.codegen"] = "lua/posthog/event_definitions/cli/codegen.lua",
    ["posthog.event_definitions.cli.completion"] = "lua/posthog/event_definitions/cli/completion.lua",
    ["posthog.event_definitions.cli.messages"] = "lua/posthog/event_definitions/cli/messages.lua",
    ["posthog.event_definitions.cli.output"] = "lua/posthog/event_definitions/cli/output.lua",
    ["posthog.event_definitions.cli.parser"] = "lua/posthog/event_definitions/cli/parser.lua",
    ["posthog.event_definitions.cli.read"] = "lua/posthog/event_definitions/cli/read.lua",
    ["posthog.event_definitions.cli.schema"] = "lua/posthog/event_definitions/cli/schema.lua",
    ["posthog.event_definitions.cli.selection"] = "lua/posthog/event_definitions/cli/selection.lua",
    ["posthog.event_definitions.cli.session"] = "lua/posthog/event_definitions/cli/session.lua",
    ["posthog.event_definitions.cli.write"] = "lua/posthog/event_definitions/cli/write.lua",
    ["posthog.event_definitions.endpoints"] = "lua/posthog/event_definitions/endpoints.lua",
    ["posthog.event_definitions.errors"] = "lua/posthog/event_definitions/errors.lua",
    ["posthog.event_definitions.options"] = "lua/posthog/event_definitions/options.lua",
    ["posthog.event_definitions.pacing"] = "lua/posthog/event_definitions/pacing.lua",
    ["posthog.event_definitions.pacing_redis"] = "lua/posthog/event_definitions/pacing_redis.lua",
    ["posthog.event_definitions.pager"] = "lua/posthog/event_definitions/pager.lua",
    ["posthog.event_definitions.redis"] = "lua/posthog/event_definitions/redis.lua",
    ["posthog.event_definitions.retry"] = "lua/posthog/event_definitions/retry.lua",
    ["posthog.event_definitions.runtime"] = "lua/posthog/event_definitions/runtime.lua",
    ["posthog.event_definitions.schema"] = "lua/posthog/event_definitions/schema/init.lua",
    ["posthog.event_definitions.schema.csv"] = "lua/posthog/event_definitions/schema/csv.lua",
    ["posthog.event_definitions.schema.csv_read"] = "lua/posthog/event_definitions/schema/csv_read.lua",
    ["posthog.event_definitions.schema.json"] = "lua/posthog/event_definitions/schema/json.lua",
    ["posthog.event_definitions.schema.json_schema"] = "lua/posthog/event_definitions/schema/json_schema.lua",
    ["posthog.event_definitions.schema.load"] = "lua/posthog/event_definitions/schema/load.lua",
    ["posthog.event_definitions.schema.markdown"] = "lua/posthog/event_definitions/schema/markdown.lua",
    ["posthog.event_definitions.schema.plan"] = "lua/posthog/event_definitions/schema/plan.lua",
    ["posthog.event_definitions.schema.shape"] = "lua/posthog/event_definitions/schema/shape.lua",
    ["posthog.event_definitions.schema.snapshot"] = "lua/posthog/event_definitions/schema/snapshot.lua",
    ["posthog.event_definitions.schema.util"] = "lua/posthog/event_definitions/schema/util.lua",
    ["posthog.event_definitions.taxonomy"] = "lua/posthog/event_definitions/taxonomy.lua",
    ["posthog.event_definitions.transport.curl"] = "lua/posthog/event_definitions/transport/curl.lua",
    ["posthog.event_definitions.transport.ngx"] = "lua/posthog/event_definitions/transport/ngx.lua",
    -- The sans-IO C core: links yajl only (nginx workers load it).
    ["posthog.event_definitions.core"] = {
      sources = {
        "src/clock.c",
        "src/codec/fields.c",
        "src/codec/json_decode.c",
        "src/codec/json_encode.c",
        "src/codec/json_number.c",
        "src/codec/json_text.c",
        "src/codec/shape.c",
        "src/codec/tags.c",
        "src/core.c",
        "src/file.c",
        "src/http/head.c",
        "src/http/headers.c",
        "src/http/httpdate.c",
        "src/http/query.c",
        "src/http/request.c",
        "src/http/response.c",
        "src/mem/buffer.c",
        "src/mem/guard.c",
        "src/mem/id_set.c",
        "src/sha256.c",
      },
      incdirs = { "src", "$(YAJL_INCDIR)" },
      libdirs = { "$(YAJL_LIBDIR)" },
      libraries = { "yajl" },
    },
    -- Redis connections for the fleet pacing outside nginx: the only C that links hiredis.
    ["posthog.event_definitions.hiredis"] = {
      sources = { "src/redis/hiredis.c" },
      incdirs = { "src", "$(HIREDIS_INCDIR)" },
      libdirs = { "$(HIREDIS_LIBDIR)" },
      libraries = { "hiredis" },
    },
    -- The libcurl multi driver: the only C that links libcurl.
    ["posthog.event_definitions.transport.libcurl"] = {
      sources = {
        "src/curl/driver.c",
        "src/curl/interrupt.c",
        "src/curl/result.c",
        "src/curl/transfer.c",
        "src/http/head.c",
        "src/mem/buffer.c",
      },
      incdirs = { "src", "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
      libraries = { "curl" },
    },
  },
  install = {
    bin = { ["posthog-evdefs"] = "bin/posthog-evdefs" },
  },
}
