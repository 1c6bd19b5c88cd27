/*
 * core.c - the module posthog.event_definitions.core: registration and the cleanup guard.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core.h"

#define GUARD_MT "posthog.event_definitions.core.guard"

char core_null_sentinel;

/* ===== Cleanup guard ===== */

void guard_release(guard *g)
{
    buffer_free(&g->out);
    buffer_free(&g->aux);
    buffer_free(&g->keys);
    if (g->handle != NULL)
        g->release_handle(g->handle);
    g->handle = NULL;
}

static int guard_gc(lua_State *L)
{
    guard_release(lua_touserdata(L, 1));
    return 0;
}

guard *guard_push(lua_State *L)
{
    guard *g = lua_newuserdata(L, sizeof *g);

    memset(g, 0, sizeof *g);
    luaL_getmetatable(L, GUARD_MT);
    lua_setmetatable(L, -2);
    return g;
}

/* ===== Module ===== */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode global_init_result;

static void init_once(void)
{
    shape_init();
    tags_init();
    global_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const luaL_Reg functions[] = {
    { "encode", core_encode },
    { "decode", core_decode },
    { "build_request", core_build_request },
    { "decode_response", core_decode_response },
    { "parse_retry_after", core_parse_retry_after },
    { "multi", core_multi },
    { "monotonic", core_monotonic },
    { "sleep", core_sleep },
    { "normalize_tag", core_normalize_tag },
    { NULL, NULL }
};

/* require "posthog.event_definitions.core" -> the module table */
__attribute__((visibility("default"))) int luaopen_posthog_event_definitions_core(lua_State *L)
{
    pthread_once(&once, init_once);
    if (global_init_result != CURLE_OK)
        return luaL_error(L, "curl_global_init failed: %s", curl_easy_strerror(global_init_result));

    luaL_newmetatable(L, GUARD_MT);
    lua_pushcfunction(L, guard_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    driver_register(L);

    lua_newtable(L);
    lua_newtable(L); /* array_mt */
    lua_pushliteral(L, "array");
    lua_setfield(L, -2, "__jsontype");
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "array_mt");
    shape_push_key_cache(L);
    compat_luaL_setfuncs(L, functions, CORE_NUPVALUES);

    core_push_null(L);
    lua_setfield(L, -2, "null");
    lua_pushstring(L, curl_version());
    lua_setfield(L, -2, "curl_version");
    return 1;
}
