/*
 * harness.c - the libFuzzer entry point of every harness in fuzz/ (make fuzz): a Lua 5.4 state
 * with the core module compiled in, and the harness's Lua script (FUZZ_SCRIPT, fuzz/<name>.lua,
 * read from the repository root), which returns a function of the input bytes. That function
 * calls the core's entry points and checks what the contract promises; an error it raises (a
 * broken promise) aborts, so libFuzzer keeps the input. Memory errors, undefined behaviour and
 * leaks are the sanitizers' (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_posthog_event_definitions_core(lua_State *L);

static lua_State *L;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "posthog.event_definitions.core", luaopen_posthog_event_definitions_core, 0);
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
