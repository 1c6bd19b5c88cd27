/*
 * harness.c - the libFuzzer entry point of every harness in fuzz/ (make fuzz): a Lua 5.4 state
 * with the core module and its simdjson parser compiled in (as the facade loads them), the
 * edge's module and its simdjson scanner (as the edge loads them), and the
 * harness's Lua script (FUZZ_SCRIPT, fuzz/<name>.lua, read from the repository root), which
 * returns a function of the input bytes. That function calls the core's entry points and checks
 * what the contract promises; an error it raises (a broken promise) aborts, so libFuzzer keeps
 * the input. Memory errors, undefined behaviour and leaks are the sanitizers' (clang
 * -fsanitize=fuzzer,address,undefined). The script also gets decode_by_yajl, core.decode with
 * yajl alone, to compare the two parsers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "codec/json.h"

int luaopen_posthog_event_definitions_core(lua_State *L);
int luaopen_posthog_event_definitions_simdjson(lua_State *L);
int luaopen_posthog_event_definitions_edge_core(lua_State *L);
int luaopen_posthog_event_definitions_edge_simdjson(lua_State *L);

static lua_State *L;

/* Sets the global decode_by_yajl(text [, shape [, keep_nulls]]), core.decode with yajl alone:
   a closure over core.decode's upvalues (the core's state). */
static void register_decode_by_yajl(lua_State *L)
{
    int i;

    lua_getfield(L, -1, "decode");
    for (i = 1; i <= CORE_NUPVALUES; i++)
        lua_getupvalue(L, -i, i);
    lua_pushcclosure(L, json_decode_yajl, CORE_NUPVALUES);
    lua_setglobal(L, "decode_by_yajl");
    lua_pop(L, 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "posthog.event_definitions.core", luaopen_posthog_event_definitions_core, 0);
    register_decode_by_yajl(L);
    lua_pop(L, 1);
    luaL_requiref(L, "posthog.event_definitions.simdjson", luaopen_posthog_event_definitions_simdjson, 0);
    lua_pop(L, 1);
    luaL_requiref(L, "posthog.event_definitions.edge.core", luaopen_posthog_event_definitions_edge_core, 0);
    lua_pop(L, 1);
    luaL_requiref(L, "posthog.event_definitions.edge.simdjson", luaopen_posthog_event_definitions_edge_simdjson, 0);
    lua_pop(L, 1);
    if (luaL_loadfile(L, FUZZ_SCRIPT) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK || !lua_isfunction(L, -1)) {
        fprintf(stderr, "harness: %s: %s\n", FUZZ_SCRIPT, lua_isstring(L, -1) ? lua_tostring(L, -1) : "no function");
        exit(2);
    }
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz.check");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz.check");
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "harness: %s: %s\n", FUZZ_SCRIPT, lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, 0);
    /* every allocation of the run freed before the next: the sanitizer's leak check stays exact */
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
