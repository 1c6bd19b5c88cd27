/*
 * module.c - module posthog.event_definitions.simdjson: makes Debian's simdjson the parser that
 * the core's decoder uses before yajl, in this Lua state (same answers, faster). The facade
 * loads it outside nginx; inside nginx only a require does (it maps libstdc++ into the worker).
 */
#include "compat.h"
#include "simdjson/json_simd.h"

/* require "posthog.event_definitions.simdjson" -> { parser = "simdjson" }; registers the parser. */
__attribute__((visibility("default"))) int luaopen_posthog_event_definitions_simdjson(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&json_simd);
    lua_setfield(L, LUA_REGISTRYINDEX, JSON_PARSER_KEY);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "simdjson");
    lua_setfield(L, -2, "parser");
    return 1;
}
