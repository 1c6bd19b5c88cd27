/*
 * module.c - luaopen_posthog_event_definitions_edge_core, and what the scanner's parts share:
 * the userdata that owns a yajl handle.
 */
#include <yajl/yajl_parse.h>

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

int luaopen_posthog_event_definitions_edge_core(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, edge_scan);
    lua_setfield(L, -2, "scan");
    lua_pushcfunction(L, edge_scan_yajl);
    lua_setfield(L, -2, "scan_yajl");
    lua_pushcfunction(L, edge_scan_registered_alone);
    lua_setfield(L, -2, "scan_registered");
    lua_pushcfunction(L, edge_scanner_name);
    lua_setfield(L, -2, "scanner");
    lua_pushcfunction(L, edge_props);
    lua_setfield(L, -2, "props");
    lua_pushcfunction(L, edge_same);
    lua_setfield(L, -2, "same");
    lua_pushcfunction(L, edge_join);
    lua_setfield(L, -2, "join");
    lua_pushnumber(L, EDGE_FIELDS);
    lua_setfield(L, -2, "FIELDS");
    return 1;
}
