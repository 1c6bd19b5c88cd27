/*
 * core.c - the module posthog.event_definitions.core: the sans-IO core (codec, request
 * builder, response and error decoding, header normalisation, clock). It links yajl and
 * nothing of libcurl: the libcurl driver is the module ...transport.libcurl (src/curl/).
 */
#include <pthread.h>

#include "core.h"

char core_null_sentinel;

/* ===== Errors ===== */

int core_fail(lua_State *L, const char *kind, const char *detail)
{
    lua_pushnil(L);
    lua_createtable(L, 0, 2);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, detail);
    lua_setfield(L, -2, "detail");
    return 2;
}

/* ===== Module ===== */

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    shape_init();
    tags_init();
}

static const luaL_Reg functions[] = {
    { "encode", core_encode },
    { "decode", core_decode },
    { "json_parser", core_json_parser },
    { "build_request", core_build_request },
    { "check_params", core_check_params },
    { "decode_response", core_decode_response },
    { "parse_head", core_parse_head },
    { "normalize_headers", core_normalize_headers },
    { "normalize_tag", core_normalize_tag },
    { "monotonic", core_monotonic },
    { "sleep", core_sleep },
    { "replace_file", core_replace_file },
    { "sha256", core_sha256 },
    { "id_set", core_id_set },
    { NULL, NULL }
};

/* require "posthog.event_definitions.core" -> the module table: the functions above, null (the
   JSON null sentinel), array_mt (marks a table to encode as an array) and fields (the event
   definition's fields, see codec/fields.c) */
__attribute__((visibility("default"))) int luaopen_posthog_event_definitions_core(lua_State *L)
{
    pthread_once(&once, init_once);
    guard_register(L);

    lua_newtable(L);
    lua_newtable(L); /* array_mt */
    lua_pushliteral(L, "array");
    lua_setfield(L, -2, "__jsontype");
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "array_mt");
    shape_push_key_cache(L);

    /* module, array_mt, keys: fields is built by a closure with the upvalues of the others */
    lua_pushvalue(L, -2);
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, core_push_fields, CORE_NUPVALUES);
    lua_call(L, 0, 1);
    lua_setfield(L, -4, "fields");
    compat_luaL_setfuncs(L, functions, CORE_NUPVALUES);

    core_push_null(L);
    lua_setfield(L, -2, "null");
    return 1;
}
