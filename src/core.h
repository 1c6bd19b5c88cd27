/*
 * core.h - what the parts of the sans-IO core share: the upvalues every Lua-visible function
 * carries, the JSON null sentinel, the error convention, and each part's Lua functions.
 */
#ifndef PHED_CORE_H
#define PHED_CORE_H

#include "compat.h"
#include "mem/buffer.h"
#include "mem/guard.h"
#include "codec/shape.h"
#include "codec/utf8.h"

/* Everything declared below stays inside the module that compiles it, whatever the build
   flags (LuaRocks passes none): only luaopen_* functions are exported. */
#pragma GCC visibility push(hidden)

/* ===== Shared state ===== */

/* Upvalues of every function of the module table (see core.c). */
#define CORE_UV_ARRAY_MT lua_upvalueindex(1) /* metatable marking "encode as array" */
#define CORE_UV_KEYS     lua_upvalueindex(2) /* interned field names, see shape_push_key_cache */
#define CORE_NUPVALUES   2

#define JSON_MAX_DEPTH 100 /* nesting limit of both encode and decode */
#define CORE_ERRMAX    160 /* size of an error message built in C */
#define CORE_URL_MAX   65536 /* the longest URL build_request makes (a transport's limit; libcurl's
                                own is 8 MB, servers refuse far less) */
#define TAG_MAX_CHARS  255 /* PostHog's longest tag, in code points once trimmed */

/* The JSON null sentinel (core.null) is the address of this byte as a light userdata. */
extern char core_null_sentinel;
#define core_push_null(L) lua_pushlightuserdata((L), &core_null_sentinel)
#define core_is_null(L, i) \
    (lua_type((L), (i)) == LUA_TLIGHTUSERDATA && lua_touserdata((L), (i)) == &core_null_sentinel)

/* A string key borrowed from a Lua table that stays on the stack while the key is used. */
typedef struct keyref {
    const char *s;
    size_t len;
} keyref;

/* qsort comparator: keyrefs in bytewise order. */
int keyref_compare(const void *a, const void *b);

/* ===== Errors ===== */

/* The error convention of every function the Lua layer calls: pushes nil and the table
   { kind = kind, detail = detail }; returns 2. */
int core_fail(lua_State *L, const char *kind, const char *detail);

/* ===== Lua-visible functions ===== */

int core_encode(lua_State *L);          /* codec/json_encode.c */
int core_decode(lua_State *L);          /* codec/json_decode.c */
int core_json_parser(lua_State *L);
int core_push_fields(lua_State *L);     /* codec/fields.c */
int core_normalize_tag(lua_State *L);   /* codec/tags.c */
int core_build_request(lua_State *L);   /* http/request.c */
int core_check_params(lua_State *L);    /* http/query.c */
int core_decode_response(lua_State *L); /* http/response.c */
int core_parse_head(lua_State *L);      /* http/headers.c */
int core_normalize_headers(lua_State *L);
int core_monotonic(lua_State *L);       /* clock.c */
int core_sleep(lua_State *L);
int core_replace_file(lua_State *L);    /* file.c */
int core_sha256(lua_State *L);
int core_id_set(lua_State *L);          /* mem/id_set.c */

/* ===== Tags (codec/tags.c; UTF-8: codec/utf8.h) ===== */

/* Loads the Unicode character classes used by normalize_tag (called once by luaopen). */
void tags_init(void);

/* Why PostHog would refuse tag (len bytes): "is not valid UTF-8", "is blank" (empty or only
   white space as Python's str.strip() sees it) or "is longer than 255 characters" (code points,
   once trimmed); NULL when it is fine. */
const char *tag_problem(const char *tag, size_t len);

#pragma GCC visibility pop

#endif
