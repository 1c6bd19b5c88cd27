/*
 * module.c - module posthog.event_definitions.edge.simdjson: makes simdjson's scanner
 * (scan_simd.cpp) the one edge_core.scan tries first in this Lua state (the same answers,
 * faster). The edge requires it when it is installed (rock posthog-event-definitions-edge-
 * simdjson); inside nginx it maps libstdc++ and libsimdjson into every worker.
 */
#include "edge.h"
#include "scanner.h"

extern const edge_scanner edge_simd_scanner;

/* require "posthog.event_definitions.edge.simdjson" -> { scanner = "simdjson" }; registers it. */
EDGE_EXPORT int luaopen_posthog_event_definitions_edge_simdjson(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&edge_simd_scanner);
    lua_setfield(L, LUA_REGISTRYINDEX, EDGE_SCANNER_KEY);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "simdjson");
    lua_setfield(L, -2, "scanner");
    return 1;
}
