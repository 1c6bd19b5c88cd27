/*
 * module.c - luaopen_posthog_event_definitions_edge_core, and what the scanner's parts share: a
 * UTF-8 check and the userdata that owns a yajl handle.
 */
#include <stdint.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "edge.h"

/* ===== UTF-8 ===== */

/* True when s[0..len) is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
   Runs of ASCII are skipped eight bytes at a time. */
int edge_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        unsigned min, cp;
        if (c < 0x80) {
            uint64_t word;
            while (end - p >= 8) {
                memcpy(&word, p, 8);
                if (word & 0x8080808080808080ULL)
                    break;
                p += 8;
            }
            while (p < end && *p < 0x80)
                p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) { n = 1; min = 0x80; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; min = 0x800; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; min = 0x10000; cp = c & 0x07; }
        else return 0;
        if ((size_t)(end - p) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

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
