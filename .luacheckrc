std = "min"
max_line_length = 120
include_files = { "lua/**/*.lua", "edge/lua/**/*.lua", "spec/**/*.lua", "bench/**/*.lua", "examples/**/*.lua",
  "fuzz/*.lua", "bin/*", "rockspec/*.rockspec", ".luacheckrc", ".busted" }
exclude_files = { "build/**" }
files["spec"] = { std = "+busted" }
files["spec/fake"] = { std = "luajit", globals = { "ngx" } }
files["fuzz"] = { std = "lua54" } -- fuzz/harness.c runs them in a Lua 5.4 state
files["fuzz/decode.lua"] = { std = "lua54", read_globals = { "decode_by_yajl" } } -- set by fuzz/harness.c
files["edge/lua/posthog/event_definitions/edge.lua"] = { globals = { "ngx" } } -- sets ngx.status, ngx.header
files["rockspec"] = { std = "+rockspec" }
stds.rockspec = { globals = { "package", "version", "source", "description", "dependencies",
  "external_dependencies", "build" } }
read_globals = { "ngx", math = { fields = { "type" } } }
