/*
 * edge.h - the edge's C module (posthog.event_definitions.edge.core): the capture body scanner
 * and what it shares. It stands on its own: it links yajl and Lua only, and nothing of the
 * client's core; it includes header-only parts of it (the text checks of src/codec/utf8.h and
 * src/codec/json_escape.h, src/compat.h: static inline, nothing of them is exported).
 */
#ifndef PHED_EDGE_H
#define PHED_EDGE_H

#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>

/* Values per event in the flat array of edge_scan, in this order (1-based in Lua):
   first, last       bytes of the event object ('{' and '}')
   name              the "event" string, or false
   vfirst, vlast     bytes of the properties value, whatever its kind (0, 0 when absent)
   pkind             0 absent, 1 object, 2 null, 3 anything else
   pkeys             keys of the properties object
   ekeys             keys of the event object
   token, $token, api_key   the event's own token fields (strings, or false)
   ptoken            properties.token (a string, or false) */
#define EDGE_FIELDS 12

/* Only luaopen_* is exported, whatever flags the build passes (LuaRocks' builtin passes none). */
#if defined(__GNUC__)
#define EDGE_HIDDEN __attribute__((visibility("hidden")))
#define EDGE_EXPORT __attribute__((visibility("default")))
#else
#define EDGE_HIDDEN
#define EDGE_EXPORT
#endif

/* Pushes a byte offset or count: an integer on Lua 5.3+, a number before. */
#if LUA_VERSION_NUM >= 503
#define edge_pushcount(L, n) lua_pushinteger((L), (lua_Integer)(n))
#else
#define edge_pushcount(L, n) lua_pushnumber((L), (lua_Number)(n))
#endif

/* scan.c */
EDGE_HIDDEN int edge_scan(lua_State *L);
EDGE_HIDDEN int edge_scan_yajl(lua_State *L);
EDGE_HIDDEN const char *edge_scan_args(lua_State *L, size_t *len, long *max_events);
EDGE_HIDDEN void edge_events_table(lua_State *L, int arg, size_t n);
/* registered.c: 5 values pushed when a registered scanner (scanner.h) accepted the body, else 0 */
EDGE_HIDDEN int edge_scan_registered(lua_State *L, const char *text, size_t len, long max_events);
EDGE_HIDDEN int edge_scan_registered_alone(lua_State *L);
EDGE_HIDDEN int edge_scanner_name(lua_State *L);
/* bytes.c */
EDGE_HIDDEN int edge_same(lua_State *L);
EDGE_HIDDEN int edge_join(lua_State *L);
/* props.c */
EDGE_HIDDEN int edge_props(lua_State *L);
/* module.c */
EDGE_HIDDEN void **edge_yajl_handle(lua_State *L);
EDGE_EXPORT int luaopen_posthog_event_definitions_edge_core(lua_State *L);

#endif
