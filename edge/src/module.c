/*
 * module.c - luaopen_posthog_event_definitions_edge_core, and what the scanner's parts share:
 * the userdata that owns a yajl handle.
 */
#include <yajl/yajl_parse.h>

#include "compat.h"
#include "edge.h"

/* ===== The yajl handle's owner ===== */

#define HANDLE_MT "posthog.event_definitions.edge.yajl"

static int handle_gc(lua_State *L)
{
    void **hp = luaL_checkudata(L, 1, HANDLE_MT);
    if (*hp != NULL) {
        yajl_free((yajl_handle)*hp);
        *hp = NULL;
    }
    return 0;
}

/* Pushes a userdata that frees the yajl handle stored in it when collected (the parse raised
   before yajl_free); returns where to store the handle. */
void **edge_yajl_handle(lua_State *L)
{
    void **hp = lua_newuserdata(L, sizeof *hp);
    *hp = NULL;
    if (luaL_newmetatable(L, HANDLE_MT)) {
        lua_pushcfunction(L, handle_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return hp;
}

/* ===== Module ===== */

static const luaL_Reg functions[] = {
    { "scan", edge_scan },
    { "scan_yajl", edge_scan_yajl },
    { "scan_registered", edge_scan_registered_alone },
    { "scanner", edge_scanner_name },
    { "props", edge_props },
    { "same", edge_same },
    { "join", edge_join },
    { NULL, NULL }
};

int luaopen_posthog_event_definitions_edge_core(lua_State *L)
{
    lua_newtable(L);
    compat_luaL_setfuncs(L, functions, 0);
    lua_pushnumber(L, EDGE_FIELDS);
    lua_setfield(L, -2, "FIELDS");
    return 1;
}
